"""Training: one run loop (`loop`) and the strategies it runs (`conditional`, `unconditional`, `adaptation`).

    from ganrecon.training import train, train_from_files, TrainResult, TrainingDiverged, TrainingInterrupted

`train(config, run_dir)` picks the strategy the task record names. A strategy supplies `step(step, rng) ->
values` and `validate()`; the loop owns the lock, signals, exact resume, time budget, progress, logging,
checkpoints, divergence stop and DDP (see `ganrecon.training.strategy` for the interface).
"""

from ganrecon.config import TrainConfig, load_config
from ganrecon.training.accumulate import init_generator, lineage
from ganrecon.training.api import STRATEGIES, check_config, strategy_for, train, train_from_files
from ganrecon.training.conditional import (
    ConditionalGAN,
    build_models,
    degrade,
    model_meta,
)
from ganrecon.training.data import (
    DIRECTIONS,
    DegradationMix,
    is_paired,
    load_training_data,
    load_union,
    orient,
    paired_observed,
)
from ganrecon.training.distributed import init_distributed_from_env, resolve_device
from ganrecon.training.loop import LoopOptions, RunLoop, TrainingDiverged, TrainingInterrupted, TrainResult
from ganrecon.training.rundir import RunLock, open_tensorboard
from ganrecon.training.steps import ema_decay, lr_factor, step_generator, update_ema
from ganrecon.training.strategy import Strategy
from ganrecon.training.unconditional import UnconditionalGAN, build_latent_models, latent_model_meta

__all__ = [
    "DIRECTIONS", "STRATEGIES", "ConditionalGAN", "DegradationMix", "LoopOptions", "RunLock", "RunLoop", "Strategy",
    "TrainConfig", "TrainResult", "TrainingDiverged", "TrainingInterrupted", "UnconditionalGAN",
    "build_latent_models", "build_models", "check_config", "degrade", "ema_decay",
    "init_distributed_from_env", "init_generator", "is_paired", "lineage", "latent_model_meta", "load_config",
    "load_training_data", "load_union", "lr_factor", "model_meta", "open_tensorboard", "orient", "paired_observed",
    "resolve_device", "step_generator", "strategy_for", "train", "train_from_files", "update_ema",
]
