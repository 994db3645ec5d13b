"""What a run trains, as opposed to how it runs: the strategy interface the run loop calls.

The loop (`ganrecon.training.loop`) owns the lock, signals, exact resume, time budget, progress, logging,
checkpoints, divergence stop and DDP. A strategy owns its models, optimisers, data and losses, and answers:

    step(step, rng) -> values    one optimisation step; `rng` is the step's own stream (a pure function of the
                                 seed and the step); values are the numbers to log (losses, epoch, lr)
    validate(step) -> scores     method -> metric -> value on held-out data (the strategy's model and baselines)
    selection_score(scores, step) -> float | None   higher is better; the loop keeps the best (None: no choice)
    keep_best(run_dir, step, seconds, score)   remember / write the weights that scored best so far
    checkpoint_state() -> dict   the modules and optimisers a checkpoint holds (save_checkpoint's keywords)
    checkpoint_extra() -> dict   plain numbers of its own a checkpoint keeps; restore(meta) reads them back
    save(run_dir, step, seconds) the model bundle(s) written with each checkpoint
    finish(best)                 end of an in-memory run: put the chosen weights in place

A new kind of training subclasses Strategy (or GANStrategy) and overrides the step and the loss, never the loop.
This is the shape of deepinv's Trainer / AdversarialTrainer and BasicSR's SRModel / SRGANModel.
"""

from __future__ import annotations

from pathlib import Path

import torch


class Strategy:
    kind = "strategy"                       # the task record's `strategy` name
    log_fields: tuple[str, ...] = ()        # the keys of step()'s values written to log.csv, in order
    images_per_step = 1                     # for the images/s column
    supports_ddp = False                    # True: the loop may run it under torchrun
    divergence_hint = "lower lr and resume"
    validate_first = False                  # validate the starting weights (step 0) before training
    budget_used = 0.0                       # fraction of the time budget spent before this step (set by the loop)

    # ------------------------------------------------------------------------------------- to override
    def step(self, step: int, rng: torch.Generator) -> dict[str, float]:
        raise NotImplementedError

    def validate(self, step: int) -> dict[str, dict[str, float]]:
        return {}

    def selection_score(self, scores: dict, step: int) -> float | None:
        return None

    def keep_best(self, run_dir: Path | None, step: int, seconds: float, score: float) -> None:
        pass

    def checkpoint_state(self) -> dict:
        raise NotImplementedError(f"The {self.kind} strategy does not checkpoint; run it in memory.")

    def checkpoint_extra(self) -> dict:
        return {}

    def restore(self, meta: dict) -> None:
        """On resume, after the checkpoint's modules have loaded: `meta` is its JSON (checkpoint_extra's keys,
        and the loop's "best")."""

    def save(self, run_dir: Path, step: int, seconds: float) -> None:
        pass

    def after_step(self, run_dir: Path | None, step: int, seconds: float) -> None:
        """Rank 0, after every step (e.g. the content-only model at the end of warm-up)."""

    def finish(self, best: dict) -> None:
        """In-memory runs: put the weights chosen by `best` ({"score", "step"}) in place."""

    def write_figures(self, run_dir: Path) -> None:
        pass

    # ------------------------------------------------------------------------------------- defaults
    @property
    def model(self) -> torch.nn.Module | None:
        """What the run produced (for TrainResult.generator)."""
        return None

    def modules(self) -> list[torch.nn.Module]:
        """Every module with buffers to share across ranks at the end of a DDP run."""
        return []

    def reserve_seconds(self) -> float:
        """Time a hard budget keeps free for what follows the loop (adaptation's final reconstruction pass)."""
        return 0.0

    def progress_text(self, step: int, values: dict, best: float) -> str:
        return "  ".join(f"{k} {v:.4f}" for k, v in values.items() if isinstance(v, float))

    def validation_line(self, step: int, scores: dict) -> str:
        return f"step {step}: " + ", ".join(f"{m} {s}" for m, s in scores.items())
