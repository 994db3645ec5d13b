"""Building blocks shared by the generators and discriminators."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganrecon.errors import GanreconError


class RangeActivation(nn.Module):
    """Output head that respects the data's value range, for images; the identity for signed data (seismic
    amplitudes are normalised by the observed traces, so the missing ones can exceed 1 and must not be clipped).

    `sigmoid` squashes to [lo, hi]; it only reaches lo or hi at infinite logits and its gradient vanishes on the
    way, so images whose pixels sit exactly on the range ends (MNIST is 80% exact black, salt & pepper noise is
    0 or 1) keep a grey floor (~0.04 on MNIST's background after a CPU budget, which alone caps SSIM near 0.5).
    `clamp` clips to [lo, hi] in the forward pass and passes the gradient straight through, so the range ends
    are reached exactly and an output outside the range is still pulled back by the loss."""

    KINDS = ("sigmoid", "clamp")

    def __init__(self, value_range: tuple[float, float], kind: str = "sigmoid"):
        super().__init__()
        if kind not in self.KINDS:
            raise GanreconError(f"Unknown output activation {kind!r}; choose one of {', '.join(self.KINDS)}.")
        self.lo, self.hi = float(value_range[0]), float(value_range[1])
        self.signed = self.lo < 0
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.signed:
            return x
        if self.kind == "clamp":  # straight-through: clipped value, identity gradient
            return x + (x.clamp(self.lo, self.hi) - x).detach()
        return self.lo + (self.hi - self.lo) * torch.sigmoid(x)

    def inverse(self, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
        """The pre-activation that maps to `y` (sigmoid: the logit, clamped `eps` inside the range; clamp: `y`
        itself), for residual outputs."""
        if self.signed or self.kind == "clamp":
            return y
        return torch.logit(((y - self.lo) / (self.hi - self.lo)).clamp(eps, 1.0 - eps))

    def extra_repr(self) -> str:
        return f"range=({self.lo}, {self.hi}), {'identity' if self.signed else self.kind}"


def polarity_average(fn, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`(fn(d) - fn(-d)) / 2`, both polarities in one batch: what signed (seismic) data, linear in the source,
    require of a reconstruction."""
    plus, minus = fn(torch.cat([observed, -observed]), torch.cat([mask, mask])).float().chunk(2)
    return (plus - minus) / 2


def normalise_by_observed(observed: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image amplitude of the observed entries, so signed data of any scale reaches the model at max |x| = 1
    (in training and in use alike); returns (observed / amp, amp)."""
    amp = observed.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(eps)
    return observed / amp, amp


def conv_block(cin: int, cout: int, kernel: int = 3, norm: bool = True) -> FoldedSequential:
    """Two convolutions with BatchNorm and LeakyReLU: the unit of every U-Net level."""
    pad = kernel // 2
    layers: list[nn.Module] = []
    for i in range(2):
        layers.append(nn.Conv2d(cin if i == 0 else cout, cout, kernel, padding=pad, bias=not norm))
        if norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    return FoldedSequential(*layers)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad H and W up to a multiple of `multiple` so pooling works at any size; returns the original size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if (ph < h and pw < w) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def condition(observed: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Generator input: the observed image with its mask as an extra channel (a missing pixel differs from a zero)."""
    if mask is None:
        mask = torch.ones_like(observed[:, :1])
    return torch.cat([observed, mask[:, :1].to(observed.dtype)], dim=1)


INFERENCE_FORM = True  # the faster equivalent layers at inference (folded BatchNorm, SRResNet's sub-pixel tail);
#                        generators.layers_as_trained() turns it off for benchmarks


def conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """`bn(conv(x))`; at inference without gradients and with running statistics, one convolution with the
    BatchNorm folded into its weights and bias: the same function to rounding, one pass over the activations
    fewer."""
    if bn.training or torch.is_grad_enabled() or bn.running_var is None or not INFERENCE_FORM:
        return bn(conv(x))
    gain = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    weight = conv.weight * gain.reshape(-1, 1, 1, 1)
    if conv.weight.is_contiguous(memory_format=torch.channels_last):
        weight = weight.contiguous(memory_format=torch.channels_last)
    bias = bn.bias - bn.running_mean * gain
    if conv.bias is not None:
        bias = bias + conv.bias * gain
    return conv._conv_forward(x, weight, bias)


class FoldedSequential(nn.Sequential):
    """nn.Sequential (same parameter names, so bundles load either way) whose Conv2d + BatchNorm2d pairs run as
    `conv_bn`: folded into one convolution at inference without gradients."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        modules, i = list(self), 0
        while i < len(modules):
            if (i + 1 < len(modules) and isinstance(modules[i], nn.Conv2d)
                    and isinstance(modules[i + 1], nn.BatchNorm2d)):
                x, i = conv_bn(modules[i], modules[i + 1], x), i + 2
            else:
                x, i = modules[i](x), i + 1
        return x
