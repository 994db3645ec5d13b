"""Survey-level self-supervised adaptation, `ganrecon adapt` (issue 20): a tiny random-weight U-Net and a few tiny
synthetic gathers made here, so every test runs in seconds on one CPU thread."""

import csv
import json
import math

import numpy as np
import pytest
import segyio
import torch
from safetensors.torch import load_file

from ganrecon.adapt_survey import SurveyAdaptConfig, adapt_survey
from ganrecon.checkpoints import save_bundle
from ganrecon.cli import main
from ganrecon.errors import GanreconError
from ganrecon.inference import load_model
from ganrecon.models import build_generator
from ganrecon.survey import read_survey
from ganrecon.tiling import tiled_apply
from ganrecon.training.adaptation import SelfSupervisedAdaptation, draw_share
from ganrecon.training.loop import LoopOptions, RunLoop

SIZE = (32, 32)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny models run faster on one thread


@pytest.fixture(scope="module")
def unet(tmp_path_factory):
    """A random-weight seismic traces U-Net bundle (depth 2, width 8): what `ganrecon adapt` starts from."""
    torch.manual_seed(0)
    options = {"depth": 2, "width": 8}
    generator = build_generator("unet", channels=1, image_size=SIZE, value_range=(-1.0, 1.0), **options)
    stem = tmp_path_factory.mktemp("model") / "tiny-seismic"
    save_bundle(stem, generator, {"task": "traces", "generator": "unet", "generator_options": options,
                                  "channels": 1, "image_size": list(SIZE), "value_range": [-1.0, 1.0], "scale": 1,
                                  "data_consistency": True, "degrade": "columns:random:0.5"})
    return str(stem.with_suffix(".safetensors"))


def gather(traces: int, seed: int, samples: int = 40) -> np.ndarray:
    """Dipping events (samples x traces), amplitude ~100, with every third trace dead (all zero)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples)[:, None]
    x = np.arange(traces)[None, :]
    data = np.zeros((samples, traces), np.float32)
    for _ in range(3):
        t0, dip, f = rng.uniform(5, samples - 5), rng.uniform(-1.5, 1.5), rng.uniform(0.2, 0.5)
        data += 100 * np.sin(f * (t - t0 - dip * x)) * np.exp(-((t - t0 - dip * x) ** 2) / 30.0)
    data[:, ::3] = 0
    return data


def npy_survey(folder, nan_traces: bool = False):
    """Three NPY gathers, one narrower than the others; optionally one missing trace is NaN instead of zero."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, traces in enumerate((24, 24, 20)):
        data = gather(traces, seed=i)
        if nan_traces:
            data[:, 3] = np.nan
        else:
            data[:, 3] = 0
        np.save(folder / f"shot{i}.npy", data)
    return folder


def config(survey, unet, **extra) -> SurveyAdaptConfig:
    base = dict(survey=str(survey), model=unet, steps=4, eval_every=2, batch_size=2, seconds=None)
    base.update(extra)
    return SurveyAdaptConfig(**base)


def weights(run) -> dict:
    return load_file(str(run / "model.safetensors"))


def test_adapt_command_writes_a_bundle_that_reconstruct_and_load_model_read(tmp_path, unet, capsys):
    survey, run = npy_survey(tmp_path / "survey", nan_traces=True), tmp_path / "run"
    code = main(["adapt", str(survey), "--model", unet, "--out", str(run), "--steps", "4", "--eval-every", "2",
                 "--batch-size", "2", "--threads", "1", "--no-progress"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert "3 gathers of 40x20 to 40x24" in out and "4 in total" in out
    for name in ("model.safetensors", "model.json", "config.yaml", "log.csv", "validation.csv", "summary.json"):
        assert (run / name).is_file(), name
    meta = json.loads((run / "model.json").read_text())
    assert meta["survey_gathers"] == 3 and meta["adapt_steps"] == 4 and meta["adapted_from"] == "tiny-seismic"
    model = load_model(run)
    g = torch.from_numpy(gather(24, seed=0))[None, None]
    estimate = model(g, (g != 0).float())
    assert estimate.shape == g.shape and torch.isfinite(estimate).all()
    np.save(tmp_path / "gather.npy", gather(24, seed=0))  # reconstruct reads dead (zero) traces, not NaN ones
    code = main(["reconstruct", str(tmp_path / "gather.npy"), "--model", str(run), "-o", str(tmp_path / "out.npy"),
                 "--guard", "off"])
    assert code == 0 and np.isfinite(np.load(tmp_path / "out.npy")).all()


def test_the_adapted_model_reconstructs_in_tiles_of_its_adaptation_crops(tmp_path, unet):
    """The crops it learned on (the model's training height, twice its width, within the narrowest gather) are its
    inference tiles, in the bundle too; adapting the adapted model again keeps them."""
    survey = npy_survey(tmp_path / "survey")
    adapt_survey(config(survey, unet), tmp_path / "run", progress=False)
    crop = (min(SIZE[0], 40), min(2 * SIZE[1], 20))
    assert json.loads((tmp_path / "run" / "model.json").read_text())["tile"] == list(crop)
    model = load_model(tmp_path / "run")
    assert model.tile == crop and load_model(unet).tile == SIZE
    g = torch.from_numpy(gather(24, seed=0))[None, None]
    mask = (g != 0).float()
    with torch.no_grad():
        tiled = tiled_apply(model.apply_tiles_polarity_averaged, g * mask, mask, crop, overlap=0.25)
        assert torch.allclose(model(g, mask), torch.where(mask > 0, g, tiled), rtol=1e-4, atol=1e-3)
    adapt_survey(config(survey, str(tmp_path / "run"), steps=2), tmp_path / "again", progress=False)
    assert load_model(tmp_path / "again").tile == crop


def test_resume_continues_to_the_weights_of_an_uninterrupted_run(tmp_path, unet):
    survey = npy_survey(tmp_path / "survey")
    whole = adapt_survey(config(survey, unet), tmp_path / "whole", progress=False)
    first = adapt_survey(config(survey, unet), tmp_path / "parts", progress=False, stop_after=2)
    assert first.steps == 2
    second = adapt_survey(config(survey, unet), tmp_path / "parts", resume=True, progress=False)
    assert (second.first_step, second.steps, whole.steps) == (2, 4, 4)
    assert second.best_step == whole.best_step and second.holdout_snr_start == whole.holdout_snr_start
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "parts")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_pool_of_fixed_problems_resumes_exactly_and_may_only_grow_on_resume(tmp_path, unet):
    """--pool N: the steps draw from N problems drawn once (so a refiner computes each prior once); the pool is
    drawn again from the seed on resume, so a resumed run ends with the weights of an uninterrupted one. A resume
    may grow the pool (new problems after the old ones) and the run says from which step it drew from more."""
    survey = npy_survey(tmp_path / "survey")
    whole = adapt_survey(config(survey, unet, pool=3), tmp_path / "whole", progress=False)
    adapt_survey(config(survey, unet, pool=3), tmp_path / "parts", progress=False, stop_after=2)
    second = adapt_survey(config(survey, unet, pool=3), tmp_path / "parts", resume=True, progress=False)
    assert (second.steps, second.best_step) == (whole.steps, whole.best_step)
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "parts")
    assert all(torch.equal(a[k], b[k]) for k in a)
    adapt_survey(config(survey, unet), tmp_path / "fresh", progress=False)
    fresh = weights(tmp_path / "fresh")
    assert any(not torch.equal(a[k], fresh[k]) for k in a)  # other problems than a run without a pool
    for pool, why in ((2, "pool 3, not 2; a resume may grow a pool"), (0, "pool 3, not 0")):
        with pytest.raises(GanreconError, match=why):
            adapt_survey(config(survey, unet, pool=pool, steps=6), tmp_path / "parts", resume=True, progress=False)
    heard = []
    grown = adapt_survey(config(survey, unet, pool=5, steps=6), tmp_path / "parts", resume=True, progress=False,
                         notes=heard.append)
    assert grown.pool_history == [[0, 3], [4, 5]] and "from 3 to 5 training problems at step 4" in heard[-1]
    meta = json.loads((tmp_path / "parts" / "model.json").read_text())
    assert meta["adapt_pool"] == 5 and meta["adapt_pool_history"] == [[0, 3], [4, 5]]
    again = adapt_survey(config(survey, unet, pool=5, steps=8), tmp_path / "parts", resume=True, progress=False)
    assert again.pool_history == [[0, 3], [4, 5]]  # the history stays with the run
    with pytest.raises(GanreconError, match="pool 0, not 3"):
        adapt_survey(config(survey, unet, pool=3, steps=6), tmp_path / "fresh", resume=True, progress=False)


@pytest.fixture(scope="module")
def refiner(tmp_path_factory):
    """The tiny U-Net refining a costly (cached) prior, cubic interpolation."""
    torch.manual_seed(0)
    options = {"depth": 2, "width": 8, "prior": "cubic"}
    generator = build_generator("unet", channels=1, image_size=SIZE, value_range=(-1.0, 1.0), **options)
    stem = tmp_path_factory.mktemp("refiner") / "refiner"
    save_bundle(stem, generator, {"task": "traces", "generator": "unet", "generator_options": options,
                                  "channels": 1, "image_size": list(SIZE), "value_range": [-1.0, 1.0], "scale": 1,
                                  "data_consistency": True})
    return str(stem.with_suffix(".safetensors"))


@pytest.mark.parametrize("pool", [0, 8])
def test_the_prior_cache_holds_a_whole_validation_pass_beside_the_pool(refiner, pool):
    """A survey's validation pass poses more tiles than the cache's spare 256: they must all stay cached (an LRU
    cache smaller than a pass misses every tile of every pass) without evicting the pool's priors."""
    clean = [torch.from_numpy(gather(16, seed=i, samples=32))[None] for i in range(300)]  # one tile each
    strategy = SelfSupervisedAdaptation(load_model(refiner), [(c, (c != 0).float()) for c in clean], batch_size=8,
                                        pool=pool)
    for step in range(4):
        strategy.step(step, torch.Generator().manual_seed(step))
    cache = strategy.generator.cache.entries
    pool_priors = set(cache)
    assert strategy.validation_tiles() == 300 and (len(pool_priors) > 0) == (pool > 0)
    strategy.validate(1)
    assert pool_priors <= set(cache) and len(cache) == len(pool_priors) + 300


def test_a_resumed_refiner_reads_the_priors_it_computed_back(tmp_path, refiner, monkeypatch):
    """RUN/prior-cache.pt: the resumed part computes fewer priors than without the file, and still ends with the
    weights of an uninterrupted run."""
    import ganrecon.models.refine as refine

    survey = npy_survey(tmp_path / "survey")
    adapt_survey(config(survey, refiner, pool=3), tmp_path / "whole", progress=False)
    for part in ("cached", "bare"):
        adapt_survey(config(survey, refiner, pool=3), tmp_path / part, progress=False, stop_after=2)
    assert (tmp_path / "cached" / "prior-cache.pt").is_file()
    (tmp_path / "bare" / "prior-cache.pt").unlink()
    computed = []

    def counted(name, observed, mask, **kwargs):
        computed.append(len(observed))
        return run_baseline(name, observed, mask, **kwargs)

    run_baseline = refine.run_baseline
    monkeypatch.setattr(refine, "run_baseline", counted)
    counts = {}
    for part in ("cached", "bare"):
        computed.clear()
        adapt_survey(config(survey, refiner, pool=3), tmp_path / part, resume=True, progress=False)
        counts[part] = sum(computed)
    assert counts["cached"] < counts["bare"]
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "cached")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_traces_are_never_targets_nor_inputs(unet):
    """Garbage in the missing traces of every gather changes nothing: they are neither hidden-and-learnt targets
    nor held-out scores nor inputs."""
    model = load_model(unet)
    clean = [torch.from_numpy(gather(n, seed=i))[None] for i, n in enumerate((24, 24, 20))]
    masks = [(c != 0).float() for c in clean]
    results = []
    for garbage in (0.0, 1e6, float("nan")):
        survey = [(torch.where(m > 0, c, torch.full_like(c, garbage)), m) for c, m in zip(clean, masks)]
        strategy = SelfSupervisedAdaptation(model, survey, batch_size=2, seed=1)
        RunLoop(strategy, LoopOptions(steps=3, seed=strategy.seed, eval_every=1, log_every=1)).run()
        results.append((strategy.generator.state_dict(), strategy.best_score))
    for state, score in results[1:]:
        assert score == results[0][1] and math.isfinite(score)
        assert all(torch.equal(state[k], results[0][0][k]) for k in state)


def test_held_out_and_hidden_traces_lie_within_each_gathers_known_traces(unet):
    model = load_model(unet)
    clean = [torch.from_numpy(gather(n, seed=i))[None] for i, n in enumerate((24, 20))]
    strategy = SelfSupervisedAdaptation(model, [(c, (c != 0).float()) for c in clean], seed=0)
    rng = torch.Generator().manual_seed(0)
    for (_, train_mask, held), c in zip(strategy.images, clean):
        known = (c != 0).float()
        assert bool((train_mask <= known).all() and (held <= known).all() and (train_mask * held == 0).all())
        hidden = draw_share(train_mask, strategy.hide, strategy.unit, rng)  # a step's targets
        assert bool((hidden <= train_mask).all()) and float(hidden.sum()) > 0


def write_segy(path, gathers_by_ffid: dict[int, np.ndarray]) -> None:
    """One SEG-Y file holding several gathers (samples x traces each), FFID in every trace header."""
    traces = [(ffid, trace) for ffid, g in gathers_by_ffid.items() for trace in g.T]
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, list(range(len(traces[0][1]))), len(traces)
    with segyio.create(str(path), spec) as f:
        for i, (ffid, trace) in enumerate(traces):
            f.header[i] = {segyio.TraceField.FieldRecord: ffid, segyio.TraceField.offset: 25 * i}
            f.trace[i] = np.ascontiguousarray(trace, dtype=np.float32)


def test_a_segy_file_of_many_gathers_is_split_by_field_record(tmp_path):
    path = tmp_path / "line.sgy"
    write_segy(path, {101: gather(12, 0), 102: gather(12, 1), 103: gather(9, 2)})
    survey = read_survey(path)
    assert [g.name for g in survey.gathers] == ["line.sgy FFID 101", "line.sgy FFID 102", "line.sgy FFID 103"]
    assert [tuple(g.observed.shape) for g in survey.gathers] == [(1, 40, 12), (1, 40, 12), (1, 40, 9)]
    for g in survey.gathers:
        assert bool((g.mask[0, :, ::3] == 0).all()) and bool((g.mask[0, :, 1::3] == 1).all())
        assert float(g.observed.abs().max()) == pytest.approx(1.0)
    same = read_survey(f"segy:{tmp_path}")  # a folder of them, as a dataset spec
    assert len(same.gathers) == 3


def test_degrade_removes_traces_from_a_complete_survey(tmp_path):
    survey = read_survey("seismic:n=3,size=32x24", degrade="columns:random:0.5", seed=0)
    assert len(survey.gathers) == 3 and 0.3 < survey.missing_share() < 0.7
    for g in survey.gathers:
        assert bool((g.observed[g.mask == 0] == 0).all())


@pytest.mark.parametrize("case, message", [
    ("empty", "holds no SEG-Y"),
    ("missing", "neither a file, a folder nor a dataset spec"),
    ("not-seismic", "does not reconstruct missing traces of seismic gathers"),
    ("not-a-mask", "removes no traces"),
    ("bad-seconds", "--seconds must be a positive number"),
    ("bad-precision", "Unknown precision 'fp8'"),
    ("bad-lr-decay", "--lr-decay must be one of none, linear-budget, got 'cosine'"),
    ("bad-pool", "--pool must be 0 (new problems at every step) or more, got -1"),
    ("all-dead", "None of the 2 images has known entries"),
])
def test_bad_input_is_one_sentence_and_exit_2(tmp_path, unet, capsys, case, message):
    survey = npy_survey(tmp_path / "survey")
    (tmp_path / "empty").mkdir()
    (tmp_path / "dead").mkdir()
    for i in range(2):
        np.save(tmp_path / "dead" / f"shot{i}.npy", np.zeros((40, 24), np.float32))
    argv = {"empty": [str(tmp_path / "empty"), "--model", unet],
            "missing": [str(tmp_path / "nowhere"), "--model", unet],
            "not-seismic": [str(survey), "--model", "traces-mnist-unet"],
            "not-a-mask": [str(survey), "--model", unet, "--degrade", "gauss:0.1"],
            "bad-seconds": [str(survey), "--model", unet, "--seconds", "0"],
            "bad-precision": [str(survey), "--model", unet, "--precision", "fp8"],
            "bad-lr-decay": [str(survey), "--model", unet, "--lr-decay", "cosine"],
            "bad-pool": [str(survey), "--model", unet, "--pool", "-1"],
            "all-dead": [str(tmp_path / "dead"), "--model", unet]}[case]
    code = main(["adapt", *argv, "--out", str(tmp_path / "run"), "--steps", "2", "--no-progress"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and message in err and "Traceback" not in err, err
    assert err.count(". ") == 0 and err.endswith(".")  # one sentence
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_linear_budget_decay_follows_the_steps_or_the_time_budget_whichever_is_further(tmp_path, unet):
    """Constant for the first half, then linearly to zero; a run adapted at a constant rate may resume with it."""
    model = load_model(unet)
    clean = [torch.from_numpy(gather(24, seed=i))[None] for i in range(2)]
    strategy = SelfSupervisedAdaptation(model, [(c, (c != 0).float()) for c in clean], batch_size=2, lr=1e-3,
                                        lr_decay="linear-budget", steps=8)
    rates = []
    for step, used in ((0, 0.0), (3, 0.4), (6, 0.4), (1, 0.75), (1, 1.0)):
        strategy.budget_used = used
        strategy.step(step, torch.Generator().manual_seed(step))
        rates.append(strategy.optimiser.param_groups[0]["lr"])
    assert rates == pytest.approx([1e-3, 1e-3, 0.5e-3, 0.5e-3, 0.0])
    with pytest.raises(GanreconError, match="lr_decay is one of none, linear-budget"):  # steps only: no decay
        SelfSupervisedAdaptation(model, [(c, (c != 0).float()) for c in clean], lr_decay="linear")
    survey, run = npy_survey(tmp_path / "survey"), tmp_path / "run"
    adapt_survey(config(survey, unet, steps=2), run, progress=False)
    resumed = adapt_survey(config(survey, unet, steps=4, lr_decay="linear-budget"), run, resume=True, progress=False)
    assert (resumed.first_step, resumed.steps) == (2, 4)
    with open(run / "log.csv", newline="") as fh:
        logged = {int(row["step"]): float(row["lr"]) for row in csv.DictReader(fh)}
    assert logged[2] > logged[4] > 0  # the last steps of the constant rate, then of the decay


def test_resume_refuses_another_survey_and_a_run_is_not_overwritten(tmp_path, unet, capsys):
    survey, other, run = npy_survey(tmp_path / "a"), npy_survey(tmp_path / "b"), tmp_path / "run"
    adapt_survey(config(survey, unet, steps=2), run, progress=False)
    assert main(["adapt", str(survey), "--model", unet, "--out", str(run), "--steps", "2", "--no-progress"]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["adapt", str(other), "--model", unet, "--out", str(run), "--steps", "2", "--resume",
                 "--no-progress"]) == 2
    assert "was adapted with survey" in " ".join(capsys.readouterr().err.split())
