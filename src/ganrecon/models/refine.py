"""A generator that refines the best conventional answer instead of starting from nothing.

Why: a network trained on one kind of data can be 10 dB worse than a median filter or an interpolation on
another. `PriorRefiner` wraps any generator: in `forward(observed, mask)` it computes a conventional estimate
(the *prior*, any baseline that applies to the degradation: bicubic, linear, cubic, biharmonic, fk,
adaptive-median, switching-median, ...), feeds the network `[observed, prior]` and a guide channel, and returns
`prior + correction`. The network's last layer starts at zero, so an untrained refiner returns the prior exactly
and training only has to learn what the conventional method misses. Because the prior is computed inside the
module, training, validation, inference and saved bundles need no wiring: the generator option `prior: NAME`
(in a config's `generator_options`, and so in a bundle's meta) is all it takes.

Details:
- the guide channel (the generator's mask input) is the mask for missing-data priors; for impulse priors
  (switching-median, adaptive-median, impulse-biharmonic) it is the map of entries that are *not* impulse
  candidates, so the network learns which candidates are real (saturated highlights, a digit's black background);
- super-resolution networks (`prior_input = False`: SRResNet) see only the low-resolution input, from which the
  bicubic prior adds nothing; its upsampled output is added to their correction;
- the prior is computed without gradients, in float32 outside autocast; batched torch for bicubic, linear and
  nearest interpolation along rows, switching median, impulse-biharmonic and the trivial priors; the scipy/scikit-image/pylops
  baselines otherwise, with a small per-image cache (keyed by a hash of the image and mask) so a fixed
  validation batch or a repeated input does not pay twice; a training or adaptation step (training mode, or
  gradients on) bypasses the cache (every batch is new), unless an adaptation draws its crops from a fixed
  pool (`cache_learning`);
- for images the output is clamped to the value range (straight-through gradient), which leaves a prior
  inside the range unchanged.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import pickle
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from ganrecon.baselines import BASELINES, impulse_candidates, run_baseline
from ganrecon.errors import GanreconError
from ganrecon.io_utils import atomic_path
from ganrecon.models.layers import polarity_average
from ganrecon.orientations import oriented_mean

IMPULSE_PRIORS = frozenset({"switching-median", "adaptive-median", "impulse-biharmonic"})
ROW_PRIORS = frozenset({"linear", "nearest"})  # torch, batched (interpolate_rows)
TORCH_PRIORS = frozenset({"bicubic", "switching-median", "impulse-biharmonic", "zero-fill", "noisy",
                          "identity"})  # batched torch: cheap as they are


def interpolate_rows(observed: torch.Tensor, known: torch.Tensor, kind: str = "linear",
                     value_range=(0.0, 1.0)) -> torch.Tensor:
    """Batched torch twin of the `linear` / `nearest` baselines: fill each row's unknown entries from its nearest
    known ones on either side (constant beyond the first/last known entry, 0 in a row with none), known entries
    kept exactly, filled ones clamped to the range. Computed in float64 like the numpy baseline."""
    x = observed.double()
    w = x.shape[-1]
    idx = torch.arange(w, device=x.device).expand(x.shape)
    prev = torch.where(known, idx, -1).cummax(-1).values
    nxt = torch.where(known, idx, w).flip(-1).cummin(-1).values.flip(-1)
    has_prev, has_next = prev >= 0, nxt < w
    v_prev = x.gather(-1, prev.clamp(0, w - 1))
    v_next = x.gather(-1, nxt.clamp(0, w - 1))
    v_prev, v_next = torch.where(has_prev, v_prev, v_next), torch.where(has_next, v_next, v_prev)
    if kind == "nearest":
        fill = torch.where(idx - prev <= nxt - idx, v_prev, v_next)
    elif kind == "linear":
        t = torch.where(has_prev & has_next, (idx - prev) / (nxt - prev).clamp_min(1), 0.0)
        fill = v_prev * (1 - t) + v_next * t
    else:
        raise GanreconError(f"Row interpolation is linear or nearest, not {kind!r}.")
    fill = torch.where(has_prev | has_next, fill, 0.0).clamp(float(value_range[0]), float(value_range[1]))
    return torch.where(known, x, fill).float()


class PriorCache:
    """Per-image LRU cache of a costly prior, keyed by a hash of the image and its mask (bytes, shape)."""

    def __init__(self, size: int = 256):
        self.size = int(size)
        self.entries: OrderedDict[bytes, torch.Tensor] = OrderedDict()

    def disable(self) -> None:
        """Compute the prior at every call from now on (timings of a user's new input; nothing kept)."""
        self.size = 0
        self.entries.clear()

    @staticmethod
    def key(observed: torch.Tensor, mask: torch.Tensor) -> bytes:
        digest = hashlib.sha1(str(tuple(observed.shape)).encode())
        digest.update(observed.detach().float().cpu().numpy().tobytes())
        digest.update(mask.detach().float().cpu().numpy().tobytes())
        return digest.digest()

    def __call__(self, fn, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.size <= 0:
            return fn(observed, mask)
        keys = [self.key(o, m) for o, m in zip(observed, mask)]
        first = {k: i for i, k in reversed(list(enumerate(keys)))}  # a batch may hold one input twice
        todo = [i for k, i in first.items() if k not in self.entries]
        if todo:
            fresh = fn(observed[todo], mask[todo]).cpu()
            for i, est in zip(todo, fresh):
                self.entries[keys[i]] = est
        out = []
        for k in keys:
            self.entries.move_to_end(k)
            out.append(self.entries[k])
        self._trim()
        return torch.stack(out).to(observed.device)

    def _trim(self) -> None:
        """Drop the least recently used entries beyond `size`."""
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def save(self, path: Path, tag: str) -> None:
        """The entries, least recently used first, to `path` (atomically): a resumed survey adaptation reads them
        back instead of computing the prior of every pool problem and validation tile again (about 5 of 55
        minutes with the seismic consensus). `tag` names the prior they came from."""
        keys = torch.tensor([list(k) for k in self.entries], dtype=torch.uint8).reshape(-1, 20)
        with atomic_path(path) as tmp:
            torch.save({"tag": tag, "keys": keys, "values": list(self.entries.values())}, tmp)

    def load(self, path: Path, tag: str) -> int:
        """Entries saved by `save` for the same prior (`tag`), up to the cache's size; how many were taken. A
        missing, unreadable or foreign file gives none: the cache only saves time, the keys (hashes of image and
        mask) make a stale entry harmless."""
        if self.size <= 0:
            return 0
        try:
            saved = torch.load(path, weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
            return 0
        if not isinstance(saved, dict) or saved.get("tag") != tag:
            return 0
        pairs = list(zip((bytes(k.tolist()) for k in saved["keys"]), saved["values"]))[-self.size:]
        self.entries.update(pairs)
        self._trim()
        return len(pairs)


def check_prior(prior: str, scale: int, value_range, options: dict | None = None) -> None:
    """One sentence when `prior` cannot serve a generator of this scale and value range."""
    baseline = BASELINES.get(prior)
    if baseline is None:
        raise GanreconError(f"Unknown prior {prior!r}; a prior is a baseline: {', '.join(BASELINES)}.")
    upsampling = "down" in baseline.families
    if upsampling != (scale > 1):
        raise GanreconError(f"The prior {prior} does not fit a generator of scale {scale}: "
                            + ("use bicubic." if scale > 1 else "an upsampling prior needs a super-resolution model."))
    if baseline.signed_only and float(value_range[0]) >= 0:
        raise GanreconError(f"The prior {prior} is for signed (seismic) data only.")
    unknown = sorted(set(options or {}) - set(inspect.signature(baseline.fn).parameters))
    if unknown:
        raise GanreconError(f"The prior {prior} does not take the option(s) {', '.join(unknown)}.")


class PriorRefiner(nn.Module):
    """`prior(observed, mask) + network([observed, prior], guide)` with the network's last layer zeroed."""

    def __init__(self, network: nn.Module, prior: str, *, value_range=(0.0, 1.0), options: dict | None = None,
                 prior_input: bool = True, cache_size: int = 256):
        super().__init__()
        prior = prior.strip().lower()
        self.scale = int(getattr(network, "scale", 1))
        self.fixed_size = bool(getattr(network, "fixed_size", False))
        check_prior(prior, self.scale, value_range, options)
        self.prior_name, self.prior_options = prior, dict(options or {})
        self.prior_input = bool(prior_input)
        self.lo, self.hi = float(value_range[0]), float(value_range[1])
        self.network = network
        if hasattr(network, "out"):
            network.out = nn.Identity()  # the network predicts an unbounded correction, not an image
        last = [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][-1]
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)
        self.cache = PriorCache(cache_size)
        self.cache_learning = False  # an adaptation with a fixed pool of crops caches the prior of its steps too

    def cache_pool(self, size: int) -> None:
        """Training or adaptation draws from a fixed pool of `size` problems: cache their priors too (kept beside
        validation's, up to 256 of them)."""
        self.cache_learning = True
        self.cache.size = max(self.cache.size, size + 256)

    @property
    def value_range(self) -> tuple[float, float]:
        return (self.lo, self.hi)

    @property
    def prior_tag(self) -> str:
        """What a cached prior depends on besides its input: a saved cache of another prior is not read back."""
        return json.dumps({"prior": self.prior_name, "options": self.prior_options, "range": self.value_range,
                           "scale": self.scale}, sort_keys=True, default=str)

    def prior(self, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The conventional estimate (float32, no gradients, the clean grid); missing entries must be finite."""
        learning = self.training or torch.is_grad_enabled()  # a training or adaptation step (fine-tuning keeps eval)
        with torch.no_grad(), torch.autocast(observed.device.type, enabled=False):
            known = mask > 0
            observed = torch.where(known, observed.float(), 0.0)
            if self.prior_name in ROW_PRIORS:
                return interpolate_rows(observed, known.expand_as(observed), self.prior_name, self.value_range)

            def run(o, m):
                return run_baseline(self.prior_name, o, m, value_range=self.value_range, scale=self.scale,
                                    **self.prior_options).float()

            if self.prior_name in TORCH_PRIORS or (learning and not self.cache_learning):
                # a training batch is new at every step: caching it would only hash it and evict the fixed
                # validation batch, which validation (eval mode, no gradients) reuses
                return run(observed, mask)
            return self.cache(run, observed, mask.float().expand_as(observed))

    def guide(self, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The network's mask channel: the mask, or for impulse priors the entries that are not candidates."""
        if self.prior_name in IMPULSE_PRIORS:
            return (~impulse_candidates(observed, self.value_range).any(1, keepdim=True)).to(observed.dtype)
        return mask

    def inputs(self, observed: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(prior, the network's input, its guide channel); a missing entry carries no value."""
        observed = torch.where(mask > 0, torch.nan_to_num(observed), 0.0)
        prior = self.prior(observed, mask)
        x = torch.cat([observed, prior.to(observed.dtype)], dim=1) if self.prior_input else observed
        return prior, x, self.guide(observed, mask)

    def forward(self, observed: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            mask = torch.ones_like(observed)
        prior, x, guide = self.inputs(observed, mask)
        return self.clamped(prior + self.network(x, guide).float())

    def clamped(self, out: torch.Tensor) -> torch.Tensor:
        """Images clamped to the value range (gradient straight through); signed data as they are."""
        if self.lo < 0:
            return out
        return out + (out.clamp(self.lo, self.hi) - out).detach()

    def shares_prior(self, polarity: bool) -> bool:
        """Whether a self-ensemble computes the prior once and turns it with the tile (`oriented_average`): for
        the costly priors, whose time would otherwise grow with each orientation, provided a polarity average
        can also share it (an odd prior)."""
        return self.costly_prior and (BASELINES[self.prior_name].odd or not polarity)

    @property
    def costly_prior(self) -> bool:
        """A scipy/scikit-image/pylops prior (cached per input), not a batched torch one."""
        return self.prior_name not in TORCH_PRIORS | ROW_PRIORS

    def polarity_average(self, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`(f(d) - f(-d)) / 2` for signed data, the network's two polarities in one batch. An odd prior
        (prior(-d) = -prior(d): POCS, FK, interpolation) is computed once, since the average is then
        prior + (c(d) - c(-d)) / 2 for the correction c; that halves the prior's cost (for POCS, most of a
        refiner's inference time)."""
        if not BASELINES[self.prior_name].odd:
            return polarity_average(self, observed, mask)
        prior, x, guide = self.inputs(observed, mask)
        return prior + polarity_average(self.network, x, guide)

    def oriented_average(self, observed: torch.Tensor, mask: torch.Tensor, orientations: int,
                         polarity: bool) -> torch.Tensor:
        """The mean over the first `orientations` orientations of the tile (ganrecon.orientations) and, with
        `polarity`, both polarities; the prior is computed once, on the tile as given, and turned with it: the
        seismic consensus is nearly a mirror of itself (benchmarks/seismic_symmetry.py), and computing it
        again for the mirrored tile would double the time a mirror ensemble costs for the network's sake."""
        prior, x, guide = self.inputs(observed, mask)

        def correction(xo: torch.Tensor, go: torch.Tensor) -> torch.Tensor:
            return polarity_average(self.network, xo, go) if polarity else self.network(xo, go).float()
        return self.clamped(prior + oriented_mean(correction, orientations)(x, guide))

    def extra_repr(self) -> str:
        return f"prior={self.prior_name}, options={self.prior_options}, prior_input={self.prior_input}"
