"""Dip-steered interpolation: each missing trace copied from its nearest known traces along the local slope.

Energy in a gather is predictable along local dips: a missing trace at x is, at each time t, close to its
neighbours at x_i shifted by p (x_i - x) for the local slope p. The slope is found from the known traces only,
by a semblance scan (Marfurt 1998): for every trial slope the `neighbours` nearest known traces are aligned on
the missing trace and the coherence of the aligned traces, smoothed over `smooth` samples, is measured.
Plane-wave destruction and the structure tensor need derivatives across a regular grid of traces, which
missing traces break; the semblance scan works from any set of traces, at any distance.

Aliasing: at high frequencies a steep event lines up with its neighbours at several slopes (cycle skipping).
So the scan runs twice: on data low-passed below `lowpass` cycles per sample (a Gaussian), where the steep
events do not alias, over all slopes up to `max_slope` samples per trace; then on the full band, only within
`refine` samples per trace of the low-frequency pick, which sharpens it. The estimate is the weighted stack of
the aligned neighbours along the picked slope (weights 1 / distance^`power`). Shifts are exact (Fourier phase
shifts), not rounded to samples.
"""

from __future__ import annotations

import numpy as np

from ganrecon.errors import GanreconError


def nearest_known(known_traces: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """For each missing trace: the indices (M x count) of the `count` nearest known traces and their offsets."""
    xs = np.flatnonzero(known_traces)
    miss = np.flatnonzero(~known_traces)
    count = min(count, xs.size)
    distance = np.abs(xs[None, :] - miss[:, None]) + 1e-3 * (xs[None, :] > miss[:, None])  # ties: left first
    order = np.argsort(distance, axis=1, kind="stable")[:, :count]
    return xs[order], xs[order] - miss[:, None]


def semblance(aligned: np.ndarray, smooth: float) -> np.ndarray:
    """... x K x T aligned traces -> ... x T semblance (coherence in [0, 1]) smoothed over time."""
    from scipy.ndimage import gaussian_filter1d

    k = aligned.shape[-2]
    num = gaussian_filter1d(aligned.sum(axis=-2) ** 2, smooth, axis=-1, mode="nearest")
    den = gaussian_filter1d((aligned ** 2).sum(axis=-2), smooth, axis=-1, mode="nearest") * k
    floor = 1e-6 * max(float(den.max()), 1e-30)
    return num / (den + floor)


def align(spectra: np.ndarray, phase: np.ndarray, n: int, h: int) -> np.ndarray:
    """Neighbour spectra (M x K x F) times shift phases (M x P x K x F) -> M x P x K x h aligned traces."""
    from scipy.fft import irfft

    return irfft(spectra[:, None] * phase, n, axis=-1)[..., :h]


def shift_phases(offsets: np.ndarray, slopes: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """M x P x K x F phases that read each neighbour at t + slope x offset (freqs in cycles per sample)."""
    shifts = (slopes[None, :, None] * offsets[:, None, :]).astype(np.float32)
    return np.exp((2j * np.pi * freqs.astype(np.float32)) * shifts[..., None])


def phase_table(offsets: np.ndarray, slopes: np.ndarray, freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U x P x F phases of the U distinct offsets, the M x K index of each offset among them): a gather's
    offsets are a few small integers, so the phases of a chunk are looked up, not exponentiated again (the
    complex exponentials were half of the scan's time)."""
    distinct, index = np.unique(offsets, return_inverse=True)
    return shift_phases(distinct[:, None], slopes, freqs)[:, :, 0], index.reshape(offsets.shape)


def pick(score: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Index of the best slope (axis -2) at every time, among the allowed ones."""
    if allowed is not None:
        score = np.where(allowed, score, -np.inf)
    return np.argmax(score, axis=-2)


def check_dip(neighbours, max_slope, slope_step, lowpass, smooth, refine, power) -> None:
    if not (int(neighbours) >= 2 and max_slope >= 0 and slope_step > 0 and 0 < lowpass <= 0.5 and smooth > 0
            and refine >= 0 and power >= 0):
        raise GanreconError("Dip-steered interpolation needs neighbours >= 2, max_slope >= 0, slope_step > 0, "
                            "0 < lowpass <= 0.5 cycles/sample, smooth > 0, refine >= 0 and power >= 0.")


def dip_interpolate(data: np.ndarray, known: np.ndarray, *, neighbours: int = 4, max_slope: float = 12.0,
                    slope_step: float = 0.25, lowpass: float = 0.04, smooth: float = 8.0, refine: float = 1.0,
                    power: float = 1.0, chunk: int = 4) -> np.ndarray:
    """Dip-steered interpolation of one gather (H x W); missing traces are the all-False columns of `known`."""
    return dip_stacks(data, known, neighbours=neighbours, max_slope=max_slope, slope_step=slope_step,
                      lowpass=lowpass, smooth=smooth, refine=refine, powers=(power,), chunk=chunk)[0]


def dip_stacks(data: np.ndarray, known: np.ndarray, *, neighbours: int = 4, max_slope: float = 12.0,
               slope_step: float = 0.25, lowpass: float = 0.04, smooth: float = 8.0, refine: float = 1.0,
               powers: tuple[float, ...] = (1.0,), chunk: int = 4) -> list[np.ndarray]:
    """`dip_interpolate` for each of `powers` from one slope scan (the scan is the cost; the consensus needs
    the stack at two powers: its own dip-steered part and f-x prediction's first estimate)."""
    from scipy.fft import next_fast_len, rfft

    for power in powers:
        check_dip(neighbours, max_slope, slope_step, lowpass, smooth, refine, power)
    traces = known.all(axis=0)
    data = np.where(known, data, 0.0)
    if traces.all() or traces.sum() < 2:
        return [data.copy() for _ in powers]
    h = data.shape[0]
    slopes = np.arange(-max_slope, max_slope + 0.5 * slope_step, slope_step)
    idx, offsets = nearest_known(traces, int(neighbours))
    nfft = next_fast_len(h + int(np.ceil(max_slope * np.abs(offsets).max())) + 1, real=True)  # no wrap-around
    spectra = rfft(data, nfft, axis=0).T.astype(np.complex64)  # W x F
    freqs = np.arange(spectra.shape[1]) / nfft  # cycles per sample
    # low band: the Gaussian low-pass is negligible beyond 3 x lowpass, so only those bins, at a coarser time step
    n_low = min(spectra.shape[1], int(np.ceil(3 * lowpass * nfft)) + 1)
    step = max(1, int(0.25 / (3 * lowpass)))
    lowpassed = spectra[:, :n_low] * np.exp(-0.5 * (freqs[:n_low] / lowpass) ** 2).astype(np.float32)
    table, which = phase_table(offsets, slopes, freqs)
    weights = [np.abs(offsets).astype(float) ** -power for power in powers]
    weights = [w / w.sum(axis=1, keepdims=True) for w in weights]
    miss = np.flatnonzero(~traces)
    estimates = [data.copy() for _ in powers]
    for start in range(0, miss.size, chunk):
        part = slice(start, start + chunk)
        phase = table[which[part]].transpose(0, 2, 1, 3)  # M x P x K x F
        low = semblance(align(lowpassed[idx[part]], phase[..., :n_low], nfft // step, -(-h // step)), smooth / step)
        first = slopes[pick(low)].repeat(step, axis=-1)[:, :h]  # M x T
        full = align(spectra[idx[part]], phase, nfft, h)  # M x P x K x T
        near = np.abs(slopes[None, :, None] - first[:, None, :]) <= refine + 1e-9
        best = pick(semblance(full, smooth), near)  # M x T
        along = np.take_along_axis(full, best[:, None, None, :], axis=1)[:, 0]  # M x K x T on the picked slope
        for estimate, w in zip(estimates, weights):
            estimate[:, miss[part]] = np.einsum("mkt,mk->mt", along, w[part]).T
    return [np.where(known, data, estimate) for estimate in estimates]
