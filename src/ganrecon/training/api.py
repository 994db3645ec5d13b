"""`train`: a TrainConfig and a run directory in, a trained model out. The task record names the strategy
(conditional or unconditional GAN); the run loop does the rest."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from ganrecon.config import TrainConfig, load_config
from ganrecon.errors import GanreconError
from ganrecon.training.conditional import ConditionalGAN, amp_note
from ganrecon.training.data import DIRECTIONS
from ganrecon.training.distributed import (
    init_distributed_from_env,
    leave_process_group,
    rank_and_world,
    resolve_device,
)
from ganrecon.training.loop import LoopOptions, RunLoop, TrainResult
from ganrecon.training.progress import BarProgress
from ganrecon.training.rundir import RunFiles, RunLock, checkpoint_to_resume
from ganrecon.training.unconditional import UnconditionalGAN

STRATEGIES = {"conditional": ConditionalGAN, "unconditional": UnconditionalGAN}


def check_config(config: TrainConfig) -> None:
    """Refuse values that YAML or --set let through but that would crash mid-run (a zero checkpoint interval
    divides by zero at the first step, a non-mapping option set breaks the model builder)."""
    for key in ("generator_options", "discriminator_options"):
        if not isinstance(getattr(config, key), dict):
            raise GanreconError(f"Config key {key!r} must be a mapping such as {{width: 16}}, "
                                f"got {getattr(config, key)!r}.")
    for key, low in (("steps", 1), ("batch_size", 1), ("val_images", 1), ("eval_every", 1),
                     ("checkpoint_every", 1), ("keep_checkpoints", 1), ("log_every", 1), ("warmup_steps", 0),
                     ("seed", 0), ("threads", 1)):
        value = getattr(config, key)
        if value is None and key == "threads":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise GanreconError(f"Config key {key!r} must be a whole number of at least {low}, got {value!r}.")
    if config.direction not in DIRECTIONS:
        raise GanreconError(f"Config key 'direction' must be AtoB or BtoA, got {config.direction!r}.")
    degrade = config.degrade if isinstance(config.degrade, list) else [config.degrade]
    data = config.data if isinstance(config.data, list) else [config.data]
    if not all(isinstance(s, str) for s in degrade + data) or not data or not degrade:
        raise GanreconError("Config keys 'data' and 'degrade' must be spec strings or lists of them.")


def strategy_for(task: str):
    """The strategy class the task record names."""
    from ganrecon.tasks import get_task

    name = get_task(task).strategy
    if name not in STRATEGIES:
        raise GanreconError(f"The task {task} names the strategy {name!r}, which `train` cannot run; "
                            f"it runs {', '.join(STRATEGIES)}.")
    return STRATEGIES[name]


def train(config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
          stop_after: int | None = None) -> TrainResult:
    """Train (or resume) one run into run_dir. `stop_after` ends the call after that many steps of this call,
    as if killed, which is how tests exercise resume."""
    run_dir = Path(run_dir)
    check_config(config)
    strategy_class = strategy_for(config.task)
    rank, world = rank_and_world()
    if world > 1 and not strategy_class.supports_ddp:
        raise GanreconError(f"The {strategy_class.kind} trainer (task {config.task}) runs on one process; start it "
                            "without torchrun.")
    if config.batch_size % world:
        raise GanreconError(f"batch_size {config.batch_size} must be divisible by the {world} processes.")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    note = amp_note(config, device)
    if note and rank == 0:
        print(note, flush=True)
    torch.manual_seed(config.seed)
    # denormal floats (e.g. Adam moments of vanishing gradients) make CPU kernels orders of magnitude slower
    torch.set_flush_denormal(True)
    checkpoint_to_resume(run_dir, resume)  # refused before the lock, so a mistyped --out gets no .lock file
    lock = RunLock(run_dir) if rank == 0 else contextlib.nullcontext()
    try:
        with lock:
            checkpoint = checkpoint_to_resume(run_dir, resume)
            if resume and checkpoint is None and rank == 0:
                print(f"{run_dir} has no checkpoint yet; starting the run again from step 0.", flush=True)
            strategy = strategy_class(config, device, resuming=checkpoint is not None, name=run_dir.name)
            options = LoopOptions(
                steps=config.steps, seed=config.seed, run_dir=run_dir, max_seconds=config.max_seconds,
                eval_every=config.eval_every,
                checkpoint_every=config.checkpoint_every, keep_checkpoints=config.keep_checkpoints,
                log_every=config.log_every, stop_after=stop_after,
                progress=BarProgress(config.steps, 0) if progress and rank == 0 else None)
            files = RunFiles(run_dir, config, tensorboard=config.tensorboard) if rank == 0 else None
            return RunLoop(strategy, options, files).run(checkpoint)
    finally:  # flush-to-zero is process-wide (numpy too): give the caller back IEEE floats
        torch.set_flush_denormal(False)


def train_from_files(config_path: str | None, overrides: list[str], run_dir: str | Path, resume: bool = False,
                     progress: bool = True) -> TrainResult:
    """The CLI's `train`: on --resume the run's saved config is the base, so the run continues as it began."""
    run_dir = Path(run_dir)
    saved = run_dir / "config.yaml"
    if resume and saved.is_file():
        config = load_config(saved, overrides)
    else:
        config = load_config(config_path, overrides)
    started = init_distributed_from_env()
    finished = False
    try:
        result = train(config, run_dir, resume=resume, progress=progress)
        finished = True
        return result
    finally:
        if started:
            leave_process_group(all_finished=finished)
