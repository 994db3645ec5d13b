"""`seismic[:options]`: synthetic shot-gather patches, time along H and traces along W.

Each patch is a sum of seismic events (linear, parabolic, hyperbolic moveout), each carrying a Ricker wavelet
of its own peak frequency and amplitude, then optional effects (noise), then normalised to max |amp| = 1.
The wavelet is evaluated analytically at every (time, trace) - no rounding of traveltimes to samples - so
the events are smooth across traces exactly as far as the sampling allows.

Defaults keep events un-aliased: the steepest dip is 1 / vmin = 0.5 ms/m, i.e. 5 ms per 10 m trace, below
the half period (6.7 ms) of the highest significant frequency (about 2.5 x fmax = 88 Hz).

Extending it (e.g. aliased steep events, ground roll, decay, dead traces):
- a new kind of event: write `maker(rng, geometry, options, count) -> Events` and add it to `EVENT_KINDS`
  (it is then selectable with `kinds=...`);
- a new effect on the whole gather: write `effect(gather, rng, geometry, options) -> gather` and append it to
  `EFFECTS` (effects run in order and must leave the gather unchanged when their option is off);
- a new option: add a field to `SeismicOptions` and its parser to `OPTION_PARSERS`.
Every item draws from its own generator (seed, split, index), so adding options never changes the data
produced with the old defaults as long as new draws come after the existing ones or are skipped when off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from ganrecon.data.convert import SIGNED_RANGE
from ganrecon.data.loader import Context, Raw
from ganrecon.data.options import number, parse_dataclass, parse_range, positive_int, size
from ganrecon.data.splits import item_rng
from ganrecon.errors import GanreconError


@dataclass(frozen=True)
class SeismicOptions:
    n: int = 512                    # patches per split
    size: tuple[int, int] = (128, 64)  # time samples x traces
    dt: float = 0.004               # time sampling, s
    dx: float = 10.0                # trace spacing, m
    events: tuple[int, int] = (3, 8)  # events per patch, drawn uniformly in [low, high]
    fmin: float = 10.0              # Ricker peak frequency range, Hz
    fmax: float = 35.0
    vmin: float = 2000.0            # lowest apparent velocity (steepest dip), m/s
    vmax: float = 6000.0            # highest hyperbola (stacking) velocity, m/s
    kinds: tuple[str, ...] = ("linear", "parabolic", "hyperbolic")
    noise: float = 0.0              # white Gaussian noise std, relative to the clean patch's max |amp|


@dataclass(frozen=True)
class Geometry:
    nt: int
    nx: int
    dt: float
    dx: float

    @property
    def t(self) -> np.ndarray:
        return np.arange(self.nt, dtype=np.float64) * self.dt

    @property
    def x(self) -> np.ndarray:
        return np.arange(self.nx, dtype=np.float64) * self.dx

    @property
    def duration(self) -> float:
        return self.nt * self.dt

    @property
    def aperture(self) -> float:
        return max((self.nx - 1) * self.dx, self.dx)


@dataclass
class Events:
    """`count` events: traveltime and amplitude per trace (count x nx), Ricker peak frequency per event."""

    traveltime: np.ndarray
    amplitude: np.ndarray
    frequency: np.ndarray

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        return Events(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("traveltime", "amplitude",
                                                                                  "frequency")))


def _common(rng: np.random.Generator, geo: Geometry, opt: SeismicOptions, count: int):
    """Amplitude (random sign, 0.2..1) and peak frequency shared by every kind of event."""
    amp = rng.uniform(0.2, 1.0, count) * rng.choice([-1.0, 1.0], count)
    freq = rng.uniform(opt.fmin, opt.fmax, count)
    return np.repeat(amp[:, None], geo.nx, axis=1), freq


def linear_events(rng, geo: Geometry, opt: SeismicOptions, count: int) -> Events:
    """t(x) = tc + p (x - centre): plane waves, dips uniform in slowness |p| <= 1 / vmin."""
    tc = rng.uniform(0.0, geo.duration, count)
    p = rng.uniform(-1.0, 1.0, count) / opt.vmin
    xc = geo.aperture / 2
    tt = tc[:, None] + p[:, None] * (geo.x[None] - xc)
    amp, freq = _common(rng, geo, opt, count)
    return Events(tt, amp, freq)


def parabolic_events(rng, geo: Geometry, opt: SeismicOptions, count: int) -> Events:
    """t(x) = tc + p (x - c) + q (x - c)^2 with |slope| <= 1 / vmin everywhere in the patch."""
    tc = rng.uniform(0.0, geo.duration, count)
    p = rng.uniform(-1.0, 1.0, count) / opt.vmin
    q = rng.uniform(-1.0, 1.0, count) * (1.0 / opt.vmin - np.abs(p)) / geo.aperture
    xc = geo.aperture / 2
    dx = geo.x[None] - xc
    tt = tc[:, None] + p[:, None] * dx + q[:, None] * dx ** 2
    amp, freq = _common(rng, geo, opt, count)
    return Events(tt, amp, freq)


def hyperbolic_events(rng, geo: Geometry, opt: SeismicOptions, count: int) -> Events:
    """t(x) = sqrt(t0^2 + ((x - x0) / v)^2): reflections with apex x0 inside or outside the patch."""
    t0 = rng.uniform(0.0, geo.duration, count)
    x0 = rng.uniform(-geo.aperture, 2 * geo.aperture, count)
    v = rng.uniform(opt.vmin, opt.vmax, count)
    tt = np.sqrt(t0[:, None] ** 2 + ((geo.x[None] - x0[:, None]) / v[:, None]) ** 2)
    amp, freq = _common(rng, geo, opt, count)
    return Events(tt, amp, freq)


EVENT_KINDS: dict[str, Callable[..., Events]] = {
    "linear": linear_events,
    "parabolic": parabolic_events,
    "hyperbolic": hyperbolic_events,
}


def add_noise(gather: np.ndarray, rng, geo: Geometry, opt: SeismicOptions) -> np.ndarray:
    if opt.noise <= 0:
        return gather
    peak = np.abs(gather).max()
    return gather + rng.standard_normal(gather.shape) * (opt.noise * (peak if peak > 0 else 1.0))


EFFECTS: list[Callable[..., np.ndarray]] = [add_noise]


def ricker(tau: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Ricker (Mexican hat) wavelet of peak frequency `freq` at time lags `tau` (broadcast)."""
    a = (np.pi * freq * tau) ** 2
    return (1.0 - 2.0 * a) * np.exp(-a)


def render(events: Events, geo: Geometry) -> np.ndarray:
    """nt x nx gather: sum over events of amplitude x Ricker(t - traveltime)."""
    tau = geo.t[None, :, None] - events.traveltime[:, None, :]
    wavelets = ricker(tau, events.frequency[:, None, None])
    return np.einsum("kx,ktx->tx", events.amplitude, wavelets)


def make_gather(rng: np.random.Generator, opt: SeismicOptions) -> np.ndarray:
    """One un-normalised nt x nx gather."""
    geo = Geometry(opt.size[0], opt.size[1], opt.dt, opt.dx)
    count = int(rng.integers(opt.events[0], opt.events[1] + 1))
    kinds = rng.choice(len(opt.kinds), size=count)
    parts = [EVENT_KINDS[kind](rng, geo, opt, int((kinds == i).sum()))
             for i, kind in enumerate(opt.kinds) if (kinds == i).any()]
    gather = render(Events.concat(parts), geo)
    for effect in EFFECTS:
        gather = effect(gather, rng, geo, opt)
    return gather


OPTION_PARSERS = {
    "n": positive_int("seismic n", hi=1_000_000),
    "size": size("seismic size"),
    "dt": number("seismic dt (seconds)", lo=0.0, hi=1.0, lo_open=True),
    "dx": number("seismic dx (metres)", lo=0.0, lo_open=True),
    "events": lambda text: parse_range(text, "seismic events", lo=1, hi=200),
    "fmin": number("seismic fmin (Hz)", lo=0.0, lo_open=True),
    "fmax": number("seismic fmax (Hz)", lo=0.0, lo_open=True),
    "vmin": number("seismic vmin (m/s)", lo=0.0, lo_open=True),
    "vmax": number("seismic vmax (m/s)", lo=0.0, lo_open=True),
    "kinds": lambda text: _kinds(text),
    "noise": number("seismic noise", lo=0.0, hi=100.0),
}


def _kinds(text: str) -> tuple[str, ...]:
    from ganrecon.data.options import names

    return names(text, "seismic event kind", tuple(EVENT_KINDS))


def parse_seismic_options(text: str) -> SeismicOptions:
    opt = parse_dataclass(SeismicOptions, text, "seismic", OPTION_PARSERS)
    nyquist = 0.5 / opt.dt
    if opt.fmin > opt.fmax:
        raise GanreconError(f"seismic fmin ({opt.fmin:g} Hz) must not exceed fmax ({opt.fmax:g} Hz).")
    if opt.fmax >= nyquist:
        raise GanreconError(f"seismic fmax ({opt.fmax:g} Hz) must be below the Nyquist frequency "
                            f"{nyquist:g} Hz of dt={opt.dt:g} s.")
    if opt.vmin > opt.vmax:
        raise GanreconError(f"seismic vmin ({opt.vmin:g} m/s) must not exceed vmax ({opt.vmax:g} m/s).")
    if opt.size[0] < 2 or opt.size[1] < 2:
        raise GanreconError(f"seismic size must be at least 2x2, got {opt.size[0]}x{opt.size[1]}.")
    return opt


def generate_seismic(opt: SeismicOptions, *, seed: int = 0, split: str | None = None,
                     count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(float32 count x 1 x nt x nx patches with max |amp| = 1, float32 scale = original max |amp|)."""
    count = opt.n if count is None else count
    out = np.empty((count, 1, *opt.size), dtype=np.float32)
    scale = np.empty(count, dtype=np.float32)
    for i in range(count):
        gather = make_gather(item_rng("seismic", seed, split, i), opt)
        peak = float(np.abs(gather).max())
        peak = peak if peak > 0 else 1.0
        out[i, 0] = gather / peak
        scale[i] = peak
    return out, scale


def load_seismic(rest: str, ctx: Context) -> Raw:
    opt = parse_seismic_options(rest)
    count = opt.n if ctx.wanted is None else min(opt.n, ctx.wanted)
    images, scale = generate_seismic(opt, seed=ctx.seed, split=ctx.split, count=count)
    options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(opt).items()}
    return Raw(images=images, value_range=SIGNED_RANGE, name="seismic", scale=scale,
               meta={"dt_ms": opt.dt * 1000.0, "dx_m": opt.dx, "time_axis": "H", "trace_axis": "W",
                     "options": options},
               per_image={"index": np.arange(count, dtype=np.int64)})
