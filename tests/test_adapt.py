"""Self-supervised adaptation to one gather, gain and time resampling (issue 9)."""

import json
import math
import time

import numpy as np
import pytest
import torch

from ganrecon.adapt import AdaptedModel, AdaptOptions, adapt_model, snr_db
from ganrecon.cli import main
from ganrecon.config import load_config
from ganrecon.data import load_dataset
from ganrecon.errors import GanreconError
from ganrecon.inference import load_model
from ganrecon.preprocess import GainedModel, ResampledModel, gain_curve, training_dt_ms
from ganrecon.training import train
from tests.conftest import tiny_overrides

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest; the adaptation budget is wall-clock


@pytest.fixture(scope="module")
def weak_run(tmp_path_factory):
    """A tiny seismic U-Net trained a few steps: far from converged, so adaptation has something to gain."""
    run = tmp_path_factory.mktemp("weak") / "weak"
    train(load_config(overrides=tiny_overrides("seismic:n=16,size=32x32,events=2-3,kinds=linear", steps=4)),
          run, progress=False)
    return run


@pytest.fixture
def weak_model(weak_run):
    return load_model(weak_run)


def gather_and_mask(seed: int = 0, size: str = "64x32"):
    gather = load_dataset(f"seismic:n=1,size={size},events=2-3,kinds=linear,vmin=4000", seed=seed).images[0]
    keep = (torch.rand(gather.shape[-1], generator=torch.Generator().manual_seed(seed)) < 0.6).float()
    mask = keep.expand_as(gather).clone()
    return gather, mask


def test_adaptation_never_reads_missing_traces(weak_model):
    gather, mask = gather_and_mask()
    options = AdaptOptions(seconds=60, max_steps=3, eval_every=2, batch_size=2)
    outputs = []
    for garbage in (float("nan"), 1e6):
        observed = torch.where(mask > 0, gather, torch.full_like(gather, garbage))
        adapted, report = adapt_model(weak_model, observed, mask, options)
        assert report.steps == 3 and report.unit == "traces"
        outputs.append(adapted(observed[None], mask[None]))
    assert torch.isfinite(outputs[0]).all()
    assert torch.equal(outputs[0], outputs[1])


def test_adaptation_raises_snr_and_leaves_the_model_alone(weak_model):
    gather, mask = gather_and_mask(seed=1)
    before_weights = {k: v.clone() for k, v in weak_model.generator.state_dict().items()}
    missing = mask == 0
    before = snr_db(weak_model(gather[None] * mask[None], mask[None])[0][missing], gather[missing])
    outputs = {}
    for precision in ("fp32", "bf16"):
        adapted, report = adapt_model(weak_model, gather * mask, mask,
                                      AdaptOptions(seconds=120, max_steps=60, eval_every=10, lr=2e-3, holdout=0.0,
                                                   precision=precision))
        outputs[precision] = adapted(gather[None] * mask[None], mask[None])
        after = snr_db(outputs[precision][0][missing], gather[missing])
        assert after > before + 1.0, (precision, before, after)
        assert outputs[precision].dtype == torch.float32
    assert not torch.equal(outputs["fp32"], outputs["bf16"])  # bf16 steps did run under autocast
    assert all(torch.equal(v, weak_model.generator.state_dict()[k]) for k, v in before_weights.items())


def test_adapt_seconds_is_a_hard_budget(weak_model):
    gather, mask = gather_and_mask(size="128x48")
    t0 = time.perf_counter()
    _, report = adapt_model(weak_model, gather * mask, mask, AdaptOptions(seconds=2.0, eval_every=5))
    assert report.steps > 0
    assert time.perf_counter() - t0 < 2.0 + 2.5  # a step is only started when the slowest one so far fits


def test_holdout_keeps_the_best_weights(weak_model):
    gather, mask = gather_and_mask(seed=2)
    _, report = adapt_model(weak_model, gather * mask, mask, AdaptOptions(seconds=60, max_steps=10, eval_every=5))
    assert report.holdout_snr_best >= report.holdout_snr_start
    assert math.isfinite(report.holdout_snr_start)


def test_holdout_is_not_correlated_with_a_seeded_degradation(weak_model):
    """Regression: the adaptation once drew its holdout with the same seed-0 stream as `columns:random:0.5`, so
    the held-out traces were always among the missing ones and early stopping silently never ran."""
    from ganrecon.degrade import parse_degradation

    gather, _ = gather_and_mask(size="64x80")
    observed, mask = parse_degradation("columns:random:0.5")(gather[None], value_range=(-1.0, 1.0),
                                                              generator=torch.Generator().manual_seed(0))
    _, report = adapt_model(weak_model, observed[0], mask[0], AdaptOptions(seconds=60, max_steps=2, eval_every=2))
    assert math.isfinite(report.holdout_snr_start)


def test_gather_only_trains_a_new_generator(weak_model):
    gather, mask = gather_and_mask()
    model = AdaptedModel(weak_model, AdaptOptions(seconds=60, max_steps=4, eval_every=2, from_scratch=True))
    out = model(gather[None] * mask[None], mask[None])
    assert model.name.endswith("+gather-only") and out.shape == (1, 1, 64, 32)
    assert torch.isfinite(out).all() and model.reports[0].steps == 4


def test_adaptation_refuses_what_it_cannot_do(weak_model):
    gather, mask = gather_and_mask()
    with pytest.raises(GanreconError, match="no known"):
        adapt_model(weak_model, gather, torch.zeros_like(mask), AdaptOptions(seconds=5))
    with pytest.raises(GanreconError, match="positive"):
        AdaptOptions(seconds=0)
    with pytest.raises(GanreconError, match="Unknown precision 'fp16'"):
        adapt_model(weak_model, gather * mask, mask, AdaptOptions(seconds=5, precision="fp16"))


@pytest.mark.parametrize("spec", ["agc:9", "tpow:2"])
def test_gain_is_removed_exactly_and_ignores_missing_traces(spec):
    gather, mask = gather_and_mask()
    decayed = gather * torch.linspace(1.0, 0.01, gather.shape[-2])[:, None]
    observed = (decayed * mask)[None]
    identity = type("Identity", (), {"name": "id", "__call__": lambda self, o, m: o})()
    out = GainedModel(identity, spec)(observed, mask[None])
    assert torch.allclose(out, observed, rtol=1e-6, atol=1e-7)
    garbage = torch.where(mask[None] > 0, observed, torch.full_like(observed, 5.0))
    assert torch.equal(gain_curve(observed, mask[None], spec), gain_curve(garbage, mask[None], spec))
    if spec.startswith("agc"):  # balanced: early and late samples of the gained data have similar RMS
        gained = observed * gain_curve(observed, mask[None], spec)
        rms = gained[0, 0].pow(2).mean(dim=1).sqrt()
        assert float(rms[-16:].mean() / rms[:16].mean()) > 0.2


def test_resampling_keeps_shape_and_known_samples(weak_model):
    assert training_dt_ms(weak_model.meta) == (4.0, 4.0)
    gather, mask = gather_and_mask()
    model = ResampledModel(weak_model, dt_ms=2.0)
    assert (model.up, model.down) == (1, 2)
    out = model(gather[None] * mask[None], mask[None])
    assert out.shape == (1, 1, 64, 32) and torch.isfinite(out).all()
    assert torch.equal(out[mask[None] > 0], (gather[None] * mask[None])[mask[None] > 0])


def test_field_preset_options():
    from ganrecon.data.seismic import parse_seismic_options

    opt = parse_seismic_options("preset=field,bad=0,dx=12")
    assert opt.bad == 0 and opt.dx == 12 and opt.dx_range is None and opt.dt_range == (0.002, 0.004)
    assert "diffraction" in opt.kinds and opt.groundroll > 0
    data = load_dataset("seismic:preset=field,n=3,size=64x32", seed=4)
    assert torch.isfinite(data.images).all() and data.images.abs().amax() == pytest.approx(1.0)
    with pytest.raises(GanreconError, match="preset"):
        parse_seismic_options("preset=marine")


def test_aliased_preset_is_events_only():
    from ganrecon.data.seismic import parse_seismic_options

    opt = parse_seismic_options("preset=aliased")
    assert opt.vmin == 500 and opt.dx_range == (10.0, 50.0) and opt.decay > 0 and opt.noise > 0
    assert opt.groundroll == opt.statics == opt.bad == 0
    data = load_dataset("seismic:preset=aliased,n=3,size=64x32", seed=4)
    assert torch.isfinite(data.images).all() and data.images.abs().amax() == pytest.approx(1.0)


class FarEnd:
    """A stand-in generator that draws the top of every range: the ground-roll source 1.5 apertures away, late
    and at its fastest, so the cone arrives after the patch ends and only its wavelet's tail (~1e-14) reaches it."""

    def uniform(self, low, high, size=None):
        return np.full(size, float(high)) if size is not None else float(high)


def test_ground_roll_passing_outside_the_patch_adds_nothing():
    """It used to be scaled up from numerical dust to the drawn strength (an exponential ramp in many field
    patches; NaN where the dust overflowed)."""
    from ganrecon.data.seismic import Geometry, SeismicOptions, add_ground_roll

    geo, opt = Geometry(128, 64, 0.004, 13.1), SeismicOptions(groundroll=2.0)
    clean = np.random.default_rng(0).standard_normal((128, 64))
    assert add_ground_roll(clean, FarEnd(), geo, opt) is clean
    rolled = [add_ground_roll(clean, np.random.default_rng(seed), geo, opt) for seed in range(4)]
    assert any(np.abs(r - clean).max() > 0.1 for r in rolled) and all(np.isfinite(r).all() for r in rolled)


def test_cli_reconstruct_adapt_and_eval(tmp_path, weak_run):
    gather, mask = gather_and_mask()
    path = tmp_path / "g.npy"
    np.save(path, (gather * mask)[0].numpy())
    assert main(["reconstruct", str(path), "--model", str(weak_run), "-o", str(tmp_path / "out.npy"),
                 "--adapt", "--adapt-seconds", "2", "--gain", "agc:9"]) == 0
    out = np.load(tmp_path / "out.npy")
    assert out.shape == (64, 32) and np.isfinite(out).all()
    assert main(["eval", "--model", str(weak_run), "--data", "seismic:n=2,size=64x32,events=2,kinds=linear",
                 "--degrade", "columns:random:0.4", "--limit", "1", "--adapt", "--adapt-seconds", "1",
                 "--gather-only", "--json", str(tmp_path / "r.json")]) == 0
    methods = json.loads((tmp_path / "r.json").read_text())["methods"]
    assert {"weak", "weak+adapt", "weak+gather-only", "fk"} <= set(methods)
    assert main(["reconstruct", str(path), "--model", str(weak_run), "-o", str(tmp_path / "o2.npy"),
                 "--adapt", "--gather-only"]) == 2


def test_seismic_reconstruction_is_odd_in_the_data(weak_model):
    """Seismic data are linear in the source: flipping the polarity of the input flips the output exactly."""
    gather, mask = gather_and_mask(seed=2)
    observed = (gather * mask)[None]
    with torch.no_grad():
        plus, minus = weak_model(observed, mask[None]), weak_model(-observed, mask[None])
    assert torch.allclose(minus, -plus, atol=1e-6)
    assert not torch.allclose(plus, torch.zeros_like(plus))


def test_the_budget_keeps_one_reconstruction_pass_for_the_final_output(weak_model):
    """Issue 20 item 4: `seconds` includes the final reconstruction, so adaptation stops one measured pass early."""
    from ganrecon.training.adaptation import SelfSupervisedAdaptation
    from ganrecon.training.loop import LoopOptions, RunLoop

    gather, mask = gather_and_mask(size="128x48")
    strategy = SelfSupervisedAdaptation(weak_model, [(gather * mask, mask)])
    start = time.perf_counter()
    result = RunLoop(strategy, LoopOptions(steps=None, seed=strategy.seed, max_seconds=3.0, hard_budget=True,
                                           eval_every=5, started=start)).run()
    assert result.step > 0 and strategy.reserve_seconds() > 0
    assert time.perf_counter() - start + strategy.reserve_seconds() <= 3.0 + 0.5  # the first step is unmeasured


def test_the_reserve_is_the_costliest_pass_seen(weak_model):
    """A refiner caches its prior for an input it has seen, so later held-out passes (the same input) run faster
    than the final reconstruction (a new input) will: the reserve keeps the slowest pass, not the last."""
    from ganrecon.training.adaptation import PASS_MARGIN, SelfSupervisedAdaptation

    gather, mask = gather_and_mask()
    strategy = SelfSupervisedAdaptation(weak_model, [(gather * mask, mask)])
    network, calls = strategy.adapted, []

    def first_pass_slow(observed, known):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.3)  # the prior computed once, then cached
        return network(observed, known)

    strategy.adapted = first_pass_slow
    strategy.validate(0)
    strategy.validate(20)
    assert len(calls) == 2 and strategy.reserve_seconds() >= 0.3 * PASS_MARGIN


def test_adaptation_takes_several_gathers_and_pools_their_held_out_traces(weak_model):
    """The strategy is ready for a whole survey: held-out traces are drawn per gather (never among the missing
    ones) and scored together."""
    from ganrecon.training.adaptation import SelfSupervisedAdaptation, snr_db
    from ganrecon.training.loop import LoopOptions, RunLoop

    (g1, m1), (g2, m2) = gather_and_mask(seed=0), gather_and_mask(seed=1, size="48x40")
    strategy = SelfSupervisedAdaptation(weak_model, [(g1 * m1, m1), (g2 * m2, m2)], holdout=0.2)
    result = RunLoop(strategy, LoopOptions(steps=4, seed=strategy.seed, eval_every=2)).run()
    assert result.step == 4 and strategy.crop == (32, 32) and strategy.unit == "traces"
    estimates, truths = [], []
    for (observed, known, held), mask in zip(strategy.images, (m1, m2)):
        assert held.sum() > 0 and (held * (1 - mask)).sum() == 0 and (held * known).sum() == 0
        estimate = strategy.adapted(observed[None] * known[None], known[None])[0]
        estimates.append(estimate[held > 0])
        truths.append(observed[held > 0])
    pooled = strategy.validate(step=99)["holdout"]["snr"]
    assert pooled == snr_db(torch.cat(estimates), torch.cat(truths)) and math.isfinite(pooled)


def test_adapt_model_takes_a_batch_of_gathers_like_models_do():
    """Issue 16 item 21: N x C x H x W (the shape models take) adapts to the N gathers together."""
    from ganrecon.degrade import parse_degradation

    gathers = load_dataset("seismic:n=2,size=64x32", split="all", seed=3).images
    observed, mask = parse_degradation("columns:random:0.5")(gathers, value_range=(-1.0, 1.0),
                                                            generator=torch.Generator().manual_seed(0))
    model = load_model("traces-seismic-unet")
    adapted, report = adapt_model(model, observed, mask, AdaptOptions(seconds=30, max_steps=2, eval_every=1))
    assert report.steps == 2
    assert adapted(observed, mask).shape == observed.shape
    with pytest.raises(GanreconError, match="C x H x W"):
        adapt_model(model, observed[0, 0], mask[0, 0])



@pytest.fixture(scope="module")
def refiner_run(tmp_path_factory):
    """A tiny seismic U-Net refining cubic interpolation (a scipy prior, cached per input), trained 2 steps."""
    run = tmp_path_factory.mktemp("refiner") / "refiner"
    train(load_config(overrides=tiny_overrides("seismic:n=16,size=32x32,events=2-3,kinds=linear", steps=2,
                                               generator_options={"depth": 2, "width": 8, "prior": "cubic"})),
          run, progress=False)
    return run


def test_an_adaptation_pool_computes_a_costly_prior_once_per_problem(refiner_run, monkeypatch):
    """With a pool of P fixed problems a refiner's prior is computed for at most P training crops, however many
    steps run; without one, for every crop of every step."""
    import ganrecon.models.refine as refine

    gather, mask = gather_and_mask(seed=2)
    computed = []

    def counting(name, observed, *args, **kwargs):
        computed.append(len(observed))
        return original(name, observed, *args, **kwargs)

    original = refine.run_baseline
    monkeypatch.setattr(refine, "run_baseline", counting)
    counts, outputs = {}, {}
    for pool in (0, 3):
        computed.clear()
        options = AdaptOptions(seconds=60, max_steps=8, eval_every=100, batch_size=4, pool=pool)
        adapted, report = adapt_model(load_model(refiner_run), gather, mask, options)
        assert report.steps == 8
        counts[pool] = sum(computed)
        outputs[pool] = adapted(gather[None], mask[None])
    validation = counts[0] - 8 * 4                   # the held-out passes' tiles, the same with a pool
    assert validation >= 0 and counts[3] <= 3 + validation
    assert torch.isfinite(outputs[3]).all() and not torch.equal(outputs[0], outputs[3])
    with pytest.raises(GanreconError, match="pool"):
        AdaptOptions(pool=-1)

