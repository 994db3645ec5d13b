"""How images and seismic gathers are shown to a person in the HTML report and the web app: small PNGs (as
data URIs, so a page needs no other file) coloured the way each field reads them.

Seismic gathers (signed amplitudes) follow the geophysicists' conventions: time downwards (rows), traces
across, a colour scale symmetric about zero and clipped at a percentile of |amplitude| (a few strong events
would otherwise wash everything else out to mid-grey), in grey (positive black, as the filled lobes of a
wiggle plot) or red-white-blue (negative red, positive blue), and optionally as wiggle traces. Ordinary images
are grey (or RGB) in [0, 1]. Error maps use one sequential scale per example row, so methods compare by eye.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import torch

SIGNED_CMAPS = {"grey": "gray_r", "rwb": "RdBu"}   # page name -> matplotlib colour map
ERROR_CMAP = "magma"
DEFAULT_CLIP_PERCENTILE = 98.0


def _array(img) -> np.ndarray:
    """C x H x W (tensor or array) -> H x W, or H x W x 3 for colour."""
    arr = img.detach().float().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img, np.float32)
    if arr.ndim == 3:
        arr = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr[:3], 0, -1)
    return arr


def symmetric_clip(img, percentile: float = DEFAULT_CLIP_PERCENTILE) -> float:
    """The amplitude where a seismic display saturates: this percentile of |amplitude| (1 for an all-zero image)."""
    clip = float(np.percentile(np.abs(_array(img)), percentile))
    return clip if clip > 0 else 1.0


def _colour(arr: np.ndarray, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    from matplotlib import colormaps

    unit = np.clip((arr - vmin) / (vmax - vmin), 0, 1)
    return (colormaps[cmap](unit)[..., :3] * 255).round().astype(np.uint8)


def image_rgb(img, *, signed: bool, clip: float | None = None, cmap: str = "grey") -> np.ndarray:
    """One image as H x W x 3 uint8: a gather with a symmetric, clipped scale; an image in [0, 1]."""
    arr = _array(img)
    if signed:
        clip = clip if clip is not None else symmetric_clip(arr)
        return _colour(arr if arr.ndim == 2 else arr.mean(axis=-1), SIGNED_CMAPS[cmap], -clip, clip)
    if arr.ndim == 2:
        return np.repeat((np.clip(arr, 0, 1) * 255).round().astype(np.uint8)[..., None], 3, axis=-1)
    return (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)


def error_rgb(estimate, clean, vmax: float) -> np.ndarray:
    """|estimate - clean| on a sequential scale from 0 to `vmax` (shared by a row, so methods compare)."""
    err = np.abs(_array(estimate) - _array(clean))
    if err.ndim == 3:
        err = err.mean(axis=-1)
    return _colour(err, ERROR_CMAP, 0.0, vmax if vmax > 0 else 1.0)


def png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def wiggle_png(img, clip: float, *, height_px: int = 320) -> bytes:
    """Wiggle traces with the positive lobes filled black (variable area), time downwards, at most 64 traces
    (every k-th beyond that: more wiggles than pixels are just ink)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = _array(img)
    if arr.ndim == 3:
        arr = arr.mean(axis=-1)
    n_t, n_x = arr.shape
    step = max(1, -(-n_x // 64))
    traces = np.clip(arr[:, ::step] / clip, -1, 1) * 0.5 * step  # half a trace spacing at the clip level
    t = np.arange(n_t)
    fig, ax = plt.subplots(figsize=(height_px / 100 * max(0.4, min(2.0, n_x / n_t)), height_px / 100), dpi=100)
    for i, trace in enumerate(traces.T):
        x0 = i * step
        ax.plot(x0 + trace, t, color="black", lw=0.4)
        ax.fill_betweenx(t, x0, x0 + trace, where=trace > 0, color="black", lw=0)
    ax.set_xlim(-step, n_x)
    ax.set_ylim(n_t - 1, 0)  # time downwards
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    plt.close(fig)
    return buf.getvalue()
