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


def radial_bins(h: int, w: int, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Radial frequency bin (0 .. bins-1, up to Nyquist on the shorter axis; beyond it: -1) of each rfft2 entry,
    and how many entries each bin holds."""
    fy = torch.fft.fftfreq(h).abs()[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    radius = (fy.square() + fx.square()).sqrt() / 0.5
    index = (radius * bins).floor().long()
    index = torch.where((index >= 1) & (index < bins), index, torch.full_like(index, -1))  # no DC, no corners
    counts = torch.bincount(index[index >= 0].flatten(), minlength=bins).clamp_min(1)
    return index, counts


def spectrum_loss(estimate: torch.Tensor, clean: torch.Tensor, bins: int = 16) -> torch.Tensor:
    """Mean absolute difference of log power in radial frequency bands, per image and channel. Why: an L1-trained
    super-resolver averages plausible textures into blur (it keeps ~20% of the truth's power above half-Nyquist
    on rock slices), and a phase-free statistic asks for the right amount of fine texture without asking for the
    impossible, its exact position, which L1 already pulls towards."""
    index, counts = radial_bins(*estimate.shape[-2:], bins)
    index = index.flatten().to(estimate.device)
    keep, counts = index >= 0, counts.to(estimate.device)

    def band_power(x: torch.Tensor) -> torch.Tensor:
        power = torch.fft.rfft2(x.float(), norm="ortho").abs().square().flatten(2)[..., keep]
        return torch.zeros(*power.shape[:2], bins, device=x.device).index_add(2, index[keep], power) / counts

    est, ref = band_power(estimate), band_power(clean)
    floor = 1e-6 * ref.mean(-1, keepdim=True) + 1e-12
    return ((est + floor).log() - (ref + floor).log()).abs().mean()


VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's VGG19_Weights.IMAGENET1K_V1, as the torch hub cache names it


def vgg19_weights_path():
    """Where torchvision keeps the VGG19 ImageNet weights once downloaded (respects TORCH_HOME)."""
    from pathlib import Path

    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


class PerceptualLoss(torch.nn.Module):
    """SRGAN's VGG54 content loss: MSE between VGG19 relu5_4 features of estimate and ground truth.

    The weights are only read from the torch hub cache, never downloaded here: training must not depend on the
    network, and a perceptual loss with random VGG weights is not a perceptual loss, so a missing file is an
    error, not a silent fallback. Grey images are repeated to RGB and ImageNet-normalised. (SRGAN rescales the
    features by 1/12.75, which is perceptual_weight ~ 6e-3 here.)"""

    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, value_range=(0.0, 1.0), layers: int = 36):
        super().__init__()
        path = vgg19_weights_path()
        if not path.is_file():
            raise GanreconError(
                f"perceptual_weight > 0 needs torchvision's VGG19 ImageNet weights, which are not in the torch hub "
                f"cache ({path}); download them where there is network access (torchvision.models.vgg19(weights="
                "'IMAGENET1K_V1')) and copy the file there, or set perceptual_weight=0.")
        import pickle

        from torchvision.models import vgg19

        model = vgg19()
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:  # truncated download, wrong file
            raise GanreconError(f"The VGG19 weights in {path} could not be read ({type(exc).__name__}); delete the "
                                "file and download it again.") from None
        self.features = model.features[:layers].eval().requires_grad_(False)
        self.lo, self.hi = float(value_range[0]), float(value_range[1])
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1))
        self.eval()

    def train(self, mode: bool = True):  # VGG stays in eval mode whatever the trainer does
        return super().train(False)

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.lo) / (self.hi - self.lo)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x[:, :3] - self.mean) / self.std

    def forward(self, estimate: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.features(self._prep(estimate)), self.features(self._prep(clean)))
