"""Self-supervised adaptation of a trained model to the one image (seismic gather) it must reconstruct.

A model trained on synthetic gathers meets field data with other wavelets, dips, noise and trace spacing. The
gather itself holds training pairs: hide a further share of its *known* traces and learn to restore them from
the rest. The missing traces are never targets (they may even be NaN). A share of the known traces is held out
of this training and scores each candidate, so the weights kept are the ones that restore traces the
adaptation never saw best, the pretrained weights included; the wall-clock budget is a hard limit.

`from_scratch=True` runs the same loop on a freshly initialised generator of the same architecture: the
gather-only (deep-prior style) comparison, which needs no training data at all.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganrecon.errors import GanreconError
from ganrecon.inference import ModelWrapper

ADAPT_STREAM = 982_451_653  # offset of the adaptation's random stream from the user's seed


@dataclass(frozen=True)
class AdaptOptions:
    seconds: float = 60.0          # wall-clock budget per image, evaluation included
    hide: float = 0.3              # share of the training traces hidden in each crop (the self-supervised task)
    holdout: float = 0.1           # share of known traces kept out of training, for early stopping
    lr: float | None = None        # default: 2e-4 to fine-tune, 1e-3 from scratch
    batch_size: int = 4
    eval_every: int = 20           # steps between holdout scores
    from_scratch: bool = False     # gather-only: a new generator trained on this image alone
    seed: int = 0
    max_steps: int | None = None   # a step limit as well (reproducible runs: tests, benchmarks)

    def __post_init__(self):
        if not self.seconds > 0:
            raise GanreconError(f"--adapt-seconds must be positive, got {self.seconds}.")
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


def snr_db(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    error = float(((estimate - truth) ** 2).sum())
    return 10 * math.log10(float((truth ** 2).sum()) / error) if error > 0 else math.inf


def _units(mask: torch.Tensor) -> str:
    """Traces when every column is wholly known or wholly missing (seismic, missing columns), else pixels."""
    column_min, column_max = mask.amin(dim=(0, 1)), mask.amax(dim=(0, 1))
    return "traces" if bool((column_min == column_max).all()) else "pixels"


def _draw(known: torch.Tensor, share: float, unit: str, generator: torch.Generator) -> torch.Tensor:
    """A random subset (about `share`) of the known entries, drawn per trace or per pixel; C x H x W 0/1."""
    if unit == "traces":
        pick = (torch.rand(known.shape[-1], generator=generator) < share).float()
        return known * pick[None, None, :]
    return known * (torch.rand(known.shape, generator=generator) < share).float()


def _crop_positions(size: int, crop: int, count: int, generator: torch.Generator) -> list[int]:
    return torch.randint(0, size - crop + 1, (count,), generator=generator).tolist()


def adapt_model(model, observed: torch.Tensor, mask: torch.Tensor, options: AdaptOptions = AdaptOptions(),
                progress: Callable[[float, str], None] | None = None):
    """Fine-tune a copy of `model` (a ReconstructionModel) on one C x H x W image whose known entries are
    `mask` == 1; returns (adapted model, AdaptReport). The input model is left untouched."""
    from ganrecon.inference import ReconstructionModel, generator_from_meta

    if observed.dim() != 3 or mask.shape != observed.shape:
        raise GanreconError(f"Adaptation takes one C x H x W image and a mask of the same shape, got "
                            f"{tuple(observed.shape)} and {tuple(mask.shape)}.")
    if model.scale != 1 or model.fixed_size:
        raise GanreconError(f"The model {model.name} cannot be adapted: only fully convolutional models of the same "
                            "input and output size (the unet family) can.")
    start = time.perf_counter()
    mask = (mask > 0).float()
    observed = torch.nan_to_num(observed.float()) * mask  # missing entries never carry a value
    unit = _units(mask)
    # a stream of its own: seeded like a degradation's (seed 0 -> the same torch.rand draws) the held-out
    # traces would be chosen exactly among the traces that degradation removed, leaving none to hold out
    gen = torch.Generator().manual_seed(ADAPT_STREAM + options.seed)
    holdout = _draw(mask, options.holdout, unit, gen) if options.holdout > 0 else torch.zeros_like(mask)
    if holdout.sum() == 0 or (mask - holdout).sum() == 0:
        holdout = torch.zeros_like(mask)  # too few known traces to spare any: no early stopping
    train_mask = mask - holdout
    if train_mask.sum() == 0:
        raise GanreconError("The image has no known entries to adapt on.")

    meta = model.meta
    if options.from_scratch:
        torch.manual_seed(options.seed)
        generator = generator_from_meta(meta, model.name)
    else:
        generator = copy.deepcopy(model.generator)
    generator = generator.to(memory_format=torch.channels_last)  # 1.2-1.4x faster convolutions on CPU
    adapted = ReconstructionModel(generator, dict(meta, data_consistency=True),
                                  f"{model.name}+{'gather-only' if options.from_scratch else 'adapt'}")
    signed = model.value_range[0] < 0
    lr = options.lr or (1e-3 if options.from_scratch else 2e-4)
    optimiser = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.9, 0.999))

    def score() -> float:
        if holdout.sum() == 0:
            return -math.inf
        generator.eval()
        est = adapted(observed[None] * train_mask[None], train_mask[None])[0]
        return snr_db(est[holdout > 0], observed[holdout > 0])

    first = score() if not options.from_scratch else -math.inf
    best, best_step, best_state = first, 0, copy.deepcopy(generator.state_dict())
    eval_cost = time.perf_counter() - start
    c, h, w = observed.shape
    th, tw = min(model.tile[0], h), min(2 * model.tile[1], w)  # wide crops: more lateral context per step
    step = 0

    @torch.enable_grad()  # callers such as `evaluate` run models under no_grad
    def train_step() -> float:
        generator.train(options.from_scratch)  # fine-tuning keeps the BatchNorm statistics of pretraining
        ys = _crop_positions(h, th, options.batch_size, gen)
        xs = _crop_positions(w, tw, options.batch_size, gen)
        target = torch.stack([observed[:, y:y + th, x:x + tw] for y, x in zip(ys, xs)])
        known = torch.stack([train_mask[:, y:y + th, x:x + tw] for y, x in zip(ys, xs)])
        hidden = torch.stack([_draw(k, options.hide, unit, gen) for k in known])
        if torch.rand(1, generator=gen).item() < 0.5:  # a mirrored gather and flipped polarity are gathers too
            target, known, hidden = target.flip(-1), known.flip(-1), hidden.flip(-1)
        if signed:
            target = target * torch.where(torch.rand(len(target), 1, 1, 1, generator=gen) < 0.5, -1.0, 1.0)
        visible = known - hidden
        target, visible = (t.contiguous(memory_format=torch.channels_last) for t in (target, visible))
        pred = adapted.apply_tiles(target * visible, visible)
        scale = (target * visible).abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6) if signed else 1.0
        loss = ((pred - target).abs() / scale * hidden).sum() / hidden.sum().clamp_min(1.0)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return loss.item()

    step_cost = 0.0  # the slowest step so far: a step is only started when it (and a due score) fits the budget
    while options.max_steps is None or step < options.max_steps:
        due = eval_cost if (step + 1) % options.eval_every == 0 else 0.0
        if time.perf_counter() - start + step_cost + due >= options.seconds:
            break
        t0 = time.perf_counter()
        loss = train_step()
        step += 1
        step_cost = max(step_cost, time.perf_counter() - t0)
        if step % options.eval_every == 0:
            t0 = time.perf_counter()
            current = score()
            eval_cost = time.perf_counter() - t0
            if current > best:
                best, best_step, best_state = current, step, copy.deepcopy(generator.state_dict())
        if progress:
            progress(min((time.perf_counter() - start) / options.seconds, 1.0),
                     f"step {step} loss {loss:.4f} holdout {best:.2f} dB")
    if step > 0 and (holdout.sum() == 0 or (options.from_scratch and best_step == 0)):
        best_state, best_step = copy.deepcopy(generator.state_dict()), step  # nothing to choose by: the last
    generator.load_state_dict(best_state)
    generator.eval()
    report = AdaptReport(step, time.perf_counter() - start, first, best, best_step, unit)
    return adapted, report


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
