"""The unconditional GAN strategy (task `latent`): G(z) learns to draw images from noise; `ganrecon.invert` later
searches z to reconstruct degraded images.

The batch order comes from (seed, epoch) and the noise z from the step's stream, so a resumed run ends with the
weights of an uninterrupted one. One process only (the models are small; DDP would not pay on a CPU). Every
checkpoint writes a sample grid (the same fixed z each time, so grids show progress) and, every `eval_every`
steps, validation.csv scores what the generator is for: inversion of the held-out `val` split under the task's
degradation (2 restarts x 100 steps, cheap), next to the task's baselines.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganrecon.checkpoints import save_bundle
from ganrecon.config import TrainConfig
from ganrecon.errors import GanreconError
from ganrecon.losses import discriminator_loss, generator_adversarial_loss
from ganrecon.models.latent import build_latent_discriminator, build_latent_generator
from ganrecon.training.accumulate import init_generator, lineage
from ganrecon.training.augment import augment_batch, check_augment
from ganrecon.training.data import load_training_data
from ganrecon.training.gan import GANStrategy
from ganrecon.training.validation import missing_mse_line, score_baselines

VAL_RESTARTS = 2
VAL_STEPS = 100
VAL_STREAM = 12345       # offset of the validation batch's degradation seed from the run's seed
SAMPLE_STREAM = 777      # offset of the fixed z of the sample grids
SAMPLE_GRID = 8          # an 8 x 8 grid of samples per checkpoint


def build_latent_models(config: TrainConfig, channels: int, image_size: tuple[int, int], value_range):
    generator = build_latent_generator(config.generator, channels=channels, image_size=image_size,
                                       value_range=value_range, **config.generator_options)
    discriminator = build_latent_discriminator(config.discriminator, channels=channels, image_size=image_size,
                                               **config.discriminator_options)
    return generator, discriminator


def latent_model_meta(config: TrainConfig, generator, train_set, step: int, seconds: float) -> dict:
    """model.json of an unconditional bundle: how to rebuild G and what data it draws, and the steps and seconds
    behind it (this run's, and cumulative over the `init:` chain)."""
    before_steps, before_seconds = lineage(config.init)
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
        "init": config.init,
        "steps": step,
        "train_seconds": round(seconds, 1),
        "total_steps": before_steps + step,
        "total_train_seconds": round(before_seconds + seconds, 1),
        "threads": config.threads or torch.get_num_threads(),  # what it ran on, where the config left it open
    }


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The image order of one epoch: a pure function of (seed, epoch)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


class UnconditionalGAN(GANStrategy):
    kind = "unconditional"
    log_fields = ("epoch", "g_loss", "d_loss", "d_real", "d_fake", "lr")

    def __init__(self, config: TrainConfig, device: torch.device, *, resuming: bool = False,
                 name: str = "model"):
        from ganrecon.degrade import parse_degradation

        super().__init__(config, device)
        if config.echo != 1:
            raise GanreconError("echo reuses degraded examples of a conditional model; an unconditional generator "
                                "learns from clean images. Use echo: 1.")
        self.train_set, val_set = load_training_data(config)
        self.value_range = self.train_set.value_range
        channels, image_size = int(self.train_set.images.shape[1]), tuple(self.train_set.images.shape[-2:])
        check_augment(config.augment, image_size, paired=False)
        generator, discriminator = build_latent_models(config, channels, image_size, self.value_range)
        if config.init and not resuming:  # training accumulates: G from a bundle, D learns afresh against it
            init_generator(generator, config.init, widen=config.init_widen)
        self.init_optimisers(generator.to(device), discriminator.to(device))
        self.z_dim = int(generator.z_dim)
        self.fixed_z = torch.randn(SAMPLE_GRID ** 2, self.z_dim,
                                   generator=torch.Generator().manual_seed(config.seed + SAMPLE_STREAM))
        self.batches_per_epoch = len(self.train_set.images) // config.batch_size
        self.order, self.order_epoch = None, -1
        # held-out validation: inversion under the task's degradation, next to the task's baselines
        self.val_clean = val_set.images
        specs = config.val_degrade_list()
        if len(specs) > 1:
            raise GanreconError("Latent training validates inversion under one degradation: give val_degrade one "
                                "spec, not a list.")
        val_degradation = parse_degradation(specs[0])
        self.val_obs, self.val_mask = val_degradation(self.val_clean, value_range=self.value_range,
                                                      generator=torch.Generator().manual_seed(config.seed + VAL_STREAM))
        self.baseline_scores = score_baselines(val_degradation, self.val_obs, self.val_mask, self.val_clean,
                                               self.value_range, task=config.task)  # fixed batch: scored once

    def step(self, step: int, rng: torch.Generator) -> dict:
        c = self.config
        epoch, b = divmod(step, self.batches_per_epoch)
        if epoch != self.order_epoch:
            self.order, self.order_epoch = epoch_order(len(self.train_set.images), c.seed, epoch), epoch
        real = self.train_set.images[self.order[b * c.batch_size:(b + 1) * c.batch_size]].to(self.device)
        z = torch.randn(c.batch_size, self.z_dim, generator=rng).to(self.device)
        real = augment_batch(real, c.augment, rng)  # the images the discriminator sees as real
        self.set_learning_rates(step)

        fake = self.generator(z)
        self.opt_d.zero_grad(set_to_none=True)
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake.detach())
        d_loss = discriminator_loss(c.adversarial, real_logits, fake_logits)
        d_loss.backward()
        self.opt_d.step()

        self.opt_g.zero_grad(set_to_none=True)
        self.discriminator.requires_grad_(False)
        g_loss = generator_adversarial_loss(c.adversarial, self.discriminator(fake))
        self.discriminator.requires_grad_(True)
        g_loss.backward()
        self.opt_g.step()
        self.update_ema(step)
        return {"epoch": epoch, "g_loss": g_loss.item(), "d_loss": d_loss.item(),
                "d_real": float(torch.sigmoid(real_logits.detach()).mean()),
                "d_fake": float(torch.sigmoid(fake_logits.detach()).mean()),
                "lr": self.opt_g.param_groups[0]["lr"]}

    def validate(self, step: int) -> dict:
        from ganrecon.invert import invert
        from ganrecon.metrics import image_metrics, summarise

        result = invert(self.model, self.val_obs.to(self.device), self.val_mask.to(self.device),
                        restarts=VAL_RESTARTS, steps=VAL_STEPS, seed=self.config.seed,
                        estimate="best")  # the generator's own fit, comparable with earlier runs' curves
        estimate = result.estimate.cpu()
        return {"inversion": summarise(image_metrics(estimate, self.val_clean, self.val_mask, self.value_range)),
                **self.baseline_scores}

    def save(self, run_dir: Path, step: int, seconds: float) -> None:
        from ganrecon.report import sample_grid

        model = self.model
        save_bundle(run_dir / "model", model, latent_model_meta(self.config, self.generator, self.train_set, step,
                                                                seconds))
        was_training = model.training
        model.eval()
        with torch.no_grad():
            samples = model(self.fixed_z.to(self.device)).cpu()
        model.train(was_training)
        sample_grid(samples, run_dir / "samples" / f"step_{step:07d}.png", self.value_range, title=f"step {step}")

    def write_figures(self, run_dir: Path) -> None:
        from ganrecon.report import plot_latent_losses

        plot_latent_losses(run_dir / "log.csv", run_dir / "losses.png")

    def validation_line(self, step: int, scores: dict) -> str:
        return missing_mse_line(step, scores, "inversion")
