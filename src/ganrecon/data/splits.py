"""Reproducible train / val / test splits, and the per-split seeds that keep synthetic splits disjoint."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ganrecon.errors import GanreconError

SPLITS = ("train", "val", "test")
# Fixed codes (not hash()) so that seeds are the same in every Python process.
_SPLIT_CODE = {None: 0, "train": 1, "val": 2, "test": 3}


def check_split(split: str | None) -> str | None:
    """None (or "all": everything) or one of train/val/test, else a one-sentence error."""
    if split is None:
        return None
    if isinstance(split, str) and split.strip().lower() == "all":
        return None
    if not isinstance(split, str) or split.strip().lower() not in SPLITS:
        raise GanreconError(f"Unknown split {split!r}; use train, val, test or all.")
    return split.strip().lower()


def split_indices(n: int, split: str | None, seed: int = 0,
                  fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> np.ndarray:
    """Indices of `split` within range(n) from one seeded permutation (None: all of range(n) in order).

    The three splits partition range(n) for a given seed, so they never share an item. Indices come in
    permutation order, not sorted, so that keeping the first `limit` of them is still a random sample
    even when the source is ordered (e.g. files sorted by class).
    """
    split = check_split(split)
    n = int(n)
    if n < 0:
        raise GanreconError(f"The number of items must be non-negative, got {n}.")
    if split is None:
        return np.arange(n, dtype=np.int64)
    fr = np.asarray(list(fractions), dtype=np.float64)
    if fr.shape != (3,) or not np.all(np.isfinite(fr)) or np.any(fr < 0) or abs(fr.sum() - 1.0) > 1e-6:
        raise GanreconError(f"Split fractions must be three non-negative numbers summing to 1, got {fractions}.")
    perm = np.random.default_rng(_seed(seed)).permutation(n)
    # Cumulative rounding: boundaries never overlap and the three parts always add up to n.
    bounds = np.floor(np.cumsum(fr) * n + 0.5).astype(np.int64)
    bounds[-1] = n
    lo = 0 if split == "train" else int(bounds[SPLITS.index(split) - 1])
    hi = int(bounds[SPLITS.index(split)])
    return perm[lo:hi].astype(np.int64)


def _seed(seed: int) -> int:
    """numpy seeds must be non-negative; fold negative ones onto distinct non-negative values."""
    return int(seed) % (1 << 64)


def split_code(split: str | None) -> int:
    return _SPLIT_CODE[check_split(split)]


def item_rng(kind: str, seed: int, split: str | None, index: int) -> np.random.Generator:
    """Generator for synthetic item `index`: depends on (kind, seed, split, index) only.

    Seeding each item separately makes item i identical whatever `n` or `limit` is, and the split code in
    the seed keeps train, val and test streams apart.
    """
    kind_code = int.from_bytes(kind.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.default_rng([kind_code, _seed(seed), split_code(split), int(index)])
