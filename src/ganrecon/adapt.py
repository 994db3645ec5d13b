"""Self-supervised adaptation of a trained model to the one image (seismic gather) it must reconstruct.

A model trained on synthetic gathers meets field data with other wavelets, dips, noise and trace spacing. The
gather itself holds training pairs: hide a further share of its *known* traces and learn to restore them from
the rest. The missing traces are never targets (they may even be NaN). A share of the known traces is held out
of this training and scores each candidate, so the weights kept are the ones that restore traces the
adaptation never saw best, the pretrained weights included; the wall-clock budget is a hard limit, and it
includes the final reconstruction pass.

`from_scratch=True` runs the same loop on a freshly initialised generator of the same architecture: the
gather-only (deep-prior style) comparison, which needs no training data at all.

This module is the user-facing face of the adaptation strategy (`ganrecon.training.adaptation`), which the one
run loop (`ganrecon.training.loop`) runs in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganrecon.errors import GanreconError
from ganrecon.inference import ModelWrapper
from ganrecon.training.adaptation import SelfSupervisedAdaptation, snr_db
from ganrecon.training.loop import LoopOptions, RunLoop
from ganrecon.training.progress import CallbackProgress

__all__ = ["AdaptOptions", "AdaptReport", "AdaptedModel", "adapt_model", "snr_db"]


@dataclass(frozen=True)
class AdaptOptions:
    seconds: float = 60.0          # wall-clock budget per image, the final reconstruction pass included
    hide: float = 0.3              # share of the training traces hidden in each crop (the self-supervised task)
    holdout: float = 0.1           # share of known traces kept out of training, for early stopping
    lr: float | None = None        # default: 2e-4 to fine-tune, 1e-3 from scratch
    batch_size: int = 4
    eval_every: int = 20           # steps between holdout scores
    from_scratch: bool = False     # gather-only: a new generator trained on this image alone
    seed: int = 0
    max_steps: int | None = None   # a step limit as well (reproducible runs: tests, benchmarks)
    precision: str = "fp32"        # of the training steps: fp32, bf16 autocast, or auto (bf16 where native)
    pool: int = 0                  # > 0: the steps draw from this many fixed problems (a costly prior computed
                                   # once each); 0: new ones at every step (docs/results/adapt_pool.md: no gain)

    def __post_init__(self):
        if not self.seconds > 0:
            raise GanreconError(f"--adapt-seconds must be positive, got {self.seconds}.")
        if self.pool < 0:
            raise GanreconError(f"The adaptation pool must be 0 (fresh problems at every step) or more, got {self.pool}.")
        if not 0 < self.hide < 1 or not 0 <= self.holdout < 1:
            raise GanreconError("The adaptation shares must satisfy 0 < hide < 1 and 0 <= holdout < 1.")


@dataclass
class AdaptReport:
    steps: int
    seconds: float
    holdout_snr_start: float       # dB on the held-out known traces, before adapting (pretrained or untrained)
    holdout_snr_best: float
    best_step: int
    unit: str                      # "traces" or "pixels": what was hidden


def adapt_model(model, observed: torch.Tensor, mask: torch.Tensor, options: AdaptOptions = AdaptOptions(),
                progress: Callable[[float, str], None] | None = None):
    """Fine-tune a copy of `model` (a ReconstructionModel) on one C x H x W image, or on N x C x H x W images of
    one survey adapted together (the shape models take), whose known entries are `mask` == 1; returns (adapted
    model, AdaptReport). The input model is left untouched. The budget `options.seconds` keeps the time of one
    reconstruction pass (measured) for the caller's final pass."""
    start = time.perf_counter()
    if observed.dim() not in (3, 4) or mask.shape != observed.shape:
        raise GanreconError(f"Adaptation takes one C x H x W image or N x C x H x W images, and a mask of the same "
                            f"shape, got {tuple(observed.shape)} and {tuple(mask.shape)}.")
    images = [(observed, mask)] if observed.dim() == 3 else list(zip(observed, mask))
    strategy = SelfSupervisedAdaptation(model, images, hide=options.hide, holdout=options.holdout,
                                        lr=options.lr, batch_size=options.batch_size,
                                        from_scratch=options.from_scratch, seed=options.seed,
                                        precision=options.precision, pool=options.pool)
    loop_options = LoopOptions(steps=options.max_steps, seed=strategy.seed, max_seconds=options.seconds,
                               hard_budget=True, eval_every=options.eval_every, log_every=1, started=start,
                               progress=CallbackProgress(progress) if progress else None)
    result = RunLoop(strategy, loop_options).run()
    best_step = result.step if strategy.chosen_step is None else strategy.chosen_step
    report = AdaptReport(result.step, time.perf_counter() - start, strategy.start_score, result.best["score"],
                         best_step, strategy.unit)
    return strategy.adapted, report


class AdaptedModel(ModelWrapper):
    """A model that adapts itself to each image before reconstructing it (for `ganrecon eval` and reconstruct):
    the same call shape as a ReconstructionModel, one adaptation per image of the batch."""

    def __init__(self, model, options: AdaptOptions = AdaptOptions(),
                 progress: Callable[[float, str], None] | None = None):
        super().__init__(model, f"{model.name}+{'gather-only' if options.from_scratch else 'adapt'}")
        self.options, self.progress = options, progress
        self.reports: list[AdaptReport] = []

    def __call__(self, observed: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = torch.ones_like(observed) if mask is None else mask
        outputs = []
        for i in range(len(observed)):
            adapted, report = adapt_model(self.model, observed[i], mask[i], self.options, self.progress)
            self.reports.append(report)
            outputs.append(adapted(observed[i:i + 1], mask[i:i + 1]))
        return torch.cat(outputs)
