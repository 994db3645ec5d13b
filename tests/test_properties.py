"""Property tests of every spec parser and degradation: random text and numbers give either a valid object or
one GanreconError sentence, never another exception (issue 8). Bounded examples, so the file runs in seconds."""

from __future__ import annotations

import math
import os
import string

import numpy as np
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ganrecon.config import TrainConfig, apply_overrides
from ganrecon.data import load_dataset
from ganrecon.data.natural import _parse as parse_natural_options
from ganrecon.data.options import parse_dataclass, parse_range
from ganrecon.data.porous import OPTION_PARSERS as POROUS_PARSERS
from ganrecon.data.porous import PorousOptions
from ganrecon.data.seismic import parse_seismic_options
from ganrecon.degrade import DEGRADATION_SPECS, Degradation, parse_degradation
from ganrecon.errors import GanreconError
from ganrecon.specs import parse_float, parse_int, parse_options, parse_size, split_kind
from ganrecon.training import check_config

# CI: 50 fixed examples per test; GANRECON_PROPERTY_EXAMPLES=2000 explores more (and randomly) on demand.
_EXAMPLES = int(os.environ.get("GANRECON_PROPERTY_EXAMPLES", "50"))
SETTINGS = settings(max_examples=_EXAMPLES, deadline=None, derandomize=_EXAMPLES <= 50, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])


def one_sentence(exc: GanreconError) -> None:
    """A user-facing message: non-empty, one line, no traceback."""
    text = str(exc)
    assert text.strip(), "empty message"
    assert "\n" not in text.strip(), text
    assert "Traceback" not in text


def valid_or_sentence(fn, *args, **kwargs):
    """Call fn: return its value, or None after checking a GanreconError is one sentence. Any other exception
    propagates and fails the test."""
    try:
        return fn(*args, **kwargs)
    except GanreconError as exc:
        one_sentence(exc)
        return None


# ------------------------------------------------------------------------------------------------ strategies

NUMBERS = st.one_of(
    st.integers(-10**25, 10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "1", "2", "-1", "0.5", "1e3", "1e-300", "1e308", "nan", "inf", "-inf", "", " ", "0x10",
                     "1_000", "٣", "½", "3-8", "8-3", "2x2", "1e9"]),
)
JUNK = st.text(alphabet=string.printable + "é±∞·\x00", max_size=20)
VALUES = st.one_of(NUMBERS, JUNK)
KINDS = sorted({k.split(":")[0] for k in DEGRADATION_SPECS} | set(DEGRADATION_SPECS) | {"bogus", "columns:zz"})


@st.composite
def degradation_specs(draw) -> str:
    """Kinds the parser knows, with random arguments, options and separators, composed with '+'."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(KINDS))
        args = draw(st.lists(VALUES, max_size=3))
        if draw(st.booleans()):
            keys = draw(st.lists(st.sampled_from(["clip", "corr", "tilt", "blur", "x", ""]), max_size=3))
            args.append(",".join(f"{k}={draw(VALUES)}" for k in keys))
        parts.append(":".join([kind, *args]))
    return draw(st.sampled_from(["+", " + ", "++"])).join(parts)


# ------------------------------------------------------------------------------------------------ specs.py


@SETTINGS
@given(text=VALUES, lo=st.one_of(st.none(), st.floats(-10, 10)), span=st.floats(0, 10),
       lo_open=st.booleans(), hi_open=st.booleans())
def test_parse_float_is_finite_and_in_bounds_or_one_sentence(text, lo, span, lo_open, hi_open):
    hi = None if lo is None else lo + span
    value = valid_or_sentence(parse_float, text, "x", lo, hi, lo_open, hi_open)
    if value is not None:
        assert math.isfinite(value)
        if lo is not None:
            assert (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)


@SETTINGS
@given(text=VALUES, lo=st.one_of(st.none(), st.integers(-5, 5)), hi=st.one_of(st.none(), st.integers(-5, 50)))
def test_parse_int_is_in_bounds_or_one_sentence(text, lo, hi):
    value = valid_or_sentence(parse_int, text, "n", lo, hi)
    if value is not None:
        assert isinstance(value, int)
        assert (lo is None or value >= lo) and (hi is None or value <= hi)


@SETTINGS
@given(text=st.one_of(VALUES, st.builds(lambda a, b, s: f"{a}{s}{b}", NUMBERS, NUMBERS,
                                        st.sampled_from(["x", "X", "*", "xx", " x "]))))
def test_parse_size_is_two_positive_ints_or_one_sentence(text):
    value = valid_or_sentence(parse_size, text, "patch")
    if value is not None:
        h, w = value
        assert isinstance(h, int) and isinstance(w, int) and h >= 1 and w >= 1


@SETTINGS
@given(text=st.one_of(JUNK, st.lists(st.tuples(JUNK, VALUES), max_size=4).map(
    lambda kv: ",".join(f"{k}={v}" for k, v in kv))), restrict=st.booleans())
def test_parse_options_and_split_kind(text, restrict):
    allowed = {"a": str, "n": int} if restrict else None
    options = valid_or_sentence(parse_options, text, "test", allowed)
    if options is not None:
        assert all(isinstance(k, str) and k == k.strip().lower() for k in options)
        if restrict:
            assert set(options) <= {"a", "n"}
    kind = valid_or_sentence(split_kind, text, "dataset")
    if kind is not None:
        assert kind[0] == kind[0].lower()


@SETTINGS
@given(text=VALUES)
def test_parse_range_is_ordered_or_one_sentence(text):
    value = valid_or_sentence(parse_range, text, "events", 1, 200)
    if value is not None:
        assert 1 <= value[0] <= value[1] <= 200


# ------------------------------------------------------------------------------------------------ degradations


@SETTINGS
@given(spec=st.one_of(degradation_specs(), JUNK))
def test_parse_degradation_gives_an_object_or_one_sentence(spec):
    deg = valid_or_sentence(parse_degradation, spec)
    if deg is not None:
        assert isinstance(deg, Degradation)
        assert deg.families <= {"mask", "noise", "down", "blur"}
        assert deg.scale in (1, 2, 4, 8)


@SETTINGS
@example(spec="turbulence:1e9", n=1, c=1, h=8, w=8, signed=False, seed=0)  # regressions found by this test
@example(spec="turbulence:1e308", n=1, c=1, h=8, w=8, signed=False, seed=0)
@example(spec="turbulence:1:corr=1e9", n=1, c=1, h=8, w=8, signed=False, seed=0)
@example(spec="turbulence:1:tilt=1e300,blur=0", n=1, c=1, h=8, w=8, signed=True, seed=0)
@example(spec="columns:regular:99999999999999999999", n=1, c=1, h=8, w=8, signed=False, seed=0)
@example(spec="down:8+keep-first:1", n=2, c=3, h=8, w=8, signed=True, seed=0)
@given(spec=degradation_specs(), n=st.integers(1, 2), c=st.sampled_from([1, 3]), h=st.integers(1, 12),
       w=st.integers(1, 12), signed=st.booleans(), seed=st.integers(0, 2**31))
def test_every_degradation_on_random_images_gives_shapes_or_one_sentence(spec, n, c, h, w, signed, seed):
    """Whatever parses must degrade any image size: (observed, mask) with the documented shapes and 0/1 mask
    and zero-filled missing entries, or one sentence (e.g. down:4 on a 5x5 image)."""
    deg = valid_or_sentence(parse_degradation, spec)
    if deg is None:
        return
    value_range = (-1.0, 1.0) if signed else (0.0, 1.0)
    clean = torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * (value_range[1] - value_range[0]) \
        + value_range[0]
    result = valid_or_sentence(deg, clean, value_range=value_range, generator=seed)
    if result is None:
        return
    observed, mask = result
    s = deg.scale
    assert observed.shape == mask.shape == (n, c, h // s, w // s)
    assert mask.dtype == torch.float32
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(observed[mask == 0] == 0)
    again, _ = deg(clean, value_range=value_range, generator=seed)
    assert torch.equal(observed, again) or not torch.isfinite(observed).all()  # same seed, same numbers


@SETTINGS
@given(value_range=st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True)),
       generator=st.one_of(st.none(), st.integers(0, 2**62), st.just("seed"), st.just(1.5), st.just(True)))
def test_degradation_call_arguments_are_checked(value_range, generator):
    deg = parse_degradation("columns:random:0.5+gauss:0.1")
    valid_or_sentence(deg, torch.rand(1, 1, 4, 4), value_range=value_range, generator=generator)
    valid_or_sentence(deg, np.zeros((4, 4)), value_range=(0.0, 1.0))
    valid_or_sentence(deg, torch.zeros(4, 4, dtype=torch.long), value_range=(0.0, 1.0))


# ------------------------------------------------------------------------------------------------ dataset specs

SEISMIC_KEYS = ["n", "size", "dt", "dx", "events", "fmin", "fmax", "vmin", "vmax", "kinds", "noise", "bogus", ""]
POROUS_KEYS = ["n", "size", "porosity", "grain", "blur", "noise", "bogus"]
NATURAL_KEYS = ["n", "size", "images", "bogus"]
OPTION_VALUES = st.one_of(VALUES, st.sampled_from(["linear+parabolic", "hyperbolic", "camera+coins", "camera",
                                                   "moon+", "+", "16x8", "4", "0.2", "0.001", "3-5"]))


def option_text(keys):
    return st.lists(st.tuples(st.sampled_from(keys), OPTION_VALUES), max_size=4).map(
        lambda kv: ",".join(f"{k}={v}" for k, v in kv))


@SETTINGS
@given(seismic=option_text(SEISMIC_KEYS), porous=option_text(POROUS_KEYS), natural=option_text(NATURAL_KEYS))
def test_synthetic_option_parsers_give_options_or_one_sentence(seismic, porous, natural):
    opt = valid_or_sentence(parse_seismic_options, seismic)
    if opt is not None:
        assert opt.fmin <= opt.fmax < 0.5 / opt.dt and opt.vmin <= opt.vmax and min(opt.size) >= 2
    opt = valid_or_sentence(parse_dataclass, PorousOptions, porous, "porous", POROUS_PARSERS)
    if opt is not None:
        assert 0 < opt.porosity < 1 and min(opt.size) >= 1
    opt = valid_or_sentence(parse_natural_options, natural)
    if opt is not None:
        assert opt.n >= 1 and min(opt.size) >= 1


SMALL = st.sampled_from(["n=2", "size=8x8", "size=12x6", "size=4", "size=0x4", "n=0", "size=9999999x1",
                         "noise=0.1", "porosity=0.5", "grain=2", "blur=0", "events=1-2", "kinds=linear",
                         "fmax=300", "dt=0.002", "images=camera", "images=nothing", "bogus=1", "n", "=", ""])


@SETTINGS
@given(kind=st.sampled_from(["seismic", "porous", "natural", "npz", "npy", "folder", "segy", "tiff", "mnist",
                             "fer2013", "unknown", " ", ""]),
       options=st.lists(SMALL, max_size=3), extra=option_text(SEISMIC_KEYS + POROUS_KEYS),
       split=st.sampled_from([None, "train", "val", "test", "all", "bogus"]),
       limit=st.one_of(st.none(), st.integers(-1, 3)), seed=st.integers(0, 10))
def test_load_dataset_spec_gives_images_or_one_sentence(kind, options, extra, split, limit, seed):
    """Synthetic kinds small enough to generate are generated; file kinds point at a missing path."""
    if kind in ("npz", "npy", "folder", "segy", "tiff", "fer2013"):
        spec = f"{kind}:/nonexistent-ganrecon-dir/{extra}"
    else:
        opts = ",".join(["size=8x8", *options])  # generated images stay tiny
        spec = f"{kind}:{opts}" if kind.strip() else kind
    data = valid_or_sentence(load_dataset, spec, split=split, limit=limit, seed=seed,
                             root="/nonexistent-ganrecon-dir")
    if data is not None:
        assert data.images.dtype == torch.float32 and data.images.ndim == 4
        assert torch.isfinite(data.images).all()
        lo, hi = data.value_range
        assert data.images.min() >= lo and data.images.max() <= hi
        if limit is not None:
            assert len(data.images) <= limit


# ------------------------------------------------------------------------------------------------ config overrides

CONFIG_KEYS = ["steps", "batch_size", "lr", "data", "degrade", "ema", "amp", "generator_options.width",
               "generator_options", "data.x", "patch", "seed", "max_seconds", "bogus", "", " ", "steps.x"]


@SETTINGS
@example(items=["generator_options=0"])  # regressions found by this test
@example(items=["batch_size=0"])
@example(items=["checkpoint_every=0"])
@given(items=st.lists(st.one_of(
    st.tuples(st.sampled_from(CONFIG_KEYS), st.one_of(VALUES, st.sampled_from(
        ["true", "[1, 2]", "{a: 1}", "null", "2020-01-01", "'quoted'", "[", "{", "- a", "!!python/object:os.system"]))
              ).map(lambda kv: f"{kv[0]}={kv[1]}"),
    JUNK), max_size=4))
def test_config_overrides_give_a_config_or_one_sentence(items):
    """apply_overrides checks keys and types; training's check_config the values that would crash mid-run."""
    config = valid_or_sentence(apply_overrides, TrainConfig(), items)
    if config is None:
        return
    try:
        check_config(config)
    except GanreconError as exc:
        one_sentence(exc)
        return
    assert isinstance(config.generator_options, dict) and isinstance(config.data, str)
    assert min(config.steps, config.batch_size, config.checkpoint_every, config.eval_every, config.log_every) >= 1
