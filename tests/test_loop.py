"""The one run loop and its strategies (issue 15): what the loop guarantees for every strategy, checked with toy
strategies (budget, best weights, divergence in memory) and with the real ones (signals, EMA rule)."""

import math
import signal
import time

import pytest
import torch
from conftest import signals_at_step, tiny_overrides

from ganrecon.checkpoints import latest_checkpoint
from ganrecon.config import load_config
from ganrecon.tasks import TASKS
from ganrecon.training import (
    STRATEGIES,
    ConditionalGAN,
    LoopOptions,
    RunLoop,
    Strategy,
    TrainingInterrupted,
    UnconditionalGAN,
    lr_factor,
    strategy_for,
    train,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny models run faster on one thread


class Toy(Strategy):
    """A strategy with scripted step and validation times, scores and losses."""

    log_fields = ("loss",)
    validate_first = True

    def __init__(self, scores=(), losses=(), step_seconds=0.0, val_seconds=0.0, reserve=0.0):
        self.scores, self.losses = list(scores), list(losses)
        self.step_seconds, self.val_seconds, self.reserve = step_seconds, val_seconds, reserve
        self.steps_run, self.kept, self.finished, self.handlers = 0, [], None, set()

    def step(self, step, rng):
        time.sleep(self.step_seconds)
        self.handlers.add(signal.getsignal(signal.SIGINT))
        self.steps_run += 1
        return {"loss": self.losses[step] if step < len(self.losses) else 1.0}

    def validate(self, step):
        time.sleep(self.val_seconds)
        return {"toy": {"psnr": self.scores.pop(0) if self.scores else 0.0}}

    def selection_score(self, scores, step):
        return scores["toy"]["psnr"]

    def keep_best(self, run_dir, step, seconds, score):
        self.kept.append(step)

    def finish(self, best):
        self.finished = best

    def reserve_seconds(self):
        return self.reserve


def test_an_in_memory_run_keeps_the_best_scoring_weights_the_starting_ones_included():
    toy = Toy(scores=[5.0, 3.0, 7.0, 6.0])  # validated at steps 0, 2, 4, 6
    result = RunLoop(toy, LoopOptions(steps=6, seed=0, eval_every=2)).run()
    assert result.step == 6 and result.run_dir is None
    assert toy.kept == [0, 4] and toy.finished == {"score": 7.0, "step": 4, "diverged": False}
    assert toy.handlers == {signal.default_int_handler}  # in memory: Ctrl-C is the caller's, not deferred


def test_a_hard_budget_keeps_the_reserve_and_the_due_validation_free():
    toy = Toy(step_seconds=0.05, val_seconds=0.1, reserve=0.3)
    start = time.perf_counter()
    result = RunLoop(toy, LoopOptions(steps=None, seed=0, max_seconds=1.0, hard_budget=True, eval_every=4,
                                      started=start)).run()
    used = time.perf_counter() - start
    assert result.step > 2
    assert used + toy.reserve <= 1.0 + 0.1, used  # what follows the loop (the final pass) fits in the budget
    assert used + toy.reserve > 1.0 - 0.3, used   # and the budget is used


def test_linear_budget_decay_follows_whichever_of_steps_and_time_is_further_along():
    assert lr_factor("linear-budget", 10, 100, budget_used=0.2) == lr_factor("linear", 10, 100) == 1.0
    assert lr_factor("linear-budget", 80, 100, budget_used=0.2) == pytest.approx(lr_factor("linear", 80, 100))
    assert lr_factor("linear-budget", 10, 100, budget_used=0.75) == pytest.approx(0.5)
    assert lr_factor("linear-budget", 10, 100, budget_used=1.2) == 0.0
    toy = Toy(step_seconds=0.02)   # the loop tells the strategy how much of its budget is spent before each step
    seen = []
    toy.step = lambda step, rng: seen.append(toy.budget_used) or {"loss": 1.0}
    RunLoop(toy, LoopOptions(steps=5, seed=0, max_seconds=100.0, eval_every=100)).run()
    assert len(seen) == 5 and 0 <= seen[0] <= seen[-1] < 0.1


def test_divergence_in_memory_stops_and_keeps_the_best():
    toy = Toy(scores=[1.0, 2.0], losses=[0.5, 0.4, 0.3, float("nan"), 0.2])
    result = RunLoop(toy, LoopOptions(steps=10, seed=0, eval_every=2)).run()
    assert result.step == 3 and toy.steps_run == 4
    assert toy.finished == {"score": 2.0, "step": 2, "diverged": True}


def test_every_task_names_a_strategy_that_train_runs():
    assert {task.strategy for task in TASKS.values()} <= set(STRATEGIES)
    assert strategy_for("latent") is UnconditionalGAN
    assert all(strategy_for(name) is ConditionalGAN for name in ("traces", "superres", "translate", "denoise"))


def _latent_overrides(data_spec, **extra):
    return {"task": "latent", "data": data_spec, "degrade": "keep-first:100+gauss:0.05", "steps": 12,
            "batch_size": 8, "val_images": 4, "eval_every": 100, "checkpoint_every": 3, "log_every": 1, "seed": 5,
            "generator_options": {"z_dim": 4, "hidden": 16}, "discriminator_options": {"hidden": 16}, **extra}


@pytest.mark.parametrize("strategy", ["conditional", "unconditional"])
def test_one_ema_warm_up_rule_for_every_strategy(tiny_npz, strategy):
    overrides = tiny_overrides(tiny_npz) if strategy == "conditional" else _latent_overrides(tiny_npz)
    config = load_config(overrides={**overrides, "ema": 0.999, "channels_last": False})
    torch.manual_seed(0)
    s = STRATEGIES[strategy](config, torch.device("cpu"))
    before = {k: v.clone() for k, v in s.ema.state_dict().items()}
    s.step(0, torch.Generator().manual_seed(1))
    after = s.generator.state_dict()
    decay = 1 / 10  # (1 + step) / (10 + step) at step 0, below 0.999
    for name, _ in s.generator.named_parameters():
        assert torch.equal(s.ema.state_dict()[name], before[name].lerp(after[name], 1 - decay)), name


@pytest.mark.parametrize("task", ["traces", "latent"])
def test_a_second_signal_mid_step_keeps_the_last_good_checkpoint(tmp_path, tiny_npz, monkeypatch, task):
    overrides = tiny_overrides(tiny_npz, checkpoint_every=3) if task == "traces" else _latent_overrides(tiny_npz)
    config = load_config(overrides=overrides)
    # inside step 5: the first signal is deferred, the second stops at once
    signals_at_step(monkeypatch, task, 4, signal.SIGINT, signal.SIGINT)
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="during step 5; the checkpoint of step 3 .* is kept"):
        train(config, run, progress=False)
    assert latest_checkpoint(run).name == "step_0000003"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


@pytest.mark.parametrize("task", ["traces", "latent"])
def test_one_signal_stops_at_the_step_boundary_with_a_checkpoint(tmp_path, tiny_npz, monkeypatch, task):
    overrides = tiny_overrides(tiny_npz, checkpoint_every=3) if task == "traces" else _latent_overrides(tiny_npz)
    config = load_config(overrides=overrides)
    real_step = signals_at_step(monkeypatch, task, 4, signal.SIGTERM)
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="stopped at step 5; a checkpoint was saved"):
        train(config, run, progress=False)
    assert latest_checkpoint(run).name == "step_0000005"
    monkeypatch.setattr(strategy_for(task), "step", real_step)
    assert train(config, run, resume=True, progress=False).first_step == 5
    assert not math.isnan(float((run / "log.csv").read_text().splitlines()[-1].split(",")[2]))
