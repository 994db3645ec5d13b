"""The conditional GAN strategy, shared by every restoration task (traces, superres, translate, denoise).

The discriminator judges (observed, candidate) pairs; the generator minimises
`content_weight * content + adversarial_weight * adversarial`. Batch order comes from (seed, epoch), the
degradation of each batch from the step's stream, so a resumed run ends with exactly the weights of an
uninterrupted one. Under torchrun each rank takes its shard of every batch and DistributedDataParallel averages
the gradients. Validation runs the EMA generator through `ReconstructionModel`, the object `load_model` returns,
so `model-best` is chosen on exactly what ships (normalisation, data consistency, polarity average included).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from ganrecon.checkpoints import save_bundle
from ganrecon.config import TrainConfig
from ganrecon.errors import GanreconError
from ganrecon.losses import (
    PerceptualLoss,
    content_loss,
    discriminator_loss,
    generator_adversarial_loss,
    spectrum_loss,
)
from ganrecon.models import build_discriminator, build_generator
from ganrecon.models.layers import normalise_by_observed
from ganrecon.reconstructor import bf16_native, keep_observed
from ganrecon.training.accumulate import init_generator, lineage
from ganrecon.training.augment import augment_batch, check_augment
from ganrecon.training.data import DegradationMix, load_training_data, orient, paired_observed
from ganrecon.training.distributed import is_distributed, rank_and_world
from ganrecon.training.echo import EchoPool, check_echo
from ganrecon.training.gan import GANStrategy
from ganrecon.training.steps import step_generator
from ganrecon.training.validation import VAL_EXTRA, per_spec_scores, psnr_line, score_baselines

VAL_STREAM = 12345  # offset of the validation batch's degradation seed from the run's seed


def degrade(degradation, clean: torch.Tensor, value_range, generator: torch.Generator):
    """Clean -> (observed, mask): the one place a conditional run degrades images (training batches and the
    validation batch alike)."""
    return degradation(clean, value_range=value_range, generator=generator)


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """Autocast's type for `amp: true`: bf16 on CPUs with bf16 units and on GPUs that have it (the format validated
    on CPU, and no loss scaling between two optimisers), fp16 with a GradScaler on older GPUs, and None (fp32) on a
    CPU without bf16 units, where autocast emulates bf16 in slow reference convolutions (a width-64 U-Net step on
    MNIST took 14x as long as in fp32 on an AMD EPYC without AVX-512)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if bf16_native(device) else None


def amp_note(config: TrainConfig, device: torch.device) -> str | None:
    """The sentence a run prints when `amp: true` falls back to fp32 on this hardware, else None."""
    if not config.amp or amp_dtype(device) is not None:
        return None
    return (f"amp: true asks for bf16 autocast, but this {device.type} has no bf16 units (autocast would emulate "
            "it many times slower than fp32): training in fp32.")


def build_models(config: TrainConfig, channels: int, image_size: tuple[int, int], value_range, scale: int = 1,
                 frames: int = 1):
    """Generator and discriminator of a run. A degradation that downsamples by `scale` needs a generator whose
    `scale` attribute says it upsamples by as much; a burst of `frames` frames, networks that take them all."""
    gen_options = dict(config.generator_options)
    if scale != 1:
        gen_options.setdefault("scale", scale)
    try:
        generator = build_generator(config.generator, channels=channels, image_size=image_size,
                                    value_range=value_range, frames=frames, **gen_options)
    except GanreconError:
        if scale != 1 and "scale" not in config.generator_options:
            raise GanreconError(f"The degradation downsamples by {scale}, but the {config.generator} generator does "
                                "not upsample; use one that does (srresnet).") from None
        raise
    if generator.scale != scale:
        raise GanreconError(f"The {config.generator} generator upsamples by {generator.scale}, but the degradation "
                            f"downsamples by {scale}; make them agree.")
    discriminator = build_discriminator(config.discriminator, channels=channels, image_size=image_size,
                                        frames=frames, **config.discriminator_options)
    return generator, discriminator


def model_meta(config: TrainConfig, train, scale: int, step: int, seconds: float, frames: int = 1,
               device: str = "cpu") -> dict:
    """What a model bundle needs to be rebuilt and fed correctly, plus provenance (steps and seconds of this run,
    and cumulative over the `init:` chain; the device, since a GPU second is not a CPU second; autocast's type,
    since it changes what a step costs)."""
    before_steps, before_seconds = lineage(config.init)
    autocast = amp_dtype(torch.device(device)) if config.amp else None
    return {
        "task": config.task,
        "generator": config.generator,
        "generator_options": dict(config.generator_options, **({"scale": scale} if scale != 1 else {})),
        "channels": int(train.images.shape[1]),
        "image_size": [int(s) for s in train.images.shape[-2:]],
        "value_range": list(train.value_range),
        "scale": scale,
        **({"frames": frames} if frames > 1 else {}),
        "data": config.data,
        "init": config.init,
        "degrade": config.degrade,
        "data_consistency": config.data_consistency,
        "direction": config.direction,
        "steps": step,
        "train_seconds": round(seconds, 1),
        "total_steps": before_steps + step,
        "total_train_seconds": round(before_seconds + seconds, 1),
        "threads": config.threads or torch.get_num_threads(),  # what it ran on, where the config left it open
        **({"echo": config.echo} if config.echo > 1 else {}),
        **({"amp": str(autocast).removeprefix("torch.")} if autocast is not None else {}),
        "device": device,
    }


def diversity_loss(fake: torch.Tensor, fake2: torch.Tensor, target: torch.Tensor, target2: torch.Tensor):
    """Squared log ratio of the spread of two generator draws for the same inputs to the spread of two
    degradation draws of the same images (mean absolute difference over the batch). Mode seeking (Mao et al.,
    2019) pushes the draws apart without limit; matching the degradation's own spread cannot overshoot, and the
    discriminator decides what form the variation takes. Returns (loss, the two spreads for the log)."""
    spread = (fake - fake2).abs().mean()
    reference = (target - target2).abs().mean().detach()
    loss = (torch.log(spread + 1e-4) - torch.log(reference + 1e-4)) ** 2
    return loss, {"spread": float(spread.detach()), "spread_ref": float(reference)}


class ConditionalGAN(GANStrategy):
    kind = "conditional"
    log_fields = ("epoch", "g_loss", "g_content", "g_adv", "d_loss", "lr")
    supports_ddp = True
    divergence_hint = "lower lr or adversarial_weight and resume"

    def __init__(self, config: TrainConfig, device: torch.device, *, resuming: bool = False,
                 name: str = "model"):
        super().__init__(config, device)
        self.name = name
        self.rank, self.world = rank_and_world()
        self.train_set, val_set = load_training_data(config)
        self.degradation = DegradationMix(config.degrade_list(), per_image=config.mix_per_image)
        self.scale = self.degradation.scale
        self.value_range = self.train_set.value_range
        self.signed = self.value_range[0] < 0
        self.train_paired = paired_observed(self.train_set, self.scale)
        check_augment(config.augment, tuple(self.train_set.images.shape[-2:]), self.train_paired is not None)
        if config.diversity_weight > 0:
            self._check_sampler()
        self.perceptual = PerceptualLoss(self.value_range).to(device) if config.perceptual_weight > 0 else None
        self._build(resuming)
        self._prepare_validation(val_set)
        self.sampler = DistributedSampler(range(len(self.train_set.images)), num_replicas=self.world,
                                          rank=self.rank, shuffle=True, seed=config.seed, drop_last=True)
        self.local_batch = config.batch_size // self.world
        self.batches_per_epoch = len(self.sampler) // self.local_batch
        if self.batches_per_epoch == 0:
            raise GanreconError("The training set is too small for this batch size and number of processes.")
        self.order, self.order_epoch = [], -1
        self.echo = check_echo(config.echo, config.diversity_weight > 0)
        self.echo_pool, self.echo_epoch = (EchoPool(self.echo) if self.echo > 1 else None), 0
        if self.echo_pool is not None and hasattr(self.generator, "cache_pool"):
            self.generator.cache_pool(self.echo * self.local_batch)  # each pooled example's prior computed once

    def _check_sampler(self) -> None:
        """diversity_weight needs a generator that samples and a degradation that can be drawn twice."""
        if not self.config.generator_options.get("noise_channels"):
            raise GanreconError("diversity_weight needs a generator that draws noise: set "
                                "generator_options.noise_channels (unet).")
        if self.train_paired is not None:
            raise GanreconError("diversity_weight compares two degradation draws of one image; paired training "
                                "data has only one. Train on clean images and a degradation.")
        self.log_fields = (*type(self).log_fields, "spread", "spread_ref")

    def _build(self, resuming: bool) -> None:
        c, device = self.config, self.device
        channels, image_size = self.train_set.images.shape[1], tuple(self.train_set.images.shape[-2:])
        generator, discriminator = build_models(c, channels, image_size, self.value_range, self.scale,
                                                self.degradation.frames)
        if c.init and not resuming:  # on resume the checkpoint already holds the fine-tuned weights
            init_generator(generator, c.init, widen=c.init_widen)
        generator.to(device)
        discriminator.to(device)
        self.init_optimisers(generator, discriminator)  # the EMA copy keeps the layout load_model gives, below
        self.channels_last = c.channels_last and device.type == "cpu" and not generator.fixed_size
        if self.channels_last:  # parameters keep their identity: the optimisers still hold them
            generator.to(memory_format=torch.channels_last)
            discriminator.to(memory_format=torch.channels_last)
        self.g_model, self.d_model = generator, discriminator
        if is_distributed():
            ids = [device.index] if device.type == "cuda" else None
            self.g_model = DistributedDataParallel(generator, device_ids=ids)
            self.d_model = DistributedDataParallel(discriminator, device_ids=ids)
        self.amp_dtype = amp_dtype(device) if c.amp else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    def _prepare_validation(self, val_set) -> None:
        """Fixed validation batches, one per `val_degrade` spec (each its own degradation stream), and, on rank 0,
        their baseline scores."""
        c = self.config
        specs = c.val_degrade_list()
        val_paired = paired_observed(val_set, self.scale)
        if val_paired is not None and len(specs) > 1:
            raise GanreconError("Paired validation data comes degraded already: val_degrade cannot list several "
                                "degradations for it.")
        self.val_parts, self.val_baselines = {}, {}
        for i, spec in enumerate(specs):
            mix = DegradationMix([spec])
            val_obs, val_mask = degrade(mix, val_set.images, self.value_range,
                                        torch.Generator().manual_seed(c.seed + VAL_STREAM + i))
            if val_paired is not None:
                val_obs, val_mask = val_paired, torch.ones_like(val_paired)
            val_obs, val_clean, val_mask = orient(val_obs, val_set.images, val_mask, c.direction)
            self.val_parts[spec] = (val_obs, val_clean, val_mask)
            if self.rank == 0 and c.direction == "AtoB":  # the baselines restore; nothing to say about B -> A
                self.val_baselines[spec] = score_baselines(mix.parts[0], val_obs, val_mask, val_clean,
                                                           self.value_range, task=c.task)

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def prepare(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(self.device, non_blocking=True)
        return t.contiguous(memory_format=torch.channels_last) if self.channels_last and t.dim() == 4 else t

    def batch(self, step: int, rng: torch.Generator, second_draw: bool = False):
        """This rank's share of the step's batch: (epoch, observed, clean, mask), as the model sees them. With
        `second_draw`, also the target of a second degradation of the same images (what a sampler's draws are
        compared with): (epoch, observed, clean, mask, clean2). With `echo`, drawn from the pool of the last
        fresh batches (training.echo), a fresh one joining it every `echo` steps."""
        if self.echo_pool is None:
            return self.fresh_batch(step, rng, second_draw)
        if not len(self.echo_pool):  # the first step, or a resumed one: the pool as an uninterrupted run had it
            for index in range(max(0, step // self.echo - self.echo + 1), -(-step // self.echo)):
                self.echo_epoch, *fresh = self.fresh_batch(
                    index, step_generator(self.config.seed, index * self.echo, self.rank))
                self.echo_pool.add(*fresh)
        if step % self.echo == 0:
            self.echo_epoch, *fresh = self.fresh_batch(step // self.echo, rng)
            self.echo_pool.add(*fresh)
        return (self.echo_epoch, *(self.prepare(t) for t in self.echo_pool.draw(self.local_batch, rng)))

    def fresh_batch(self, index: int, rng: torch.Generator, second_draw: bool = False):
        """Batch number `index` of the sampler's order, degraded afresh (what `batch` returns without echo)."""
        epoch, b = divmod(index, self.batches_per_epoch)
        if epoch != self.order_epoch:
            self.sampler.set_epoch(epoch)
            self.order, self.order_epoch = list(iter(self.sampler)), epoch
        idx = self.order[b * self.local_batch:(b + 1) * self.local_batch]
        clean = self.train_set.images[idx]
        if self.train_paired is not None:
            observed = self.train_paired[idx]
            mask = torch.ones_like(observed)
        else:
            clean = clean.to(self.device, non_blocking=True)  # degradations run on the model's device
            clean = augment_batch(clean, self.config.augment, rng)
            observed, mask = degrade(self.degradation, clean, self.value_range, rng)
        second = orient(degrade(self.degradation, clean, self.value_range, rng)[0], clean, mask,
                        self.config.direction)[1] if second_draw else None
        observed, clean, mask = orient(observed, clean, mask, self.config.direction)
        if self.signed:  # the model sees amplitudes scaled by the observed traces, as in use
            observed, amp = normalise_by_observed(observed)
            clean = clean / amp
            second = second / amp if second is not None else None
        out = (epoch, self.prepare(observed), self.prepare(clean), self.prepare(mask))
        return (*out, self.prepare(second)) if second_draw else out

    def step(self, step: int, rng: torch.Generator) -> dict:
        c = self.config
        diverse = c.diversity_weight > 0
        epoch, observed, clean, mask, *second = self.batch(step, rng, second_draw=diverse)
        self.set_learning_rates(step)
        adversarial_on = step >= c.warmup_steps and c.adversarial_weight > 0
        with self.autocast():  # a sampler draws twice for the same inputs in one pass
            fake = self.g_model(torch.cat([observed, observed]) if diverse else observed,
                                torch.cat([mask, mask]) if diverse else mask)
        fake = fake.float()
        fake, *fake2 = fake.chunk(2) if diverse else (fake,)
        if c.data_consistency:
            fake = keep_observed(fake, observed, mask)
        d_loss = self.discriminator_step(observed, clean, fake) if adversarial_on else torch.zeros(())

        self.opt_g.zero_grad(set_to_none=True)
        g_content = content_loss(c.content, fake, clean, mask, c.missing_weight)
        if diverse:  # both draws are held to the content loss (their spread to the degradation's, below)
            g_content = (g_content + content_loss(c.content, fake2[0], clean, mask, c.missing_weight)) / 2
        if self.perceptual is not None:
            g_content = g_content + c.perceptual_weight * self.perceptual(fake, clean)
        if c.spectral_weight > 0:
            g_content = g_content + c.spectral_weight * spectrum_loss(fake, clean)
        g_adv = torch.zeros(())
        if adversarial_on:
            self.discriminator.requires_grad_(False)
            with self.autocast():
                g_adv = generator_adversarial_loss(c.adversarial, self.discriminator(observed, fake).float())
            self.discriminator.requires_grad_(True)
        g_loss = c.content_weight * g_content + c.adversarial_weight * g_adv
        logged = {}
        if diverse:
            g_div, logged = diversity_loss(fake, fake2[0], clean, second[0])
            g_loss = g_loss + c.diversity_weight * g_div
        self.scaler.scale(g_loss).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        self.update_ema(step)
        return {"epoch": epoch, "g_loss": g_loss.item(), "g_content": g_content.item(),
                "g_adv": float(g_adv.detach()), "d_loss": float(d_loss.detach()),
                "lr": self.opt_g.param_groups[0]["lr"], **logged}

    def discriminator_step(self, observed, clean, fake) -> torch.Tensor:
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            logits = self.d_model(torch.cat([observed, observed]), torch.cat([clean, fake.detach()]))
        real_logits, fake_logits = logits.float().chunk(2)
        d_loss = discriminator_loss(self.config.adversarial, real_logits, fake_logits)
        self.scaler.scale(d_loss).backward()
        self.scaler.step(self.opt_d)
        return d_loss

    # ------------------------------------------------------------------------------------- what ships
    def meta(self, step: int, seconds: float) -> dict:
        return model_meta(self.config, self.train_set, self.scale, step, seconds, self.degradation.frames,
                          self.device.type)

    def reconstructor(self, step: int = 0, seconds: float = 0.0):
        """The current model as `load_model` would return it from this run's bundle."""
        from ganrecon.inference import ReconstructionModel

        return ReconstructionModel(self.model, self.meta(step, seconds), self.name)

    def validate(self, step: int) -> dict:
        """The model and the baselines on each validation batch; over several degradations, one row per method
        and degradation besides the model's mean, which checkpoints are chosen by (`per_spec_scores`)."""
        from ganrecon.metrics import image_metrics, summarise

        self.model.eval()
        reconstruct = self.reconstructor(step)
        scores = {}
        for spec, (val_obs, val_clean, val_mask) in self.val_parts.items():
            metrics = image_metrics(reconstruct(val_obs, val_mask), val_clean, val_mask, self.value_range,
                                    extra=VAL_EXTRA.get(self.config.task, ()))
            scores[spec] = {"model": summarise(metrics), **self.val_baselines.get(spec, {})}
        self.generator.train()  # the EMA copy stays in eval mode
        return next(iter(scores.values())) if len(scores) == 1 else per_spec_scores(scores)

    def selection_score(self, scores: dict, step: int) -> float | None:
        return scores["model"]["psnr"]

    def keep_best(self, run_dir: Path | None, step: int, seconds: float, score: float) -> None:
        """The best-PSNR model, kept apart from the final one."""
        save_bundle(run_dir / "model-best", self.model, {**self.meta(step, seconds),
                                                         "selected": f"best validation PSNR {score:.2f} dB"})

    def save(self, run_dir: Path, step: int, seconds: float) -> None:
        save_bundle(run_dir / "model", self.model, self.meta(step, seconds))

    def after_step(self, run_dir: Path | None, step: int, seconds: float) -> None:
        c = self.config
        if run_dir is not None and step == c.warmup_steps and c.adversarial_weight > 0:
            # the content-only generator (e.g. SRResNet before SRGAN fine-tuning), kept as its own model
            save_bundle(run_dir / "model-content", self.model, {**self.meta(step, seconds),
                                                                "selected": "content-only phase"})

    def write_figures(self, run_dir: Path) -> None:
        from ganrecon.report import plot_losses

        plot_losses(run_dir / "log.csv", run_dir / "losses.png")

    def validation_line(self, step: int, scores: dict) -> str:
        return psnr_line(step, scores)
