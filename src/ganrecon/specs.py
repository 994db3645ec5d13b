"""Small parsers shared by the dataset and degradation spec strings, so every spec fails the same clear way."""

from __future__ import annotations

import math

from ganrecon.errors import GanreconError


def split_kind(spec: str, what: str) -> tuple[str, str]:
    """Split "kind:rest" into ("kind", "rest"); an empty spec is an error naming `what` it should have been."""
    if not isinstance(spec, str) or not spec.strip():
        raise GanreconError(f"The {what} spec is empty.")
    kind, _, rest = spec.strip().partition(":")
    return kind.strip().lower(), rest.strip()


def parse_float(text: str, name: str, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite float within [lo, hi] (ends optionally open), or a one-sentence error."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise GanreconError(f"{name} must be a number, got {text!r}.") from None
    if not math.isfinite(value):
        raise GanreconError(f"{name} must be a finite number, got {text!r}.")
    low_bad = lo is not None and (value < lo or (lo_open and value == lo))
    high_bad = hi is not None and (value > hi or (hi_open and value == hi))
    if low_bad or high_bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        raise GanreconError(f"{name} must be in {left}{lo}, {hi}{right}, got {text}.")
    return value


def parse_int(text: str, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """An integer within [lo, hi], or a one-sentence error."""
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        raise GanreconError(f"{name} must be a whole number, got {text!r}.") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise GanreconError(f"{name} must be {bounds}, got {value}.")
    return value


def parse_size(text: str, name: str = "size") -> tuple[int, int]:
    """"HxW" (or a single "N" for a square) -> (H, W), both positive."""
    parts = str(text).lower().replace("*", "x").split("x")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise GanreconError(f"{name} must look like HxW (e.g. 128x64), got {text!r}.")
    h = parse_int(parts[0], f"{name} height", lo=1)
    w = parse_int(parts[1], f"{name} width", lo=1)
    return h, w


def parse_options(text: str, what: str, allowed: dict[str, type] | None = None) -> dict[str, str]:
    """"a=1,b=2" -> {"a": "1", "b": "2"}; unknown keys (when `allowed` is given) are an error."""
    options: dict[str, str] = {}
    if not text:
        return options
    for item in text.split(","):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise GanreconError(f"The {what} option {item!r} must look like key=value.")
        if allowed is not None and key not in allowed:
            raise GanreconError(
                f"Unknown {what} option {key!r}; known options: {', '.join(sorted(allowed))}.")
        options[key] = value.strip()
    return options


MAX_SEED = 2**32 - 1   # every random source (torch, numpy, split and stream offsets added to it) takes this range


def check_seed(seed) -> int:
    """A seed from 0 to MAX_SEED, or one sentence (a huge seed would overflow torch's 64-bit generator state)."""
    if isinstance(seed, bool):
        raise GanreconError(f"The seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}.")
    return parse_int(seed, "The seed", lo=0, hi=MAX_SEED)
