"""`ganrecon reconstruct`: one file in, the same format out, reconstructed by a trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganrecon.errors import GanreconError
from ganrecon.files import (
    TIFF_SUFFIXES,
    FileData,
    _from_unit,
    _to_unit,
    dead_trace_mask,
    read_file,
    write_like,
)
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_path


def _load_mask(mask: str, images: np.ndarray, value_range, seed: int) -> np.ndarray:
    """A mask file (nonzero = known) or a degradation spec applied to the input's shape."""
    path = Path(mask)
    if path.suffix.lower() in (".npy", ".png", ".tif", ".tiff") or path.exists():
        from ganrecon.files import read_file as read

        m = read(path).images
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
    if dt_ms:
        model = ResampledModel(model, dt_ms)
    return model


def reconstruct_file(input_path: str | Path, model_ref: str, output: str | Path, *, mask: str | None = None,
                     seed: int = 0, gain: str | None = None, dt_ms: float | None = None, adapt=None,
                     progress=None, guard: str = "choose", on_guard=None) -> Path:
    """Reconstruct one file; `gain`, `dt_ms` and `adapt` as in `with_preprocessing` (a SEG-Y file's own sampling
    is used when `dt_ms` is not given and the model knows its training sampling). `guard` (choose|report|off)
    checks the model on the file itself (ganrecon.guard); `on_guard(guarded_model)` then hears what it did."""
    from ganrecon.guard import GuardedModel

    model = load_model(model_ref)
    if mask is None and tiff_stack_pages(input_path):
        guarded = GuardedModel(model, mode=guard)
        path = _reconstruct_tiff_stack(Path(input_path), guarded, Path(output))
    else:
        data = read_file(input_path)
        if dt_ms is None and data.dt_ms is not None:
            from ganrecon.preprocess import training_dt_ms

            dt_ms = data.dt_ms if training_dt_ms(model.meta) is not None else None
        guarded = GuardedModel(with_preprocessing(model, gain=gain, dt_ms=dt_ms, adapt=adapt, progress=progress),
                               {"mask"} if mask else None, mode=guard)
        path = write_like(data, _reconstruct_data(data, guarded, mask, seed), output)
    if on_guard is not None:
        on_guard(guarded)
    return path


def _reconstruct_data(data: FileData, model, mask: str | None, seed: int) -> np.ndarray:
    images = data.images
    signed_model = model.value_range[0] < 0
    if data.signed and not signed_model:
        raise GanreconError(f"{data.path.name} holds signed amplitudes, but the model {model.name} works on "
                            "images in [0, 1]; use a seismic model.")
    if images.shape[1] != model.meta["channels"]:
        if model.meta["channels"] == 1:
            images = images.mean(axis=1, keepdims=True)
        else:
            images = np.repeat(images[:, :1], model.meta["channels"], axis=1)
    if data.kind == "segy" and model.scale != 1:
        raise GanreconError("Super-resolution changes the number of traces, so it cannot write SEG-Y; use NPY or TIFF.")
    masks_things = model.meta.get("task") in ("traces", "latent")
    if mask is not None:
        m = _load_mask(mask, images, model.value_range, seed)
    elif masks_things:
        m = dead_trace_mask(images)
    else:
        m = np.ones_like(images)
    out = reconstruct_array(images * m, model, m)
    if out.shape[1] != data.images.shape[1]:
        out = np.repeat(out, data.images.shape[1], axis=1)
    return out


def tiff_stack_pages(path: str | Path) -> int:
    """Number of slices when `path` is a multi-page TIFF of equal grey 2-D pages (a micro-CT stack), else 0."""
    import tifffile

    from ganrecon.data.convert import FILE_ERRORS

    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES or not path.is_file():
        return 0
    try:
        with tifffile.TiffFile(path) as tif:
            kinds = {(p.shape, p.dtype) for p in tif.pages}
            count = len(tif.pages)
    except FILE_ERRORS:
        return 0  # read_file gives the one-sentence message
    if count < 2 or len(kinds) != 1 or len(next(iter(kinds))[0]) != 2:
        return 0
    return count


def _reconstruct_tiff_stack(path: Path, model, output: Path) -> Path:
    """Slice by slice, streaming: one input slice and one output slice in memory at a time, whatever the stack
    size (a 2000 x 2000 x 1000 uint16 stack upscaled x4 is 128 GB of output). The output is a stack of the same
    dtype, written to a temporary file and renamed at the end, so a failure never leaves half a stack behind."""
    import tifffile

    if output.suffix.lower() not in TIFF_SUFFIXES:
        raise GanreconError(f"The output {output.name} must have the input's format (tiff).")
    with tifffile.TiffFile(path) as tif:
        pages = tif.pages
        count, (h, w), dtype = len(pages), pages[0].shape, pages[0].dtype
        s = model.scale

        def slices():
            for i in range(count):
                arr = pages[i].asarray()
                unit, signed = _to_unit(arr)
                data = FileData(unit[None, None], "tiff", arr.dtype, arr.shape, signed, path)
                yield _from_unit(_reconstruct_data(data, model, None, 0), data)

        with atomic_path(output) as tmp:
            tifffile.imwrite(tmp, slices(), shape=(count, h * s, w * s), dtype=dtype, photometric="minisblack")
    return output
