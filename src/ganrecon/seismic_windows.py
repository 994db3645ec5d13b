"""Overlapping space-time windows with tapered blending, for seismic methods that assume locally linear events.

FK thresholding, f-x prediction and dip scans all model a gather as a few plane waves. Real events curve, so
the gather is cut into overlapping windows (time x traces) in which they are nearly straight, each window is
processed on its own, and the results are blended with weights that rise smoothly from the window's edge
(a sine-squared ramp over the overlap). The blend divides by the summed weights, so it is an exact partition
of unity everywhere, gather edges included. All windows have the same size, so a method gets them as one
batch (B x h x w) and can vectorise over it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ganrecon.errors import GanreconError


def window_starts(n: int, size: int, overlap: float) -> np.ndarray:
    """Starts of windows of `size` covering [0, n) with about `overlap` (0-0.9) of each window shared."""
    if size >= n:
        return np.zeros(1, dtype=int)
    step = max(1, int(round(size * (1.0 - overlap))))
    count = int(np.ceil((n - size) / step)) + 1
    return np.round(np.linspace(0, n - size, count)).astype(int)


def ramp(size: int, overlap: float) -> np.ndarray:
    """Blending weights of one window axis: a sine-squared rise and fall over the overlap, flat in between."""
    width = max(1, int(round(size * overlap / 2)))
    weights = np.ones(size)
    if size <= 2:
        return weights
    rise = np.sin(0.5 * np.pi * (np.arange(width) + 0.5) / width) ** 2
    weights[:width] = np.minimum(weights[:width], rise)
    weights[size - width:] = np.minimum(weights[size - width:], rise[::-1])
    return weights


def check_window(size, overlap) -> tuple[tuple[int, int], tuple[float, float]]:
    """(time, traces) window size and overlap, with one sentence on bad values."""
    size = tuple(int(s) for s in (size if isinstance(size, (tuple, list)) else (size, size)))
    overlap = tuple(float(o) for o in (overlap if isinstance(overlap, (tuple, list)) else (overlap, overlap)))
    if len(size) != 2 or len(overlap) != 2 or min(size) < 2 or not all(0.0 <= o <= 0.9 for o in overlap):
        raise GanreconError("A window is two sizes (time samples, traces) of at least 2 and two overlaps in [0, 0.9].")
    return size, overlap


def in_windows(fn: Callable[..., np.ndarray], data: np.ndarray, known: np.ndarray, size, overlap,
               ) -> np.ndarray:
    """Run `fn(windows, known_windows) -> estimates` (each B x h x w) on overlapping windows and blend.

    `data` and `known` are H x W (time x traces). Window sizes larger than the gather shrink to it.
    """
    (st, sx), (ot, ox) = check_window(size, overlap)
    h, w = data.shape
    st, sx = min(st, h), min(sx, w)
    ts, xs = window_starts(h, st, ot), window_starts(w, sx, ox)
    rows = (ts[:, None, None, None] + np.arange(st)[None, None, :, None])  # T x 1 x st x 1
    cols = (xs[None, :, None, None] + np.arange(sx)[None, None, None, :])  # 1 X x 1 x sx
    batch_shape = (len(ts) * len(xs), st, sx)
    windows = data[rows, cols].reshape(batch_shape)
    known_windows = known[rows, cols].reshape(batch_shape)
    estimates = np.asarray(fn(windows, known_windows)).reshape(len(ts), len(xs), st, sx)
    weight = np.outer(ramp(st, ot) if len(ts) > 1 else np.ones(st), ramp(sx, ox) if len(xs) > 1 else np.ones(sx))
    total = np.zeros((h, w))
    norm = np.zeros((h, w))
    for i, t0 in enumerate(ts):
        for j, x0 in enumerate(xs):
            total[t0:t0 + st, x0:x0 + sx] += weight * estimates[i, j]
            norm[t0:t0 + st, x0:x0 + sx] += weight
    return total / norm
