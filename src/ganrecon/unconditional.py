"""The unconditional GAN trainer (task `latent`): G(z) learns to draw images from noise; `ganrecon.invert` later
searches z to reconstruct degraded images.

It shares the conditional trainer's machinery (TrainConfig, safetensors checkpoints, model bundle, run lock,
log.csv, rich progress, time budget, Ctrl-C/SIGTERM checkpoint) and its rule for exact resume: the batch order
comes from (seed, epoch) and the noise z from (seed, step), so a resumed run ends with the weights of an
uninterrupted one. One process only (the models are small; DDP would not pay on a CPU).

Every checkpoint writes a sample grid (the same fixed z each time, so grids show progress) and, every
`eval_every` steps, validation.csv scores what the generator is for: inversion of the held-out `val` split under
the task's degradation (2 restarts x 100 steps, cheap), next to the task's baselines.
"""

from __future__ import annotations

import copy
import csv
import math
import time
from pathlib import Path

import torch
import torch.distributed as dist

from ganrecon.checkpoints import latest_checkpoint, load_checkpoint, save_bundle, save_checkpoint
from ganrecon.config import TrainConfig, save_config
from ganrecon.errors import GanreconError
from ganrecon.io_utils import atomic_write_json
from ganrecon.losses import discriminator_loss, generator_adversarial_loss
from ganrecon.models.latent import build_latent_discriminator, build_latent_generator
from ganrecon.report import plot_latent_losses, sample_grid
from ganrecon.training import (
    RunLock,
    TrainingDiverged,
    TrainingInterrupted,
    TrainResult,
    _fmt,
    _Progress,
    _signals_to_interrupt,
    _truncate_csv,
    check_config,
    load_training_data,
    lr_factor,
    resolve_device,
    step_generator,
    update_ema,
)

VAL_RESTARTS = 2
VAL_STEPS = 100
SAMPLE_GRID = 8          # an 8 x 8 grid of samples per checkpoint
LOG_FIELDS = ["step", "epoch", "g_loss", "d_loss", "d_real", "d_fake", "lr", "images_per_s", "seconds"]
VAL_FIELDS = ["step", "method", "mse", "mse_missing", "psnr", "ssim", "snr"]


def build_latent_models(config: TrainConfig, channels: int, image_size: tuple[int, int], value_range):
    generator = build_latent_generator(config.generator, channels=channels, image_size=image_size,
                                       value_range=value_range, **config.generator_options)
    discriminator = build_latent_discriminator(config.discriminator, channels=channels, image_size=image_size,
                                               **config.discriminator_options)
    return generator, discriminator


def latent_model_meta(config: TrainConfig, generator, train_set, step: int, seconds: float) -> dict:
    """model.json of an unconditional bundle: how to rebuild G and what data it draws."""
    return {
        "kind": "unconditional",
        "task": config.task,
        "generator": config.generator,
        "generator_options": dict(config.generator_options, z_dim=int(generator.z_dim)),
        "z_dim": int(generator.z_dim),
        "image_size": [int(s) for s in train_set.images.shape[-2:]],
        "channels": int(train_set.images.shape[1]),
        "value_range": list(train_set.value_range),
        "scale": 1,
        "discriminator": config.discriminator,
        "data": config.data,
        "degrade": config.degrade,
        "steps": step,
        "train_seconds": round(seconds, 1),
    }


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The image order of one epoch: a pure function of (seed, epoch)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def train_unconditional(config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
                        stop_after: int | None = None) -> TrainResult:
    """Train (or resume) an unconditional GAN into run_dir; `stop_after` ends the call early, as if killed."""
    run_dir = Path(run_dir)
    check_config(config)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        raise GanreconError("The unconditional (latent) trainer runs on one process; start it without torchrun.")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    with RunLock(run_dir):
        checkpoint = latest_checkpoint(run_dir) if resume else None
        if resume and checkpoint is None:
            print(f"No checkpoint in {run_dir}; starting from step 0.")
        if not resume and latest_checkpoint(run_dir) is not None:
            raise GanreconError(f"{run_dir} already holds a training run; pass --resume to continue it or "
                                "choose another --out.")
        return _train(config, run_dir, checkpoint, device, progress, stop_after)


def _train(config, run_dir, checkpoint, device, progress, stop_after) -> TrainResult:
    from ganrecon.baselines import applicable_baselines, run_baseline
    from ganrecon.degrade import parse_degradation
    from ganrecon.invert import invert
    from ganrecon.metrics import image_metrics, summarise
    from ganrecon.tasks import TASKS

    train_set, val_set = load_training_data(config)
    value_range = train_set.value_range
    channels, image_size = int(train_set.images.shape[1]), tuple(train_set.images.shape[-2:])
    generator, discriminator = build_latent_models(config, channels, image_size, value_range)
    generator.to(device)
    discriminator.to(device)
    ema = copy.deepcopy(generator).eval().requires_grad_(False) if config.ema > 0 else None
    lr_d = config.lr_d if config.lr_d is not None else config.lr
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=(config.beta1, config.beta2))
    start_step, elapsed_before = 0, 0.0
    if checkpoint is not None:
        meta = load_checkpoint(checkpoint, generator=generator, discriminator=discriminator, ema=ema,
                               opt_g=opt_g, opt_d=opt_d)
        start_step, elapsed_before = int(meta["step"]), float(meta.get("seconds", 0.0))

    z_dim = int(generator.z_dim)
    fixed_z = torch.randn(SAMPLE_GRID ** 2, z_dim, generator=torch.Generator().manual_seed(config.seed + 777))
    n_train = len(train_set.images)
    batches_per_epoch = n_train // config.batch_size

    # held-out validation: inversion under the task's degradation, and the task's baselines, computed once
    val_clean = val_set.images
    val_degradation = parse_degradation(config.val_degrade or config.degrade_list()[0])
    val_obs, val_mask = val_degradation(val_clean, value_range=value_range,
                                        generator=torch.Generator().manual_seed(config.seed + 12345))
    wanted = set(TASKS[config.task].baselines) if config.task in TASKS else set()
    baseline_scores = {}
    for b in applicable_baselines(val_degradation, value_range):
        if b.name in wanted:
            est = run_baseline(b.name, val_obs, val_mask, value_range=value_range)
            baseline_scores[b.name] = summarise(image_metrics(est, val_clean, val_mask, value_range))

    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    log_path, val_path = run_dir / "log.csv", run_dir / "validation.csv"
    _truncate_csv(log_path, LOG_FIELDS, start_step)
    _truncate_csv(val_path, VAL_FIELDS, start_step)

    def current() -> torch.nn.Module:
        return ema if ema is not None else generator

    def validate(step: int) -> dict:
        result = invert(current(), val_obs.to(device), val_mask.to(device), restarts=VAL_RESTARTS, steps=VAL_STEPS,
                        seed=config.seed)
        scores = {"inversion": summarise(image_metrics(result.estimate.cpu(), val_clean, val_mask, value_range)),
                  **baseline_scores}
        with open(val_path, "a", newline="") as fh:
            writer = csv.writer(fh)
            for method, s in scores.items():
                writer.writerow([step, method] + [_fmt(s.get(k)) for k in VAL_FIELDS[2:]])
        return scores

    def checkpoint_now(step: int, seconds: float) -> None:
        save_checkpoint(run_dir, step, generator=generator, discriminator=discriminator, ema=ema, opt_g=opt_g,
                        opt_d=opt_d, extra={"seconds": seconds, "world_size": 1}, keep=config.keep_checkpoints)
        save_bundle(run_dir / "model", current(), latent_model_meta(config, generator, train_set, step, seconds))
        model = current()
        was_training = model.training
        model.eval()
        with torch.no_grad():
            samples = model(fixed_z.to(device)).cpu()
        model.train(was_training)
        sample_grid(samples, run_dir / "samples" / f"step_{step:07d}.png", value_range, title=f"step {step}")

    generator.train()
    discriminator.train()
    step = start_step
    last_scores: dict = {}
    t0 = time.perf_counter()
    window_t, window_images = t0, 0
    last_good = start_step
    order, order_epoch = None, -1
    finished_early = False
    bar = _Progress(config.steps, start_step, enabled=progress)
    stop_requested: list[int] = []  # Ctrl-C / SIGTERM, acted on between steps so no half-done step is saved
    try:
        with _signals_to_interrupt(stop_requested), bar:
            while step < config.steps:
                if stop_requested:
                    raise KeyboardInterrupt
                if stop_after is not None and step - start_step >= stop_after:
                    break
                if config.max_seconds and elapsed_before + time.perf_counter() - t0 > config.max_seconds:
                    finished_early = True
                    break
                epoch, b = divmod(step, batches_per_epoch)
                if epoch != order_epoch:
                    order, order_epoch = epoch_order(n_train, config.seed, epoch), epoch
                real = train_set.images[order[b * config.batch_size:(b + 1) * config.batch_size]].to(device)
                z = torch.randn(config.batch_size, z_dim, generator=step_generator(config.seed, step)).to(device)
                for group in opt_g.param_groups:
                    group["lr"] = config.lr * lr_factor(config.lr_decay, step, config.steps)
                for group in opt_d.param_groups:
                    group["lr"] = lr_d * lr_factor(config.lr_decay, step, config.steps)

                fake = generator(z)
                opt_d.zero_grad(set_to_none=True)
                real_logits = discriminator(real)
                fake_logits = discriminator(fake.detach())
                d_loss = discriminator_loss(config.adversarial, real_logits, fake_logits)
                d_loss.backward()
                opt_d.step()

                opt_g.zero_grad(set_to_none=True)
                discriminator.requires_grad_(False)
                g_loss = generator_adversarial_loss(config.adversarial, discriminator(fake))
                discriminator.requires_grad_(True)
                if not (math.isfinite(g_loss.item()) and math.isfinite(d_loss.item())):
                    raise TrainingDiverged(
                        f"Training diverged at step {step} (generator loss {g_loss.item()}, discriminator loss "
                        f"{d_loss.item()}); the last good checkpoint is step {last_good} in {run_dir}: lower lr "
                        "and resume.")
                g_loss.backward()
                opt_g.step()
                if ema is not None:
                    update_ema(ema, generator, config.ema)

                step += 1
                window_images += config.batch_size
                if step % config.log_every == 0 or step == config.steps:
                    now = time.perf_counter()
                    ips = window_images / max(now - window_t, 1e-9)
                    window_t, window_images = now, 0
                    d_real = float(torch.sigmoid(real_logits.detach()).mean())
                    d_fake = float(torch.sigmoid(fake_logits.detach()).mean())
                    row = [step, epoch, g_loss.item(), d_loss.item(), d_real, d_fake, opt_g.param_groups[0]["lr"],
                           ips, elapsed_before + now - t0]
                    with open(log_path, "a", newline="") as fh:
                        csv.writer(fh).writerow([_fmt(v) for v in row])
                    bar.update(step, g=g_loss.item(), d=d_loss.item(), ips=ips)
                if step % config.eval_every == 0 or step == config.steps:
                    last_scores = validate(step)
                    bar.note(_validation_line(step, last_scores))
                if step % config.checkpoint_every == 0 or step == config.steps:
                    checkpoint_now(step, elapsed_before + time.perf_counter() - t0)
                    last_good = step
    except KeyboardInterrupt:
        if step > last_good:
            checkpoint_now(step, elapsed_before + time.perf_counter() - t0)
        raise TrainingInterrupted(f"Training stopped at step {step}; a checkpoint was saved in {run_dir}, "
                                  "continue with --resume.") from None
    seconds = elapsed_before + time.perf_counter() - t0
    if finished_early:
        last_scores = validate(step)
        bar.note(_validation_line(step, last_scores) + " (time budget reached)")
        checkpoint_now(step, seconds)
    if step == config.steps or finished_early:
        plot_latent_losses(log_path, run_dir / "losses.png")
        atomic_write_json(run_dir / "summary.json", {"step": step, "seconds": round(seconds, 1),
                                                     "validation": last_scores})
    return TrainResult(run_dir, step, seconds, last_scores, current())


def _validation_line(step: int, scores: dict) -> str:
    inv = scores.get("inversion", {})
    text = f"step {step}: inversion missing-region MSE {inv.get('mse_missing', float('nan')):.5f}"
    others = [(k, v.get("mse_missing", float("nan"))) for k, v in scores.items() if k != "inversion"]
    if others:
        name, value = min(others, key=lambda kv: kv[1])
        text += f" | best baseline {name} {value:.5f}"
    return text


# --------------------------------------------------------------------------------------------------- figures
