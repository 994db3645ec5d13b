"""Generators: (observed, mask) -> estimate of the clean image, in the data's value range.

`linear` and `lenet` reproduce the seed experiments on 28 x 28 digits; `unet` is the workhorse (any H x W, skip
connections carry the observed traces straight to the output); `srresnet` upsamples for super-resolution.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from ganrecon.errors import GanreconError
from ganrecon.models.layers import RangeActivation, condition, conv_block, pad_to_multiple


class LinearGenerator(nn.Module):
    """One fully connected layer over the flattened image and mask: the simplest learned interpolator."""

    max_pixels = 48 * 48  # beyond this the dense layer (quadratic in pixels) is too big to be sensible

    def __init__(self, channels: int, image_size: tuple[int, int], value_range=(0.0, 1.0)):
        super().__init__()
        h, w = image_size
        if h * w > self.max_pixels:
            raise GanreconError(
                f"The linear generator is for small images (at most {self.max_pixels} pixels), not {h}x{w}; "
                "use the unet generator.")
        self.channels, self.image_size = channels, (h, w)
        self.fc = nn.Linear((channels + 1) * h * w, channels * h * w)
        self.out = RangeActivation(value_range)

    def forward(self, observed: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if tuple(observed.shape[-2:]) != self.image_size:
            raise GanreconError(
                f"The linear generator was built for {self.image_size[0]}x{self.image_size[1]} images, "
                f"got {observed.shape[-2]}x{observed.shape[-1]}.")
        x = condition(observed, mask).flatten(1)
        return self.out(self.fc(x)).view(-1, self.channels, *self.image_size)


class LeNetGenerator(nn.Module):
    """LeNet-5-style encoder (5x5 convolutions 6 -> 16 -> 120 with pooling) and its mirror as decoder."""

    def __init__(self, channels: int, value_range=(0.0, 1.0), width: int = 1):
        super().__init__()
        c1, c2, c3 = 6 * width, 16 * width, 120 * width
        act = nn.Tanh  # as in LeNet-5
        self.encoder = nn.Sequential(
            nn.Conv2d(channels + 1, c1, 5, padding=2), act(), nn.AvgPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2), act(), nn.AvgPool2d(2),
            nn.Conv2d(c2, c3, 5, padding=2), act(),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(c3, c2, 5, padding=2), act(), nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c2, c1, 5, padding=2), act(), nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c1, channels, 5, padding=2),
        )
        self.out = RangeActivation(value_range)

    def forward(self, observed: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(condition(observed, mask), 4)
        return self.out(self.decoder(self.encoder(x)))[..., :h, :w]


class UNetGenerator(nn.Module):
    """U-Net with configurable depth and width; pads any H x W to a multiple of 2**depth and crops back."""

    def __init__(self, channels: int, value_range=(0.0, 1.0), depth: int = 3, width: int = 32,
                 max_width: int = 256, dropout: float = 0.0):
        super().__init__()
        if depth < 1 or width < 1:
            raise GanreconError("The unet generator needs depth >= 1 and width >= 1.")
        widths = [min(width * 2 ** i, max_width) for i in range(depth + 1)]
        self.depth = depth
        self.inc = conv_block(channels + 1, widths[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), conv_block(widths[i], widths[i + 1])) for i in range(depth))
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth)))
        self.dec = nn.ModuleList(conv_block(2 * widths[i], widths[i]) for i in reversed(range(depth)))
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Conv2d(widths[0], channels, 1)
        self.out = RangeActivation(value_range)

    def forward(self, observed: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(condition(observed, mask), 2 ** self.depth)
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = self.dropout(skips.pop())
        for up, dec in zip(self.ups, self.dec):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        return self.out(self.head(x))[..., :h, :w]


class _ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.PReLU(width),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))

    def forward(self, x):
        return x + self.body(x)


class SRResNetGenerator(nn.Module):
    """SRResNet (Ledig et al. 2017): residual blocks, then PixelShuffle x2 stages; works at any input size."""

    def __init__(self, channels: int, value_range=(0.0, 1.0), scale: int = 4, blocks: int = 8, width: int = 64):
        super().__init__()
        if scale not in (2, 4, 8):
            raise GanreconError(f"The srresnet generator upsamples by 2, 4 or 8, not {scale}.")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU(width))
        self.body = nn.Sequential(*[_ResidualBlock(width) for _ in range(blocks)],
                                  nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))
        ups: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            ups += [nn.Conv2d(width, width * 4, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.upsample = nn.Sequential(*ups)
        self.tail = nn.Conv2d(width, channels, 9, padding=4)
        self.out = RangeActivation(value_range)

    def forward(self, observed: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        feat = self.head(observed)
        feat = feat + self.body(feat)
        return self.out(self.tail(self.upsample(feat)))


GENERATORS = {
    "linear": "one dense layer over the flattened image (28x28-sized inputs)",
    "lenet": "LeNet-5-style 5x5 conv encoder 6-16-120 and mirrored decoder",
    "unet": "U-Net, options depth (3), width (32), dropout (0); any H x W",
    "srresnet": "SRResNet with PixelShuffle upsampling; options scale (4), blocks (8), width (64)",
}


def build_generator(name: str, *, channels: int, image_size: tuple[int, int], value_range=(0.0, 1.0),
                    **options) -> nn.Module:
    """Build a generator by name; unknown names and options are one-sentence errors."""
    builders = {
        "linear": lambda: LinearGenerator(channels, image_size, value_range, **options),
        "lenet": lambda: LeNetGenerator(channels, value_range, **options),
        "unet": lambda: UNetGenerator(channels, value_range, **options),
        "srresnet": lambda: SRResNetGenerator(channels, value_range, **options),
    }
    if name not in builders:
        raise GanreconError(f"Unknown generator {name!r}; choose one of {', '.join(builders)}.")
    try:
        return builders[name]()
    except TypeError as exc:
        raise GanreconError(f"Bad option for the {name} generator: {exc}.") from None
