"""`reconstruct` (the command `ganrecon reconstruct`): one file in, the same format out, reconstructed by a trained
model; the file's all-zero traces are taken as missing unless a mask is given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganrecon.errors import GanreconError
from ganrecon.files import (
    TIFF_SUFFIXES,
    FileData,
    array_to_unit,
    dead_trace_mask,
    read_file,
    unit_to_array,
    write_like,
)
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_path

MASK_FILE_SUFFIXES = (".npy", ".png", ".tif", ".tiff")


def _is_mask_file(mask: str) -> bool:
    """A mask file: an existing path, or a name with a mask file's suffix that is not a degradation spec (the
    README says --mask takes specs, and `mask:holes.npy` is one)."""
    from ganrecon.degrade import DEGRADATION_SPECS

    if Path(mask).exists():
        return True
    kind, colon, _ = mask.partition(":")
    if colon and kind.strip().lower() in {spec.partition(":")[0] for spec in DEGRADATION_SPECS}:
        return False
    return Path(mask).suffix.lower() in MASK_FILE_SUFFIXES


def _load_mask(mask: str, images: np.ndarray, value_range, seed: int) -> np.ndarray:
    """A mask file (nonzero = known) or a degradation spec applied to the input's shape."""
    if _is_mask_file(mask):
        from ganrecon.files import read_file as read

        m = read(Path(mask)).images
        if m.shape[-2:] != images.shape[-2:]:
            raise GanreconError(f"The mask is {m.shape[-2]}x{m.shape[-1]} but the input is "
                                f"{images.shape[-2]}x{images.shape[-1]}.")
        return np.broadcast_to((m[:1, :1] != 0).astype(np.float32), images.shape).copy()
    from ganrecon.degrade import parse_degradation

    degradation = parse_degradation(mask)
    if "mask" not in degradation.families:
        raise GanreconError(f"--mask {mask!r} is not a mask spec (columns:..., keep-first:..., pixels:..., mask:...).")
    _, m = degradation(torch.from_numpy(images), value_range=value_range,
                       generator=torch.Generator().manual_seed(seed))
    return m.numpy()


def reconstruct_array(images: np.ndarray, model, mask: np.ndarray | None = None) -> np.ndarray:
    """Reconstruct N x C x H x W float images with a loaded model; returns the same layout (times the model's
    scale for super-resolution)."""
    obs = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    m = None if mask is None else torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
    return model(obs, m).numpy()


def with_preprocessing(model, *, gain: str | None = None, dt_ms: float | None = None, adapt=None,
                       progress=None):
    """The model as the input needs it: resampled to its training time sampling (`dt_ms` = the input's), with a
    gain applied and removed, and adapted to each image (`adapt`: an AdaptOptions). Returns a model-like callable;
    the unchanged model when nothing is asked for."""
    from ganrecon.adapt import AdaptedModel
    from ganrecon.preprocess import GainedModel, ResampledModel

    if adapt is not None:
        model = AdaptedModel(model, adapt, progress)
    if gain:
        model = GainedModel(model, gain)
    if dt_ms is not None:  # 0 and negative intervals are refused there, not ignored
        model = ResampledModel(model, dt_ms)
    return model


def bundle_keeps_fp32(meta: dict) -> bool:
    """The model's description records that bf16 costs it more than the tolerance (benchmarks/precision.py
    --record writes `auto_precision: fp32`), so `auto` runs it in float32."""
    return meta.get("auto_precision") == "fp32"


def innermost(model):
    """The model a chain of wrappers (adaptation, gain, resampling: ganrecon.reconstructor.ModelWrapper) runs."""
    from ganrecon.reconstructor import ModelWrapper

    while isinstance(model, ModelWrapper):
        model = model.model
    return model


def set_precision(model, precision: str) -> None:
    """Set the inference precision of a trained network: fp32, bf16, or auto (bf16 where the hardware has it,
    ganrecon.reconstructor.resolve_precision, unless the bundle records `auto_precision: fp32` because
    benchmarks/precision.py measured bf16 costing it more than the tolerance); a latent model (inversion runs
    its own optimisation) takes only float32."""
    from ganrecon.reconstructor import ReconstructionModel, resolve_precision

    inner = innermost(model)
    if isinstance(inner, ReconstructionModel):
        inner.precision = resolve_precision(precision, next(inner.generator.parameters()).device)
        if precision == "auto" and bundle_keeps_fp32(inner.meta):
            inner.precision = "fp32"
    elif resolve_precision(precision) == "bf16" and precision != "auto":  # auto: float32 is what it runs in
        raise GanreconError(f"The model {model.name} runs in float32 only.")


def set_ensemble(model, ensemble: str) -> None:
    """Set the self-ensemble of a trained network (ganrecon.reconstructor): none, mirror, dihedral, or auto (the
    bundle's `self_ensemble`, recorded by benchmarks/self_ensemble.py where it pays; none if absent). A latent
    model (inversion) takes only none."""
    from ganrecon.orientations import check_group
    from ganrecon.reconstructor import ReconstructionModel

    inner = innermost(model)
    if isinstance(inner, ReconstructionModel):
        inner.ensemble = None if ensemble == "auto" else inner.check_ensemble(ensemble)
    elif ensemble != "auto" and check_group(ensemble, "ensemble") != "none":
        raise GanreconError(f"The model {model.name} reconstructs by inversion and takes no self-ensemble.")


def reconstruct(input_path: str | Path, model, output: str | Path, *, mask: str | None = None, seed: int = 0,
                gain: str | None = None, dt_ms: float | None = None, adapt=None, progress=None,
                notes=None, guard: str = "choose", precision: str = "fp32", ensemble: str = "auto",
                shard: bool = True) -> Path:
    """Reconstruct one file (PNG, JPEG, TIFF, NPY or SEG-Y) into `output`, same format, shape and dtype; returns
    the output path. `model`: a run directory, weights file or shipped name, or a model already loaded.
    `mask`: a mask file (nonzero = known) or a mask degradation spec (seeded by `seed`); default: the all-zero
    traces are missing. `gain`, `dt_ms` and `adapt` (an AdaptOptions) as in `with_preprocessing`; a SEG-Y file's
    own sampling is used when `dt_ms` is not given and the model knows its training sampling. The output may not
    be the input file. `notes(sentence)` hears what was decided on the way: the colour mode, the SEG-Y sampling,
    that nothing was missing, what adaptation kept, and what the guard chose. `guard` (choose|report|off) checks
    the model on the file itself against the baselines (ganrecon.guard). `precision` "bf16" runs a trained
    network under bf16 autocast (faster, output within ~1e-3 of float32), "auto" where the hardware has bf16.
    `ensemble` (auto|none|mirror|dihedral) averages the network over orientations of each tile (`set_ensemble`).
    Under torchrun a TIFF stack's slices are shared among the processes unless `shard` is False (a folder shares
    its files instead)."""
    from ganrecon.guard import GuardedModel
    from ganrecon.outputs import check_outputs

    notes = notes or (lambda _sentence: None)
    check_outputs({"-o": output}, inputs=[input_path])
    model = load_model(model) if isinstance(model, (str, Path)) else model
    set_precision(model, precision)
    set_ensemble(model, ensemble)
    if int(model.meta.get("frames", 1)) > 1:
        guarded = GuardedModel(model, mode=guard)
        path = _reconstruct_burst(Path(input_path), guarded, Path(output))
        notes(guarded.describe())
        return path
    if mask is None and tiff_stack_pages(input_path):
        guarded = GuardedModel(model, mode=guard)
        path = _reconstruct_tiff_stack(Path(input_path), guarded, Path(output), shard)
        notes(guarded.describe())
        return path
    data = read_file(input_path)
    if data.images.shape[1] > 1 and model.meta.get("channels") == 1:
        from ganrecon.colour import describe

        notes(describe(model.name, model.meta.get("task"), data.images.shape[1], data.signed))
    if dt_ms is None and data.dt_ms is not None:
        from ganrecon.preprocess import header_sampling

        dt_ms, sentence = header_sampling(model, data.dt_ms)
        notes(sentence)
    model = with_preprocessing(model, gain=gain, dt_ms=dt_ms, adapt=adapt, progress=progress)
    guarded = GuardedModel(model, {"mask"} if mask else None, mode=guard)
    path = write_like(data, _reconstruct_data(data, guarded, mask, seed, notes), output)
    notes(guarded.describe())
    from ganrecon.adapt_summary import adaptation_line, adaptation_summaries

    summaries = adaptation_summaries(model)
    for i, summary in enumerate(summaries):
        notes(adaptation_line(model.name, summary, i, len(summaries)))
    return path


def _reconstruct_data(data: FileData, model, mask: str | None, seed: int, notes=None) -> np.ndarray:
    images = data.images
    signed_model = model.value_range[0] < 0
    if data.signed and not signed_model:
        raise GanreconError(f"{data.path.name} holds signed amplitudes, but the model {model.name} works on "
                            "images in [0, 1]; use a seismic model.")
    channels = model.meta["channels"]
    if images.shape[1] != channels and channels != 1:  # a grey file for a colour model; a grey model takes colour
        images = np.repeat(images[:, :1], channels, axis=1)
    if model.scale != 1:
        if data.kind == "segy":
            raise GanreconError("Super-resolution changes the number of traces, so it cannot write SEG-Y; use NPY "
                                "or TIFF.")
        if mask is not None:
            raise GanreconError(f"--mask does not apply to {model.name}: a x{model.scale} super-resolution model "
                                "upscales the whole input.")
    masks_things = model.meta.get("task") in ("traces", "latent")
    if mask is not None:
        m = _load_mask(mask, images, model.value_range, seed)
    elif masks_things:
        m = dead_trace_mask(images)
        if m.all():
            if notes:
                notes(f"Nothing was missing: no trace (column) of {data.path.name} is all zero, so the output is "
                      "an unchanged copy; pass --mask to say what is missing.")
            return _in_file_channels(images, data)
    else:
        return _in_file_channels(reconstruct_array(images, model), data)  # nothing masked: no mask array
    return _in_file_channels(reconstruct_array(images * m, model, m), data)


def _reconstruct_burst(input_path: Path, model, output: Path) -> Path:
    """A burst model on a file of frames (a multi-page TIFF or an NPY of frames x H x W, or one image holding
    the frames as its channels): one image out, in the input's format and dtype."""
    from dataclasses import replace

    data = read_file(input_path)
    burst = burst_of(data.images, model, input_path.name)
    out = model(torch.from_numpy(np.ascontiguousarray(burst))).numpy()
    return write_like(replace(data, shape=data.images.shape[-2:]), out, output)


def burst_of(images: np.ndarray, model, name: str) -> np.ndarray:
    """A file's images (N x C x H x W) as the one burst a burst model takes (1 x frames*C x H x W): its N pages
    are the frames, or its one image already holds them as channels; else one sentence."""
    frames, channels = int(model.meta["frames"]), int(model.meta["channels"])
    n, c, h, w = images.shape
    if (n, c) == (frames, channels):
        return images.reshape(1, n * c, h, w)
    if (n, c) == (1, frames * channels):
        return images
    raise GanreconError(f"The model {model.name} takes a burst of {frames} frames (a multi-page TIFF or an NPY "
                        f"of {frames} x H x W); {name} holds {n} image(s) of {c} channel(s).")


def _in_file_channels(out: np.ndarray, data: FileData) -> np.ndarray:
    """The output with the input file's number of channels (a colour model's output of a grey file is grey)."""
    want = data.images.shape[1]
    if out.shape[1] == want:
        return out
    return out.mean(axis=1, keepdims=True) if want == 1 else np.repeat(out[:, :1], want, axis=1)


def tiff_stack_pages(path: str | Path) -> int:
    """Number of slices when `path` is a multi-page TIFF of equal grey 2-D pages (a micro-CT stack), else 0."""
    import tifffile

    from ganrecon.data.convert import FILE_ERRORS, quiet_tifffile

    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES or not path.is_file():
        return 0
    try:
        with quiet_tifffile(), tifffile.TiffFile(path) as tif:
            kinds = {(p.shape, p.dtype) for p in tif.pages}
            count = len(tif.pages)
    except FILE_ERRORS:
        return 0  # read_file gives the one-sentence message
    if count < 2 or len(kinds) != 1 or len(next(iter(kinds))[0]) != 2:
        return 0
    return count


def _reconstruct_tiff_stack(path: Path, model, output: Path, shard: bool = True) -> Path:
    """Slice by slice, streaming: one input slice and one output slice in memory at a time, whatever the stack
    size (a 2000 x 2000 x 1000 uint16 stack upscaled x4 is 128 GB of output). The output is a stack of the same
    dtype, written to a temporary file and renamed at the end, so a failure never leaves half a stack behind.
    Under torchrun (and `shard`) the slices are shared among the processes (ganrecon.sharding)."""
    import tifffile

    from ganrecon.training.distributed import init_distributed_from_env, is_distributed

    if output.suffix.lower() not in TIFF_SUFFIXES:
        raise GanreconError(f"The output {output.name} must have the input's format (tiff).")
    with tifffile.TiffFile(path) as tif:
        pages = tif.pages
        count, (h, w), dtype = len(pages), pages[0].shape, pages[0].dtype
        s = model.scale

        def one(i: int) -> np.ndarray:
            arr = pages[i].asarray()
            unit, signed = array_to_unit(arr)
            data = FileData(unit[None, None], "tiff", arr.dtype, arr.shape, signed, path)
            return unit_to_array(_reconstruct_data(data, model, None, 0), data)

        def write(slices) -> None:
            with atomic_path(output) as tmp:
                tifffile.imwrite(tmp, slices, shape=(count, h * s, w * s), dtype=dtype, photometric="minisblack")

        if shard and (init_distributed_from_env() or is_distributed()):
            from ganrecon.sharding import run_sharded

            run_sharded(count, output, one, write)
        else:
            write(one(i) for i in range(count))
    return output


reconstruct_file = reconstruct  # the name before `from ganrecon import reconstruct`
