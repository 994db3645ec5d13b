"""Conditional discriminators: they judge (observed, candidate) pairs, so a sharp image that ignores the
observed traces is still caught.

`patch` is pix2pix's PatchGAN, its depth chosen from the input size so that even a 28 x 28 digit gets a spatial
map of verdicts (three strided layers would see it as one patch). `conv` ends in a single global score.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganrecon.errors import GanreconError


def _pair(observed: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
    """Stack the observed input (resized to the candidate, e.g. low-resolution input) with the candidate."""
    if observed.shape[-2:] != candidate.shape[-2:]:
        observed = F.interpolate(observed, size=candidate.shape[-2:], mode="nearest")
    return torch.cat([observed, candidate], dim=1)


def patch_layers_for(image_size: tuple[int, int], max_layers: int = 3, min_map: int = 4) -> int:
    """The most strided layers (up to 3, the 70x70 PatchGAN) that still leave a map of at least min_map^2 patches."""
    side = min(image_size)
    for n in range(max_layers, 0, -1):
        s = side
        for _ in range(n):
            s = (s + 2 - 4) // 2 + 1  # 4x4, stride 2, padding 1
        s = s + 2 - 4 + 1  # stride-1 layer
        s = s + 2 - 4 + 1  # output layer
        if s >= min_map:
            return n
    return 1


class PatchDiscriminator(nn.Module):
    """PatchGAN: 4x4 convolutions, BatchNorm and LeakyReLU; one logit per overlapping patch."""

    def __init__(self, channels: int, image_size: tuple[int, int], width: int = 64, layers: int | None = None,
                 observed_channels: int | None = None):
        super().__init__()
        n = layers if layers is not None else patch_layers_for(image_size)
        self.layers = n
        seq: list[nn.Module] = [nn.Conv2d((observed_channels or channels) + channels, width, 4, stride=2, padding=1),
                                nn.LeakyReLU(0.2, True)]
        mult = 1
        for i in range(1, n + 1):
            prev, mult = mult, min(2 ** i, 8)
            stride = 2 if i < n else 1
            seq += [nn.Conv2d(width * prev, width * mult, 4, stride=stride, padding=1, bias=False),
                    nn.BatchNorm2d(width * mult), nn.LeakyReLU(0.2, True)]
        seq.append(nn.Conv2d(width * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*seq)

    def forward(self, observed: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        return self.model(_pair(observed, candidate))


class ConvDiscriminator(nn.Module):
    """Strided 3x3/4x4 convolutions with BatchNorm, LeakyReLU and dropout, global pooling, one logit per image
    (the reference denoising notebook's design; also the SRGAN discriminator without its giant dense layer)."""

    def __init__(self, channels: int, image_size: tuple[int, int], width: int = 64, blocks: int = 4,
                 dropout: float = 0.3, observed_channels: int | None = None):
        super().__init__()
        seq: list[nn.Module] = []
        cin = (observed_channels or channels) + channels
        for i in range(blocks):
            cout = min(width * 2 ** i, 512)
            seq += [nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=i == 0)]
            if i > 0:
                seq.append(nn.BatchNorm2d(cout))
            seq += [nn.LeakyReLU(0.2, True)]
            if dropout > 0:
                seq.append(nn.Dropout(dropout))
            cin = cout
        self.features = nn.Sequential(*seq)
        self.head = nn.Linear(cin, 1)

    def forward(self, observed: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        feat = self.features(_pair(observed, candidate))
        return self.head(feat.mean(dim=(2, 3)))


class SRGANDiscriminator(nn.Module):
    """SRGAN's VGG-style critic (Ledig et al. 2017): pairs of 3x3 convolutions, the second strided, widths
    doubling from `width` up to 8 * width, BatchNorm and LeakyReLU. Global average pooling replaces the paper's
    flatten + 1024-unit dense layer, whose size grows with the image (134 M parameters in the reference notebook);
    the verdict is one logit per image at any input size. The pair is (observed LR upsampled, candidate)."""

    def __init__(self, channels: int, image_size: tuple[int, int], width: int = 64, stages: int = 4,
                 hidden: int = 256, observed_channels: int | None = None):
        super().__init__()
        if width < 1 or stages < 1:
            raise GanreconError("The srgan discriminator needs width >= 1 and stages >= 1.")

        def unit(cin: int, cout: int, stride: int, norm: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=not norm)]
            if norm:
                layers.append(nn.BatchNorm2d(cout))
            return layers + [nn.LeakyReLU(0.2, True)]

        seq = unit((observed_channels or channels) + channels, width, 1, norm=False) + unit(width, width, 2)
        cin = width
        for i in range(1, stages):
            cout = width * min(2 ** i, 8)
            seq += unit(cin, cout, 1) + unit(cout, cout, 2)
            cin = cout
        self.features = nn.Sequential(*seq)
        self.head = nn.Sequential(nn.Linear(cin, hidden), nn.LeakyReLU(0.2, True), nn.Linear(hidden, 1))

    def forward(self, observed: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        feat = self.features(_pair(observed, candidate))
        return self.head(feat.mean(dim=(2, 3)))


DISCRIMINATORS = {
    "patch": "PatchGAN, depth sized to the input (options width, layers)",
    "conv": "strided conv + global pooling, one score per image (options width, blocks, dropout)",
    "srgan": "SRGAN's VGG-style 3x3 conv pairs + global pooling, one score per image (options width, stages, hidden)",
}


def build_discriminator(name: str, *, channels: int, image_size: tuple[int, int], frames: int = 1,
                        **options) -> nn.Module:
    """A discriminator of (observed, candidate) pairs; the observed image of a burst has `frames` x `channels`."""
    if frames > 1:
        options = {**options, "observed_channels": frames * channels}
    builders = {"patch": PatchDiscriminator, "conv": ConvDiscriminator, "srgan": SRGANDiscriminator}
    if name not in builders:
        raise GanreconError(f"Unknown discriminator {name!r}; choose one of {', '.join(builders)}.")
    try:
        return builders[name](channels, image_size, **options)
    except TypeError as exc:
        raise GanreconError(f"Bad option for the {name} discriminator: {exc}.") from None
