"""An untrained deep prior (Ulyanov et al. 2018) for missing traces: the learned-without-data peer.

A small U-Net maps a fixed random input to the gather and is fitted to the known traces only, from a seeded
random initialisation, for a fixed number of Adam steps. Nothing is learned from other data: the only prior is
the network's structure, which fits coherent, smooth signal sooner than noise or gaps, so stopping early
(a fixed `iterations`, not a look at the answer) gives an interpolation. The known traces are put back at the
end. The gather is scaled to unit RMS over its known samples first, so one learning rate fits any amplitude.

Cost grows with the gather's size times `iterations`; the default budget is a few seconds for a 1000 x 80
gather on one CPU thread, far below what deep-prior papers spend (thousands of steps), so read its numbers
as those of a modest budget.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganrecon.errors import GanreconError


def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, padding_mode="reflect"),
                         nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))


class PriorNet(nn.Module):
    """U-Net of `depth` stride-2 levels of `width` channels with 4-channel skips (the deep-prior layout), light at
    full resolution (one `width // 2`-channel layer there), where a convolution costs most on a CPU."""

    def __init__(self, cin: int, width: int, depth: int):
        super().__init__()
        top = max(4, width // 2)
        self.down = nn.ModuleList(nn.Sequential(block(cin if i == 0 else width, width, 2), block(width, width))
                                  for i in range(depth))
        self.skip = nn.ModuleList(block(cin if i == 0 else width, 4) for i in range(depth))
        self.up = nn.ModuleList([block(width + 4, top)] + [nn.Sequential(block(width + 4, width), block(width, width))
                                                           for _ in range(depth - 1)])
        self.head = nn.Conv2d(top, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down, skip in zip(self.down, self.skip):
            skips.append(skip(x))
            x = down(x)
        for level in reversed(range(len(self.up))):
            x = nn.functional.interpolate(x, size=skips[level].shape[-2:], mode="bilinear", align_corners=False)
            x = self.up[level](torch.cat([x, skips[level]], dim=1))
        return self.head(x)


def check_prior(iterations, width, depth, lr, channels) -> None:
    if not (int(iterations) >= 1 and int(width) >= 1 and int(depth) >= 1 and lr > 0 and int(channels) >= 1):
        raise GanreconError("The deep prior needs iterations, width, depth and channels >= 1 and lr > 0.")


def deep_prior(data: np.ndarray, known: np.ndarray, *, iterations: int = 300, **options) -> np.ndarray:
    """Deep-prior interpolation of one gather (H x W, any mask of known samples); known samples kept exactly."""
    return deep_prior_path(data, known, checkpoints=(int(iterations),), **options)[int(iterations)]


def deep_prior_path(data: np.ndarray, known: np.ndarray, *, checkpoints=(300,), width: int = 16, depth: int = 4,
                    lr: float = 0.01, channels: int = 4, input_noise: float = 1 / 30, seed: int = 0,
                    ) -> dict[int, np.ndarray]:
    """The estimates after each of `checkpoints` Adam steps of one fit (so a budget can be tuned in one run)."""
    checkpoints = sorted({int(c) for c in checkpoints})
    check_prior(checkpoints[0] if checkpoints else 0, width, depth, lr, channels)
    data = np.where(known, data, 0.0)
    rms = float(np.sqrt(np.mean(data[known] ** 2))) if known.any() else 0.0
    if known.all() or rms == 0:
        return {c: data for c in checkpoints}
    target = torch.from_numpy(data / rms).float()[None, None]
    weight = torch.from_numpy(known).float()[None, None]
    count = float(weight.sum())
    levels = max(1, min(int(depth), int(np.log2(max(min(data.shape), 2) / 2))))  # the coarsest level >= 2 x 2
    out = {}
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(int(seed))
        net = PriorNet(int(channels), int(width), levels)
        z = torch.rand(1, int(channels), *data.shape) * 0.1
        optimiser = torch.optim.Adam(net.parameters(), lr=lr)
        for step in range(1, checkpoints[-1] + 1):
            optimiser.zero_grad(set_to_none=True)
            noisy_z = z + input_noise * torch.randn_like(z) if input_noise > 0 else z
            loss = (((net(noisy_z) - target) * weight) ** 2).sum() / count
            loss.backward()
            optimiser.step()
            if step in checkpoints:
                with torch.no_grad():
                    out[step] = np.where(known, data, net(z)[0, 0].double().numpy() * rms)
    return out
