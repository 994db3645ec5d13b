"""One reconstructor: the single path from (observed, mask) to an estimate, shared by validation and inference, so
the model chosen as best is the model that ships.

The protocol every reconstruction method follows (trained models, latent inversion, and the wrappers that adapt,
gain or resample a model): `name`, `meta` (the bundle's description), `value_range`, `scale` (output size / input
size), `fixed_size` (True when the network takes only its training size: larger inputs go through as tiles,
smaller ones padded), `tile` (input tile size, H x W) and `model(observed, mask) -> estimate` on N x C x H x W
tensors (mask 1 = known, 0 = missing; None = everything known).

What decides a model's numbers lives here, once:

* input: N x C x H x W in the model's channels; missing entries carry no value, even NaN (zero-filled);
* normalisation: signed data (seismic) reach the network divided, tile by tile, by the largest observed amplitude
  of the tile, and the output is multiplied back, exactly as in training, so gathers of any amplitude work;
* polarity average: seismic data are linear in the source, so the reconstruction of -d must be minus that of d;
  averaging the model with its polarity-flipped twin enforces it (+0.15 dB mean on pylops gathers, for twice the
  network time; benchmarks/seismic_symmetry.py). Both polarities of a tile go through in one batch, and a refiner's
  odd prior (POCS) is computed once;
* self-ensemble: with `ensemble` "mirror" or "dihedral" (ganrecon.orientations) each tile also goes through
  the network mirrored, or in all 8 turns and mirrors, and the outputs, turned back, are averaged: 2 or 8 times
  the network time for what an ensemble of as many models gives (gains per model in
  docs/results/self_ensemble.md, from benchmarks/self_ensemble.py; the seismic model's in
  docs/results/gather_inference.md). A bundle names its default (`self_ensemble`, recorded by those benchmarks
  where it pays). A refiner with a costly prior (the seismic consensus) computes it
  once per tile and turns it with the tile, so only the network's time grows;
* data consistency: where the description asks for it (meta["data_consistency"]), known entries are kept as given;
* speed: fully convolutional networks run in channels_last layout (oneDNN's fast path, identical output), and
  `precision="bf16"` (opt-in) runs them under bf16 autocast (1.8-3.8x on the tiled paths of the latest
  benchmarks/throughput.py run, a CPU with bf16 units; output within ~1e-3 of float32, PSNR change measured there).

Subclasses implement `reconstruct(observed, mask)` on input already checked by `__call__`.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch

from ganrecon.errors import GanreconError
from ganrecon.models.layers import normalise_by_observed, polarity_average
from ganrecon.orientations import GROUPS, check_group, check_shape, oriented_mean
from ganrecon.tiling import tiled_apply

PRECISIONS = ("fp32", "bf16")
SR_OVERLAP = 32  # input pixels shared by neighbouring super-resolution tiles: an SRResNet's receptive field


def check_precision(precision: str) -> str:
    """The precision itself, or one sentence naming the ones there are."""
    if precision not in PRECISIONS:
        raise GanreconError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)} or auto.")
    return precision


def bf16_native(device: torch.device) -> bool:
    """Whether bf16 arithmetic runs in hardware here: AVX512-BF16 or AMX on a CPU, bf16 on a CUDA device. Elsewhere
    autocast emulates it, slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, so looked up with a fallback
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """`auto` -> bf16 where the hardware has it natively, else fp32; fp32 and bf16 as given. (A bundle may keep
    `auto` in fp32, see ganrecon.reconstruction.set_precision.)"""
    if precision == "auto":
        return "bf16" if bf16_native(torch.device(device)) else "fp32"
    return check_precision(precision)


def precision_note(precision: str, device: torch.device | str = "cpu") -> str | None:
    """The warning an explicit `bf16` deserves where the hardware has no bf16 units (autocast then emulates it,
    many times slower than fp32; `auto` picks fp32 there), else None. The user's choice still stands."""
    if precision != "bf16" or bf16_native(torch.device(device)):
        return None
    return (f"--precision bf16 on a {torch.device(device).type} without bf16 units: autocast emulates it, many "
            "times slower than fp32 (--precision auto chooses fp32 here).")


@contextmanager
def inference_layout(generator: torch.nn.Module, channels_last: bool):
    """The generator's weights in channels_last for the duration (oneDNN's fast convolution path), then the very
    tensors it had, so training, adaptation and saving see the layout they always had. Converting back is not
    enough: a C x 1 x k x k weight is "contiguous" in both layouts and keeps channels_last strides, and the next
    training step then runs that convolution in another layout (a resumed adaptation no longer matched an
    uninterrupted one bit for bit)."""
    if not channels_last:
        yield
        return
    saved = [(p, p.data, p.grad) for p in generator.parameters()]
    generator.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        for param, data, grad in saved:
            param.data, param.grad = data, grad


def keep_observed(estimate: torch.Tensor, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Data consistency: the estimate where the mask says missing, the observation where it says known (same grid
    only: a super-resolution output has no observed entries of its own size)."""
    if estimate.shape != observed.shape:
        return estimate
    return mask * observed + (1 - mask) * estimate


class Reconstructor:
    """The base of every reconstructor (see the module docstring); subclasses set `name` and `meta` and implement
    `reconstruct`."""

    scale: int = 1
    fixed_size: bool = False

    @property
    def value_range(self) -> tuple[float, float]:
        return tuple(self.meta["value_range"])

    @property
    def channels(self) -> int:
        return int(self.meta["channels"])

    @property
    def signed(self) -> bool:
        return self.value_range[0] < 0

    @property
    def tile(self) -> tuple[int, int]:
        return tuple(self.meta["image_size"])

    @property
    def frames(self) -> int:
        """Frames of a burst the model takes, stacked along the channels (1: a single image)."""
        return int(self.meta.get("frames", 1))

    @property
    def data_consistency(self) -> bool:
        return bool(self.meta.get("data_consistency"))

    def checked_input(self, observed: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(observed zero-filled where missing, float mask of its shape), or one sentence on a wrong input."""
        if not isinstance(observed, torch.Tensor) or observed.dim() != 4:
            shape = tuple(observed.shape) if isinstance(observed, torch.Tensor) else type(observed).__name__
            raise GanreconError(f"Expected images shaped N x C x H x W, got {shape}.")
        if self.channels is not None and observed.shape[1] != self.channels * self.frames:
            if self.frames > 1:
                raise GanreconError(f"The model {self.name} takes bursts of {self.frames} frames of {self.channels} "
                                    f"channel(s), stacked frame-major ({self.channels * self.frames} channels), got "
                                    f"{observed.shape[1]}.")
            raise GanreconError(f"The model {self.name} takes {self.channels}-channel images, got "
                                f"{observed.shape[1]}.")
        if mask is None:  # nothing missing: a view of one 1, not an input-sized array (and nothing to zero-fill)
            return torch.nan_to_num(observed.float()), torch.ones(1, 1, 1, 1).expand_as(observed)
        mask = mask.float()
        if mask.shape != observed.shape:
            try:
                mask = mask.expand_as(observed)
            except RuntimeError:
                raise GanreconError(f"The mask has shape {tuple(mask.shape)} but the images "
                                    f"{tuple(observed.shape)}.") from None
        return torch.nan_to_num(observed.float()) * mask, mask

    def __call__(self, observed: torch.Tensor, mask: torch.Tensor | None = None, **options) -> torch.Tensor:
        if (self.channels == 1 and self.frames == 1 and isinstance(observed, torch.Tensor) and observed.dim() == 4
                and observed.shape[1] > 1):
            from ganrecon.colour import (
                colour_apply,  # colour in, colour out: per channel or on Y (ganrecon.colour)
            )

            return colour_apply(lambda o, m: self(o, m, **options), observed, mask, task=self.meta.get("task"),
                                scale=self.scale, value_range=self.value_range,
                                keep_known=bool(self.meta.get("data_consistency")))
        observed, mask = self.checked_input(observed, mask)
        out = self.reconstruct(observed, mask, **options)
        return keep_observed(out, observed, mask) if self.data_consistency else out

    def reconstruct(self, observed: torch.Tensor, mask: torch.Tensor, **options) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract


@dataclass
class ReconstructionModel(Reconstructor):
    """A trained conditional generator as a reconstructor: any image size (overlapping tiles, smooth blending,
    bounded memory), signed data of any amplitude."""

    generator: torch.nn.Module
    meta: dict
    name: str
    precision: str = "fp32"  # "bf16": opt-in bf16 autocast for inference (faster, output within ~1e-3)
    ensemble: str | None = None  # "none" / "mirror" / "dihedral" (self-ensemble); None: the bundle's default

    @property
    def scale(self) -> int:
        return int(self.generator.scale)

    @property
    def fixed_size(self) -> bool:
        return bool(self.generator.fixed_size)

    @property
    def tile(self) -> tuple[int, int]:
        """Input tile = the training input size: image_size is the clean (output) size, so a x4 super-resolution
        model trained on 256 x 256 targets takes 64 x 64 input tiles (a 256 x 256 input tile would be 4096 x 4096
        x width activations per tile). Super-resolution tiles are at least 256 input pixels and overlap by
        SR_OVERLAP = 32, which covers an SRResNet's receptive field: tiled = whole image to ~1e-4 of the range
        (16-pixel overlaps: ~4e-3 at the seams), for 1.3x the compute of one piece (128-pixel tiles: 1.8x)."""
        if self.scale == 1 and "tile" in self.meta:  # an adapted model: the crops it was adapted on
            return tuple(int(s) for s in self.meta["tile"])
        h, w = self.meta["image_size"]
        if self.scale == 1:
            return (h, w)
        return (max(h // self.scale, 256), max(w // self.scale, 256))

    def default_overlap(self) -> float:
        """Share of a tile shared with its neighbour: SR_OVERLAP pixels for super-resolution, else the bundle's
        `tile_overlap` (recorded by benchmarks/gather_inference.py where more overlap pays: each pixel then averages
        more tiles) or a quarter."""
        return SR_OVERLAP / min(self.tile) if self.scale > 1 else float(self.meta.get("tile_overlap", 0.25))

    def to(self, device) -> ReconstructionModel:
        self.generator.to(device)
        return self

    @torch.no_grad()
    def reconstruct(self, observed: torch.Tensor, mask: torch.Tensor, *, overlap: float | None = None,
                    batch_tiles: int = 16, precision: str | None = None, ensemble: str | None = None
                    ) -> torch.Tensor:
        precision = check_precision(precision or self.precision)
        ensemble = self.check_ensemble(ensemble or self.ensemble or self.meta.get("self_ensemble", "none"))
        device = next(self.generator.parameters()).device
        th, tw = self.tile  # bounded memory: at most ~16 x 256 x 256 output pixels of activations per batch
        batch_tiles = max(1, min(batch_tiles, 16 * 256 * 256 // (th * tw * self.scale**2)))
        overlap = self.default_overlap() if overlap is None else overlap
        bf16 = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()

        fn = self.apply_tiles
        if self.signed:  # each tile goes through the network twice (polarity average)
            fn, batch_tiles = self.apply_tiles_polarity_averaged, max(1, batch_tiles // 2)
        shares_prior = getattr(self.generator, "shares_prior", None)  # a refiner with a costly prior
        if ensemble != "none" and shares_prior is not None and shares_prior(self.signed):
            fn = self.oriented_average(GROUPS[ensemble])
        elif ensemble != "none":
            fn = oriented_mean(fn, GROUPS[ensemble])
        with inference_layout(self.generator, not self.fixed_size), bf16:
            out = tiled_apply(fn, observed, mask, self.tile, self.scale, overlap=overlap, batch_tiles=batch_tiles,
                              pad_to_tile=self.fixed_size, device=device, out_channels=self.channels)
        return out.contiguous()

    def check_ensemble(self, ensemble: str) -> str:
        """The self-ensemble asked for, or one sentence on why this model cannot take it."""
        check_group(ensemble, "ensemble")
        if self.fixed_size:
            check_shape(ensemble, *self.tile, f"the model {self.name} takes only tiles of")
        return ensemble

    def apply_tiles_polarity_averaged(self, obs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Signed tiles, normalised as in training, through `(g(d) - g(-d)) / 2`: both polarities of a tile in
        one batch, and a refiner with an odd prior computes that prior once (models/refine.py)."""
        obs, amp = normalise_by_observed(obs)
        own = getattr(self.generator, "polarity_average", None)  # a refiner computes an odd prior once
        return (own(obs, mask) if own is not None else polarity_average(self.generator, obs, mask)) * amp

    def oriented_average(self, orientations: int):
        """The self-ensemble of a refiner that computes its costly prior once per tile (models/refine.py), with
        the polarity average of signed tiles; normalised as in training."""
        def averaged(obs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            obs, amp = normalise_by_observed(obs) if self.signed else (obs, 1.0)
            return self.generator.oriented_average(obs, mask, orientations, self.signed) * amp
        return averaged

    def apply_tiles(self, obs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One batch of tiles through the generator, with gradients when enabled (adaptation trains this)."""
        if self.signed:  # per-tile amplitude normalisation, exactly as in training
            obs, amp = normalise_by_observed(obs)
            return self.generator(obs, mask) * amp
        return self.generator(obs, mask)


class ModelWrapper(Reconstructor):
    """A reconstructor around another (adaptation, gain, resampling): the wrapped model's description and sizes
    under a name of its own; subclasses implement `reconstruct` (or `__call__`). The wrapped model keeps its
    known entries itself; a wrapper that changes them (resampling) sets `data_consistency = True`."""

    data_consistency = False

    def __init__(self, model, name: str):
        self.model, self.name = model, name

    def __getattr__(self, item):
        if item == "model":  # not set yet (copying, unpickling): no endless recursion
            raise AttributeError(item)
        return getattr(self.model, item)

    @property
    def meta(self) -> dict:
        return self.model.meta

    @property
    def channels(self) -> int | None:
        return getattr(self.model, "channels", None)  # the wrapped model checks its own input

    @property
    def value_range(self) -> tuple[float, float]:
        return tuple(self.model.value_range)

    @property
    def scale(self) -> int:
        return self.model.scale

    @property
    def fixed_size(self) -> bool:
        return self.model.fixed_size

    @property
    def tile(self) -> tuple[int, int]:
        return self.model.tile
