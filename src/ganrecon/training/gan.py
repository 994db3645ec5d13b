"""What the two GAN strategies share: generator, discriminator, the EMA copy (one warm-up rule), both Adam
optimisers and their learning-rate schedule, the checkpointed state, and the baseline scores of the
validation batch (computed once, here and nowhere else)."""

from __future__ import annotations

import copy

import torch

from ganrecon.config import TrainConfig
from ganrecon.training.steps import ema_decay, lr_factor, update_ema
from ganrecon.training.strategy import Strategy


class GANStrategy(Strategy):
    divergence_hint = "lower lr and resume"

    def __init__(self, config: TrainConfig, device: torch.device):
        self.config, self.device = config, device
        self.images_per_step = config.batch_size

    def init_optimisers(self, generator: torch.nn.Module, discriminator: torch.nn.Module) -> None:
        """The EMA copy and both optimisers, once the models are built and on their device."""
        c = self.config
        self.generator, self.discriminator = generator, discriminator
        self.ema = copy.deepcopy(generator).eval().requires_grad_(False) if c.ema > 0 else None
        self.lr_d = c.lr_d if c.lr_d is not None else c.lr
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(discriminator.parameters(), lr=self.lr_d, betas=(c.beta1, c.beta2))

    def set_learning_rates(self, step: int) -> None:
        c = self.config
        for group in self.opt_g.param_groups:
            group["lr"] = c.lr * lr_factor(c.lr_decay, step, c.steps, self.budget_used)
        for group in self.opt_d.param_groups:
            group["lr"] = self.lr_d * lr_factor(c.lr_decay, step, c.steps, self.budget_used)

    def update_ema(self, step: int) -> None:
        if self.ema is not None:
            update_ema(self.ema, self.generator, ema_decay(self.config.ema, step))

    @property
    def model(self) -> torch.nn.Module:
        return self.ema if self.ema is not None else self.generator

    def modules(self) -> list[torch.nn.Module]:
        return [m for m in (self.generator, self.discriminator, self.ema) if m is not None]

    def checkpoint_state(self) -> dict:
        return {"generator": self.generator, "discriminator": self.discriminator, "ema": self.ema,
                "opt_g": self.opt_g, "opt_d": self.opt_d}

    def progress_text(self, step: int, values: dict, best: float) -> str:
        return f"G {values['g_loss']:.4f}  D {values['d_loss']:.4f}"
