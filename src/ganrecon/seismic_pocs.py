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
    """B x F x K weights for each (f, k) from |spectrum| at (f / 2, k / 2), normalised per frequency.

    `spectrum` is B x F x K: non-negative frequencies along axis 1, trace wavenumbers in FFT order along axis 2
    (what `pocs_batch` transforms to). Half an index falls between bins: linear interpolation.
    """
    from scipy.ndimage import uniform_filter

    amp = uniform_filter(np.abs(spectrum), size=(1, 3, 3), mode="nearest")  # single bins are noisy
    nf, nk = amp.shape[1], amp.shape[2]
    f = np.arange(nf) / 2.0
    k = np.fft.fftfreq(nk) * nk / 2.0  # half of each signed wavenumber index
    f0, k0 = np.floor(f).astype(int), np.floor(k).astype(int)
    wf, wk = (f - f0)[None, :, None], (k - k0)[None, None, :]
    f1, k1 = np.minimum(f0 + 1, nf - 1), (k0 + 1) % nk
    k0 = k0 % nk
    rows0, rows1 = amp[:, f0], amp[:, f1]
    stretched = ((1 - wf) * ((1 - wk) * rows0[:, :, k0] + wk * rows0[:, :, k1])
                 + wf * ((1 - wk) * rows1[:, :, k0] + wk * rows1[:, :, k1]))
    peak = stretched.max(axis=2, keepdims=True)
    mask = np.divide(stretched, peak, out=np.zeros_like(stretched), where=peak > 0)
    return mask ** power


def pocs_batch(data: np.ndarray, known: np.ndarray, *, niter: int, first: float, last: float,
               schedule: str = "exp", pad: float = 2.0, weights: np.ndarray | None = None) -> np.ndarray:
    """POCS on B windows at once: data and known are B x h x w; returns the B x h x w estimates."""
    from scipy.fft import irfft2, next_fast_len, rfft2

    b, h, w = data.shape
    shape = (next_fast_len(int(np.ceil(h * pad)), real=True), next_fast_len(int(np.ceil(w * pad))))
    observed = np.zeros((b, *shape))
    inside = np.zeros((b, *shape), dtype=bool)
    observed[:, :h, :w] = np.where(known, data, 0.0)
    inside[:, :h, :w] = known
    axes = (2, 1)  # real FFT over time (last transformed axis), full FFT over traces
    start = np.abs(rfft2(observed, axes=axes))
    if weights is not None:
        start = start * weights
    peak = start.max(axis=(1, 2))[:, None, None]
    x = observed.copy()
    for tau in thresholds(int(niter), first, last, schedule):
        spectrum = rfft2(x, axes=axes)
        amp = np.abs(spectrum) if weights is None else np.abs(spectrum) * weights
        spectrum[amp < tau * peak] = 0.0
        x = irfft2(spectrum, s=shape[::-1], axes=axes)
        x[inside] = observed[inside]
    return x[:, :h, :w]


def pocs_fk(data: np.ndarray, known: np.ndarray, *, niter: int = 100, first: float = 0.99, last: float = 0.001,
            schedule: str = "exp", pad: float = 2.0, antialias: float = 0.0) -> np.ndarray:
    """POCS on B x h x w windows, with the optional anti-alias mask from a first pass (see the docstring)."""
    from scipy.fft import next_fast_len, rfft2

    weights = None
    if antialias > 0:
        first_pass = pocs_batch(data, known, niter=niter, first=first, last=last, schedule=schedule, pad=pad)
        h, w = data.shape[1:]
        shape = (next_fast_len(int(np.ceil(h * pad)), real=True), next_fast_len(int(np.ceil(w * pad))))
        spectrum = rfft2(first_pass, s=shape[::-1], axes=(2, 1))
        weights = stretched_mask(spectrum, antialias)
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
