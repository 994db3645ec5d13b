"""The one conditional GAN trainer shared by every task.

The discriminator judges (observed, candidate) pairs; the generator minimises
`content_weight * content + adversarial_weight * adversarial`. Everything that makes a step random (batch order,
masks, noise, dropout) is derived from the seed and the step number, so a run resumed from a checkpoint ends with
exactly the weights of an uninterrupted one. The same code runs on one process or under
`torchrun --nproc_per_node=N` (gloo on CPU, NCCL on GPUs): each rank takes its shard of every batch, gradients are
averaged by DistributedDataParallel, and only rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import fcntl
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from ganrecon.checkpoints import latest_checkpoint, load_checkpoint, save_bundle, save_checkpoint
from ganrecon.config import TrainConfig, load_config, save_config
from ganrecon.errors import GanreconError
from ganrecon.io_utils import atomic_write_json
from ganrecon.losses import PerceptualLoss, content_loss, discriminator_loss, generator_adversarial_loss
from ganrecon.models import build_discriminator, build_generator
from ganrecon.models.layers import normalise_by_observed


class TrainingDiverged(GanreconError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(GanreconError):
    """Ctrl-C or SIGTERM: a checkpoint was saved first."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    seconds: float
    last_validation: dict
    generator: torch.nn.Module | None = None   # the trained weights (EMA copy when enabled), for notebooks


# --------------------------------------------------------------------------------------------------- helpers


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if dist.is_available() and dist.is_initialized() and torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise GanreconError(f"Unknown device {name!r}; use auto, cpu or cuda.") from None


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The RNG for one step's degradation: a pure function of (seed, step, rank), hence exact resume."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 7919 + rank) % (2**63 - 1))


def lr_factor(kind: str, step: int, steps: int) -> float:
    if kind == "none":
        return 1.0
    if kind == "linear":  # pix2pix: constant for the first half, then linearly to zero
        half = steps // 2
        return 1.0 if step < half else max(0.0, 1.0 - (step - half) / max(steps - half, 1))
    raise GanreconError(f"Unknown lr_decay {kind!r}; use none or linear.")


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def apply_consistency(estimate: torch.Tensor, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Keep what was observed: the output equals the input wherever the mask says the value is known."""
    if estimate.shape != observed.shape:
        return estimate
    return mask * observed + (1.0 - mask) * estimate


class DegradationMix:
    """One or several degradation specs (so a model can learn several noise levels); each batch draws one, or with
    `per_image` each image does. Per image matters for BatchNorm: with one level per batch the batch statistics
    are those of that level, while the running averages used in eval mode are a blend of all levels, so the
    model is evaluated with normalisation it was never trained with."""

    def __init__(self, specs: list[str], per_image: bool = False):
        from ganrecon.degrade import parse_degradation

        if not specs:
            raise GanreconError("At least one degradation spec is needed.")
        self.parts = [parse_degradation(s) for s in specs]
        self.per_image = bool(per_image)

    @property
    def scale(self) -> int:
        scales = {p.scale for p in self.parts}
        if len(scales) != 1:
            raise GanreconError("All degradations of one run must share the same downsampling factor.")
        return scales.pop()

    def __call__(self, clean, *, value_range, generator):
        if len(self.parts) == 1:
            return self.parts[0](clean, value_range=value_range, generator=generator)
        if not self.per_image:
            i = int(torch.randint(len(self.parts), (1,), generator=generator))
            return self.parts[i](clean, value_range=value_range, generator=generator)
        choice = torch.randint(len(self.parts), (len(clean),), generator=generator)
        groups = [(choice == i).nonzero().flatten() for i in range(len(self.parts))]
        outputs = [part(clean[idx], value_range=value_range, generator=generator)
                   for part, idx in zip(self.parts, groups) if len(idx)]
        back = torch.cat(groups).argsort()  # the images' original order
        return torch.cat([o for o, _ in outputs])[back], torch.cat([m for _, m in outputs])[back]


def is_paired(images) -> bool:
    """Whether an image set brings its own observed partners (`paired:`, `aligned:`) in meta["observed"]."""
    return isinstance(images.meta.get("observed"), torch.Tensor)


def paired_observed(images, scale: int) -> torch.Tensor | None:
    """The given low-resolution inputs of a paired data set (`paired:LOWDIR:HIGHDIR`, meta["observed"]), checked
    against the degradation's scale; None for ordinary data, which is degraded on the fly."""
    if not is_paired(images):
        return None
    observed = images.meta["observed"]
    found = images.images.shape[-1] // observed.shape[-1]
    if found != scale:
        raise GanreconError(f"The paired data are x{found} pairs but the degradation's scale is {scale}; "
                            f"set degrade to down:{found}.")
    return observed


DIRECTIONS = ("AtoB", "BtoA")


def orient(observed: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor, direction: str):
    """pix2pix's --direction. A pair is (A, B) = (observed, clean): the degraded image (or the first folder of
    `paired:`, the left half of `aligned:`) and its clean partner. AtoB learns A -> B (restoration); BtoA learns
    B -> A, e.g. clean -> turbulent to synthesise distortion. Then every target pixel is known: mask all ones."""
    if direction == "AtoB":
        return observed, clean, mask
    if observed.shape != clean.shape:
        raise GanreconError("direction BtoA needs pairs of the same size (not a downsampling degradation).")
    return clean, observed, torch.ones_like(clean)


class RunLock:
    """An exclusive lock on a run directory, so two trainings cannot interleave their checkpoints."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self.handle = None
        self.created_dir = False

    def __enter__(self):
        self.created_dir = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise GanreconError(
                f"Another training is already using {self.path.parent}; wait for it or choose another --out.") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
        if self.created_dir and [p.name for p in self.path.parent.iterdir()] == [".lock"]:
            # a run that failed before writing anything (bad data spec, ...) leaves no empty folder behind
            self.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()


@contextlib.contextmanager
def _signals_to_interrupt(deferred: list | None = None):
    """Turn SIGTERM into KeyboardInterrupt so a killed-politely run saves a checkpoint like Ctrl-C does.

    With a `deferred` list, Ctrl-C and SIGTERM are only recorded in it and the loop stops at the next step
    boundary: a KeyboardInterrupt raised mid-step would checkpoint BatchNorm statistics, EMA or Adam updates of
    a half-done step, and the resumed run would differ from an uninterrupted one. A second signal stops at once.
    """
    def handler(signum, frame):
        if deferred is None or deferred:
            raise KeyboardInterrupt
        deferred.append(signum)

    signals = (signal.SIGTERM,) if deferred is None else (signal.SIGTERM, signal.SIGINT)
    try:
        previous = {s: signal.signal(s, handler) for s in signals}
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# --------------------------------------------------------------------------------------------------- setup


def build_models(config: TrainConfig, channels: int, image_size: tuple[int, int], value_range, scale: int = 1):
    gen_options = dict(config.generator_options)
    if config.generator == "srresnet":
        gen_options.setdefault("scale", scale)
    generator = build_generator(config.generator, channels=channels, image_size=image_size,
                                value_range=value_range, **gen_options)
    discriminator = build_discriminator(config.discriminator, channels=channels, image_size=image_size,
                                        **config.discriminator_options)
    return generator, discriminator


def init_generator(generator: torch.nn.Module, ref: str) -> None:
    """Fine-tuning: start from a trained generator's weights (same architecture; float16 bundles are cast back)."""
    from ganrecon.bundles import bundle_path, load_weights_into
    from ganrecon.checkpoints import read_bundle

    path = bundle_path(ref)
    load_weights_into(generator, read_bundle(path)[0], path,
                      "init: the weights in {weights} do not fit this config's generator ({problem}); use the "
                      "generator and generator_options they were trained with.")


def load_training_data(config: TrainConfig):
    """Training and validation image sets; validation is a held-out split, never seen in training. A list of
    data specs trains on their union (e.g. clean and field-like seismic gathers); validation then holds an
    equal share of each."""
    from ganrecon.specs import parse_size

    patch = parse_size(config.patch, "patch") if config.patch else None
    train = load_union(config.data, "train", config, config.limit, patch)
    val = load_union(config.val_data or config.data, "val", config, config.val_images, patch)
    if len(train.images) < config.batch_size:
        raise GanreconError(
            f"The training set has {len(train.images)} images, fewer than the batch size {config.batch_size}.")
    return train, val


def load_union(specs: str | list[str], split: str, config: TrainConfig, limit: int | None, patch):
    """One ImageSet from one spec or the union of several (same value range and image size; `limit` is shared
    out equally)."""
    from ganrecon.data import ImageSet, load_dataset

    specs = [specs] if isinstance(specs, str) else list(specs)
    share = None if limit is None else max(1, limit // len(specs))
    sets = [load_dataset(spec, split=split, root=config.data_root, limit=share, seed=config.seed, patch=patch,
                         download=config.download) for spec in specs]
    if len(sets) == 1:
        return sets[0]
    first = sets[0]
    for spec, other in zip(specs[1:], sets[1:]):
        if tuple(other.value_range) != tuple(first.value_range) or other.images.shape[1:] != first.images.shape[1:]:
            raise GanreconError(f"The data specs of one run must give images of one size and value range: {specs[0]} "
                                f"gives {tuple(first.images.shape[1:])} in {tuple(first.value_range)}, {spec} "
                                f"{tuple(other.images.shape[1:])} in {tuple(other.value_range)}.")
        if is_paired(first) or is_paired(other):
            raise GanreconError("Paired data sets cannot be combined with other data in one run.")
    scales = [s.scale for s in sets]
    scale = torch.cat([torch.as_tensor(x) for x in scales]) if all(x is not None for x in scales) else None
    return ImageSet(torch.cat([s.images for s in sets]), first.value_range, "+".join(s.name for s in sets), scale,
                    {"union": specs})


def model_meta(config: TrainConfig, train, scale: int, step: int, seconds: float) -> dict:
    """What a model bundle needs to be rebuilt and fed correctly, plus provenance."""
    return {
        "task": config.task,
        "generator": config.generator,
        "generator_options": dict(config.generator_options, **({"scale": scale} if config.generator == "srresnet"
                                                              else {})),
        "channels": int(train.images.shape[1]),
        "image_size": [int(s) for s in train.images.shape[-2:]],
        "value_range": list(train.value_range),
        "scale": scale,
        "data": config.data,
        "init": config.init,
        "degrade": config.degrade,
        "data_consistency": config.data_consistency,
        "direction": config.direction,
        "steps": step,
        "train_seconds": round(seconds, 1),
    }


# --------------------------------------------------------------------------------------------------- training


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


def train(config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
          stop_after: int | None = None) -> TrainResult:
    """Train (or resume) one run into run_dir. `stop_after` ends the call after that many steps of this call,
    as if killed, which is how tests exercise resume."""
    if config.task == "latent":  # unconditional GAN: its own loop on the same machinery
        from ganrecon.unconditional import train_unconditional

        return train_unconditional(config, run_dir, resume=resume, progress=progress, stop_after=stop_after)
    run_dir = Path(run_dir)
    check_config(config)
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    if config.batch_size % world:
        raise GanreconError(f"batch_size {config.batch_size} must be divisible by the {world} processes.")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    # denormal floats (e.g. Adam moments of vanishing gradients) make CPU kernels orders of magnitude slower
    torch.set_flush_denormal(True)

    lock = RunLock(run_dir) if rank == 0 else contextlib.nullcontext()
    try:
        with lock:
            checkpoint = latest_checkpoint(run_dir) if resume else None
            if resume and checkpoint is None and rank == 0:
                print(f"No checkpoint in {run_dir}; starting from step 0.")
            if not resume and latest_checkpoint(run_dir) is not None:
                raise GanreconError(f"{run_dir} already holds a training run; pass --resume to continue it or "
                                    "choose another --out.")
            return _train(config, run_dir, checkpoint, device, rank, world, distributed, progress, stop_after)
    finally:  # flush-to-zero is process-wide (numpy too): give the caller back IEEE floats
        torch.set_flush_denormal(False)


def _train(config, run_dir, checkpoint, device, rank, world, distributed, progress, stop_after) -> TrainResult:
    from ganrecon.baselines import applicable_baselines
    from ganrecon.metrics import image_metrics, summarise

    train_set, val_set = load_training_data(config)
    degradation = DegradationMix(config.degrade_list(), per_image=config.mix_per_image)
    scale = degradation.scale
    value_range = train_set.value_range
    train_paired = paired_observed(train_set, scale)
    perceptual = PerceptualLoss(value_range).to(device) if config.perceptual_weight > 0 else None
    channels, image_size = train_set.images.shape[1], tuple(train_set.images.shape[-2:])

    generator, discriminator = build_models(config, channels, image_size, value_range, scale)
    if config.init and checkpoint is None:  # on resume the checkpoint already holds the fine-tuned weights
        init_generator(generator, config.init)
    generator.to(device)
    discriminator.to(device)
    use_channels_last = config.channels_last and device.type == "cpu" and config.generator != "linear"
    if use_channels_last:
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(generator).eval().requires_grad_(False) if config.ema > 0 else None

    lr_d = config.lr_d if config.lr_d is not None else config.lr
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=(config.beta1, config.beta2))

    start_step, elapsed_before = 0, 0.0
    best = {"psnr": float("-inf"), "step": None}
    if checkpoint is not None:
        meta = load_checkpoint(checkpoint, generator=generator, discriminator=discriminator, ema=ema,
                               opt_g=opt_g, opt_d=opt_d)
        start_step, elapsed_before = int(meta["step"]), float(meta.get("seconds", 0.0))
        best.update(meta.get("best", {}))

    g_model, d_model = generator, discriminator
    if distributed:
        ids = [device.index] if device.type == "cuda" else None
        g_model = DistributedDataParallel(generator, device_ids=ids)
        d_model = DistributedDataParallel(discriminator, device_ids=ids)

    amp_dtype = (torch.float16 if device.type == "cuda" else torch.bfloat16) if config.amp else None
    scaler = torch.amp.GradScaler("cuda", enabled=bool(config.amp and device.type == "cuda"))

    def autocast():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=amp_dtype)

    def prepare(t: torch.Tensor) -> torch.Tensor:
        t = t.to(device, non_blocking=True)
        return t.contiguous(memory_format=torch.channels_last) if use_channels_last and t.dim() == 4 else t

    # fixed validation batch and its baselines, computed once
    val_clean = val_set.images
    val_degradation = DegradationMix([config.val_degrade or config.degrade_list()[0]]).parts[0]
    val_obs, val_mask = val_degradation(val_clean, value_range=value_range,
                                        generator=torch.Generator().manual_seed(config.seed + 12345))
    val_paired = paired_observed(val_set, scale)
    if val_paired is not None:
        val_obs, val_mask = val_paired, torch.ones_like(val_paired)
    val_obs, val_clean, val_mask = orient(val_obs, val_clean, val_mask, config.direction)
    signed = value_range[0] < 0
    baseline_scores = {}
    if rank == 0 and config.direction == "AtoB":  # the baselines restore; they have nothing to say about B -> A
        from ganrecon.baselines import run_baseline

        for b in applicable_baselines(val_degradation, value_range):
            if b.name == "fk" and len(val_clean) > 64:
                continue  # FK inversion is slow; the benchmark scripts evaluate it on their own test sets
            est = run_baseline(b.name, val_obs, val_mask, value_range=value_range, scale=scale)
            baseline_scores[b.name] = summarise(image_metrics(est, val_clean, val_mask, value_range))

    sampler = DistributedSampler(range(len(train_set.images)), num_replicas=world, rank=rank, shuffle=True,
                                 seed=config.seed, drop_last=True)
    local_batch = config.batch_size // world
    batches_per_epoch = len(sampler) // local_batch
    if batches_per_epoch == 0:
        raise GanreconError("The training set is too small for this batch size and number of processes.")

    run_dir.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        save_config(config, run_dir / "config.yaml")
    log_path, val_path = run_dir / "log.csv", run_dir / "validation.csv"
    log_fields = ["step", "epoch", "g_loss", "g_content", "g_adv", "d_loss", "lr", "images_per_s", "seconds"]
    val_fields = ["step", "method", "mse", "mse_missing", "psnr", "ssim", "snr"]
    if rank == 0:
        _truncate_csv(log_path, log_fields, start_step)
        _truncate_csv(val_path, val_fields, start_step)

    def validate(step: int, seconds: float) -> dict:
        model = ema if ema is not None else generator
        model.eval()
        parts = []
        with torch.no_grad(), autocast():
            for o, m in zip(val_obs.split(64), val_mask.split(64)):
                o, amp = normalise_by_observed(o) if signed else (o, 1.0)
                parts.append(model(prepare(o), prepare(m)).float().cpu() * amp)
        est = torch.cat(parts)
        generator.train()  # the EMA copy stays in eval mode
        if config.data_consistency:
            est = apply_consistency(est, val_obs, val_mask)
        scores = {"model": summarise(image_metrics(est, val_clean, val_mask, value_range)), **baseline_scores}
        if scores["model"]["psnr"] > best["psnr"]:  # the best-PSNR generator, kept apart from the final one
            best.update(psnr=scores["model"]["psnr"], step=step)
            save_bundle(run_dir / "model-best", model, {**model_meta(config, train_set, scale, step, seconds),
                                                        "selected": f"best validation PSNR {best['psnr']:.2f} dB"})
        with open(val_path, "a", newline="") as fh:
            writer = csv.writer(fh)
            for method, s in scores.items():
                writer.writerow([step, method] + [_fmt(s.get(k)) for k in val_fields[2:]])
        if board is not None:
            for key in ("psnr", "ssim", "snr"):
                board.add_scalars(f"val/{key}", {m: s[key] for m, s in scores.items() if key in s}, step)
        return scores

    def checkpoint_now(step: int, seconds: float) -> None:
        if rank != 0:
            return
        save_checkpoint(run_dir, step, generator=generator, discriminator=discriminator, ema=ema, opt_g=opt_g,
                        opt_d=opt_d, extra={"seconds": seconds, "world_size": world, "best": best},
                        keep=config.keep_checkpoints)
        save_bundle(run_dir / "model", ema if ema is not None else generator,
                    model_meta(config, train_set, scale, step, seconds))

    generator.train()
    discriminator.train()
    step = start_step
    last_scores: dict = {}
    t0 = time.perf_counter()

    def elapsed() -> float:  # training seconds of the whole run, resumed parts included
        return elapsed_before + time.perf_counter() - t0

    window_t, window_images = t0, 0
    last_good = start_step
    order, order_epoch = [], -1
    finished_early = False
    bar = _Progress(config.steps, start_step, enabled=progress and rank == 0)
    stop_requested: list[int] = []  # Ctrl-C / SIGTERM, acted on between steps
    board = open_tensorboard(run_dir) if config.tensorboard and rank == 0 else None
    mid_step = False
    try:
        with _signals_to_interrupt(stop_requested), bar:
            while step < config.steps:
                if stop_after is not None and step - start_step >= stop_after:
                    break
                if _any_rank(bool(stop_requested), distributed):  # any rank signalled: all stop
                    raise KeyboardInterrupt
                if config.max_seconds and _any_rank(elapsed() > config.max_seconds, distributed):
                    finished_early = True
                    break
                mid_step = True
                epoch, b = divmod(step, batches_per_epoch)
                if epoch != order_epoch:
                    sampler.set_epoch(epoch)
                    order, order_epoch = list(iter(sampler)), epoch
                idx = order[b * local_batch:(b + 1) * local_batch]
                clean = train_set.images[idx]
                if train_paired is not None:
                    observed = train_paired[idx]
                    mask = torch.ones_like(observed)
                else:
                    observed, mask = degradation(clean, value_range=value_range,
                                                 generator=step_generator(config.seed, step, rank))
                observed, clean, mask = orient(observed, clean, mask, config.direction)
                if signed:  # the model sees amplitudes scaled by the observed traces, as in use
                    observed, amp = normalise_by_observed(observed)
                    clean = clean / amp
                clean, observed, mask = prepare(clean), prepare(observed), prepare(mask)

                for group in opt_g.param_groups:
                    group["lr"] = config.lr * lr_factor(config.lr_decay, step, config.steps)
                for group in opt_d.param_groups:
                    group["lr"] = lr_d * lr_factor(config.lr_decay, step, config.steps)
                adversarial_on = step >= config.warmup_steps and config.adversarial_weight > 0

                with autocast():
                    fake = g_model(observed, mask)
                fake = fake.float()
                if config.data_consistency:
                    fake = apply_consistency(fake, observed, mask)

                d_loss = torch.zeros(())
                if adversarial_on:
                    opt_d.zero_grad(set_to_none=True)
                    with autocast():
                        logits = d_model(torch.cat([observed, observed]), torch.cat([clean, fake.detach()]))
                    real_logits, fake_logits = logits.float().chunk(2)
                    d_loss = discriminator_loss(config.adversarial, real_logits, fake_logits)
                    scaler.scale(d_loss).backward()
                    scaler.step(opt_d)

                opt_g.zero_grad(set_to_none=True)
                g_content = content_loss(config.content, fake, clean, mask, config.missing_weight)
                if perceptual is not None:
                    g_content = g_content + config.perceptual_weight * perceptual(fake, clean)
                g_adv = torch.zeros(())
                if adversarial_on:
                    discriminator.requires_grad_(False)
                    with autocast():
                        g_adv = generator_adversarial_loss(config.adversarial,
                                                           discriminator(observed, fake).float())
                    discriminator.requires_grad_(True)
                g_loss = config.content_weight * g_content + config.adversarial_weight * g_adv
                if not (math.isfinite(g_loss.item()) and math.isfinite(d_loss.item())):
                    raise TrainingDiverged(
                        f"Training diverged at step {step} (generator loss {g_loss.item()}, discriminator loss "
                        f"{d_loss.item()}); the last good checkpoint is step {last_good} in {run_dir}: lower lr "
                        "or adversarial_weight and resume.")
                scaler.scale(g_loss).backward()
                scaler.step(opt_g)
                scaler.update()
                if ema is not None:  # warm-up: early on the average must not be dominated by the random init
                    update_ema(ema, generator, min(config.ema, (1 + step) / (10 + step)))

                step += 1
                window_images += config.batch_size
                if rank == 0 and step == config.warmup_steps and config.adversarial_weight > 0:
                    # the content-only generator (e.g. SRResNet before SRGAN fine-tuning), kept as its own model
                    save_bundle(run_dir / "model-content", ema if ema is not None else generator,
                                {**model_meta(config, train_set, scale, step, elapsed()), "selected": "content-only phase"})
                if rank == 0 and (step % config.log_every == 0 or step == config.steps):
                    now = time.perf_counter()
                    ips = window_images / max(now - window_t, 1e-9)
                    window_t, window_images = now, 0
                    row = [step, epoch, g_loss.item(), g_content.item(), float(g_adv.detach()), float(d_loss.detach()),
                           opt_g.param_groups[0]["lr"], ips, elapsed_before + now - t0]
                    with open(log_path, "a", newline="") as fh:
                        csv.writer(fh).writerow([_fmt(v) for v in row])
                    if board is not None:
                        for name, value in zip(log_fields[2:], row[2:]):
                            board.add_scalar(f"train/{name}", float(value), step)
                    bar.update(step, g=g_loss.item(), d=float(d_loss.detach()), ips=ips)
                if rank == 0 and (step % config.eval_every == 0 or step == config.steps):
                    last_scores = validate(step, elapsed())
                    bar.note(_validation_line(step, last_scores))
                if step % config.checkpoint_every == 0 or step == config.steps:
                    checkpoint_now(step, elapsed())
                    last_good = step
                mid_step = False
    except KeyboardInterrupt:
        if mid_step:  # a second Ctrl-C inside a step: its state is half-updated, keep the last good checkpoint
            raise TrainingInterrupted(f"Training stopped during step {step}; the checkpoint of step {last_good} in "
                                      f"{run_dir} is kept, continue with --resume.") from None
        if step > last_good:
            checkpoint_now(step, elapsed())
        raise TrainingInterrupted(f"Training stopped at step {step}; a checkpoint was saved in {run_dir}, "
                                  "continue with --resume.") from None
    seconds = elapsed()
    if board is not None:
        board.close()
    if distributed:  # BatchNorm statistics are per rank; DDP syncs them at the next forward, so do it now
        for module in (generator, discriminator, ema):
            for buffer in (module.buffers() if module is not None else []):
                dist.broadcast(buffer, src=0)
    if finished_early:  # the time budget ran out: finish as if the last step had been planned
        if rank == 0:
            last_scores = validate(step, seconds)
            bar.note(_validation_line(step, last_scores) + " (time budget reached)")
        checkpoint_now(step, seconds)
    if rank == 0 and (step == config.steps or finished_early):
        from ganrecon.report import plot_losses

        plot_losses(log_path, run_dir / "losses.png")
        atomic_write_json(run_dir / "summary.json", {"step": step, "seconds": round(seconds, 1),
                                                     "validation": last_scores})
    return TrainResult(run_dir, step, seconds, last_scores, ema if ema is not None else generator)


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
    try:
        return train(config, run_dir, resume=resume, progress=progress)
    finally:
        if started:
            dist.destroy_process_group()


def init_distributed_from_env() -> bool:
    """Under torchrun (WORLD_SIZE > 1) join the process group: NCCL with one GPU per process, else gloo."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True


# --------------------------------------------------------------------------------------------------- output


def open_tensorboard(run_dir: Path):
    """A TensorBoard writer beside the CSV logs, for users who installed the `tensorboard` extra."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise GanreconError("tensorboard: true needs the tensorboard package: pip install 'ganrecon[tensorboard]'.") \
            from None
    return SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))


def _any_rank(flag: bool, distributed: bool) -> bool:
    """True if `flag` holds on any rank, so that every rank takes the same branch (stop, finish early)."""
    value = torch.tensor([1.0 if flag else 0.0])
    if distributed:
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _truncate_csv(path: Path, fields: list[str], start_step: int) -> None:
    """Keep the log rows up to the checkpoint we resume from, so a resumed run's log has no duplicate steps."""
    rows = []
    if start_step > 0 and path.is_file():
        with open(path, newline="") as fh:
            rows = [r for r in csv.reader(fh)][1:]
        rows = [r for r in rows if r and r[0].isdigit() and int(r[0]) <= start_step]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        writer.writerows(rows)


def _validation_line(step: int, scores: dict) -> str:
    model = scores.get("model", {})
    best = max(((k, v) for k, v in scores.items() if k != "model"), key=lambda kv: kv[1].get("psnr", -1e9),
               default=(None, {}))
    text = f"step {step}: model PSNR {model.get('psnr', float('nan')):.2f} dB, SNR {model.get('snr', float('nan')):.2f} dB"
    if best[0]:
        text += f" | best baseline {best[0]} PSNR {best[1].get('psnr', float('nan')):.2f} dB"
    return text


class _Progress:
    """A rich progress bar with G/D losses and images/s; silent when disabled (other ranks, tests)."""

    def __init__(self, total: int, start: int, enabled: bool):
        self.enabled = enabled
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                     TextColumn("{task.fields[info]}"))
            self.task = self.progress.add_task("train", total=total, completed=start, info="")

    def __enter__(self):
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.progress.stop()

    def update(self, step: int, g: float, d: float, ips: float) -> None:
        if self.enabled:
            self.progress.update(self.task, completed=step, info=f"G {g:.4f}  D {d:.4f}  {ips:.0f} img/s")

    def note(self, text: str) -> None:
        if self.enabled:
            self.progress.console.print(text)
