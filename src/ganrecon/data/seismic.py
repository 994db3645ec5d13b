"""`seismic[:options]`: synthetic shot-gather patches, time along H and traces along W.

Each patch is a sum of seismic events (linear, parabolic, hyperbolic moveout), each carrying a Ricker wavelet
(or, with `wavelets=ricker+ormsby+klauder+rotated`, a wavelet family drawn per gather) of its own peak frequency
and amplitude, then optional effects (noise), then normalised to max |amp| = 1.
The wavelet is evaluated analytically at every (time, trace) - no rounding of traveltimes to samples - so
the events are smooth across traces exactly as far as the sampling allows.

Defaults keep events un-aliased: the steepest dip is 1 / vmin = 0.5 ms/m, i.e. 5 ms per 10 m trace, below
the half period (6.7 ms) of the highest significant frequency (about 2.5 x fmax = 88 Hz).

Field gathers are not like that, so `preset=field` switches on what they have (issue 9): steep dips that alias
at the drawn trace spacing, dominant frequencies from 6% to 50% of Nyquist, diffractions, a dispersive
ground-roll cone, spherical-divergence decay, trace statics, white noise, and dead, noisy and polarity-flipped
traces, with time and trace sampling drawn per gather (`dt=0.002-0.004`, `dx=5-30`). Any option given after the
preset overrides it, e.g. `seismic:preset=field,bad=0`. `preset=aliased` keeps the events and drops the rest:
slow events (down to 500 m/s, e.g. refractions and the direct arrival) at 10-50 m trace spacing, so most
patches alias, with decay and a little white noise but no statics, ground roll or bad traces (issue 20: the
refiner of the best conventional answer learns what aliasing hides from it).

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
from dataclasses import dataclass, replace

import numpy as np

from ganrecon.data.convert import SIGNED_RANGE
from ganrecon.data.loader import Context, Raw
from ganrecon.data.options import as_meta, number, parse_dataclass, parse_range, positive_int, size
from ganrecon.data.splits import item_rng
from ganrecon.data.wavelets import (
    KLAUDER_SWEEP,
    KLAUDER_TAPER,
    WAVELET_FAMILIES,
    draw_shapes,
    render_wavelets,
    ricker,
)
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
    groundroll: float = 0.0         # largest ground-roll peak relative to the reflections' (drawn in 0.1-1 x)
    decay: float = 0.0              # spherical divergence: amplitude x (1 + t / 50 ms)^-p, p drawn in [0, decay]
    statics: float = 0.0            # per-trace static shifts, uniform in +-statics milliseconds
    bad: float = 0.0                # share of dead, noisy or polarity-flipped traces
    wavelets: tuple[str, ...] = ("ricker",)  # source wavelet families, one drawn per gather (data/wavelets.py)
    sweep: tuple[float, float] = KLAUDER_SWEEP  # Klauder sweep length range, s
    taper: tuple[float, float] = KLAUDER_TAPER  # Klauder Gaussian taper range, periods of the peak frequency
    dt_range: tuple[float, float] | None = None  # `dt=LOW-HIGH`: time sampling drawn per gather
    dx_range: tuple[float, float] | None = None  # `dx=LOW-HIGH`: trace spacing drawn per gather


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
    """`count` events: traveltime and amplitude per trace (count x nx), wavelet peak frequency per event."""

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


def diffraction_events(rng, geo: Geometry, opt: SeismicOptions, count: int) -> Events:
    """Point diffractors: hyperbolas with their apex inside the patch, at the migration velocity range
    [vmin, vmax], so their flanks steepen past any dip limit; weaker than reflections (x 0.5)."""
    t0 = rng.uniform(0.0, geo.duration, count)
    x0 = rng.uniform(0.0, geo.aperture, count)
    v = rng.uniform(opt.vmin, opt.vmax, count)
    tt = np.sqrt(t0[:, None] ** 2 + (2 * (geo.x[None] - x0[:, None]) / v[:, None]) ** 2)
    amp, freq = _common(rng, geo, opt, count)
    return Events(tt, 0.5 * amp, freq)


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
    "diffraction": diffraction_events,
}


def add_noise(gather: np.ndarray, rng, geo: Geometry, opt: SeismicOptions) -> np.ndarray:
    if opt.noise <= 0:
        return gather
    peak = np.abs(gather).max()
    return gather + rng.standard_normal(gather.shape) * (opt.noise * (peak if peak > 0 else 1.0))


CONE_OUTSIDE = 1e-6  # a ground-roll cone peaking below this (of a unit wavelet) lies outside the patch


def add_ground_roll(gather: np.ndarray, rng, geo: Geometry, opt: SeismicOptions) -> np.ndarray:
    """A dispersive surface-wave cone from a source at xs: four frequency components (4-18 Hz) travelling at
    150-900 m/s, the low frequencies fastest (normal dispersion), decaying with offset. Slow and strong, it aliases
    at coarse trace spacing and dominates raw field shots."""
    if opt.groundroll <= 0:
        return gather
    xs = rng.uniform(-0.5, 1.5) * geo.aperture
    t0 = rng.uniform(-0.1, 0.3) * geo.duration
    f_lo, f_hi = sorted(rng.uniform(4.0, 18.0, 2))
    v_lo, v_hi = rng.uniform(150.0, 400.0), rng.uniform(400.0, 900.0)
    freq = np.linspace(f_lo, f_hi, 4)
    velocity = v_hi - (v_hi - v_lo) * np.linspace(0.0, 1.0, 4)  # falls as the frequency rises
    offset = np.abs(geo.x - xs)
    tt = t0 + offset[None] / velocity[:, None]
    amp = np.repeat((1.0 / np.sqrt(1.0 + offset / 100.0))[None], 4, axis=0) * rng.uniform(0.5, 1.0, (4, 1))
    cone = render(Events(tt, amp, freq), geo)
    peak, cone_peak = np.abs(gather).max(), np.abs(cone).max()
    if cone_peak < CONE_OUTSIDE:  # the cone passes outside the patch: scaling its numerical dust up overflowed
        return gather
    strength = opt.groundroll * rng.uniform(0.1, 1.0)  # from a trace of ground roll to a cone that dominates
    return gather + cone * (strength * (peak if peak > 0 else 1.0) / cone_peak)


def apply_decay(gather: np.ndarray, rng, geo: Geometry, opt: SeismicOptions) -> np.ndarray:
    """Spherical divergence: amplitudes fall as (1 + t / 50 ms)^-p, the reason field data need a gain."""
    if opt.decay <= 0:
        return gather
    p = rng.uniform(0.0, opt.decay)
    return gather * ((1.0 + geo.t / 0.05) ** -p)[:, None]


def apply_statics(gather: np.ndarray, rng, geo: Geometry, opt: SeismicOptions) -> np.ndarray:
    """Near-surface statics: each trace shifted in time by up to +-statics ms (a Fourier phase shift, zero-padded
    so nothing wraps around)."""
    if opt.statics <= 0:
        return gather
    shifts = rng.uniform(-opt.statics, opt.statics, geo.nx) / 1000.0
    n = 2 * geo.nt
    freq = np.fft.rfftfreq(n, geo.dt)
    spectrum = np.fft.rfft(gather, n=n, axis=0) * np.exp(-2j * np.pi * freq[:, None] * shifts[None])
    return np.fft.irfft(spectrum, n=n, axis=0)[: geo.nt]


def add_bad_traces(gather: np.ndarray, rng, geo: Geometry, opt: SeismicOptions) -> np.ndarray:
    """Acquisition faults: a share `bad` of the traces are dead (zero), noisy (noise at the gather's peak) or
    polarity-flipped, in equal proportions."""
    if opt.bad <= 0:
        return gather
    which = np.flatnonzero(rng.random(geo.nx) < opt.bad)
    kind = rng.integers(0, 3, which.size)
    peak = np.abs(gather).max()
    out = gather.copy()
    out[:, which[kind == 0]] = 0.0
    noisy = which[kind == 1]
    out[:, noisy] += rng.standard_normal((geo.nt, noisy.size)) * 0.5 * (peak if peak > 0 else 1.0)
    out[:, which[kind == 2]] *= -1.0
    return out


# Order matters for reproducibility: effects that are off draw nothing, so old specs give the same data.
EFFECTS: list[Callable[..., np.ndarray]] = [add_ground_roll, apply_decay, apply_statics, add_noise, add_bad_traces]


def render(events: Events, geo: Geometry, family: str = "ricker", shapes: np.ndarray | None = None) -> np.ndarray:
    """nt x nx gather: sum over events of amplitude x wavelet(t - traveltime), Ricker wavelets of each event's
    peak frequency unless `shapes` (count x 4, from `draw_shapes`) say otherwise."""
    tau = geo.t[None, :, None] - events.traveltime[:, None, :]
    pulses = ricker(tau, events.frequency[:, None, None]) if shapes is None else render_wavelets(family, tau, shapes)
    return np.einsum("kx,ktx->tx", events.amplitude, pulses)


def make_gather(rng: np.random.Generator, opt: SeismicOptions) -> np.ndarray:
    """One un-normalised nt x nx gather."""
    dt = rng.uniform(*opt.dt_range) if opt.dt_range else opt.dt  # no draw for a fixed sampling: old data stay
    dx = rng.uniform(*opt.dx_range) if opt.dx_range else opt.dx
    geo = Geometry(opt.size[0], opt.size[1], dt, dx)
    count = int(rng.integers(opt.events[0], opt.events[1] + 1))
    kinds = rng.choice(len(opt.kinds), size=count)
    parts = [EVENT_KINDS[kind](rng, geo, opt, int((kinds == i).sum()))
             for i, kind in enumerate(opt.kinds) if (kinds == i).any()]
    events = Events.concat(parts)
    family = "ricker"
    if opt.wavelets != ("ricker",):  # a draw only when asked for, so the old data stay the same
        family = opt.wavelets[int(rng.integers(len(opt.wavelets)))]
    shapes = draw_shapes(rng, family, events.frequency, 0.5 / geo.dt, taper=opt.taper, sweep=opt.sweep)
    gather = render(events, geo, family, shapes)
    for effect in EFFECTS:
        gather = effect(gather, rng, geo, opt)
    return gather


def number_or_range(name: str, hi: float | None = None) -> Callable[[str], tuple[float, float]]:
    """"0.004" -> (0.004, 0.004), "5-30" -> (5.0, 30.0): positive, in order."""
    return lambda text: parse_range(text, name, one=number(name, lo=0.0, hi=hi, lo_open=True))


PRESETS = {
    "field": "events=4-12,fmin=8,fmax=60,vmin=1000,vmax=5000,kinds=linear+parabolic+hyperbolic+diffraction,"
             "groundroll=2,decay=2,statics=4,noise=0.05,bad=0.04,dt=0.002-0.004,dx=5-30",
    "aliased": "events=3-8,fmin=8,fmax=40,vmin=500,vmax=5000,kinds=linear+parabolic+hyperbolic+diffraction,"
               "decay=2,noise=0.02,dx=10-50",
}


OPTION_PARSERS = {
    "n": positive_int("seismic n", hi=1_000_000),
    "size": size("seismic size"),
    "dt": number_or_range("seismic dt (seconds)", hi=1.0),
    "dx": number_or_range("seismic dx (metres)"),
    "events": lambda text: parse_range(text, "seismic events", lo=1, hi=200),
    "fmin": number("seismic fmin (Hz)", lo=0.0, lo_open=True),
    "fmax": number("seismic fmax (Hz)", lo=0.0, lo_open=True),
    "vmin": number("seismic vmin (m/s)", lo=0.0, lo_open=True),
    "vmax": number("seismic vmax (m/s)", lo=0.0, lo_open=True),
    "kinds": lambda text: _kinds(text),
    "wavelets": lambda text: _wavelets(text),
    "noise": number("seismic noise", lo=0.0, hi=100.0),
    "groundroll": number("seismic groundroll", lo=0.0, hi=100.0),
    "decay": number("seismic decay", lo=0.0, hi=5.0),
    "statics": number("seismic statics (ms)", lo=0.0, hi=1000.0),
    "bad": number("seismic bad", lo=0.0, hi=1.0),
    "sweep": number_or_range("seismic sweep (seconds)", hi=60.0),
    "taper": number_or_range("seismic taper (periods)", hi=1000.0),
    "preset": lambda text: _preset(text),
}


def _preset(text: str) -> str:
    name = text.strip().lower()
    if name not in PRESETS:
        raise GanreconError(f"Unknown seismic preset {text!r}; choose from {', '.join(PRESETS)}.")
    return name


def _kinds(text: str) -> tuple[str, ...]:
    from ganrecon.data.options import names

    return names(text, "seismic event kind", tuple(EVENT_KINDS))


def _wavelets(text: str) -> tuple[str, ...]:
    from ganrecon.data.options import names

    return names(text, "seismic wavelet family", WAVELET_FAMILIES)


def parse_seismic_options(text: str) -> SeismicOptions:
    """Options from "key=value,..."; a `preset=NAME` stands for its options, and options given with it win."""
    from ganrecon.specs import parse_options

    preset = parse_options(text, "seismic", allowed=dict.fromkeys(OPTION_PARSERS, str)).get("preset")
    if preset is not None:
        own = ",".join(item for item in text.split(",") if item.partition("=")[0].strip().lower() != "preset")
        given = parse_options(own, "seismic")
        defaults = {k: v for k, v in parse_options(PRESETS[_preset(preset)], "seismic").items() if k not in given}
        text = ",".join([f"{k}={v}" for k, v in defaults.items()] + ([own] if own else []))
    opt = parse_dataclass(SeismicOptions, text, "seismic", OPTION_PARSERS)
    (dt_lo, dt_hi), (dx_lo, dx_hi) = (v if isinstance(v, tuple) else (v, v) for v in (opt.dt, opt.dx))
    opt = replace(opt, dt=dt_lo, dx=dx_lo, dt_range=(dt_lo, dt_hi) if dt_hi > dt_lo else None,
                  dx_range=(dx_lo, dx_hi) if dx_hi > dx_lo else None)
    nyquist = 0.5 / (opt.dt_range[1] if opt.dt_range else opt.dt)
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
    options = as_meta(opt)
    return Raw(images=images, value_range=SIGNED_RANGE, name="seismic", scale=scale,
               meta={"dt_ms": opt.dt * 1000.0, "dx_m": opt.dx, "time_axis": "H", "trace_axis": "W",
                     "options": options},
               per_image={"index": np.arange(count, dtype=np.int64)})
