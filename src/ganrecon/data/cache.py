"""Disk cache for generated corpora that are slow to make (porespy's packings): same request, same arrays.

Files go to $GANRECON_CACHE (default ~/.cache/ganrecon/corpora), one .npz per request, named by a hash of
everything that determines the arrays (kind, options, seed, split, count, CACHE_VERSION). GANRECON_CACHE=off
turns the cache off. A cache that cannot be written (read-only disk) or read (a damaged file) only costs time:
the arrays are made again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ganrecon.data.convert import FILE_ERRORS
from ganrecon.io_utils import atomic_path

CACHE_ENV = "GANRECON_CACHE"
DEFAULT_CACHE = "~/.cache/ganrecon/corpora"
CACHE_VERSION = 1   # bump when a generator changes its output for the same request


def cache_dir() -> Path | None:
    """The cache folder, or None when GANRECON_CACHE is "off" (or "0", "no", "none")."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in ("off", "0", "no", "none"):
        return None
    return Path(value or DEFAULT_CACHE).expanduser()


def cache_path(kind: str, key: dict) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    text = json.dumps({"kind": kind, "version": CACHE_VERSION, **key}, sort_keys=True, default=str)
    return folder / kind / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.npz"


def cached_arrays(kind: str, key: dict, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """`make()` the first time, the saved arrays afterwards (plain arrays only: no pickles are read)."""
    path = cache_path(kind, key)
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as saved:
                return {name: saved[name] for name in saved.files}
        except FILE_ERRORS:
            pass  # damaged or half-copied file: make the arrays again and overwrite it
    arrays = make()
    if path is not None:
        try:
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as handle:
                    np.savez(handle, **arrays)
        except OSError:
            pass
    return arrays
