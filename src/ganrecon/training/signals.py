"""Ctrl-C and SIGTERM during a run: recorded and acted on at the next step boundary, so a checkpoint never holds
a half-done step."""

from __future__ import annotations

import contextlib
import signal


@contextlib.contextmanager
def deferred_signals(requested: list):
    """Record SIGINT and SIGTERM in `requested` instead of stopping mid-step; the run loop stops at the next step
    boundary and saves a checkpoint there. A KeyboardInterrupt raised mid-step would checkpoint BatchNorm
    statistics, EMA or Adam updates of a half-done step, and the resumed run would differ from an uninterrupted
    one. A second signal raises KeyboardInterrupt at once (the loop then keeps the last good checkpoint)."""
    def handler(signum, frame):
        if requested:
            raise KeyboardInterrupt
        requested.append(signum)

    signals = (signal.SIGTERM, signal.SIGINT)
    try:
        previous = {s: signal.signal(s, handler) for s in signals}
    except ValueError:  # not in the main thread: signals stay as they are
        yield
        return
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
