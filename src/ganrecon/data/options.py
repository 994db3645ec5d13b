"""Typed `key=value` options for the synthetic specs, declared once per generator as a dataclass.

A generator declares its options as dataclass fields with defaults and one parser per field; adding an
option (e.g. ground roll for the seismic generator) means adding one field and one entry in its parser table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ganrecon.errors import GanreconError
from ganrecon.specs import parse_float, parse_int, parse_options, parse_size


def parse_range(text: str, name: str, lo: int = 1, hi: int | None = None,
                one: Callable[[str], Any] | None = None) -> tuple:
    """"5" -> (5, 5), "3-8" -> (3, 8); both ends within [lo, hi] and in order. `one` parses an end instead
    (e.g. a positive float: "0.002-0.004"; ends cannot be negative, "-" separates them)."""
    one = one or (lambda t: parse_int(t, name, lo=lo, hi=hi))
    first, dash, second = str(text).partition("-")
    a = one(first)
    b = one(second) if dash else a
    if b < a:
        raise GanreconError(f"{name} must look like LOW-HIGH with LOW <= HIGH, got {text!r}.")
    return a, b


def names(text: str, name: str, known: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """"a+b" -> ("a", "b"), each one of `known`."""
    items = tuple(t.strip().lower() for t in str(text).split("+") if t.strip())
    if not items:
        raise GanreconError(f"{name} needs at least one of {', '.join(known)}.")
    for item in items:
        if item not in known:
            raise GanreconError(f"Unknown {name} {item!r}; choose from {', '.join(known)}.")
    return items


def positive_int(name: str, hi: int | None = None) -> Callable[[str], int]:
    return lambda text: parse_int(text, name, lo=1, hi=hi)


def flag(name: str, meaning: str = "") -> Callable[[str], bool]:
    """A 0/1 option (also false/true, no/yes); `meaning` says in the error what 1 does."""
    def parse(text: str) -> bool:
        value = str(text).strip().lower()
        if value not in ("0", "1", "false", "true", "no", "yes"):
            hint = f" ({meaning})" if meaning else ""
            raise GanreconError(f"{name} is 0 or 1{hint}, got {text!r}.")
        return value in ("1", "true", "yes")
    return parse


def number(name: str, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False) -> Callable[[str], float]:
    return lambda text: parse_float(text, name, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open)


def size(name: str = "size", max_side: int = 8192) -> Callable[[str], tuple[int, int]]:
    def parse(text: str) -> tuple[int, int]:
        h, w = parse_size(text, name)
        if h > max_side or w > max_side:
            raise GanreconError(f"{name} sides must be at most {max_side}, got {h}x{w}.")
        return h, w
    return parse


def as_meta(options) -> dict:
    """A generator's options as plain JSON-ready values (tuples as lists), for its ImageSet's meta["options"]."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(options).items()}


def parse_dataclass(cls: type, text: str, what: str, parsers: dict[str, Callable[[str], Any]]):
    """Instance of dataclass `cls` from "key=value,..." with every key checked and parsed by `parsers`."""
    raw = parse_options(text, what, allowed=dict.fromkeys(parsers, str))
    values = {key: parsers[key](value) for key, value in raw.items()}
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in fields})
