"""The self-supervised adaptation strategy: fine-tune a trained reconstruction model on the images it must
reconstruct (seismic gathers), with no clean data at all.

The images themselves hold training pairs: hide a further share of their *known* traces and learn to restore
them from the rest. The missing traces are never targets (they may even be NaN). A share of the known traces is
held out of this training and scores each candidate, so the weights kept are the ones that restore traces the
adaptation never saw best, the starting (pretrained) weights included. `from_scratch` trains a freshly
initialised generator of the same architecture instead (the gather-only, deep-prior style comparison).

The strategy takes a list of (observed, mask) images: one gather (`ganrecon.adapt`, in memory) or a whole survey
(`ganrecon.adapt_survey`, in a run directory with checkpoints and a model bundle); hidden and held-out traces are
drawn per image, crops from any of them, and the held-out score pools them all. In a run directory the bundle
written with each checkpoint holds the weights chosen so far (the best held-out score), not the last ones.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from ganrecon.checkpoints import save_bundle
from ganrecon.errors import GanreconError
from ganrecon.reconstructor import resolve_precision
from ganrecon.tiling import tile_grid
from ganrecon.training.steps import lr_factor
from ganrecon.training.strategy import Strategy

ADAPT_STREAM = 982_451_653  # offset of the adaptation's random streams from the user's seed
PASS_MARGIN = 1.1  # the budget keeps the slowest reconstruction pass seen times this for the final one
# the learning-rate schedules of an adaptation (ganrecon.training.steps.lr_factor): both follow the time budget as
# well as the steps, so a budgeted run without a step limit still decays, and a resumed run may add a decay to a
# constant rate (it then starts where the longer budget's second half has already begun)
LR_DECAYS = ("none", "linear-budget")
# what describes the shipped file rather than the network: not carried into an adapted model's bundle
SHIPPING_FIELDS = ("shipped_name", "stored_dtype", "source_run", "description", "selected")
MAX_CACHED_TILES = 16384  # validation priors kept by an adaptation: ~0.8 GB at 128 x 96 float32


def snr_db(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    error = float(((estimate - truth) ** 2).sum())
    return 10 * math.log10(float((truth ** 2).sum()) / error) if error > 0 else math.inf


def hidden_unit(masks: Sequence[torch.Tensor]) -> str:
    """Traces when every column is wholly known or wholly missing (seismic, missing columns), else pixels."""
    for mask in masks:
        column_min, column_max = mask.amin(dim=(0, 1)), mask.amax(dim=(0, 1))
        if not bool((column_min == column_max).all()):
            return "pixels"
    return "traces"


def draw_share(known: torch.Tensor, share: float, unit: str, generator: torch.Generator) -> torch.Tensor:
    """A random subset (about `share`) of the known entries, drawn per trace or per pixel; C x H x W 0/1."""
    if unit == "traces":
        pick = (torch.rand(known.shape[-1], generator=generator) < share).float()
        return known * pick[None, None, :]
    return known * (torch.rand(known.shape, generator=generator) < share).float()


def adaptation_crop(meta: dict, images: Sequence[tuple[torch.Tensor, ...]]) -> tuple[int, int]:
    """Training crops of an adaptation: the model's training height and twice its width (more lateral context
    per step), within the smallest image. From `image_size`, not an adapted model's tile, so adapting an adapted
    model again keeps the same crops."""
    h, w = (int(s) for s in meta["image_size"])
    return (min(h, *(o.shape[-2] for o, *_ in images)), min(2 * w, *(o.shape[-1] for o, *_ in images)))


def check_lr_decay(lr_decay: str, prefix: str = "An adaptation's lr_decay is") -> None:
    """One sentence for a schedule an adaptation cannot follow ("linear" follows steps only: no decay at all in a
    budgeted run); `prefix` names the setting as the caller's user knows it."""
    if lr_decay not in LR_DECAYS:
        raise GanreconError(f"{prefix} one of {', '.join(LR_DECAYS)}, got {lr_decay!r}.")


class SelfSupervisedAdaptation(Strategy):
    kind = "adaptation"
    log_fields = ("loss", "lr")
    validate_first = True  # the starting weights are a candidate (and their score times the reconstruction pass)

    def __init__(self, model, images: Sequence[tuple[torch.Tensor, torch.Tensor]], *, hide: float = 0.3,
                 holdout: float = 0.1, lr: float | None = None, batch_size: int = 4, from_scratch: bool = False,
                 seed: int = 0, provenance: dict | None = None, precision: str = "fp32", lr_decay: str = "none",
                 steps: int | None = None, pool: int = 0, prior_cache: Path | None = None):
        from ganrecon.inference import ReconstructionModel

        if model.scale != 1 or model.fixed_size:
            raise GanreconError(f"The model {model.name} cannot be adapted: only fully convolutional models of the "
                                "same input and output size (the unet family) can.")
        self.bf16 = resolve_precision(precision, next(model.generator.parameters()).device) == "bf16"
        self.hide, self.batch_size, self.from_scratch = hide, batch_size, from_scratch
        self.images_per_step = batch_size
        # streams of their own: seeded like a degradation's (seed 0 -> the same torch.rand draws) the held-out
        # traces would be chosen exactly among the traces that degradation removed, leaving none to hold out
        self.seed = ADAPT_STREAM + seed
        self.images = self._split(images, holdout)
        self.generator = self._starting_generator(model, seed).to(memory_format=torch.channels_last)
        self.crop = adaptation_crop(model.meta, self.images)
        # the adapted model reconstructs in tiles of the crops it learned on: the narrower training tiles would
        # hide the lateral context it was adapted to use (2.4-2.8 dB on docs/results/seismic_survey.md's test shots)
        self.adapted = ReconstructionModel(self.generator, dict(model.meta, data_consistency=True,
                                                                tile=list(self.crop)),
                                           f"{model.name}+{'gather-only' if from_scratch else 'adapt'}")
        self.signed = model.value_range[0] < 0
        self.lr = lr or (1e-3 if from_scratch else 2e-4)
        check_lr_decay(lr_decay)
        self.lr_decay, self.steps = lr_decay, steps
        self.pool = self._draw_pool(pool) if pool > 0 else None
        self._cache_validation_priors()
        self.prior_cache = Path(prior_cache) if prior_cache is not None else None
        self.priors_saved = self._load_priors()
        self.optimiser = torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=(0.9, 0.999))
        self.initial_state = copy.deepcopy(self.generator.state_dict())
        self.best_generator = copy.deepcopy(self.generator)  # the best-scoring weights so far
        self.best_step: int | None = None
        self.best_score = -math.inf
        self.start_score = -math.inf
        self.pass_seconds: float | None = None
        self.chosen_step = 0
        self.provenance = dict(provenance or {})  # what a run directory's bundle says about the adaptation

    def _split(self, images, holdout: float) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(observed, training mask, held-out mask) per image; a held-out share only where enough is known."""
        prepared = []
        for observed, mask in images:
            if observed.dim() != 3 or mask.shape != observed.shape:
                raise GanreconError(f"Adaptation takes C x H x W images with masks of the same shape, got "
                                    f"{tuple(observed.shape)} and {tuple(mask.shape)}.")
            mask = (mask > 0).float()
            prepared.append((torch.nan_to_num(observed.float()) * mask, mask))  # missing entries carry no value
        self.unit = hidden_unit([m for _, m in prepared])
        gen = torch.Generator().manual_seed(self.seed)
        split = []
        for observed, mask in prepared:
            held = draw_share(mask, holdout, self.unit, gen) if holdout > 0 else torch.zeros_like(mask)
            if held.sum() == 0 or (mask - held).sum() == 0:
                held = torch.zeros_like(mask)  # too few known traces to spare any: no early stopping on this one
            split.append((observed, mask - held, held))
        if sum(float(t.sum()) for _, t, _ in split) == 0:
            which = "The image has no" if len(split) == 1 else f"None of the {len(split)} images has"
            raise GanreconError(f"{which} known entries to adapt on.")
        self.has_holdout = any(float(h.sum()) > 0 for _, _, h in split)
        return split

    def _draw_pool(self, size: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """`size` training problems (target crop, known, hidden; mirrored and polarity-flipped as drawn) that
        the steps draw from, instead of new ones at every step: a refiner's costly prior (the seismic consensus)
        is then computed once per problem (the refiner caches it), not once per crop and step. A 60 s adaptation
        of a 1000 x 80 gather then takes 117-242 steps instead of 48, but on tuning gathers the adapted model was
        no better on the missing traces (benchmarks/adapt_pool.py), so it is not the default."""
        rng = torch.Generator().manual_seed(self.seed + 1)
        pool = [self._draw_problem(rng) for _ in range(size)]
        if hasattr(self.generator, "cache_pool"):
            self.generator.cache_pool(size)  # the pool, and validation's tiles besides (_cache_validation_priors)
        return pool

    def validation_tiles(self) -> int:
        """Tiles of one validation pass (each holds one prior: a self-ensemble computes it once per tile)."""
        overlap = self.adapted.default_overlap()
        grids = (tile_grid(*observed.shape[-2:], self.crop, overlap) for observed, _, _ in self.images)
        return sum(len(ys) * len(xs) for ys, xs in grids)

    def _cache_validation_priors(self) -> None:
        """Room in a refiner's prior cache for every validation tile beside the pool: every pass poses the same
        tiles, and a least-recently-used cache smaller than one pass misses each of them every time (a survey of
        60 shots of 500 x 96 holds 420 tiles, the cache 256; each pass recomputed the consensus of all of them)
        and evicts the pool's priors besides. At most MAX_CACHED_TILES (beyond them a pass computes priors again)."""
        cache = getattr(self.generator, "cache", None)
        if cache is not None and cache.size > 0:
            pool = len(self.pool) if self.pool is not None else 0
            cache.size = max(cache.size, pool + min(self.validation_tiles(), MAX_CACHED_TILES))

    def _load_priors(self) -> int:
        """A refiner's priors saved by an earlier part of this run (`save`), if any: how many were read."""
        cache = getattr(self.generator, "cache", None)
        if self.prior_cache is None or cache is None:
            return 0
        return cache.load(self.prior_cache, self.generator.prior_tag)

    def _crop(self, i: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A random training crop of image i: (observed, training mask), each C x h x w."""
        th, tw = self.crop
        observed, train_mask, _ = self.images[i]
        y = int(torch.randint(0, observed.shape[-2] - th + 1, (1,), generator=rng))
        x = int(torch.randint(0, observed.shape[-1] - tw + 1, (1,), generator=rng))
        return observed[:, y:y + th, x:x + tw], train_mask[:, y:y + th, x:x + tw]

    def _draw_problem(self, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pool problem, drawn as `_fresh_batch` draws one of its crops."""
        i = int(torch.randint(len(self.images), (1,), generator=rng)) if len(self.images) > 1 else 0
        target, known = self._crop(i, rng)
        hidden = draw_share(known, self.hide, self.unit, rng)
        if torch.rand(1, generator=rng).item() < 0.5:
            target, known, hidden = target.flip(-1), known.flip(-1), hidden.flip(-1)
        if self.signed and torch.rand(1, generator=rng).item() < 0.5:
            target = -target
        return target, known, hidden

    def _fresh_batch(self, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """batch_size new problems: crops of random images, a share of their training traces hidden; the batch
        mirrored at random and each crop's polarity flipped at random (a mirrored gather and flipped polarity
        are gathers too)."""
        picks = (torch.randint(len(self.images), (self.batch_size,), generator=rng).tolist()
                 if len(self.images) > 1 else [0] * self.batch_size)
        target, known = (torch.stack(parts) for parts in zip(*(self._crop(i, rng) for i in picks)))
        hidden = torch.stack([draw_share(k, self.hide, self.unit, rng) for k in known])
        if torch.rand(1, generator=rng).item() < 0.5:
            target, known, hidden = target.flip(-1), known.flip(-1), hidden.flip(-1)
        if self.signed:
            target = target * torch.where(torch.rand(len(target), 1, 1, 1, generator=rng) < 0.5, -1.0, 1.0)
        return target, known, hidden

    def _starting_generator(self, model, seed: int) -> torch.nn.Module:
        from ganrecon.inference import generator_from_meta

        if self.from_scratch:
            torch.manual_seed(seed)
            return generator_from_meta(model.meta, model.name)
        return copy.deepcopy(model.generator)

    @torch.enable_grad()  # callers such as `evaluate` run models under no_grad
    def step(self, step: int, rng: torch.Generator) -> dict:
        self.generator.train(self.from_scratch)  # fine-tuning keeps the BatchNorm statistics of pretraining
        if self.pool is not None:
            picks = torch.randint(len(self.pool), (self.batch_size,), generator=rng).tolist()
            target, known, hidden = (torch.stack(parts) for parts in zip(*(self.pool[i] for i in picks)))
        else:
            target, known, hidden = self._fresh_batch(rng)
        visible = known - hidden
        target, visible = (t.contiguous(memory_format=torch.channels_last) for t in (target, visible))
        with torch.autocast(target.device.type, dtype=torch.bfloat16, enabled=self.bf16):  # training steps only
            pred = self.adapted.apply_tiles(target * visible, visible).float()
        scale = (target * visible).abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6) if self.signed else 1.0
        loss = ((pred - target).abs() / scale * hidden).sum() / hidden.sum().clamp_min(1.0)
        for group in self.optimiser.param_groups:  # the loop sets budget_used before each step
            group["lr"] = self.lr * lr_factor(self.lr_decay, step, self.steps, self.budget_used)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        return {"loss": loss.item(), "lr": self.optimiser.param_groups[0]["lr"]}

    def validate(self, step: int) -> dict:
        """SNR (dB) on the held-out known traces of every image, reconstructed from the training traces alone.
        One pass over the images costs what the final reconstruction costs: the slowest pass yet is the budget's
        reserve (a refiner's prior is cached after the first pass of these inputs, not for the final one)."""
        if not self.has_holdout and self.pass_seconds is not None:
            return {"holdout": {"snr": -math.inf}}
        t = time.perf_counter()
        self.generator.eval()
        estimates, truths = [], []
        for observed, train_mask, held in self.images:
            estimate = self.adapted(observed[None] * train_mask[None], train_mask[None])[0]
            estimates.append(estimate[held > 0])
            truths.append(observed[held > 0])
        self.pass_seconds = max(self.pass_seconds or 0.0, time.perf_counter() - t)
        snr = snr_db(torch.cat(estimates), torch.cat(truths)) if self.has_holdout else -math.inf
        if step == 0:
            self.start_score = snr
        return {"holdout": {"snr": snr}}

    def selection_score(self, scores: dict, step: int) -> float | None:
        if self.from_scratch and step == 0:
            return None  # an untrained network is never the choice
        return scores["holdout"]["snr"]

    def keep_best(self, run_dir: Path | None, step: int, seconds: float, score: float) -> None:
        self.best_generator.load_state_dict(self.generator.state_dict())
        self.best_step, self.best_score = step, score

    def finish(self, best: dict) -> None:
        """The best-scoring weights; when nothing could be scored (no held-out traces, or a new network not yet
        validated) the last ones, unless the run diverged (then the starting ones)."""
        if best["step"] is not None:
            self.generator.load_state_dict(self.best_generator.state_dict())
            self.chosen_step = best["step"]
        elif best.get("diverged"):
            self.generator.load_state_dict(self.initial_state)
            self.chosen_step = 0
        else:
            self.chosen_step = None  # the last step's weights: the caller knows how many steps ran
        self.generator.eval()

    def reserve_seconds(self) -> float:
        """The slowest pass seen, and a tenth more: the same pass varies by several percent from run to run on a
        shared machine (the final pass ran 0.2 s past a 60 s budget with the bare slowest pass kept)."""
        return PASS_MARGIN * (self.pass_seconds or 0.0)

    @property
    def model(self) -> torch.nn.Module:
        return self.generator

    def progress_text(self, step: int, values: dict, best: float) -> str:
        return f"step {step} loss {values['loss']:.4f} holdout {best:.2f} dB"

    def validation_line(self, step: int, scores: dict) -> str:
        return f"step {step}: held-out known traces {scores['holdout']['snr']:.2f} dB"

    # ------------------------------------------------------------------------------------- in a run directory
    def checkpoint_state(self) -> dict:
        return {"generator": self.generator, "opt_g": self.optimiser, "best": self.best_generator}

    def checkpoint_extra(self) -> dict:
        return {"adaptation": {"start_score": self.start_score, "best_step": self.best_step,
                               "best_score": self.best_score}}

    def restore(self, meta: dict) -> None:
        saved = meta.get("adaptation") or {}
        self.start_score = float(saved.get("start_score", -math.inf))
        self.best_step = saved.get("best_step")
        self.best_score = float(saved.get("best_score", -math.inf))

    def save(self, run_dir: Path, step: int, seconds: float) -> None:
        """RUN/model.safetensors + model.json: the weights chosen so far (the best held-out score; the last ones
        when nothing could be scored), loadable like any trained model; and a refiner's cached priors to
        `prior_cache` while their number changes."""
        chosen = self.best_generator if self.best_step is not None else self.generator
        save_bundle(Path(run_dir) / "model", chosen, self.bundle_meta(step, seconds))
        cache = getattr(self.generator, "cache", None)
        if self.prior_cache is not None and cache is not None and len(cache.entries) != self.priors_saved:
            cache.save(self.prior_cache, self.generator.prior_tag)  # only while the cache still grows
            self.priors_saved = len(cache.entries)

    def bundle_meta(self, step: int, seconds: float) -> dict:
        meta = {k: v for k, v in self.adapted.meta.items() if k not in SHIPPING_FIELDS}
        if self.best_step is not None:
            selected = (f"best held-out SNR {self.best_score:.2f} dB at step {self.best_step} of {step} (the "
                        f"starting weights: {self.start_score:.2f} dB)")
        else:
            selected = f"the last weights (step {step}): no held-out traces to choose with"
        return {**meta, **self.provenance, "adapt_steps": step, "adapt_seconds": round(seconds, 1),
                "selected": selected}
