"""Source wavelets for the synthetic seismic generator, evaluated analytically at continuous time lags.

Field wavelets are not Ricker wavelets: a vibroseis shot correlates to a Klauder wavelet (long, ringing side
lobes), a band-pass processing flow leaves an Ormsby-like trapezoid spectrum, and most wavelets carry a phase
rotation. A model trained on Ricker wavelets alone refines the conventional answer well on Ricker gathers and
barely on the others (issue 20: +2.8 dB over the consensus on Ricker pylops gathers at 12.5 m, +0.3 on Klauder
ones), so `seismic:wavelets=...` draws each gather's wavelet family from a list.

Each family maps an event's peak frequency f (drawn by the generator) and a few shape numbers drawn here to a
zero-lag-normalised pulse, so amplitudes keep their meaning:
- `ricker`: (1 - 2 a) exp(-a), a = (pi f tau)^2 (no draws: the old data stay the same);
- `ormsby`: zero-phase trapezoid band f1 < f2 < f3 < f4 around f (the difference of two sinc^2 pairs);
- `klauder`: autocorrelation of a linear sweep f1 -> f2 (Re[sin(pi k tau (T - |tau|)) / (pi k tau) e^(2 pi i f0
  tau)]), with a Gaussian taper as a processor's sweep taper leaves it (`seismic:sweep=` and `taper=` widen the
  draw to short, untapered sweeps, whose side lobes ring through the whole pulse);
- `rotated`: a Ricker wavelet rotated by a constant phase phi: cos(phi) R + sin(phi) H[R], H the Hilbert
  transform, exact through Dawson's integral.
"""

from __future__ import annotations

import numpy as np
from scipy.special import dawsn

WAVELET_FAMILIES = ("ricker", "ormsby", "klauder", "rotated")
HIGHEST = 0.9  # no corner frequency above this share of the Nyquist frequency (no aliasing along time)
KLAUDER_SWEEP = (4.0, 12.0)  # sweep length range, s: a field vibroseis sweep (`seismic:sweep=`)
KLAUDER_TAPER = (1.5, 4.0)   # Gaussian taper range, periods of the peak frequency (`seismic:taper=`)


def ricker(tau: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Ricker (Mexican hat) wavelet of peak frequency `freq` at time lags `tau` (broadcast)."""
    a = (np.pi * freq * tau) ** 2
    return (1.0 - 2.0 * a) * np.exp(-a)


def _sinc2_pair(tau: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(hi^2 sinc^2(hi tau) - lo^2 sinc^2(lo tau)) / (hi - lo): one sloping edge of a trapezoid spectrum."""
    return (hi ** 2 * np.sinc(hi * tau) ** 2 - lo ** 2 * np.sinc(lo * tau) ** 2) / (hi - lo)


def ormsby(tau: np.ndarray, f1, f2, f3, f4) -> np.ndarray:
    """Zero-phase Ormsby wavelet of the trapezoid band f1-f2-f3-f4 Hz, 1 at zero lag."""
    peak = (f4 + f3) - (f2 + f1)  # the pulse at tau = 0
    return (_sinc2_pair(tau, f3, f4) - _sinc2_pair(tau, f1, f2)) / peak


def klauder(tau: np.ndarray, f1, f2, length, taper) -> np.ndarray:
    """Klauder wavelet of a `length`-second linear sweep f1 -> f2 Hz, times exp(-(tau / taper)^2); 1 at zero lag."""
    k, f0, lag = (f2 - f1) / length, (f1 + f2) / 2, np.abs(tau)
    body = np.where(lag < length, np.sinc(k * tau * (length - lag)) * (length - lag) / length, 0.0)
    return body * np.cos(2 * np.pi * f0 * tau) * np.exp(-(tau / taper) ** 2)


def rotated_ricker(tau: np.ndarray, freq, phase) -> np.ndarray:
    """Ricker wavelet rotated by a constant phase (radians): cos(phase) R + sin(phase) H[R]."""
    x = np.pi * freq * tau
    d = dawsn(x)
    hilbert = (2.0 * d + 2.0 * x - 4.0 * x ** 2 * d) / np.sqrt(np.pi)  # -D''(x) / sqrt(pi): H of the Ricker
    return np.cos(phase) * ricker(tau, freq) + np.sin(phase) * hilbert


def draw_shapes(rng: np.random.Generator, family: str, freq: np.ndarray, nyquist: float,
                taper: tuple[float, float] = KLAUDER_TAPER, sweep: tuple[float, float] = KLAUDER_SWEEP) -> np.ndarray:
    """count x 4 shape numbers for `family` around each event's peak frequency (see `render_wavelets`).
    Klauder wavelets draw their sweep length (s) from `sweep` and their taper (periods of the peak frequency)
    from `taper`: a short untapered sweep rings longer than the defaults' processed field sweep."""
    count, top = freq.size, HIGHEST * nyquist
    if family == "ricker":
        return np.stack([freq, *np.zeros((3, count))], axis=1)
    if family == "ormsby":
        f2 = freq * rng.uniform(0.3, 0.7, count)
        f1 = f2 * rng.uniform(0.3, 0.8, count)
        f3 = np.minimum(freq * rng.uniform(1.3, 2.2, count), top / 1.1)
        f4 = np.minimum(f3 * rng.uniform(1.1, 1.5, count), top)
        return np.stack([f1, f2, f3, np.maximum(f4, f3 * 1.05)], axis=1)
    if family == "klauder":
        f1 = freq * rng.uniform(0.2, 0.5, count)
        f2 = np.minimum(freq * rng.uniform(1.5, 2.5, count), top)
        length = rng.uniform(*sweep, count)
        width = rng.uniform(*taper, count) / freq  # by default a few periods of side lobes survive the taper
        return np.stack([f1, f2, length, width], axis=1)
    if family == "rotated":
        return np.stack([freq, rng.uniform(-np.pi / 2, np.pi / 2, count), *np.zeros((2, count))], axis=1)
    raise ValueError(f"unknown wavelet family {family!r}")


RENDERERS = {  # family -> pulse at lags tau from its shape columns (see draw_shapes)
    "ricker": lambda tau, c: ricker(tau, c[0]),
    "ormsby": lambda tau, c: ormsby(tau, *c),
    "klauder": lambda tau, c: klauder(tau, *c),
    "rotated": lambda tau, c: rotated_ricker(tau, c[0], c[1]),
}


def render_wavelets(family: str, tau: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """The pulses at lags `tau` (count x ...), one row of `shapes` (count x 4) per event."""
    columns = [shapes[:, i].reshape((-1,) + (1,) * (tau.ndim - 1)) for i in range(4)]
    return RENDERERS[family](tau, columns)
