"""Colour photographs through grey models: colour in, colour out, never a silent grey.

Every shipped image model is grey (one channel). Given a colour image, a grey model runs either

* per channel (`"channels"`): R, G and B each reconstructed as a grey image. Right when the degradation hits
  each channel on its own, as salt & pepper does; three times the work.
* on luminance (`"luminance"`): the model restores Y (ITU-R BT.601), and the chroma (Cb, Cr) comes from the
  task's conventional method run on the colour input (bicubic for super-resolution). The usual choice for
  super-resolution: the eye reads detail from luminance, and chroma is smooth.

`COLOUR_MODES` holds the mode each task uses, chosen by `benchmarks/colour.py` on scikit-image's colour
photographs with the shipped models (numbers in docs/results/colour.md); tasks it cannot measure (no shipped
model that takes photographs: `latent`) run per channel, the mode that assumes nothing about the degradation.

This module works on any grey callable `fn(observed, mask)`, so the models call it without it knowing them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ganrecon.errors import GanreconError

# measured by benchmarks/colour.py (docs/results/colour.md, PSNR on 4 colour photographs, 256 x 256): salt &
# pepper hits each channel on its own, and per channel beats luminance by 15 dB; for super-resolution and
# turbulence per channel is slightly better (+0.1 and +0.02 dB), for missing columns luminance (+0.2 dB)
COLOUR_MODES = {"denoise": "channels", "superres": "channels", "translate": "channels", "traces": "luminance",
                "latent": "channels"}
# the conventional method whose chroma the luminance mode keeps, per task
CHROMA_BASELINES = {"denoise": "median3", "superres": "bicubic", "translate": "identity", "traces": "linear",
                    "latent": "biharmonic"}
MODES = ("channels", "luminance")
_Y = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights


def colour_mode(task: str | None, channels: int = 3, signed: bool = False) -> str:
    """The mode a grey model of `task` uses on images of `channels` channels (luminance needs RGB in [0, 1])."""
    mode = COLOUR_MODES.get(task or "", "channels")
    return mode if channels == 3 and not signed else "channels"


def describe(name: str, task: str | None, channels: int = 3, signed: bool = False) -> str:
    """One sentence that says how a grey model handled a colour input (for the CLI and the web app)."""
    if colour_mode(task, channels, signed) == "luminance":
        chroma = CHROMA_BASELINES.get(task or "", "linear")
        return (f"colour: {name} is a grey model; it restored the luminance and the colour (chroma) comes from "
                f"{chroma} (docs/results/colour.md).")
    return f"colour: {name} is a grey model; it ran on each of the {channels} channels (docs/results/colour.md)."


def rgb_to_ycbcr(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """N x 3 x H x W RGB in [0, 1] -> (Y N x 1 x H x W, CbCr N x 2 x H x W centred on 0)."""
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    y = _Y[0] * r + _Y[1] * g + _Y[2] * b
    cb = (b - y) / (2 * (1 - _Y[2]))
    cr = (r - y) / (2 * (1 - _Y[0]))
    return y, torch.cat([cb, cr], dim=1)


def ycbcr_to_rgb(y: torch.Tensor, cbcr: torch.Tensor) -> torch.Tensor:
    cb, cr = cbcr[:, 0:1], cbcr[:, 1:2]
    r = y + 2 * (1 - _Y[0]) * cr
    b = y + 2 * (1 - _Y[2]) * cb
    g = (y - _Y[0] * r - _Y[2] * b) / _Y[1]
    return torch.cat([r, g, b], dim=1)


def per_channel(fn: Callable, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each channel through the grey `fn` as an image of its own (one batch of N x C grey images)."""
    n, c, h, w = observed.shape
    out = fn(observed.reshape(n * c, 1, h, w), mask.expand_as(observed).reshape(n * c, 1, h, w))
    return out.reshape(n, c, *out.shape[-2:])


def on_luminance(fn: Callable, observed: torch.Tensor, mask: torch.Tensor, *, task: str | None, scale: int = 1,
                 value_range=(0.0, 1.0), keep_known: bool = False) -> torch.Tensor:
    """Y through the grey `fn`; Cb and Cr from the task's conventional method on the colour input. `keep_known`:
    the known entries come back exactly as given (a model with data consistency does so per channel too)."""
    from ganrecon.baselines import run_baseline

    mask = mask.expand_as(observed)
    y, _ = rgb_to_ycbcr(observed)
    known = mask.amin(dim=1, keepdim=True)   # a pixel is known when every channel of it is
    y_est = fn(y * known, known)
    chroma_from = run_baseline(CHROMA_BASELINES.get(task or "", "linear"), observed, mask,
                               value_range=value_range, scale=scale)
    _, cbcr = rgb_to_ycbcr(chroma_from.to(y_est.device, y_est.dtype))
    out = ycbcr_to_rgb(y_est, cbcr).clamp(float(value_range[0]), float(value_range[1]))
    if keep_known and out.shape == observed.shape:
        out = mask * observed.to(out.dtype) + (1 - mask) * out
    return out


def colour_apply(fn: Callable, observed: torch.Tensor, mask: torch.Tensor | None = None, *, task: str | None,
                 scale: int = 1, value_range=(0.0, 1.0), mode: str | None = None,
                 keep_known: bool = False) -> torch.Tensor:
    """A grey model `fn(observed, mask)` on a multi-channel batch N x C x H x W: the same layout out (times
    `scale`), in `mode` (default: the task's measured mode, `COLOUR_MODES`); `keep_known` as in on_luminance."""
    if observed.dim() != 4:
        raise GanreconError(f"Expected images shaped N x C x H x W, got shape {tuple(observed.shape)}.")
    mask = torch.ones_like(observed) if mask is None else mask
    signed = float(value_range[0]) < 0
    mode = mode or colour_mode(task, observed.shape[1], signed)
    if mode not in MODES:
        raise GanreconError(f"Unknown colour mode {mode!r}; choose one of {', '.join(MODES)}.")
    if mode == "luminance":
        if observed.shape[1] != 3 or signed:
            raise GanreconError("The luminance mode needs RGB images in [0, 1].")
        return on_luminance(fn, observed, mask, task=task, scale=scale, value_range=value_range,
                            keep_known=keep_known)
    return per_channel(fn, observed, mask)
