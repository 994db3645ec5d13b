"""Survey-level self-supervised adaptation (`ganrecon adapt`): fine-tune a trained seismic model on every gather of
a survey, with no clean data, into a run directory that `ganrecon reconstruct --model RUN` and `load_model(RUN)`
read like any training run.

One gather rarely holds enough to adapt on (early stopping often keeps the pretrained weights); a survey has
hundreds of gathers with the same geometry and geology. The adaptation strategy
(`ganrecon.training.adaptation`) hides known traces of each gather in the survey's own missing pattern and learns
to restore them; missing traces are never targets, and known traces held out across all gathers choose the
weights that ship. The one run loop (`ganrecon.training.loop`) gives it the run directory's lock, time budget,
progress, log.csv / validation.csv, checkpoints and exact resume; RUN/model.safetensors + model.json is written
with every checkpoint and holds the weights chosen so far; RUN/prior-cache.pt keeps a refiner's computed priors
for the resume.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from ganrecon.checkpoints import checkpoint_meta
from ganrecon.errors import GanreconError
from ganrecon.reconstructor import resolve_precision
from ganrecon.survey import Survey, read_survey
from ganrecon.training.adaptation import check_lr_decay

PRIOR_CACHE = "prior-cache.pt"  # a refiner's computed priors, which a resumed run reads instead of recomputing
# what a resumed run must share with the run it continues (the budget, steps, threads, precision and lr_decay may
# change, and a pool may grow: `grown_pool`)
SAME_ON_RESUME = ("survey", "model", "degrade", "seed", "hide", "holdout", "lr", "batch_size", "eval_every")


@dataclass
class SurveyAdaptConfig:
    """Everything a survey adaptation depends on; written to RUN/config.yaml."""

    survey: str                      # SEG-Y file, folder of SEG-Y / NPY gathers, or dataset spec (ganrecon.survey)
    model: str = "traces-seismic-unet"   # run directory, weights file or shipped name
    degrade: str | None = None       # remove traces from a complete survey as well (a mask spec)
    seconds: float | None = 600.0    # time budget of the whole run, resumed parts included (soft: the loop's)
    steps: int | None = None         # a step limit as well (reproducible runs); None: until the budget ends
    hide: float = 0.3                # share of a crop's training traces hidden (the self-supervised task)
    holdout: float = 0.1             # share of each gather's known traces kept out of training, for early stopping
    lr: float | None = None          # default: the strategy's fine-tuning rate (2e-4)
    batch_size: int = 4
    eval_every: int = 50             # steps between held-out scores (one pass over the survey); checkpoints too
    seed: int = 0
    threads: int | None = None       # torch CPU threads
    precision: str = "fp32"          # of the training steps: fp32, bf16 autocast, or auto (bf16 where native)
    lr_decay: str = "none"           # none; linear-budget: constant for half the budget (seconds or steps), then to 0
    pool: int = 0                    # > 0: steps draw from this many fixed problems, a costly prior computed once each
    pool_history: list | None = None  # [[first step, pool], ...] where a resume grew the pool (set by adapt_survey)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self) -> None:
        """Values that would fail mid-run, refused in one sentence before any work."""
        if self.seconds is None and self.steps is None:
            raise GanreconError("Give a time budget (--seconds) or a number of steps (--steps).")
        if self.seconds is not None and not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise GanreconError(f"--seconds must be a positive number, got {self.seconds}.")
        if isinstance(self.pool, bool) or not isinstance(self.pool, int) or self.pool < 0:
            raise GanreconError(f"--pool must be 0 (new problems at every step) or more, got {self.pool!r}.")
        for key in ("steps", "batch_size", "eval_every", "threads"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise GanreconError(f"--{key.replace('_', '-')} must be a whole number of at least 1, got {value!r}.")
        if not 0 < self.hide < 1 or not 0 <= self.holdout < 1:
            raise GanreconError("The adaptation shares must satisfy 0 < --hide < 1 and 0 <= --holdout < 1.")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise GanreconError(f"--lr must be a positive number, got {self.lr}.")
        resolve_precision(self.precision)  # refuses an unknown one
        check_lr_decay(self.lr_decay, "--lr-decay must be")


@dataclass
class SurveyAdaptResult:
    run_dir: Path
    gathers: int
    survey: str                      # Survey.describe()
    first_step: int                  # the step this call started from (> 0 on resume)
    steps: int                       # steps in the run, resumed parts included
    seconds: float
    holdout_snr_start: float         # dB on the held-out known traces with the starting weights
    holdout_snr_best: float          # dB with the weights written to RUN/model.safetensors
    best_step: int | None            # their step (0: the starting weights were kept); None: the last weights
    pool_history: list | None = None  # [[first step, pool], ...] where a resume grew the pool


def seismic_model(ref: str):
    """The model to adapt: a conditional, fully convolutional seismic traces model, or one sentence why not."""
    from ganrecon.inference import ReconstructionModel, load_model

    model = load_model(ref)
    if not isinstance(model, ReconstructionModel) or not model.signed or model.meta.get("task") != "traces":
        raise GanreconError(f"The model {model.name} (task {model.meta.get('task')}) does not reconstruct missing "
                            "traces of seismic gathers; use a seismic traces model such as traces-seismic-unet.")
    if model.scale != 1 or model.fixed_size:
        raise GanreconError(f"The model {model.name} takes only its training size; survey adaptation needs a fully "
                            "convolutional model (the unet family) for gathers of any size.")
    return model


def check_same_run(run_dir: Path, config: SurveyAdaptConfig) -> dict:
    """--resume continues the run begun in RUN: the same survey, model and settings, or one sentence; returns the
    saved config ({} where none could be read)."""
    try:
        saved = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}  # no readable config: a run killed before writing it starts again from its checkpoint
    for key in SAME_ON_RESUME:
        if key in saved and saved[key] != getattr(config, key):
            raise GanreconError(f"{run_dir} was adapted with {key} {saved[key]!r}, not {getattr(config, key)!r}; "
                                "resume with the same survey, model and settings (only --seconds, --steps, "
                                "--threads, --precision and --lr-decay may change, and --pool may grow).")
    before = saved.get("pool", config.pool)
    if config.pool != before and not 0 < before < config.pool:
        raise GanreconError(f"{run_dir} was adapted with pool {before}, not {config.pool}; a resume may grow a pool "
                            f"(its first {before or 'N'} problems stay the same), not shrink, start or end one.")
    return saved


def grown_pool(saved: dict, config: SurveyAdaptConfig, checkpoint: Path | None) -> list | None:
    """The run's pool sizes, [[first step, pool], ...], once a resume grew its pool (the steps before drew from the
    smaller pool: results must say so); None while it never grew, or where no step was kept to resume."""
    if checkpoint is None:
        return None
    history = saved.get("pool_history")
    if saved.get("pool", config.pool) == config.pool:
        return history
    return [*(history or [[0, saved["pool"]]]), [int(checkpoint_meta(checkpoint)["step"]), config.pool]]


def adapt_survey(config: SurveyAdaptConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
                 stop_after: int | None = None, notes=None) -> SurveyAdaptResult:
    """Adapt `config.model` to every gather of `config.survey` in the run directory `out` (or continue the run
    there with `resume`); RUN/model.safetensors + model.json is the adapted model. `stop_after` ends this call
    after that many steps, as if killed (tests of resume); `notes(sentence)` hears what was read."""
    from ganrecon.training.rundir import RunLock, checkpoint_to_resume

    out = Path(out)
    config = dataclasses.replace(config, survey=_absolute(config.survey), model=_absolute(config.model))
    config.check()
    if config.threads:
        torch.set_num_threads(config.threads)
    checkpoint_to_resume(out, resume)  # refused before the lock, so a mistyped --out gets no folder
    with RunLock(out):
        checkpoint = checkpoint_to_resume(out, resume)
        saved = check_same_run(out, config) if resume else {}
        config = dataclasses.replace(config, pool_history=grown_pool(saved, config, checkpoint))
        model = seismic_model(config.model)
        survey = read_survey(config.survey, degrade=config.degrade, seed=config.seed)
        _check_channels(model, survey)
        if notes:
            notes(f"Survey {config.survey}: {survey.describe()}.")
            if config.pool_history != saved.get("pool_history"):
                notes(f"The pool grows from {saved['pool']} to {config.pool} training problems at step "
                      f"{config.pool_history[-1][0]} (the first {saved['pool']} stay the same).")
        return _run(config, model, survey, out, checkpoint, progress, stop_after)


def _run(config: SurveyAdaptConfig, model, survey: Survey, out: Path, checkpoint, progress: bool,
         stop_after: int | None) -> SurveyAdaptResult:
    from ganrecon.training.adaptation import SelfSupervisedAdaptation
    from ganrecon.training.loop import LoopOptions, RunLoop
    from ganrecon.training.progress import FractionBarProgress
    from ganrecon.training.rundir import RunFiles

    provenance = {"adapted_from": model.name, "adapted_from_ref": config.model, "survey": config.survey,
                  "survey_gathers": len(survey.gathers), "survey_degrade": config.degrade}
    if config.pool:
        provenance["adapt_pool"] = config.pool  # the training problems were this many, fixed
    if config.pool_history:
        provenance["adapt_pool_history"] = config.pool_history  # ... after fewer in the steps before
    strategy = SelfSupervisedAdaptation(model, survey.pairs(), hide=config.hide, holdout=config.holdout,
                                        lr=config.lr, batch_size=config.batch_size, seed=config.seed,
                                        provenance=provenance, precision=config.precision,
                                        lr_decay=config.lr_decay, steps=config.steps, pool=config.pool,
                                        prior_cache=out / PRIOR_CACHE)
    options = LoopOptions(steps=config.steps, seed=strategy.seed, run_dir=out, max_seconds=config.seconds,
                          eval_every=config.eval_every, checkpoint_every=config.eval_every,
                          log_every=min(10, config.eval_every), stop_after=stop_after,
                          progress=FractionBarProgress("adapting") if progress else None)
    result = RunLoop(strategy, options, RunFiles(out, config)).run(checkpoint)
    return SurveyAdaptResult(out, len(survey.gathers), survey.describe(), result.first_step, result.step,
                             result.seconds, strategy.start_score, strategy.best_score, strategy.best_step,
                             config.pool_history)


def _check_channels(model, survey: Survey) -> None:
    channels = {int(g.observed.shape[0]) for g in survey.gathers}
    if channels != {model.channels}:
        raise GanreconError(f"The survey's gathers have {', '.join(map(str, sorted(channels)))} channel(s) but the "
                            f"model {model.name} takes {model.channels}.")


def _absolute(ref: str) -> str:
    """An existing path as an absolute one (a resumed run may start elsewhere); specs and names as given."""
    path = Path(ref).expanduser()
    return str(path.resolve()) if path.exists() else ref
