"""Data echoing (config key `echo`): each degraded training example is trained on about `echo` times.

Why: a refiner's costly prior (the seismic consensus of f-x, dip-steered and sliding-FK interpolation) is
computed for every example of every step, and it was most of a seismic training step. With echoing, a fresh batch
is drawn and degraded every `echo` steps and joins a pool of the last `echo` fresh batches; every step trains on
a batch drawn from that pool, and the refiner's prior cache (`PriorRefiner.cache_learning`) computes each
example's prior once. Choi et al. (2019, "Faster neural network training with data echoing") found that where
the input pipeline is the bottleneck, echoing each example a few times trains nearly as well per step as fresh
data, so most of the steps the prior no longer costs may be gained. Whether it pays here is measured per
CPU-minute of validation gain, like every recipe (docs/results/learning_curves.md).
"""

from __future__ import annotations

import torch

from ganrecon.errors import GanreconError


def check_echo(echo, diversity: bool) -> int:
    """The echo factor as an int, or one sentence on why the run cannot use it."""
    if isinstance(echo, bool) or not isinstance(echo, int) or echo < 1:
        raise GanreconError(f"echo must be a whole number of at least 1 (1: every example fresh), got {echo!r}.")
    if echo > 1 and diversity:
        raise GanreconError("diversity_weight compares two fresh degradation draws of each image; echoed examples "
                            "have one. Use echo: 1 with diversity_weight.")
    return echo


class EchoPool:
    """The examples of the last `echo` fresh batches (tensors of equal length, e.g. observed, clean, mask); a
    fresh batch replaces the oldest. Each example stays for `echo` fresh batches, that is echo x echo steps, and
    a step draws one batch's worth of the pool's echo batches, so each example is used `echo` times on average."""

    def __init__(self, echo: int):
        self.echo = int(echo)
        self.batches: list[tuple[torch.Tensor, ...]] = []
        self.joined: list[torch.Tensor] = []  # the batches joined once per fresh batch, not at every draw

    def __len__(self) -> int:
        return len(self.joined[0]) if self.joined else 0

    def add(self, *tensors: torch.Tensor) -> None:
        self.batches = [*self.batches, tuple(tensors)][-self.echo:]
        self.joined = [torch.cat(parts) for parts in zip(*self.batches)]

    def draw(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """`size` distinct examples of the pool (all of them where it holds fewer), in random order."""
        if not self.joined:
            raise GanreconError("The echo pool is empty: add a fresh batch before drawing from it.")
        rows = torch.randperm(len(self), generator=generator)[:size].to(self.joined[0].device)
        return tuple(t[rows] for t in self.joined)
