"""Trained models as reconstruction functions: load by run directory, weights file or shipped name, then apply
to images of any size (overlapping tiles with smooth blending, bounded memory), restoring the input's amplitude
scale for signed data such as seismic gathers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ganrecon.checkpoints import PICKLE_SUFFIXES, read_bundle, state_dict_problem
from ganrecon.errors import GanreconError
from ganrecon.models import build_generator
from ganrecon.models.layers import normalise_by_observed

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def pretrained_names() -> list[str]:
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.safetensors"))


def _bundle_path(ref: str | Path) -> Path:
    """A run directory, a weights file or a shipped model's name -> the bundle's .safetensors path."""
    path = Path(ref)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return path  # read_bundle refuses it with the conversion hint
    if path.is_dir():
        if (path / "model.safetensors").is_file():
            return path / "model.safetensors"
        raise GanreconError(f"{path} holds no model.safetensors; is it a finished or checkpointed training run?")
    if path.is_file():
        return path
    shipped = PRETRAINED_DIR / f"{ref}.safetensors"
    if shipped.is_file():
        return shipped
    names = ", ".join(pretrained_names()) or "none yet"
    raise GanreconError(f"Model {str(ref)!r} is neither a run directory, a weights file nor a shipped model "
                        f"(shipped: {names}).")


@dataclass
class ReconstructionModel:
    generator: torch.nn.Module
    meta: dict
    name: str

    @property
    def value_range(self) -> tuple[float, float]:
        return tuple(self.meta["value_range"])

    @property
    def tile(self) -> tuple[int, int]:
        """Input tile = the training input size: image_size is the clean (output) size, so a x4 super-resolution
        model trained on 256 x 256 targets takes 64 x 64 input tiles (a 256 x 256 input tile would be 4096 x 4096
        x width activations per tile). Super-resolution tiles are at least 128 input pixels, so the 32-pixel blended
        overlap covers an SRResNet's receptive field: tiled = whole image to ~1e-4 of the range (64-pixel tiles:
        ~4e-3 at the seams), for ~1.8x the compute of one piece."""
        h, w = self.meta["image_size"]
        if self.scale == 1:
            return (h, w)
        return (max(h // self.scale, 128), max(w // self.scale, 128))

    @property
    def scale(self) -> int:
        return int(self.meta.get("scale", 1))

    @property
    def fixed_size(self) -> bool:
        return self.meta["generator"] == "linear"

    def to(self, device) -> ReconstructionModel:
        self.generator.to(device)
        return self

    @torch.no_grad()
    def __call__(self, observed: torch.Tensor, mask: torch.Tensor | None = None, *, overlap: float = 0.25,
                 batch_tiles: int = 16) -> torch.Tensor:
        """Reconstruct a batch N x C x H x W; observed in the model's value range (signed data: any amplitude,
        normalised per tile and restored)."""
        if observed.dim() != 4:
            raise GanreconError(f"Expected images shaped N x C x H x W, got shape {tuple(observed.shape)}.")
        if observed.shape[1] != self.meta["channels"] and self.meta["channels"] == 1:
            from ganrecon.colour import (
                colour_apply,  # colour in, colour out: a grey model per channel or on Y
            )

            return colour_apply(lambda o, m: self(o, m, overlap=overlap, batch_tiles=batch_tiles), observed, mask,
                                task=self.meta.get("task"), scale=self.scale, value_range=self.value_range,
                                keep_known=bool(self.meta.get("data_consistency")))
        if observed.shape[1] != self.meta["channels"]:
            raise GanreconError(f"The model {self.name} takes {self.meta['channels']}-channel images, got "
                                f"{observed.shape[1]}.")
        if mask is None:
            mask = torch.ones_like(observed)
        device = next(self.generator.parameters()).device
        observed = torch.nan_to_num(observed.float()) * mask  # missing entries carry no value, even NaN
        th, tw = self.tile  # bounded memory: at most ~16 x 256 x 256 output pixels of activations per batch
        batch_tiles = max(1, min(batch_tiles, 16 * 256 * 256 // (th * tw * self.scale**2)))
        mask = mask.float()

        def run(obs: torch.Tensor) -> torch.Tensor:
            return tiled_apply(self.apply_tiles, obs, mask, self.tile, self.scale, overlap=overlap,
                               batch_tiles=batch_tiles, pad_to_tile=self.fixed_size, device=device)

        if self.value_range[0] < 0:
            # seismic data are linear in the source: the reconstruction of -d must be minus that of d. Averaging
            # the model with its polarity-flipped twin enforces it (+0.15 dB mean on pylops gathers, 2x time;
            # benchmarks/seismic_symmetry.py).
            out = (run(observed) - run(-observed)) / 2
        else:
            out = run(observed)
        if self.meta.get("data_consistency") and out.shape == observed.shape:
            out = mask * observed + (1 - mask) * out
        return out

    def apply_tiles(self, obs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One batch of tiles through the generator, with gradients when enabled (adaptation trains this)."""
        if self.value_range[0] < 0:  # per-tile amplitude normalisation, exactly as in training
            obs, amp = normalise_by_observed(obs)
            return self.generator(obs, mask) * amp
        return self.generator(obs, mask)


class ModelWrapper:
    """A model-like callable around another (adaptation, gain, resampling): the wrapped model's attributes (meta,
    value_range, scale, tile, ...) under a name of its own; subclasses define __call__(observed, mask)."""

    def __init__(self, model, name: str):
        self.model, self.name = model, name

    def __getattr__(self, item):
        if item == "model":  # not set yet (copying, unpickling): no endless recursion
            raise AttributeError(item)
        return getattr(self.model, item)


def load_model(ref: str | Path, device: str | torch.device = "cpu") -> ReconstructionModel:
    """Load a model bundle; weights never go through pickle, and a mismatch with its description is one sentence."""
    weights = _bundle_path(ref)
    tensors, meta = read_bundle(weights)
    if meta.get("kind") == "unconditional":  # a latent model: reconstruction by inversion (ganrecon.invert)
        from ganrecon.invert import latent_model_from_bundle

        return latent_model_from_bundle(tensors, meta, weights, device)
    generator = generator_from_meta(meta, weights)
    load_weights_into(generator, tensors, weights)
    return ReconstructionModel(generator.eval().to(device), meta, bundle_name(weights))


def generator_from_meta(meta: dict, source: Path | str = "the model") -> torch.nn.Module:
    """A freshly initialised generator of the architecture a bundle's description names (weights not loaded)."""
    try:
        return build_generator(meta["generator"], channels=int(meta["channels"]),
                               image_size=tuple(meta["image_size"]), value_range=tuple(meta["value_range"]),
                               **meta.get("generator_options", {}))
    except KeyError as exc:
        raise GanreconError(f"The model description of {source} lacks the field {exc}.") from None


def load_weights_into(generator: torch.nn.Module, tensors: dict, weights: Path,
                      mismatch: str = "The weights in {weights} do not match the architecture in its description "
                                      "({problem}).") -> None:
    """Weights into a freshly built generator (float16 shipped weights are cast back); a mismatch is one sentence
    (`mismatch`, formatted with the weights' path and the problem)."""
    try:
        generator.load_state_dict(tensors)
    except RuntimeError as exc:
        raise GanreconError(mismatch.format(weights=weights, problem=state_dict_problem(exc))) from None


def bundle_name(weights: Path) -> str:
    """A model's display name: its run directory for run_dir/model.safetensors, else the file's stem."""
    weights = Path(weights)
    return weights.parent.name if weights.name == "model.safetensors" else weights.stem


def _positions(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    pos = list(range(0, length - tile, step)) + [length - tile]
    return sorted(set(pos))


def _window(h: int, w: int, overlap_h: int, overlap_w: int,
            edges: tuple[bool, bool, bool, bool] = (False, False, False, False)) -> torch.Tensor:
    """Blending weights: 1 in the middle; on each side shared with a neighbour tile, 0 over the outer quarter of
    the overlap (the pixels a convolution's zero padding spoils most), then a raised-cosine ramp over its middle
    half. Sides on the image border (`edges` = top, bottom, left, right) keep weight 1, so every pixel is covered.
    Compared with a ramp over the whole overlap this cuts the tiled-vs-whole difference of a x4 SRResNet about
    5-fold at 25% overlap."""
    def ramp(n: int, ov: int, first_edge: bool, last_edge: bool) -> torch.Tensor:
        wgt = torch.ones(n)
        if ov > 0:
            skip = ov // 4
            core = ov - 2 * skip
            r = torch.ones(ov)
            r[:skip] = 0.0
            r[skip:skip + core] = 0.5 - 0.5 * torch.cos(torch.linspace(0, torch.pi, core + 2)[1:-1])
            if not first_edge:
                wgt[:ov] = r
            if not last_edge:
                wgt[-ov:] = torch.minimum(wgt[-ov:], r.flip(0))
        return wgt
    top, bottom, left, right = edges
    return ramp(h, overlap_h, top, bottom)[:, None] * ramp(w, overlap_w, left, right)[None, :]


def tiled_apply(fn, observed: torch.Tensor, mask: torch.Tensor, tile: tuple[int, int], scale: int = 1, *,
                overlap: float = 0.25, batch_tiles: int = 16, pad_to_tile: bool = False,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Apply `fn(observed_tiles, mask_tiles)` over overlapping tiles and blend; holds at most `batch_tiles` tiles
    (plus the output and weight canvases) in memory. Images no larger than a tile go through in one piece."""
    n, c, h, w = observed.shape
    th, tw = tile
    if h <= th and w <= tw and not pad_to_tile:
        return torch.cat([fn(o.to(device), m.to(device)).float().cpu()  # a batch of tiles at a time, as below
                          for o, m in zip(observed.split(batch_tiles), mask.split(batch_tiles))])
    if h < th or w < tw:  # fixed-size model and a smaller image: pad, run, crop
        ph, pw = max(th - h, 0), max(tw - w, 0)
        obs = torch.nn.functional.pad(observed, (0, pw, 0, ph))
        msk = torch.nn.functional.pad(mask, (0, pw, 0, ph))
        return tiled_apply(fn, obs, msk, tile, scale, overlap=overlap, batch_tiles=batch_tiles,
                           pad_to_tile=pad_to_tile, device=device)[..., :h * scale, :w * scale]
    ov_h, ov_w = int(th * overlap), int(tw * overlap)
    ys, xs = _positions(h, th, th - ov_h), _positions(w, tw, tw - ov_w)
    windows: dict[tuple, torch.Tensor] = {}  # at most 9 kinds: corner, edge and interior tiles
    out = torch.zeros(n, c, h * scale, w * scale)
    weight = torch.zeros(1, 1, h * scale, w * scale)
    boxes = [(y, x) for y in ys for x in xs]
    for i in range(n):
        for start in range(0, len(boxes), batch_tiles):
            chunk = boxes[start:start + batch_tiles]
            obs = torch.stack([observed[i, :, y:y + th, x:x + tw] for y, x in chunk]).to(device)
            msk = torch.stack([mask[i, :, y:y + th, x:x + tw] for y, x in chunk]).to(device)
            res = fn(obs, msk).float().cpu()
            for (y, x), r in zip(chunk, res):
                ys_, xs_ = slice(y * scale, (y + th) * scale), slice(x * scale, (x + tw) * scale)
                edges = (y == 0, y + th == h, x == 0, x + tw == w)
                if edges not in windows:
                    windows[edges] = _window(th * scale, tw * scale, ov_h * scale, ov_w * scale, edges)
                window = windows[edges]
                out[i, :, ys_, xs_] += r * window
                if i == 0:
                    weight[0, 0, ys_, xs_] += window
    return out.div_(weight)  # in place: the output canvas is the largest array here
