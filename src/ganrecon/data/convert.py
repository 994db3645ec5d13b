"""Turn raw arrays of any common dtype and layout into float32 N x C x H x W in a known value range.

One rule for every file-backed source (npz/npy, TIFF stacks, image folders, SEG-Y) so that the same numbers
load the same way whatever container they came in:

- uint8 / uint16 (and bool): divided by the type's maximum -> [0, 1];
- float (and other integer types) already inside [0, 1]: kept -> [0, 1];
- signed values (any negative value): seismic-like; each image is divided by its own max |x| -> [-1, 1],
  and that factor is returned as `scale` so `image * scale` restores the amplitudes;
- non-negative values beyond 1 (e.g. float CT attenuation, 32-bit counts): divided by the maximum over the
  *whole* array, so grey levels stay comparable between slices of one volume -> [0, 1].
"""

from __future__ import annotations

import contextlib
import logging
import struct
import zipfile

import numpy as np

from ganrecon.errors import GanreconError

IMAGE_RANGE = (0.0, 1.0)
SIGNED_RANGE = (-1.0, 1.0)
# What third-party readers (tifffile, segyio, numpy, zipfile) raise on damaged or foreign files.
FILE_ERRORS = (OSError, ValueError, IndexError, KeyError, RuntimeError, EOFError, struct.error, zipfile.BadZipFile)
# ITU-R BT.601 luma, the same weights PIL uses for RGB -> L, so PNG and TIFF colour images agree.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


def as_nchw(arr: np.ndarray, what: str) -> np.ndarray:
    """H x W -> 1 x 1 x H x W, N x H x W -> N x 1 x H x W, N x C x H x W kept (N x H x W x C transposed)."""
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise GanreconError(f"{what} holds {arr.dtype} values; expected an integer or float image array.")
    if arr.size == 0:
        raise GanreconError(f"{what} is empty (shape {tuple(arr.shape)}).")
    if arr.ndim == 2:
        return arr[None, None]
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim == 4:
        if 1 <= arr.shape[1] <= 4:
            return arr
        if 1 <= arr.shape[3] <= 4:  # channels-last, as most image libraries write it
            return np.moveaxis(arr, 3, 1)
    raise GanreconError(
        f"{what} has shape {tuple(arr.shape)}; expected H x W, N x H x W or N x C x H x W with C at most 4.")


def check_finite(arr: np.ndarray, what: str) -> None:
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int(arr.size - np.isfinite(arr).sum())
        raise GanreconError(f"{what} contains {bad} NaN or infinite values; clean or drop them first.")


def normalise_signed(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide each image (first axis) by its max |x|; returns (normalised float32, scale float32).

    An all-zero image keeps scale 1 (not 0) so that dividing by `scale` later is always safe;
    `image * scale` still restores it.
    """
    x = np.asarray(x, dtype=np.float32)
    peak = np.abs(x.reshape(x.shape[0], -1)).max(axis=1)
    scale = np.where(peak > 0, peak, 1.0).astype(np.float32)
    return x / scale.reshape((-1,) + (1,) * (x.ndim - 1)), scale


def classify(arr: np.ndarray) -> str:
    """"unit" (divide by dtype max), "image" (already [0, 1]), "signed" or "global" (divide by array max)."""
    if arr.dtype == np.bool_ or arr.dtype in (np.uint8, np.uint16):
        return "unit"
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0:
        return "signed"
    return "image" if hi <= 1.0 else "global"


def to_unit(arr: np.ndarray, what: str, index: np.ndarray | None = None
            ) -> tuple[np.ndarray, tuple[float, float], np.ndarray | None, dict]:
    """Any supported array -> (float32 N x C x H x W, value_range, scale or None, info for meta).

    The rule is decided on the whole array, then only the images in `index` (a split) are converted, so
    every split of one file is scaled the same way without converting images nobody asked for.
    """
    x = as_nchw(np.asarray(arr), what)
    check_finite(x, what)
    rule = classify(x)
    info: dict = {}
    peak = float(x.max()) if rule == "global" else 1.0
    if index is not None:
        x = x[index]
    if rule == "unit":
        div = 1.0 if x.dtype == np.bool_ else float(np.iinfo(x.dtype).max)
        return x.astype(np.float32) / np.float32(div), IMAGE_RANGE, None, info
    if rule == "image":
        return x.astype(np.float32), IMAGE_RANGE, None, info
    if rule == "global":
        info["intensity_scale"] = peak
        return (x / peak).astype(np.float32), IMAGE_RANGE, None, info
    images, scale = normalise_signed(x)
    return images, SIGNED_RANGE, scale, info


def to_grey(x: np.ndarray) -> np.ndarray:
    """Channels-last H x W x C (C = 2 grey+alpha, 3 RGB, 4 RGBA) -> H x W float64; alpha is dropped."""
    if x.ndim == 2:
        return x.astype(np.float64)
    c = x.shape[-1]
    if c in (1, 2):
        return x[..., 0].astype(np.float64)
    return x[..., :3].astype(np.float64) @ LUMA


@contextlib.contextmanager
def quiet_tifffile():
    """tifffile logs a line of its own before raising on a damaged file; the user gets our one sentence only."""
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)
