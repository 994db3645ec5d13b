"""The one run loop: every kind of training (conditional GAN, unconditional GAN, self-supervised adaptation) runs
through it, each as a `Strategy` (ganrecon.training.strategy).

The loop owns what must behave the same for all of them:
- exact resume: the step's random stream is `step_generator(seed, step, rank)`, and a checkpoint holds every
  module, optimiser and the torch RNG, so a resumed run ends with exactly the weights of an uninterrupted one;
- signals: Ctrl-C / SIGTERM stop at the next step boundary with a checkpoint; a second signal mid-step keeps the
  last good checkpoint (a half-done step is never saved);
- the time budget: soft (`max_seconds` of training: the step that crosses it ends the run, which then finishes
  as if that step had been planned) or hard (adaptation: a step starts only when it, a due validation and the
  strategy's reserve still fit);
- progress, log.csv / validation.csv, checkpoints and model bundles, the best-scoring weights;
- divergence: a NaN or infinite value stops the run (the last good checkpoint is kept);
- DDP: every rank agrees before stopping, finishing early or declaring divergence; rank 0 logs and writes.

A run without a run directory is in memory: no lock, no signal handling, no files, no checkpoints; at the end
the strategy puts the best-scoring weights in place (adaptation inside `eval` / `reconstruct`).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganrecon.checkpoints import load_checkpoint, save_checkpoint
from ganrecon.errors import GanreconError, Stopped
from ganrecon.training.distributed import any_rank, broadcast_buffers, is_distributed, rank_and_world
from ganrecon.training.progress import SilentProgress
from ganrecon.training.rundir import RunFiles
from ganrecon.training.signals import deferred_signals
from ganrecon.training.steps import step_generator
from ganrecon.training.strategy import Strategy


class TrainingDiverged(GanreconError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(Stopped):
    """Ctrl-C or SIGTERM: a checkpoint was saved first."""


@dataclass
class TrainResult:
    run_dir: Path | None
    step: int
    seconds: float
    last_validation: dict
    generator: torch.nn.Module | None = None   # the trained weights (EMA copy when enabled), for notebooks
    first_step: int = 0                        # the step this call started from (> 0 on resume)
    best: dict = field(default_factory=dict)   # {"score", "step"} of the best validation, when the strategy chooses


@dataclass
class LoopOptions:
    steps: int | None                  # planned steps; None: until the time budget ends
    seed: int                          # of the step streams: step_generator(seed, step, rank)
    run_dir: Path | None = None        # None: in memory (no lock, signals, files or checkpoints)
    max_seconds: float | None = None
    hard_budget: bool = False          # a step starts only when it, a due validation and the reserve fit
    eval_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    progress: object | None = None     # a ganrecon.training.progress object (rank 0); None: silent
    stop_after: int | None = None      # end this call after so many steps, as if killed (tests of resume)
    started: float | None = None       # time.perf_counter() when the budget began [the loop's start]


class RunLoop:
    def __init__(self, strategy: Strategy, options: LoopOptions, files: RunFiles | None = None):
        if options.steps is None and not options.max_seconds:
            raise GanreconError("A run needs a number of steps or a time budget.")
        self.s, self.o, self.files = strategy, options, files
        self.run_dir = options.run_dir
        self.distributed = strategy.supports_ddp and is_distributed()
        self.rank, self.world = rank_and_world() if self.distributed else (0, 1)
        self.step = self.start_step = self.last_good = 0
        self.elapsed_before, self.t0 = 0.0, time.perf_counter()
        self.best: dict = {"score": -math.inf, "step": None}
        self.last_scores: dict = {}
        self.last_validated: int | None = None
        self.stop_requested: list[int] = []
        self.mid_step = self.diverged = False
        self.in_progress = 0                   # the number of the step under way (from 1, as in log.csv)
        self.step_cost = self.val_cost = 0.0   # the slowest step so far, the last validation
        self.window_t, self.window_images = self.t0, 0
        self.progress = options.progress if options.progress is not None and self.rank == 0 else SilentProgress()

    def elapsed(self) -> float:
        """Seconds of the whole run, resumed parts included."""
        return self.elapsed_before + time.perf_counter() - self.t0

    def run(self, checkpoint: Path | None = None) -> TrainResult:
        if checkpoint is not None:
            self._resume(checkpoint)
        if self.files is not None and self.rank == 0:
            self.files.open(self.start_step, list(self.s.log_fields))
        self.t0 = self.o.started if self.o.started is not None else time.perf_counter()
        self.window_t = time.perf_counter()
        signals = deferred_signals(self.stop_requested) if self.run_dir else contextlib.nullcontext()
        try:
            with signals, self.progress:
                self.progress.update(self.step, 0.0, "")
                if self.s.validate_first and self.start_step == 0 and self.rank == 0:
                    self._validate()
                finished_early = self._steps()
            return self._finish(finished_early)
        except KeyboardInterrupt:
            if self.run_dir is None:
                raise
            self._interrupted()
            raise  # not reached: _interrupted raises
        finally:
            if self.files is not None:
                self.files.close()

    def _steps(self) -> bool:
        """Train until the planned steps are done; True when the time budget ended the run."""
        while self.o.steps is None or self.step < self.o.steps:
            if self.o.stop_after is not None and self.step - self.start_step >= self.o.stop_after:
                return False
            stop, over = any_rank([bool(self.stop_requested), self._over_budget()], self.distributed)
            if stop:  # any rank signalled: all stop, with a checkpoint
                raise KeyboardInterrupt
            if over:
                return True
            self.mid_step, self.in_progress = True, self.step + 1  # steps are counted from 1, as in log.csv
            if self.o.max_seconds:
                self.s.budget_used = self.elapsed() / self.o.max_seconds
            t = time.perf_counter()
            values = self.s.step(self.step, step_generator(self.o.seed, self.step, self.rank))
            self.step_cost = max(self.step_cost, time.perf_counter() - t)
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            if any_rank([bool(bad)], self.distributed)[0]:
                self._diverge(values)
                return False
            self.step += 1
            self._after_step(values)
            self.mid_step = False
        return False

    def _over_budget(self) -> bool:
        if not self.o.max_seconds:
            return False
        if not self.o.hard_budget:
            return self.elapsed() > self.o.max_seconds
        due = self.val_cost if self._validation_due(self.step + 1) else 0.0
        return self.elapsed() + self.step_cost + due + self.s.reserve_seconds() >= self.o.max_seconds

    def _validation_due(self, step: int) -> bool:
        return step % self.o.eval_every == 0 or step == self.o.steps

    def _after_step(self, values: dict) -> None:
        step = self.step
        self.window_images += self.s.images_per_step
        if self.rank == 0:
            self.s.after_step(self.run_dir, step, self.elapsed())
            if step % self.o.log_every == 0 or step == self.o.steps:
                self._log(values)
            if self._validation_due(step):
                self._validate()
        if self.run_dir is not None and (step % self.o.checkpoint_every == 0 or step == self.o.steps):
            self._checkpoint()

    def _log(self, values: dict) -> None:
        now = time.perf_counter()
        ips = self.window_images / max(now - self.window_t, 1e-9)
        self.window_t, self.window_images = now, 0
        text = self.s.progress_text(self.step, values, self.best["score"])
        if self.files is not None:
            self.files.log(self.step, values, ips, self.elapsed())
            text += f"  {ips:.0f} img/s"
        fractions = [self.step / self.o.steps if self.o.steps else 0.0]
        if self.o.max_seconds:
            fractions.append(self.elapsed() / self.o.max_seconds)
        self.progress.update(self.step, max(fractions), text)

    def _validate(self, suffix: str = "") -> None:
        t = time.perf_counter()
        scores = self.s.validate(self.step)
        self.val_cost = time.perf_counter() - t
        self.last_scores, self.last_validated = scores, self.step
        if self.files is not None:
            self.files.validation(self.step, scores)
        score = self.s.selection_score(scores, self.step)
        if score is not None and score > self.best["score"]:
            self.best = {"score": score, "step": self.step}
            self.s.keep_best(self.run_dir, self.step, self.elapsed(), score)
        if scores:
            self.progress.note(self.s.validation_line(self.step, scores) + suffix)

    def _checkpoint(self) -> None:
        seconds = self.elapsed()
        if self.rank == 0:
            save_checkpoint(self.run_dir, self.step, **self.s.checkpoint_state(),
                            extra={**self.s.checkpoint_extra(), "seconds": seconds, "world_size": self.world,
                                   "best": self.best},
                            keep=self.o.keep_checkpoints)
            self.s.save(self.run_dir, self.step, seconds)
        self.last_good = self.step

    def _resume(self, checkpoint: Path) -> None:
        meta = load_checkpoint(checkpoint, **self.s.checkpoint_state())
        self.step = self.start_step = self.last_good = int(meta["step"])
        self.elapsed_before = float(meta.get("seconds", 0.0))
        best = meta.get("best") or {}
        self.best = {"score": float(best.get("score", best.get("psnr", -math.inf))), "step": best.get("step")}
        self.s.restore(meta)
        if self.rank == 0:
            planned = f" of {self.o.steps}" if self.o.steps else ""
            print(f"Resuming {self.run_dir} from step {self.step}{planned}.", flush=True)

    def _diverge(self, values: dict) -> None:
        """In a run directory: stop with the last good checkpoint kept. In memory: stop, keep the best weights."""
        if self.run_dir is None:
            self.diverged = True
            return
        found = ", ".join(f"{k} {v}" for k, v in values.items() if k not in ("epoch", "lr"))
        raise TrainingDiverged(f"Training diverged at step {self.in_progress} ({found}); the last good checkpoint "
                               f"is step {self.last_good} in {self.run_dir}: {self.s.divergence_hint}.")

    def _interrupted(self) -> None:
        if self.mid_step:  # a second signal inside a step: its state is half-updated, keep the last good checkpoint
            raise TrainingInterrupted(f"Training stopped during step {self.in_progress}; the checkpoint of step "
                                      f"{self.last_good} in {self.run_dir} is kept, continue with --resume.") from None
        if self.step > self.last_good:
            self._checkpoint()
        raise TrainingInterrupted(f"Training stopped at step {self.step}; a checkpoint was saved in {self.run_dir}, "
                                  "continue with --resume.") from None

    def _finish(self, finished_early: bool) -> TrainResult:
        seconds = self.elapsed()
        broadcast_buffers(self.s.modules(), self.distributed)
        if finished_early and not self.o.hard_budget and self.rank == 0:
            # the time budget ran out: finish as if the last step had been planned
            if self.last_validated != self.step:
                self._validate(" (time budget reached)")
            else:
                self.progress.note(f"step {self.step}: time budget reached")
        if finished_early and self.run_dir is not None and self.last_good != self.step:
            self._checkpoint()
        completed = self.o.steps is not None and self.step >= self.o.steps
        if self.run_dir is not None and self.rank == 0 and (completed or finished_early):
            self.s.write_figures(self.run_dir)
            self.files.summary(self.step, seconds, self.last_scores)
        if self.run_dir is None:
            self.s.finish(dict(self.best, diverged=self.diverged))
        return TrainResult(self.run_dir, self.step, seconds, self.last_scores, self.s.model,
                           first_step=self.start_step, best=dict(self.best))
