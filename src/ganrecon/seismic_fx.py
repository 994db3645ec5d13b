"""Spitz f-x prediction interpolation (Spitz 1991), for regular decimation, and its adaptive form for any mask.

A gather of a few plane waves is, at each temporal frequency f, a sum of complex exponentials across traces, so
it obeys a short linear prediction filter along x. A wave of slowness p advances by 2 pi f p dx per trace at
frequency f on the fine grid, and by 2 pi (f / r) p (r dx), the same, per trace of the grid decimated by r at
f / r. So the filter that predicts the fine traces at f is estimated from the recorded (coarse) traces at f / r,
where the steep events that alias at f do not alias yet. With the filter, the missing traces at f are the
values that make the prediction error of the whole (fine) window smallest, the recorded traces fixed.

Filters are estimated by damped least squares on forward and backward prediction equations (for waves on the
unit circle the backward filter is the conjugate of the forward one). The coarse spectrum at f / r comes from an
r times longer FFT of the recorded traces, so bin j of it is exactly half (a 1/r-th) of bin j of the fine one.

Masks that are not a regular grid of traces use the adaptive form (Naghizadeh & Sacchi 2009): a first estimate
of the whole gather stands in for the coarse data, subsampled by 2 at f / 2 (both parities give equations); its
low frequencies, which alias least, carry the dips. The first estimate is `first`: "dip" (dip-steered
interpolation, `ganrecon.seismic_dip.dip_interpolate` with that function's defaults, weights 1 / distance) or
"linear" (across traces). Only the filters come
from it: the missing traces are still solved from the known ones.

Windows (`ganrecon.seismic_windows`): curved events are locally linear in windows of time and traces.
"""

from __future__ import annotations

import numpy as np

from ganrecon.errors import GanreconError
from ganrecon.seismic_dip import dip_interpolate
from ganrecon.seismic_windows import in_windows

FIRST_ESTIMATES = ("dip", "linear")


def regular_step(known_traces: np.ndarray) -> int:
    """r >= 2 when the known traces are every r-th trace (from any first one, with no gap), else 0."""
    idx = np.flatnonzero(known_traces)
    if idx.size < 2 or known_traces.all():
        return 0
    steps = np.diff(idx)
    r = int(steps[0])
    if r < 2 or not (steps == r).all() or idx[0] >= r or known_traces.size - 1 - idx[-1] >= r:
        return 0
    return r


def prediction_rows(series: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward prediction equations A a = b of filter `length` for F x m series (per frequency).

    Forward: y[n] = sum_l a_l y[n - l]; backward, conjugated: conj y[n] = sum_l a_l conj y[n + l].
    Returns A (F x rows x length) and b (F x rows).
    """
    m = series.shape[1]
    n = np.arange(length, m)
    lags = np.arange(1, length + 1)
    forward = series[:, n[:, None] - lags[None, :]]
    back_n = np.arange(0, m - length)
    backward = np.conj(series[:, back_n[:, None] + lags[None, :]])
    return (np.concatenate([forward, backward], axis=1),
            np.concatenate([series[:, n], np.conj(series[:, back_n])], axis=1))


def estimate_filters(series_list: list[np.ndarray], length: int, damping: float) -> np.ndarray:
    """F x length prediction filters from one or more F x m series (damped least squares per frequency)."""
    rows = [prediction_rows(s, length) for s in series_list if s.shape[1] > length]
    if not rows:
        return np.zeros((series_list[0].shape[0], length), dtype=complex)
    a = np.concatenate([r[0] for r in rows], axis=1)
    b = np.concatenate([r[1] for r in rows], axis=1)
    ah = np.conj(np.swapaxes(a, 1, 2))
    normal = ah @ a
    scale = np.real(np.trace(normal, axis1=1, axis2=2)) / length
    normal = normal + (damping * scale + 1e-12)[:, None, None] * np.eye(length)
    return np.linalg.solve(normal, (ah @ b[..., None]))[..., 0]


def fill_with_filters(spectrum: np.ndarray, known: np.ndarray, filters: np.ndarray, damping: float) -> np.ndarray:
    """Missing traces of the F x w `spectrum` that minimise the forward + backward prediction error."""
    f, w = spectrum.shape
    length = filters.shape[1]
    miss = np.flatnonzero(~known)
    if miss.size == 0 or w <= length:
        return spectrum
    n = np.arange(length, w)
    back = np.arange(0, w - length)
    rows_f, rows_b = n.size, back.size
    op = np.zeros((f, rows_f + rows_b, w), dtype=complex)
    op[:, np.arange(rows_f), n] = 1.0
    op[:, rows_f + np.arange(rows_b), back] = 1.0
    for lag in range(1, length + 1):
        op[:, np.arange(rows_f), n - lag] -= filters[:, lag - 1][:, None]
        op[:, rows_f + np.arange(rows_b), back + lag] -= np.conj(filters[:, lag - 1])[:, None]
    op_u, op_k = op[:, :, miss], op[:, :, known]
    ah = np.conj(np.swapaxes(op_u, 1, 2))
    normal = ah @ op_u
    scale = np.real(np.trace(normal, axis1=1, axis2=2)) / miss.size
    normal = normal + (damping * scale + 1e-12)[:, None, None] * np.eye(miss.size)
    rhs = -(ah @ (op_k @ spectrum[:, known][..., None]))
    out = spectrum.copy()
    out[:, miss] = np.linalg.solve(normal, rhs)[..., 0]
    return out


def linear_fill(data: np.ndarray, known_traces: np.ndarray) -> np.ndarray:
    """Linear interpolation across traces (constant beyond the outer known traces)."""
    xs = np.flatnonzero(known_traces)
    if xs.size == 0:
        return np.zeros_like(data)
    cols = np.arange(data.shape[1])
    return np.stack([np.interp(cols, xs, row[xs]) for row in data])


def spitz_window(data: np.ndarray, known_traces: np.ndarray, *, length: int, damping: float,
                 fill_damping: float) -> np.ndarray:
    """f-x interpolation of one h x w window whose missing traces are the False entries of `known_traces`.

    `data` holds a first estimate in the missing traces: used (for the filters only) when the known traces are
    not a regular grid; ignored otherwise.
    """
    from scipy.fft import irfft, next_fast_len, rfft

    h, w = data.shape
    if known_traces.all() or known_traces.sum() < 2:
        return data
    nfft = next_fast_len(h, real=True)
    r = regular_step(known_traces)
    if r:
        coarse = [rfft(data[:, known_traces], r * nfft, axis=0)[: nfft // 2 + 1]]
    else:
        first = rfft(data, 2 * nfft, axis=0)[: nfft // 2 + 1]
        coarse = [first[:, 0::2], first[:, 1::2]]
    filters = estimate_filters(coarse, length, damping)
    spectrum = rfft(np.where(known_traces[None, :], data, 0.0), nfft, axis=0)  # F x w
    filled = fill_with_filters(spectrum, known_traces, filters, fill_damping)
    return irfft(filled, nfft, axis=0)[:h]


def fx_interpolate(data: np.ndarray, known: np.ndarray, *, window=(100, 24), overlap=(0.5, 0.5), length: int = 4,
                   damping: float = 0.01, fill_damping: float = 1e-4, first: str = "dip",
                   guess: np.ndarray | None = None) -> np.ndarray:
    """Spitz f-x interpolation of one gather (H x W) whose missing traces are the all-False columns of `known`.
    `guess`: the `first` estimate when the caller has it already (the consensus scans the slopes once)."""
    if int(length) < 1 or damping < 0 or fill_damping < 0 or first not in FIRST_ESTIMATES:
        raise GanreconError("f-x prediction needs a filter length >= 1, non-negative damping and a first estimate "
                            f"out of {', '.join(FIRST_ESTIMATES)}.")
    traces = known.all(axis=0)
    data = np.where(known, data, 0.0)
    if traces.all() or traces.sum() < 2:
        return data
    prefilled = data
    if not regular_step(traces):  # the adaptive form: a first estimate carries the dips
        if guess is None:
            guess = dip_interpolate(data, known) if first == "dip" else linear_fill(data, traces)
        prefilled = np.where(traces[None, :], data, guess)

    def run(windows, known_windows):
        return np.stack([spitz_window(d, k.all(axis=0), length=int(length), damping=damping,
                                      fill_damping=fill_damping) for d, k in zip(windows, known_windows)])

    return np.where(known, data, in_windows(run, prefilled, np.broadcast_to(traces, data.shape), window, overlap))
