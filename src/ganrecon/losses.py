"""Adversarial and content losses. The generator minimises
`content_weight * content + adversarial_weight * adversarial`, the same for every conditional task."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganrecon.errors import GanreconError

ADVERSARIAL_LOSSES = ("vanilla", "lsgan", "hinge")
CONTENT_LOSSES = ("l1", "mse")


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Loss of D on real pairs (target 1) and generated pairs (target 0), halved as in pix2pix."""
    if kind == "vanilla":
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    elif kind == "lsgan":
        real = F.mse_loss(real_logits, torch.ones_like(real_logits))
        fake = F.mse_loss(fake_logits, torch.zeros_like(fake_logits))
    elif kind == "hinge":
        real = F.relu(1.0 - real_logits).mean()
        fake = F.relu(1.0 + fake_logits).mean()
    else:
        raise GanreconError(f"Unknown adversarial loss {kind!r}; choose one of {', '.join(ADVERSARIAL_LOSSES)}.")
    return 0.5 * (real + fake)


def generator_adversarial_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating loss of G: make D call the generated pair real."""
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if kind == "lsgan":
        return F.mse_loss(fake_logits, torch.ones_like(fake_logits))
    if kind == "hinge":
        return -fake_logits.mean()
    raise GanreconError(f"Unknown adversarial loss {kind!r}; choose one of {', '.join(ADVERSARIAL_LOSSES)}.")


def content_loss(kind: str, estimate: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor | None = None,
                 missing_weight: float = 1.0) -> torch.Tensor:
    """L1 or MSE; with missing_weight > 1 the missing region (mask == 0) counts that many times more, so a model
    cannot score well by merely copying the observed part."""
    if kind == "l1":
        err = (estimate - clean).abs()
    elif kind == "mse":
        err = (estimate - clean) ** 2
    else:
        raise GanreconError(f"Unknown content loss {kind!r}; choose one of {', '.join(CONTENT_LOSSES)}.")
    if mask is None or missing_weight == 1.0 or mask.shape != err.shape:
        return err.mean()
    weight = 1.0 + (missing_weight - 1.0) * (1.0 - mask)
    return (err * weight).sum() / weight.sum()
