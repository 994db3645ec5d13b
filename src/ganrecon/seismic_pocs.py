"""POCS interpolation with FK thresholding (Abma & Kabir 2006), on the whole gather or in sliding windows.

Projection onto convex sets alternates two projections until the missing traces settle: keep only the strong
FK coefficients (a plane-wave event is a line of large coefficients, noise and the gaps' leakage are small
ones), then put the recorded traces back. The threshold starts near the largest coefficient of the zero-filled
window and decreases over the iterations (exponentially or linearly), so strong events are rebuilt first and
weak ones join later. Each window is zero-padded by `pad` in time and traces; the padding counts as missing, so
events may run into it instead of wrapping around.

Regular decimation aliases: every event gets a copy of equal strength at another wavenumber, which thresholding
cannot tell apart. With `antialias` > 0 the thresholds are weighted by a mask taken from the low frequencies
of a first pass (Naghizadeh 2012): a plane wave at (f, k) is also at (f / 2, k / 2), where it does not alias,
so the first pass's amplitude spectrum stretched by 2 says where events may live at f. The weight is that
stretched spectrum (normalised per frequency) to the power `antialias`.

Windows (`ganrecon.seismic_windows`): the `pocs` baseline cuts only in time (long gathers, with tapers); the
`sliding-fk` baseline cuts in time and traces so curved events are locally linear.
"""

from __future__ import annotations

import numpy as np

from ganrecon.errors import GanreconError
from ganrecon.seismic_windows import in_windows

SCHEDULES = ("exp", "linear")


def thresholds(niter: int, first: float, last: float, schedule: str) -> np.ndarray:
    """Relative thresholds (fractions of the largest coefficient), decreasing from `first` to `last`."""
    if schedule == "exp":
        return np.geomspace(first, last, niter)
    return np.linspace(first, last, niter)


def check_pocs(niter, first, last, schedule, pad, antialias) -> None:
    if schedule not in SCHEDULES:
        raise GanreconError(f"POCS schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}.")
    if not (int(niter) >= 1 and 0 < last <= first <= 1 and pad >= 1 and antialias >= 0):
        raise GanreconError("POCS needs niter >= 1, 0 < last <= first <= 1, pad >= 1 and antialias >= 0.")


def stretched_mask(spectrum: np.ndarray, power: float) -> np.ndarray:
    """B x K x F weights for each (k, f) from |spectrum| at (k / 2, f / 2), normalised per frequency.

    `spectrum` is B x K x F: trace wavenumbers in FFT order along axis 1, non-negative frequencies along axis 2
    (the layout of `pocs_batch`). Half an index falls between bins: linear interpolation.
    """
    from scipy.ndimage import uniform_filter

    amp = uniform_filter(np.abs(spectrum), size=(1, 3, 3), mode="nearest")  # single bins are noisy
    nk, nf = amp.shape[1], amp.shape[2]
    k = np.fft.fftfreq(nk) * nk / 2.0  # half of each signed wavenumber index
    f = np.arange(nf) / 2.0
    k0, f0 = np.floor(k).astype(int), np.floor(f).astype(int)
    wk, wf = (k - k0)[None, :, None], (f - f0)[None, None, :]
    k1, f1 = (k0 + 1) % nk, np.minimum(f0 + 1, nf - 1)
    k0 = k0 % nk
    rows0, rows1 = amp[:, k0], amp[:, k1]
    stretched = ((1 - wk) * ((1 - wf) * rows0[:, :, f0] + wf * rows0[:, :, f1])
                 + wk * ((1 - wf) * rows1[:, :, f0] + wf * rows1[:, :, f1]))
    peak = stretched.max(axis=1, keepdims=True)
    mask = np.divide(stretched, peak, out=np.zeros_like(stretched), where=peak > 0)
    return (mask ** power).astype(np.float32)


def padded_shape(h: int, w: int, pad: float) -> tuple[int, int]:
    """(traces, time samples) of a window zero-padded by `pad`, rounded up to fast FFT sizes."""
    from scipy.fft import next_fast_len

    return next_fast_len(int(np.ceil(w * pad))), next_fast_len(int(np.ceil(h * pad)), real=True)


def pocs_batch(data: np.ndarray, known: np.ndarray, *, niter: int, first: float, last: float,
               schedule: str = "exp", pad: float = 2.0, weights: np.ndarray | None = None) -> np.ndarray:
    """POCS on B windows at once: data and known are B x h x w; returns the B x h x w estimates.

    Works on B x traces x time float32 arrays (time last and contiguous: the real FFT axis); `weights` is a
    B x K x F anti-alias mask or None.
    """
    from scipy.fft import irfft2, rfft2

    b, h, w = data.shape
    shape = padded_shape(h, w, pad)
    observed = np.zeros((b, *shape), dtype=np.float32)
    unknown = np.ones((b, *shape), dtype=np.float32)
    observed[:, :w, :h] = np.where(known, data, 0.0).transpose(0, 2, 1)
    unknown[:, :w, :h] = ~known.transpose(0, 2, 1)
    start = np.abs(rfft2(observed))
    if weights is not None:
        start *= weights
    peak = start.max(axis=(1, 2))[:, None, None]
    x = observed.copy()
    for tau in thresholds(int(niter), first, last, schedule):
        spectrum = rfft2(x)
        amp = np.abs(spectrum)
        if weights is not None:
            amp *= weights
        spectrum *= amp >= tau * peak
        x = irfft2(spectrum, s=shape, overwrite_x=True)
        x *= unknown
        x += observed
    return x[:, :w, :h].transpose(0, 2, 1).astype(np.float64)


def pocs_fk(data: np.ndarray, known: np.ndarray, *, niter: int = 100, first: float = 0.99, last: float = 0.001,
            schedule: str = "exp", pad: float = 2.0, antialias: float = 0.0) -> np.ndarray:
    """POCS on B x h x w windows, with the optional anti-alias mask from a first pass (see the docstring)."""
    from scipy.fft import rfft2

    weights = None
    if antialias > 0:
        first_pass = pocs_batch(data, known, niter=niter, first=first, last=last, schedule=schedule, pad=pad)
        shape = padded_shape(*data.shape[1:], pad)
        weights = stretched_mask(rfft2(first_pass.transpose(0, 2, 1).astype(np.float32), s=shape), antialias)
    return pocs_batch(data, known, niter=niter, first=first, last=last, schedule=schedule, pad=pad,
                      weights=weights)


def pocs_interpolate(data: np.ndarray, known: np.ndarray, *, window=(256, 4096), overlap=(0.5, 0.5),
                     **options) -> np.ndarray:
    """POCS FK interpolation of one gather (H time samples x W traces) in blended windows; known kept exactly."""
    data = np.where(known, data, 0.0)
    if known.all() or not known.any():
        return data
    estimate = in_windows(lambda d, k: pocs_fk(d, k, **options), data, known, window, overlap)
    return np.where(known, data, estimate)
