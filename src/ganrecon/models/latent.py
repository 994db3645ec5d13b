"""Unconditional generators z -> image and their discriminators, for latent-space reconstruction.

Separate from the conditional models because they answer a different question: G(z) draws a plausible image
from noise alone, and `ganrecon.invert` then searches z so that G(z) agrees with what was observed.

`mlp` is the reference exercise's generator (z of 10 -> 128 -> 784, sigmoid): tiny, so inversion with many
restarts is cheap. `dcgan` (Radford et al. 2016) upsamples with strided transposed convolutions from a small
seed map (7x7 for 28x28 images, 4x4 for 64x64). Every generator ends in a sigmoid squashed to the data's value
range, because an unconditional sample must land inside the range the data lives in.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganrecon.errors import GanreconError


class _ToRange(nn.Module):
    """lo + (hi - lo) * sigmoid: samples always inside the value range (for signed data too)."""

    def __init__(self, value_range):
        super().__init__()
        self.lo, self.hi = float(value_range[0]), float(value_range[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lo == 0.0 and self.hi == 1.0:  # skip two full-size elementwise passes (inversion runs this a lot)
            return torch.sigmoid(x)
        return self.lo + (self.hi - self.lo) * torch.sigmoid(x)


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "leaky":
        return nn.LeakyReLU(0.2)
    raise GanreconError(f"Unknown activation {name!r}; use relu or leaky.")


class MLPGenerator(nn.Module):
    """z -> hidden -> C*H*W with one hidden layer (the reference: 10 -> 128 -> 784, ReLU, sigmoid)."""

    def __init__(self, channels: int, image_size: tuple[int, int], value_range=(0.0, 1.0), z_dim: int = 10,
                 hidden: int = 128, act: str = "relu"):
        super().__init__()
        _check_positive(z_dim=z_dim, hidden=hidden)
        self.z_dim, self.channels, self.image_size = int(z_dim), int(channels), tuple(int(s) for s in image_size)
        self.net = nn.Sequential(nn.Linear(self.z_dim, hidden), _activation(act),
                                 nn.Linear(hidden, self.channels * math.prod(self.image_size)))
        self.out = _ToRange(value_range)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.net(z)).view(-1, self.channels, *self.image_size)

    def entry_forward(self, index: torch.Tensor):
        """z -> G(z) at the flattened (C x H x W, row-major) entries `index` only: when every image of a batch
        has the same observed entries, inversion needs only those rows of the output layer."""
        first, act, last = self.net
        weight, bias = last.weight[index], last.bias[index]
        return lambda z: self.out(F.linear(act(first(z)), weight, bias))


def _upsampling_levels(image_size: tuple[int, int], min_seed: int = 4) -> int:
    """How many x2 upsamplings reach image_size from a seed map of at least min_seed pixels a side."""
    levels = 0
    h, w = image_size
    while h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 >= min_seed:
        h, w, levels = h // 2, w // 2, levels + 1
    return levels


class DCGANGenerator(nn.Module):
    """DCGAN: dense z -> seed map, then (ConvTranspose 4x4 stride 2, BatchNorm, ReLU) per level, sigmoid.

    The number of levels comes from the image size (28 -> 7x7 seed and 2 levels, 64 -> 4x4 seed and 4 levels);
    channels halve at every level, from `width * 2**(levels-1)` (at most 512) down to `width`.
    """

    def __init__(self, channels: int, image_size: tuple[int, int], value_range=(0.0, 1.0), z_dim: int = 64,
                 width: int = 64):
        super().__init__()
        _check_positive(z_dim=z_dim, width=width)
        self.z_dim, self.channels, self.image_size = int(z_dim), int(channels), tuple(int(s) for s in image_size)
        levels = _upsampling_levels(self.image_size)
        if levels == 0:
            raise GanreconError(f"The dcgan generator needs images whose sides halve at least once to a seed map of "
                                f"4 pixels or more (e.g. 28x28, 64x64), not {self.image_size[0]}x{self.image_size[1]}.")
        self.seed_size = (self.image_size[0] >> levels, self.image_size[1] >> levels)
        widths = [min(width * 2 ** (levels - 1 - i), 512) for i in range(levels)]
        self.seed_width = widths[0]
        self.project = nn.Sequential(nn.Linear(self.z_dim, widths[0] * math.prod(self.seed_size), bias=False),
                                     nn.BatchNorm1d(widths[0] * math.prod(self.seed_size)), nn.ReLU())
        layers: list[nn.Module] = []
        for i in range(levels - 1):
            layers += [nn.ConvTranspose2d(widths[i], widths[i + 1], 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(widths[i + 1]), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(widths[-1], self.channels, 4, stride=2, padding=1))
        self.net = nn.Sequential(*layers)
        self.out = _ToRange(value_range)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z).view(-1, self.seed_width, *self.seed_size)
        return self.out(self.net(x))


class MLPDiscriminator(nn.Module):
    """Flattened image -> hidden (LeakyReLU) -> one logit, the reference's counterpart of the mlp generator."""

    def __init__(self, channels: int, image_size: tuple[int, int], hidden: int = 128):
        super().__init__()
        _check_positive(hidden=hidden)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(channels * math.prod(image_size), hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DCGANDiscriminator(nn.Module):
    """Mirror of the dcgan generator: (Conv 4x4 stride 2, BatchNorm except first, LeakyReLU) down to the seed
    map, then one dense logit."""

    def __init__(self, channels: int, image_size: tuple[int, int], width: int = 64):
        super().__init__()
        _check_positive(width=width)
        levels = max(_upsampling_levels(tuple(image_size)), 1)
        layers: list[nn.Module] = []
        cin = channels
        for i in range(levels):
            cout = min(width * 2 ** i, 512)
            layers.append(nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2))
            cin = cout
        self.features = nn.Sequential(*layers)
        h, w = image_size
        for _ in range(levels):
            h, w = (h + 2 - 4) // 2 + 1, (w + 2 - 4) // 2 + 1
        self.head = nn.Linear(cin * h * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def _check_positive(**values) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GanreconError(f"The option {key} must be a whole number of at least 1, got {value!r}.")


LATENT_GENERATORS = {
    "mlp": "z -> hidden -> image, sigmoid (reference: z_dim 10, hidden 128); options z_dim, hidden, act",
    "dcgan": "DCGAN transposed-conv generator (28x28, 64x64, ...); options z_dim (64), width (64)",
}
LATENT_DISCRIMINATORS = {
    "mlp": "flattened image -> hidden -> logit; option hidden (128)",
    "dcgan": "strided conv + BatchNorm + LeakyReLU, dense logit; option width (64)",
}


def build_latent_generator(name: str, *, channels: int, image_size: tuple[int, int], value_range=(0.0, 1.0),
                           **options) -> nn.Module:
    """Build an unconditional generator by name; it has `.z_dim` and maps B x z_dim to B x C x H x W."""
    builders = {"mlp": MLPGenerator, "dcgan": DCGANGenerator}
    if name not in builders:
        raise GanreconError(f"Unknown unconditional generator {name!r}; choose one of {', '.join(builders)}.")
    try:
        return builders[name](channels, tuple(image_size), value_range, **options)
    except TypeError as exc:
        raise GanreconError(f"Bad option for the {name} generator: {exc}.") from None


def build_latent_discriminator(name: str, *, channels: int, image_size: tuple[int, int], **options) -> nn.Module:
    """Build an unconditional discriminator (image -> B x 1 logits) by name."""
    builders = {"mlp": MLPDiscriminator, "dcgan": DCGANDiscriminator}
    if name not in builders:
        raise GanreconError(f"Unknown unconditional discriminator {name!r}; choose one of {', '.join(builders)}.")
    try:
        return builders[name](channels, tuple(image_size), **options)
    except TypeError as exc:
        raise GanreconError(f"Bad option for the {name} discriminator: {exc}.") from None
