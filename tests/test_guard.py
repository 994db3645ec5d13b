"""The guard: on the user's own input, a bad model loses to the baselines, a good one wins, missing entries
are never read, and large inputs are decided per tile."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from conftest import smooth_images

from ganrecon.baselines import run_baseline
from ganrecon.degrade import parse_degradation
from ganrecon.errors import GanreconError
from ganrecon.guard import (
    GuardedModel,
    blend_rows,
    block_folds,
    check_factor,
    default_baselines,
    half_band,
    hide_known,
    large_holes,
    regular_traces,
    weight_map,
    weight_rows,
    whole_traces,
)
from ganrecon.inference import ReconstructionModel
from ganrecon.models import build_generator


def _random_model(value_range=(0.0, 1.0), scale=1, degrade="columns:random:0.5", generator="unet", **options):
    torch.manual_seed(0)
    if generator == "srresnet":
        options["scale"] = scale
    elif generator == "unet":
        options = {"depth": 2, "width": 8, **options}
    gen = build_generator(generator, channels=1, image_size=(32, 32), value_range=value_range, **options)
    meta = {"generator": generator, "channels": 1, "image_size": [32, 32], "value_range": list(value_range),
            "scale": scale, "degrade": degrade, "data_consistency": scale == 1 and "columns" in degrade}
    return ReconstructionModel(gen.eval(), meta, "random")


class Oracle:
    """A 'perfectly trained' model: returns the truth it was given for the output size asked (the clean image; for
    the guard's downscaled super-resolution check, the clean image downscaled by the rest of the scale)."""

    def __init__(self, *truths: torch.Tensor, value_range=(0.0, 1.0), scale: int = 1, spoil=None):
        self.truths, self.scale, self.name, self.spoil = truths, scale, "oracle", spoil
        self.value_range = value_range
        self.meta = {"value_range": list(value_range), "channels": 1}
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, observed, mask=None):
        self.seen.append((observed.clone(), None if mask is None else mask.clone()))
        size = tuple(s * self.scale for s in observed.shape[-2:])
        out = next(t for t in self.truths if tuple(t.shape[-2:]) == size)[: len(observed)].clone()
        return self.spoil(out) if self.spoil else out


def _images(n=3, h=32, w=32, seed=0):
    return torch.from_numpy(smooth_images(n, h, w, seed))[:, None]


def test_the_guard_picks_the_baseline_for_random_weights_and_the_model_for_a_good_one():
    clean = _images()
    observed, mask = parse_degradation("columns:random:0.5")(clean, value_range=(0.0, 1.0), generator=1)
    bad = GuardedModel(_random_model(), "columns:random:0.5")
    out = bad(observed, mask)
    images = bad.report()["guard"]["images"]
    assert all(e["method"] == e["baseline"] != "model" and e["margin_db"] < 0 for e in images)
    for i, e in enumerate(images):
        expected = run_baseline(e["baseline"], observed[i:i + 1], mask[i:i + 1])
        torch.testing.assert_close(out[i:i + 1], expected)
    good = GuardedModel(Oracle(clean), "columns:random:0.5")
    torch.testing.assert_close(good(observed, mask), clean)
    report = good.report()["guard"]
    assert report["summary"]["methods"] == {"model": 3} and report["summary"]["margin_db"]["min"] > 20
    assert "known traces hidden" in report["check"] and "model 3" in good.describe()
    # report mode: always the model, margin stated
    told = GuardedModel(_random_model(), "columns:random:0.5", mode="report")
    torch.testing.assert_close(told(observed, mask), _random_model()(observed, mask))
    assert all(e["method"] == "model" and e["margin_db"] < 0 for e in told.report()["guard"]["images"])


def test_the_guard_never_reads_a_missing_entry():
    clean = _images(2, 32, 24) * 2 - 1
    observed, mask = parse_degradation("columns:random:0.5")(clean, value_range=(-1.0, 1.0), generator=2)
    seen = []

    def spy(name):
        def fn(o, m):
            seen.append((o.clone(), m.clone()))
            return run_baseline(name, o, m, value_range=(-1.0, 1.0), **({"niter": 40} if name == "fk" else {}))
        return fn

    def run(obs):
        oracle = Oracle(clean, value_range=(-1.0, 1.0))
        guard = GuardedModel(oracle, "columns:random:0.5", baselines={"linear": spy("linear"), "fk": spy("fk")})
        return guard(obs, mask), guard.report(), oracle.seen

    out, report, model_seen = run(observed)
    poisoned = torch.where(mask > 0, observed, torch.full_like(observed, float("nan")))
    out_nan, report_nan, _ = run(poisoned)
    assert torch.equal(out, out_nan) and report == report_nan  # a gather with NaN traces: the same answer
    garbage = torch.where(mask > 0, observed, torch.full_like(observed, 1e6))
    assert torch.equal(run(garbage)[0], out)
    for o, m in seen + model_seen:
        assert torch.isfinite(o).all() and (o[m == 0] == 0).all()  # nobody saw a value where the input had none


def test_holdout_hides_whole_known_traces_or_known_pixels():
    g = torch.Generator().manual_seed(0)
    cols = torch.ones(2, 1, 8, 40)
    cols[..., ::2] = 0
    hidden, what = hide_known(cols, 0.1, g)
    assert what == "traces" and (hidden.sum((1, 2, 3)) == 2 * 8).all()
    assert not (hidden & (cols == 0)).any() and (hidden.all(2) | ~hidden.any(2)).all()
    pix = (torch.rand(1, 1, 20, 20, generator=g) > 0.5).float()
    hidden, what = hide_known(pix, 0.1, g)
    assert what == "entries" and not (hidden & (pix == 0)).any()
    assert hidden.sum() == round(0.1 * pix.sum().item())
    def longest_hole(known):
        longest = run = 0
        for k in known.tolist():
            run = 0 if k else run + 1
            longest = max(longest, run)
        return longest

    traces = (torch.rand(20, 1, 1, 64, generator=g) > 0.5).float().expand(20, 1, 4, 64)
    hidden, _ = hide_known(traces, 0.2, g)
    for m, h in zip(traces[:, 0, 0] > 0, hidden[:, 0, 0]):
        known = m.nonzero()[:, 0]
        assert h.any() and not h[known[0]] and not h[known[-1]]  # the outermost known traces stay
        assert longest_hole(m & ~h) <= longest_hole(m)           # no hole longer than the input's own
    few = torch.zeros(1, 1, 8, 8)
    few[..., :2] = 1  # two known traces: nothing can be spared
    assert not hide_known(few, 0.1, g)[0].any()


def test_a_regular_decimation_is_checked_in_its_own_pattern():
    clean = _images(2, 16, 64) * 2 - 1
    observed, mask = parse_degradation("columns:regular:2")(clean, value_range=(-1.0, 1.0))
    cols, step = regular_traces(mask)
    assert step == 2 and cols.tolist() == list(range(0, 64, 2))
    random_mask = parse_degradation("columns:random:0.5")(clean, value_range=(-1.0, 1.0), generator=0)[1]
    assert regular_traces(random_mask) is None and regular_traces(mask[..., :24]) is None  # too few traces
    seen = []

    def spy(o, m):
        seen.append(m[0, 0, 0].clone())
        return run_baseline("linear", o, m, value_range=(-1.0, 1.0))

    guard = GuardedModel(_random_model((-1.0, 1.0), degrade="columns:regular:2"), "columns:regular:2",
                         baselines={"linear": spy})
    guard(observed, mask)
    # the check sees the 32 known traces alone, every 2nd kept, in both phases; then the answer sees the input
    assert [m.tolist() for m in seen[:2]] == [[1.0, 0.0] * 16, [0.0, 1.0] * 16]
    assert "1 in 2 kept" in guard.report()["guard"]["check"]


def test_half_band_keeps_the_low_half_of_the_temporal_band_on_half_the_samples():
    t = torch.arange(64.0)[:, None]
    low, high = torch.cos(2 * torch.pi * 3 * t / 64), torch.cos(2 * torch.pi * 24 * t / 64)
    out = half_band((low + high).expand(64, 8)[None, None])
    assert out.shape == (1, 1, 32, 8)
    expected = torch.cos(2 * torch.pi * 3 * torch.arange(32.0) / 32)  # the low cosine alone, peak 1
    assert torch.allclose(out[0, 0, :, 0], expected, atol=1e-5)


class FKAtHalfBand(Oracle):
    """Exact on the full-band checks, FK itself on the half-band one: a model that the full-band check favours but
    that does not beat FK at the input's own aliasing."""

    def __call__(self, observed, mask=None):
        if any(tuple(t.shape[-2:]) == tuple(observed.shape[-2:]) for t in self.truths):
            return super().__call__(observed, mask)
        return run_baseline("fk", observed, mask, value_range=(-1.0, 1.0))


def _regular_gathers():
    """Two smooth gathers with every 2nd trace missing; the truth's known traces peak at exactly 1, so the
    guard's amplitude normalisation leaves them as they are and an Oracle can be handed each check's truth."""
    clean = _images(2, 16, 64) * 2 - 1
    observed, mask = parse_degradation("columns:regular:2")(clean, value_range=(-1.0, 1.0))
    cols, _ = regular_traces(mask)
    clean = clean / clean[..., cols].abs().amax(dim=(1, 2, 3), keepdim=True)
    return clean, clean * mask, mask, cols


def test_fk_gets_the_gathers_where_the_model_does_not_clearly_beat_it_at_the_inputs_own_aliasing():
    clean, observed, mask, cols = _regular_gathers()
    linear = partial(run_baseline, "linear", value_range=(-1.0, 1.0))
    fk = partial(run_baseline, "fk", value_range=(-1.0, 1.0))
    compact = clean[..., cols]
    like_fk = GuardedModel(FKAtHalfBand(clean, compact, value_range=(-1.0, 1.0)), "columns:regular:2",
                           baselines={"linear": linear, "fk": fk})
    out = like_fk(observed, mask)
    images = like_fk.report()["guard"]["images"]
    assert [e["method"] for e in images] == ["fk", "fk"] and all("half-band" in e["note"] for e in images)
    assert torch.equal(out, fk(observed, mask))
    perfect = GuardedModel(Oracle(clean, compact, half_band(compact), value_range=(-1.0, 1.0)),
                           "columns:regular:2", baselines={"linear": linear, "fk": fk})
    nan_filled = torch.where(mask > 0, observed, torch.nan)  # missing traces are never read
    assert torch.equal(perfect(nan_filled, mask), clean)
    assert [e["method"] for e in perfect.report()["guard"]["images"]] == ["model", "model"]


class Noisy(Oracle):
    """The truth plus its own fixed noise on every entry the mask says is missing: a method that errs where others
    need not."""

    def __init__(self, truth: torch.Tensor, noise: torch.Tensor):
        super().__init__(truth, value_range=(-1.0, 1.0))
        self.noise = noise

    def __call__(self, observed, mask=None):
        return torch.where(mask > 0, observed, self.truths[0] + self.noise)


def test_the_mean_of_the_model_and_the_consensus_is_used_where_they_err_apart():
    clean = _images(2, 16, 64) * 2 - 1
    observed, mask = parse_degradation("columns:random:0.5")(clean, value_range=(-1.0, 1.0), generator=0)
    clean = clean / (clean * mask).abs().amax(dim=(1, 2, 3), keepdim=True)  # known peak 1: no rescaling
    observed = clean * mask
    noise = torch.randn((2, *clean.shape), generator=torch.Generator().manual_seed(0)) * 0.1
    model, consensus = Noisy(clean, noise[0]), Noisy(clean, noise[1])
    guard = GuardedModel(model, "columns:random:0.5", baselines={"consensus": consensus})
    out = guard(observed, mask)
    assert [e["method"] for e in guard.report()["guard"]["images"]] == ["model+consensus"] * 2
    torch.testing.assert_close(out, torch.where(mask > 0, observed, clean + noise.mean(0)))
    better = GuardedModel(Noisy(clean, noise[0] / 10), "columns:random:0.5", baselines={"consensus": consensus})
    better(observed, mask)
    assert [e["method"] for e in better.report()["guard"]["images"]] == ["model"] * 2


def test_a_hedge_weighted_towards_the_model_is_used_where_it_beats_the_model_and_the_mean(monkeypatch):
    clean = _images(2, 64, 128) * 2 - 1
    observed, mask = parse_degradation("columns:random:0.5")(clean, value_range=(-1.0, 1.0), generator=0)
    clean = clean / (clean * mask).abs().amax(dim=(1, 2, 3), keepdim=True)  # known peak 1: no rescaling
    observed = clean * mask
    noise = torch.randn((2, *clean.shape), generator=torch.Generator().manual_seed(0)) * 0.1
    noise[0] /= 2  # expected squared errors: model 0.25, mean 0.31, 0.75 x model + 0.25 x consensus 0.20 (x 0.01)
    model, consensus = Noisy(clean, noise[0]), Noisy(clean, noise[1])
    monkeypatch.setattr("ganrecon.guard.HEDGE_WEIGHTS", (0.5,))
    guard = GuardedModel(model, "columns:random:0.5", baselines={"consensus": consensus})
    guard(observed, mask)
    assert [e["method"] for e in guard.report()["guard"]["images"]] == ["model"] * 2
    monkeypatch.setattr("ganrecon.guard.HEDGE_WEIGHTS", (0.5, 0.75))
    guard.reset()
    out = guard(observed, mask)
    assert [e["method"] for e in guard.report()["guard"]["images"]] == ["model+consensus:0.75"] * 2
    torch.testing.assert_close(out, torch.where(mask > 0, observed, clean + 0.75 * noise[0] + 0.25 * noise[1]))


def test_on_a_regular_decimation_only_the_mean_hedges_the_model(monkeypatch):
    monkeypatch.setattr("ganrecon.guard.HEDGE_WEIGHTS", (0.5, 0.75))
    clean, observed, mask, _ = _regular_gathers()
    guard = GuardedModel(_random_model(value_range=(-1.0, 1.0)), "columns:regular:2",
                         baselines={"consensus": partial(run_baseline, "linear", value_range=(-1.0, 1.0))})
    assert set(guard.self_check(observed, mask).baselines) == {"consensus", "model+consensus"}
    random_observed, random_mask = parse_degradation("columns:random:0.5")(clean, value_range=(-1.0, 1.0), generator=0)
    assert "model+consensus:0.75" in guard.self_check(random_observed, random_mask).baselines


def test_a_tile_where_the_model_wins_is_feathered_into_the_mean_elsewhere():
    clean = _images(1, 96, 32) * 2 - 1
    observed, mask = parse_degradation("columns:random:0.5")(clean, value_range=(-1.0, 1.0), generator=0)
    clean = clean / (clean * mask).abs().amax()
    observed = clean * mask
    noise = torch.randn((2, *clean.shape), generator=torch.Generator().manual_seed(0)) * 0.1
    noise[0, ..., :32, :] /= 20  # the model is near exact in the top tile only
    model, consensus = Noisy(clean, noise[0]), Noisy(clean, noise[1])
    guard = GuardedModel(model, "columns:random:0.5", baselines={"consensus": consensus}, tile=32)
    out = guard(observed, mask)
    entry = guard.report()["guard"]["images"][0]
    assert entry["method"] == "mixed" and entry["baseline"] == "model+consensus" and entry["tiles"]["model"] == 1
    mean = torch.where(mask > 0, observed, clean + noise.mean(0))
    torch.testing.assert_close(out[..., 64:, :], mean[..., 64:, :])  # beyond the seam's feather
    torch.testing.assert_close(out[..., :16, :], model(observed, mask)[..., :16, :])


def test_superres_and_salt_and_pepper_self_checks():
    clean = _images(2, 64, 64)
    low, ones = parse_degradation("down:4")(clean, value_range=(0.0, 1.0))
    bad = GuardedModel(_random_model(scale=4, degrade="down:4", generator="srresnet", blocks=1, width=8), "down:4")
    out = bad(low, ones)
    assert [e["method"] for e in bad.report()["guard"]["images"]] == ["bicubic", "bicubic"]
    torch.testing.assert_close(out, run_baseline("bicubic", low, ones, scale=4))
    half, _ = parse_degradation("down:2")(clean, value_range=(0.0, 1.0))
    good = GuardedModel(Oracle(clean, half, scale=4), "down:4")
    torch.testing.assert_close(good(low, ones), clean)
    assert {e["method"] for e in good.report()["guard"]["images"]} == {"model"}
    assert "downscaled x2, super-resolved x4, brought back x2" in good.report()["guard"]["check"]

    noisy, mask = parse_degradation("sp:0.15")(clean, value_range=(0.0, 1.0), generator=3)
    bad = GuardedModel(_random_model(degrade="sp:0.15"), "sp:0.15")
    bad(noisy, mask)
    assert all(e["method"] not in ("model", "mixed") for e in bad.report()["guard"]["images"])
    good = GuardedModel(Oracle(clean), "sp:0.15")
    torch.testing.assert_close(good(noisy, mask), clean)
    assert "corrupted again by salt & pepper" in good.report()["guard"]["check"]


def test_gaussian_noise_has_no_self_check_and_the_model_is_used():
    clean = _images(2)
    noisy, mask = parse_degradation("gauss:0.1")(clean, value_range=(0.0, 1.0))
    model = _random_model(degrade="gauss:0.1")
    guard = GuardedModel(model, "gauss:0.1")
    torch.testing.assert_close(guard(noisy, mask), model(noisy, mask))
    report = guard.report()["guard"]
    assert report["check"].startswith("none: Gaussian noise") and report["summary"]["methods"] == {"model": 2}
    assert "used" in guard.describe()


def test_a_large_hole_has_no_self_check_but_scattered_pixels_and_trace_gaps_do():
    clean = _images(2)
    model = _random_model(degrade="keep-first:400")
    observed, mask = parse_degradation("keep-first:400")(clean, value_range=(0.0, 1.0))
    guard = GuardedModel(model, "keep-first:400")
    torch.testing.assert_close(guard(observed, mask), model(observed, mask))
    assert guard.report()["guard"]["check"].startswith("none: large holes")
    assert large_holes(mask[0, 0] > 0) and not whole_traces(mask[0, 0] > 0)
    scattered, mask = parse_degradation("pixels:random:0.5")(clean, value_range=(0.0, 1.0), generator=1)
    assert not large_holes(mask[0, 0] > 0)
    guard = GuardedModel(_random_model(degrade="pixels:random:0.5"), "pixels:random:0.5")
    guard(scattered, mask)
    assert "hidden" in guard.report()["guard"]["check"]
    gap, mask = parse_degradation("columns:gap:10")(clean, value_range=(0.0, 1.0), generator=1)
    assert large_holes(mask[0, 0] > 0) and whole_traces(mask[0, 0] > 0)  # trace gaps keep their own check
    guard = GuardedModel(_random_model(degrade="columns:gap:10"), "columns:gap:10")
    guard(gap, mask)
    assert "traces hidden" in guard.report()["guard"]["check"]


def test_large_inputs_are_decided_per_tile_with_feathered_seams():
    clean = _images(1, 64, 192, seed=4)
    observed, mask = parse_degradation("pixels:random:0.3")(clean, value_range=(0.0, 1.0), generator=5)

    def right_half_wrong(out):
        out = out.clone()
        out[..., out.shape[-1] * 2 // 3:] = 0.0  # good on the first two tiles, useless on the third
        return out

    guard = GuardedModel(Oracle(clean, spoil=right_half_wrong), "pixels:random:0.3", tile=64)
    out = guard(observed, mask)
    entry = guard.report()["guard"]["images"][0]
    assert entry["method"] == "mixed" and entry["tiles"]["count"] == 3 and entry["tiles"]["model"] == 2
    baseline = run_baseline(entry["baseline"], observed, mask)
    torch.testing.assert_close(out[..., :100], clean[..., :100])          # model, away from the seam at 128
    torch.testing.assert_close(out[..., 150:], baseline[..., 150:])       # baseline
    weight = weight_map(torch.tensor([[True, True, False]]), 64, (64, 192), 1)  # the blend, done in place
    torch.testing.assert_close(out, weight * right_half_wrong(clean) + (1 - weight) * baseline)
    seam = out[..., 112:144]
    assert ((seam - clean[..., 112:144]).abs() <= (baseline[..., 112:144] - clean[..., 112:144]).abs()
            + (right_half_wrong(clean)[..., 112:144] - clean[..., 112:144]).abs() + 1e-6).all()
    w = weight_map(torch.tensor([[True, False]]), 8, (8, 16), 2, feather=2)
    assert w.shape == (1, 1, 16, 32) and w[..., :13].eq(1).all() and w[..., 19:].eq(0).all()


def test_blending_band_by_band_equals_the_whole_weight_map():
    gen = torch.Generator().manual_seed(7)
    for tile, scale, feather, (h, w) in [(8, 1, 2, (30, 20)), (4, 2, 3, (15, 13)), (8, 2, 16, (20, 20))]:
        use = torch.rand(-(-h // tile), -(-w // tile), generator=gen) > 0.5
        full = weight_map(use, tile, (h, w), scale, feather)
        for start, stop in [(0, 1), (3, 11), (5, h * scale), (0, h * scale)]:
            assert torch.equal(weight_rows(use, tile, (h, w), scale, start, stop, feather), full[..., start:stop, :])
    use = torch.tensor([[True, False, True], [False, True, True], [True, True, False]])
    for name, scale, family in [("bicubic", 4, "down"), ("adaptive-median", 1, "noise")]:
        baseline = default_baselines({family}, (0.0, 1.0), scale=scale)[name]
        assert baseline.row_reach is not None  # run on bands: no output-sized baseline array
        observed, mask = torch.rand(1, 1, 70, 50, generator=gen), torch.ones(1, 1, 70, 50)
        model_out = torch.rand(1, 1, 70 * scale, 50 * scale, generator=gen)
        weight = weight_map(use, 24, (70, 50), scale)
        expected = weight * model_out + (1 - weight) * run_baseline(name, observed, mask, scale=scale)
        blend_rows(model_out[0], baseline, observed[0], mask[0], use, 24, scale)
        torch.testing.assert_close(model_out, expected, rtol=0, atol=1e-6)


def test_signed_inputs_of_any_amplitude_get_the_same_decision():
    clean = _images(2) * 2 - 1
    observed, mask = parse_degradation("columns:random:0.5")(clean, value_range=(-1.0, 1.0), generator=6)
    model = _random_model(value_range=(-1.0, 1.0))
    small = GuardedModel(model, "columns:random:0.5", baselines=["linear", "cubic"])
    big = GuardedModel(model, "columns:random:0.5", baselines=["linear", "cubic"])
    out_small, out_big = small(observed, mask), big(observed * 1000, mask * 1)
    torch.testing.assert_close(out_big, out_small * 1000, rtol=1e-4, atol=1e-3)
    assert small.report() == big.report()


def test_bad_guard_settings_are_one_sentence():
    model = _random_model()
    for kwargs, message in [({"mode": "maybe"}, "guard mode"), ({"share": 1.5}, "share"), ({"tile": 2}, "tile")]:
        with pytest.raises(GanreconError, match=message):
            GuardedModel(model, "columns:random:0.5", **kwargs)
    model.meta.pop("degrade")  # an old bundle that does not say: no check, said so, the model used
    unknown = GuardedModel(model)
    torch.testing.assert_close(unknown(_images(1), None), model(_images(1), None))
    assert "does not say" in unknown.describe()
    off = GuardedModel(_random_model(), mode="off")
    x = _images(1)
    torch.testing.assert_close(off(x, None), _random_model()(x, None))
    assert off.describe().startswith("guard off")


def test_dense_impulses_are_never_vouched_for_but_a_black_background_is():
    from ganrecon.guard import vouch_threshold, vouched_entries

    assert vouch_threshold(0.075) == 5 and vouch_threshold(0.25) == 7 and vouch_threshold(0.5) == 9
    grey = torch.full((1, 1, 96, 96), 0.5)
    noisy, _ = parse_degradation("sp:0.5")(grey, value_range=(0.0, 1.0), generator=1)
    impulses = noisy != 0.5
    passed = (vouched_entries(noisy, (0.0, 1.0)) & impulses).sum() / impulses.sum()
    assert passed < 2e-3  # 5 of 8 would pass 1 impulse in 40
    digit = torch.zeros(1, 1, 96, 96)
    digit[..., 40:56, 30:66] = 0.7  # a grey stroke on a black background
    noisy, _ = parse_degradation("sp:0.15")(digit, value_range=(0.0, 1.0), generator=2)
    background = (digit == 0) & (noisy == 0)
    assert vouched_entries(noisy, (0.0, 1.0))[background].float().mean() > 0.9


def test_the_consensus_stands_for_its_parts_and_tiles_need_more_evidence_than_images():
    from ganrecon.guard import best_baseline, model_wins, tile_z

    folds = {"fx": torch.tensor([1.0, 1.1, 0.9]), "dip-steered": torch.tensor([0.8, 0.9, 0.8]),
             "sliding-fk": torch.tensor([1.2, 1.0, 1.1]), "consensus": torch.tensor([0.9, 1.0, 0.9]),
             "linear": torch.tensor([3.0, 3.0, 3.0])}
    assert best_baseline(folds) == "consensus"                     # dip-steered's lead is not trusted
    assert best_baseline({**folds, "pocs": torch.tensor([0.1, 0.1, 0.1])}) == "pocs"
    assert best_baseline({k: v for k, v in folds.items() if k != "consensus"}) == "dip-steered"
    assert tile_z(1) == pytest.approx(1.0, abs=0.01) and tile_z(4) > 1.7 and tile_z(64) > tile_z(4)
    model, baseline, count = torch.tensor([0.8, 0.98, 0.7]), torch.tensor([1.0, 1.0, 1.0]), torch.ones(3)
    assert bool(model_wins(model, baseline, count)) and not bool(model_wins(model, baseline, count, tile_z(64)))


def test_images_follow_their_sets_evidence_unless_their_own_is_clear():
    from ganrecon.guard import SelfCheck, decide

    def check(savings):  # folds x N savings of the model over one baseline whose error is 1 everywhere
        model = (1.0 - torch.tensor(savings)).reshape(*torch.tensor(savings).shape, 1, 1)
        return SelfCheck("test", model, {"linear": torch.ones_like(model)}, torch.ones_like(model))

    ambiguous = [0.3, -0.1, 0.1]                    # mean +0.1, standard error 0.12: alone, not clear
    clearly_worse = [-0.15, -0.1, -0.2]
    alone = decide(check([[s] for s in ambiguous]), tile=8)
    assert not bool(alone[0].use_model.all())       # one image is its own set: no clear win, the baseline
    barely_worse = [-0.01, -0.012, -0.008]          # clear by its standard error, but -0.04 dB: a tie
    many = [list(col) for col in zip(*([ambiguous] * 6 + [clearly_worse, barely_worse]))]
    chosen = [bool(d.use_model.all()) for d in decide(check(many), tile=8)]
    assert chosen == [True] * 6 + [False, True]     # the set favours the model; the clear loser keeps the baseline
    barely_better = [0.01, 0.012, 0.008]
    bad_set = [list(col) for col in zip(*([clearly_worse] * 6 + [[0.3, 0.4, 0.5], barely_better]))]
    chosen = [bool(d.use_model.all()) for d in decide(check(bad_set), tile=8)]
    assert chosen == [False] * 6 + [True, False]    # a set of losers: only a clear winner gets the model


def test_an_image_with_enough_evidence_of_its_own_is_decided_alone(monkeypatch):
    import ganrecon.guard as guard
    from ganrecon.guard import SelfCheck, decide

    monkeypatch.setattr(guard, "OWN_EVIDENCE", 3000)  # tuned to never (math.inf); the mechanism, at a finite one

    def check(savings, entries):  # folds x N savings over a baseline of error 1 per entry, `entries` per fold
        model = (1.0 - torch.tensor(savings)).reshape(*torch.tensor(savings).shape, 1, 1) * entries
        return SelfCheck("test", model, {"linear": torch.full_like(model, float(entries))},
                         torch.full_like(model, float(entries)))

    winners, ambiguous = [[0.3, 0.25, 0.35]] * 2, [0.1, -0.2, 0.05]     # the last: -0.1 dB held out, unclear
    savings = [list(col) for col in zip(*winners, ambiguous)]
    small = [bool(d.use_model.all()) for d in decide(check(savings, 8), tile=8)]
    assert small == [True, True, True]              # a small image follows its set's evidence
    large = decide(check(savings, 1001), tile=10_000)
    assert [bool(d.use_model.all()) for d in large] == [True, True, False]   # a large one answers for itself
    assert large[2].held_out >= 3000 and large[2].note == ""


def test_on_a_regular_decimation_the_model_needs_the_slack_in_images_and_tiles(monkeypatch):
    import ganrecon.guard as guard
    from ganrecon.guard import SelfCheck, decide

    monkeypatch.setattr(guard, "REGULAR_SLACK_DB", 0.5)
    # two images, 3 folds, 16 x 16 each (4 tiles of 8): the first leads its baseline by 10% (+0.46 dB) everywhere,
    # the second by 50% (+3.0 dB) in its top half and 2% in its bottom half
    model = torch.full((3, 2, 16, 16), 0.9)
    model[:, 1, :8], model[:, 1, 8:] = 0.5, 0.98
    ones = torch.ones_like(model)

    def choices(regular):
        check = SelfCheck("test", model, {"linear": ones}, ones, regular)
        return [d.use_model.tolist() for d in decide(check, tile=8)]

    assert choices(None) == [[[True, True], [True, True]]] * 2              # not regular: the slack plays no part
    held_back = choices((torch.arange(16), 2))
    assert held_back[0] == [[False, False], [False, False]]                   # +0.46 dB is within the slack
    assert held_back[1] == [[True, True], [False, False]]                     # so are the tiles at +0.09 dB


def test_gathers_are_checked_against_fk_inversion_unless_the_user_wants_speed():
    signed = _random_model(value_range=(-1.0, 1.0))
    assert "fk" in GuardedModel(signed, "columns:random:0.5").baselines
    assert "fk" not in GuardedModel(signed, "columns:random:0.5", fast=True).baselines
    assert "bm3d" not in GuardedModel(_random_model(degrade="sp:0.15"), "sp:0.15").baselines


def test_superres_check_deals_blocks_to_spatial_folds_that_cover_the_image():
    parts = block_folds(40, 70, 3, block=16)
    assert parts.shape == (3, 40, 70) and parts.sum(0).eq(1).all() and (parts.sum((1, 2)) > 0).all()
    clean = _images(1, 128, 128)
    low, ones = parse_degradation("down:4")(clean, value_range=(0.0, 1.0))
    half, _ = parse_degradation("down:2")(clean, value_range=(0.0, 1.0))
    good = GuardedModel(Oracle(clean, half, scale=4), "down:4")
    torch.testing.assert_close(good(low, ones), clean)
    assert "3 spatial folds" in good.report()["guard"]["check"]
    assert [check_factor(s) for s in (2, 3, 4, 8, 9)] == [2, 3, 2, 2, 3]


def test_images_share_their_sets_best_baseline_unless_their_own_is_clearly_better():
    from ganrecon.guard import image_baselines

    def image(fk, pocs):
        return {"fk": torch.tensor(fk), "pocs": torch.tensor(pocs)}

    lucky = image([1.0, 1.2, 0.8], [0.9, 1.1, 0.85])       # pocs ahead by a noisy 0.05: follows the set (fk)
    clear = image([1.0, 1.0, 1.0], [0.5, 0.6, 0.55])       # pocs ahead on every fold
    per_fold = [image([0.5, 0.5, 0.5], [1.0, 1.0, 1.0])] * 4 + [lucky, clear]
    counts = torch.ones(3, len(per_fold))
    assert image_baselines(per_fold, counts) == ["fk"] * 5 + ["pocs"]


def test_the_guards_own_seismic_baselines_come_from_one_pass_with_the_numbers_of_separate_runs(monkeypatch):
    """With its default baselines the guard takes fx, dip-steered and sliding-fk from one pass per gather (one
    slope scan): the same estimates, in the same order, as running each baseline on its own."""
    from ganrecon import seismic_fx

    clean = _images(2, 32, 24) * 2 - 1
    observed, mask = parse_degradation("columns:random:0.5")(clean, value_range=(-1.0, 1.0), generator=1)
    guard = GuardedModel(_random_model((-1.0, 1.0)), "columns:random:0.5", fast=True)
    alone = {name: fn(observed, mask).float().cpu() for name, fn in guard.baselines.items()}
    scans = []
    monkeypatch.setattr(seismic_fx, "dip_interpolate", lambda *a, **k: scans.append(1))  # f-x's own scan
    together = guard.run_baselines(observed, mask)
    assert not scans and {"fx", "dip-steered", "sliding-fk", "consensus"} <= set(together)
    assert list(together) == list(alone)
    for name in alone:
        torch.testing.assert_close(together[name], alone[name], rtol=0, atol=0)
