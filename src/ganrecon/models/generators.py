"""Generators: (observed, mask) -> estimate of the clean image, in the data's value range.

`linear` and `lenet` reproduce the seed experiments on 28 x 28 digits; `unet` is the workhorse (any H x W, skip
connections carry the observed traces straight to the output); `srresnet` upsamples for super-resolution.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from ganrecon.degrade import warp_by
from ganrecon.errors import GanreconError
from ganrecon.models import layers as model_layers
from ganrecon.models.layers import FoldedSequential, RangeActivation, condition, conv_block, pad_to_multiple
from ganrecon.models.refine import PriorRefiner


class LinearGenerator(nn.Module):
    """One fully connected layer over the flattened image and mask: the simplest learned interpolator."""

    scale = 1
    fixed_size = True  # the dense layer takes exactly the training size: larger images go through as tiles
    prior_input = True  # with a prior (models/refine.py) the network sees it beside the observed image
    max_pixels = 48 * 48  # beyond this the dense layer (quadratic in pixels) is too big to be sensible

    def __init__(self, channels: int, image_size: tuple[int, int], value_range=(0.0, 1.0),
                 in_channels: int | None = None):
        super().__init__()
        h, w = image_size
        if h * w > self.max_pixels:
            raise GanreconError(
                f"The linear generator is for small images (at most {self.max_pixels} pixels), not {h}x{w}; "
                "use the unet generator.")
        self.channels, self.image_size = channels, (h, w)
        self.fc = nn.Linear(((in_channels or channels) + 1) * h * w, channels * h * w)
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

    scale = 1           # output size / input size
    fixed_size = False  # fully convolutional: any H x W
    prior_input = True

    def __init__(self, channels: int, value_range=(0.0, 1.0), width: int = 1, in_channels: int | None = None):
        super().__init__()
        c1, c2, c3 = 6 * width, 16 * width, 120 * width
        act = nn.Tanh  # as in LeNet-5
        self.encoder = nn.Sequential(
            nn.Conv2d((in_channels or channels) + 1, c1, 5, padding=2), act(), nn.AvgPool2d(2),
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
    """U-Net with configurable depth and width; pads any H x W to a multiple of 2**depth and crops back.

    `output` is the head's range activation (see RangeActivation): `sigmoid` (default) or `clamp`. With
    `residual` the output is the observed image plus a learned correction, added before the output activation
    (to the logit of the observed image for `sigmoid`, to the image itself for `clamp`) with the head
    initialised to zero, so training starts from the identity: for restoration where the input is already close
    to the answer (denoising: the clean pixels are right; turbulence) a short CPU budget otherwise goes into
    learning to copy the input.

    With `noise_channels` k > 0 the generator is a sampler: every forward pass draws k maps of standard normal
    noise on a grid `noise_scale` times coarser than the input, upsamples them bilinearly and feeds them beside
    the input. pix2pix's dropout is a weak noise source (two draws barely differ); smooth noise maps give a
    clean -> distorted model the randomness that random displacement needs (train it with `diversity_weight`,
    or the content loss teaches it to ignore them). Draws use torch's global generator (`torch.manual_seed`).

    With `warp` the head also predicts a displacement field (px): the output is the input resampled along it
    plus a learned correction, both zero at the start (the identity). Distortions that move the image
    (turbulence) are then a smooth field away, where a plain head has to redraw every edge it moves; noise maps
    that should become displacement become it most cheaply this way."""

    scale = 1           # output size / input size
    fixed_size = False  # fully convolutional: any H x W
    prior_input = True

    def __init__(self, channels: int, value_range=(0.0, 1.0), depth: int = 3, width: int = 32,
                 max_width: int = 256, dropout: float = 0.0, output: str = "sigmoid", residual: bool = False,
                 in_channels: int | None = None, noise_channels: int = 0, noise_scale: int = 8,
                 warp: bool = False):
        super().__init__()
        if depth < 1 or width < 1:
            raise GanreconError("The unet generator needs depth >= 1 and width >= 1.")
        if noise_channels < 0 or noise_scale < 1:
            raise GanreconError("The unet generator needs noise_channels >= 0 and noise_scale >= 1.")
        widths = [min(width * 2 ** i, max_width) for i in range(depth + 1)]
        self.depth = depth
        self.noise_channels, self.noise_scale = int(noise_channels), int(noise_scale)
        self.inc = conv_block((in_channels or channels) + 1 + self.noise_channels, widths[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), conv_block(widths[i], widths[i + 1])) for i in range(depth))
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth)))
        self.dec = nn.ModuleList(conv_block(2 * widths[i], widths[i]) for i in reversed(range(depth)))
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.warp = bool(warp)
        if self.warp and residual:
            raise GanreconError("The unet generator's warp output already adds a correction; drop residual: true.")
        self.head = nn.Conv2d(widths[0], channels + 2 * self.warp, 1)
        self.residual = bool(residual)
        if self.residual or self.warp:  # start as the identity
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self.out = RangeActivation(value_range, output)

    def forward(self, observed: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = condition(observed, mask)
        if self.noise_channels:
            x = torch.cat([x, self.noise_maps(x)], dim=1)
        x, (h, w) = pad_to_multiple(x, 2 ** self.depth)
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = self.dropout(skips.pop())
        for up, dec in zip(self.ups, self.dec):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        x = self.head(x)[..., :h, :w]
        if self.warp:  # channels 0-1: displacement in px; the rest: the correction
            moved = warp_by(observed.float(), x[:, :2].float())
            x = x[:, 2:] + self.out.inverse(moved.to(x.dtype))
        elif self.residual:
            x = x + self.out.inverse(observed.to(x.dtype))
        return self.out(x)


    def noise_maps(self, like: torch.Tensor) -> torch.Tensor:
        """Smooth standard normal maps of `like`'s size: drawn coarse, upsampled bilinearly."""
        n, _, h, w = like.shape
        s = self.noise_scale
        coarse = torch.randn(n, self.noise_channels, -(-h // s) + 1, -(-w // s) + 1, device=like.device)
        maps = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True) if s > 1 else coarse[..., :h, :w]
        return maps.to(like.dtype)


class ShallowUNetGenerator(nn.Module):
    """The reference denoising notebook's shallow U-Net (48x48 faces): two 3x3 conv + ReLU per level with 64
    and 128 channels, a 256-channel bottleneck, transposed-convolution upsampling, skip connections, sigmoid
    head. Kept apart from `unet` (BatchNorm, LeakyReLU, configurable depth) so the reproduction uses the
    reference's architecture, not ours. Any H x W (padded to a multiple of 2**(len(widths)-1), cropped)."""

    scale = 1           # output size / input size
    fixed_size = False  # fully convolutional: any H x W
    prior_input = True

    def __init__(self, channels: int, value_range=(0.0, 1.0), widths=(64, 128, 256), batchnorm: bool = False,
                 in_channels: int | None = None):
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise GanreconError("The unet-shallow generator needs at least two positive widths, "
                                "e.g. [64, 128, 256].")

        def block(cin: int, cout: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for i in range(2):
                layers.append(nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=not batchnorm))
                if batchnorm:
                    layers.append(nn.BatchNorm2d(cout))
                layers.append(nn.ReLU(inplace=True))
            return nn.Sequential(*layers)

        self.levels = len(widths) - 1
        self.encoders = nn.ModuleList(
            block((in_channels or channels) + 1 if i == 0 else widths[i - 1], widths[i]) for i in range(self.levels))
        self.bottleneck = block(widths[-2], widths[-1])
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(self.levels)))
        self.decoders = nn.ModuleList(block(2 * widths[i], widths[i]) for i in reversed(range(self.levels)))
        self.head = nn.Conv2d(widths[0], channels, 1)
        self.out = RangeActivation(value_range)

    def forward(self, observed: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(condition(observed, mask), 2 ** self.levels)
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for up, dec in zip(self.ups, self.decoders):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        return self.out(self.head(x))[..., :h, :w]


class _ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = FoldedSequential(
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.PReLU(width),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))

    def forward(self, x):
        return x + self.body(x)


def _prelu_in_place(x: torch.Tensor, slope: torch.Tensor, chunk: int = 32) -> torch.Tensor:
    """PReLU over a fresh activation (no gradients), overwriting it a few channels at a time: the largest array of
    a x4 pass is not held twice."""
    for start in range(0, x.shape[1], chunk):
        part = x[:, start:start + chunk]
        part.copy_(F.prelu(part, slope[start:start + chunk].to(x.dtype)))
    return x


class SRResNetGenerator(nn.Module):
    """SRResNet (Ledig et al. 2017): residual blocks, then PixelShuffle x2 stages; works at any input size."""

    fixed_size = False  # fully convolutional; scale is set per instance (2, 4 or 8)
    prior_input = False  # the prior (bicubic upsampling of the input) adds nothing the network does not see

    def __init__(self, channels: int, value_range=(0.0, 1.0), scale: int = 4, blocks: int = 8, width: int = 64):
        super().__init__()
        if scale not in (2, 4, 8):
            raise GanreconError(f"The srresnet generator upsamples by 2, 4 or 8, not {scale}.")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU(width))
        self.body = FoldedSequential(*[_ResidualBlock(width) for _ in range(blocks)],
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
        if model_layers.INFERENCE_FORM and not torch.is_grad_enabled():  # the equivalent sub-pixel form
            return self.out(self._subpixel_tail(self.upsample[:-2](feat)))
        return self.out(self.tail(self.upsample(feat)))

    def _subpixel_tail(self, before_shuffle: torch.Tensor) -> torch.Tensor:
        """The last PixelShuffle(2) + PReLU + 9 x 9 tail, computed on the grid before that shuffle: the PReLU
        with each slope repeated for its 4 sub-pixel channels, then a 5 x 5 convolution to 4 sub-pixel outputs per
        channel (`_subpixel_kernel`), then a shuffle of those few channels. Equal up to rounding, but the
        full-resolution width-channel activations (the largest arrays of a x4 pass, and three more passes over
        memory) are never made."""
        x = _prelu_in_place(before_shuffle, self.upsample[-1].weight.repeat_interleave(4))
        kernel, bias = self._subpixel_kernel()
        if x.is_contiguous(memory_format=torch.channels_last):
            kernel = kernel.contiguous(memory_format=torch.channels_last)
        return F.pixel_shuffle(F.conv2d(x, kernel, bias, padding=2), 2)

    def _subpixel_kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The tail's 9 x 9 kernel W[o, c] re-indexed for the pre-shuffle grid. Output pixel (2p + a, 2q + b) reads
        full-resolution pixel (2p + a + dy, 2q + b + dx) = pre-shuffle channel 4c + 2(s % 2) + (t % 2) at
        (p + s // 2, q + t // 2), with s = a + dy, t = b + dx; s // 2 spans -2..2, so a 5 x 5 kernel. Each
        (a, b, dy, dx) lands on its own kernel entry, so the entries are assigned, never summed."""
        weight, bias = self.tail.weight, self.tail.bias
        out_ch, width = weight.shape[:2]
        a, b, dy, dx = torch.meshgrid(*(torch.arange(2),) * 2, *(torch.arange(-4, 5),) * 2, indexing="ij")
        a, b, dy, dx = (t.flatten() for t in (a, b, dy, dx))
        s, t = a + dy, b + dx
        kernel = weight.new_zeros(out_ch, 4, width, 4, 5, 5)
        kernel[:, 2 * a + b, :, 2 * (s % 2) + t % 2, s.div(2, rounding_mode="floor") + 2,
               t.div(2, rounding_mode="floor") + 2] = weight[:, :, dy + 4, dx + 4].permute(2, 0, 1)
        return kernel.reshape(out_ch * 4, width * 4, 5, 5), bias.repeat_interleave(4)


@contextlib.contextmanager
def layers_as_trained():
    """For the duration, inference runs the layers as trained: no BatchNorm folding, no sub-pixel tail. For
    benchmarks (FLOPs of the model as defined; what the faster forms buy), never needed for correctness."""
    saved, model_layers.INFERENCE_FORM = model_layers.INFERENCE_FORM, False
    try:
        yield
    finally:
        model_layers.INFERENCE_FORM = saved


def unet_depth_for(image_size: tuple[int, int], min_side: int = 4) -> int:
    """pix2pix sizes its U-Net to the input (8 levels at 256 px); ours halves while the bottleneck keeps at least
    `min_side` pixels for its 3x3 convolutions: 28 px -> 2 levels, 48 -> 3, 64 -> 4, 256 -> 6."""
    side, depth = min(image_size), 0
    while side // 2 >= min_side:
        side, depth = side // 2, depth + 1
    return max(depth, 1)


GENERATORS = {
    "linear": "one dense layer over the flattened image (28x28-sized inputs)",
    "lenet": "LeNet-5-style 5x5 conv encoder 6-16-120 and mirrored decoder",
    "unet": "U-Net, options depth (3, or auto: sized to the input), width (32), dropout (0), output "
            "(sigmoid|clamp), residual (false), noise_channels (0: a sampler with that many smooth noise maps "
            "as input), noise_scale (8: their grid spacing, px), warp (false: also predict a displacement field); "
            "any H x W",
    "srresnet": "SRResNet with PixelShuffle upsampling; options scale (4), blocks (8), width (64)",
    "unet-shallow": "reference denoising U-Net: widths 64-128-256, ReLU, transposed convs; "
                    "options widths, batchnorm (false)",
    "any, prior: NAME": "option of every generator: NAME a baseline (bicubic, linear, cubic, biharmonic, fk, "
                        "switching-median, ...); the network predicts a zero-initialised correction to that "
                        "conventional estimate; prior_options go to the baseline",
}


def build_generator(name: str, *, channels: int, image_size: tuple[int, int], value_range=(0.0, 1.0),
                    frames: int = 1, **options) -> nn.Module:
    """Build a generator by name; unknown names and options are one-sentence errors. With the option `prior`
    (a baseline's name) the generator refines that conventional estimate (ganrecon.models.refine.PriorRefiner).
    A burst model (`frames` > 1) takes the frames stacked along the channels and returns one image."""
    prior = options.pop("prior", None)
    prior_options = options.pop("prior_options", None)
    if options.get("warp") and (prior is not None or frames > 1):
        raise GanreconError("warp moves the input image itself; it does not combine with a prior or a burst.")
    if frames > 1:
        options = {**options, "in_channels": frames * channels}
        if prior is not None:
            prior_options = {**(prior_options or {}), "frames": frames}
    if name == "unet" and options.get("depth") == "auto":
        options = {**options, "depth": unet_depth_for(image_size)}
    classes = {"linear": LinearGenerator, "lenet": LeNetGenerator, "unet": UNetGenerator,
               "unet-shallow": ShallowUNetGenerator, "srresnet": SRResNetGenerator}
    if name not in classes:
        raise GanreconError(f"Unknown generator {name!r}; choose one of {', '.join(classes)}.")
    cls = classes[name]
    if prior is not None:
        if options.get("residual"):
            raise GanreconError("A generator with a prior already predicts a correction; drop residual: true.")
        if cls.prior_input:  # the prior goes in beside the observed image
            options = {**options, "in_channels": options.get("in_channels", channels) + channels}
    size_args = (image_size,) if cls is LinearGenerator else ()
    try:
        network = cls(channels, *size_args, value_range=value_range, **options)
    except TypeError as exc:
        raise GanreconError(f"Bad option for the {name} generator: {exc}.") from None
    if prior is None:
        return network
    return PriorRefiner(network, str(prior), value_range=value_range, options=prior_options,
                        prior_input=cls.prior_input)
