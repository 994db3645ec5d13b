"""What a step depends on besides the weights, as pure functions of (seed, step): the step's random stream, the
learning-rate schedule and the EMA decay. This is what makes a resumed run end with exactly the weights of an
uninterrupted one, whatever the strategy."""

from __future__ import annotations

import torch

from ganrecon.errors import GanreconError


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The RNG of one step (degradation, noise z, crops): a pure function of (seed, step, rank), hence exact
    resume."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 7919 + rank) % (2**63 - 1))


LR_DECAYS = ("none", "linear", "linear-budget")


def lr_factor(kind: str, step: int, steps: int | None, budget_used: float = 0.0) -> float:
    """The learning-rate multiplier. "linear" (pix2pix): constant for the first half of the steps, then linearly to
    zero. "linear-budget": the same over whichever is further along, the steps (None: no step limit) or the time
    budget (`budget_used`, the fraction of max_seconds spent), for runs whose speed is not known ahead (a lent GPU,
    a survey adaptation). It follows the clock, so a resumed run is no longer bit-exact."""
    if kind == "none":
        return 1.0
    if kind in ("linear", "linear-budget"):
        factor = 1.0
        if steps:
            half = steps // 2
            factor = 1.0 if step < half else max(0.0, 1.0 - (step - half) / max(steps - half, 1))
        if kind == "linear-budget":
            factor = min(factor, 1.0 if budget_used < 0.5 else max(0.0, 2.0 - 2.0 * budget_used))
        return factor
    raise GanreconError(f"Unknown lr_decay {kind!r}; use {', '.join(LR_DECAYS)}.")


def ema_decay(decay: float, step: int) -> float:
    """The EMA decay at a step, one rule for every strategy: early on, the average must not be dominated by the
    initial weights, so the decay ramps up as (1 + step) / (10 + step) until it reaches `decay`."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)
