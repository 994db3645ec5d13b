"""How a run shows progress: a rich bar for training runs, or a callback (fraction, message) for in-memory runs
such as adaptation inside `eval` and `reconstruct`, or nothing."""

from __future__ import annotations

from collections.abc import Callable


class SilentProgress:
    """No output (other DDP ranks, tests, notebooks that asked for none)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def update(self, step: int, fraction: float, text: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class BarProgress(SilentProgress):
    """A rich progress bar over the planned steps, with the strategy's losses; validation lines printed above it."""

    def __init__(self, total: int, start: int, label: str = "train"):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 TextColumn("{task.fields[info]}"))
        self.task = self.progress.add_task(label, total=total, completed=start, info="")

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def update(self, step: int, fraction: float, text: str) -> None:
        self.progress.update(self.task, completed=step, info=text)

    def note(self, text: str) -> None:
        self.progress.console.print(text)


class CallbackProgress(SilentProgress):
    """Progress as `callback(fraction done, message)`, the shape the CLI's adaptation bar takes."""

    def __init__(self, callback: Callable[[float, str], None]):
        self.callback = callback

    def update(self, step: int, fraction: float, text: str) -> None:
        self.callback(min(max(fraction, 0.0), 1.0), text)


class FractionBarProgress(SilentProgress):
    """A rich bar over the run's fraction done (steps or time budget, whichever is further: the loop's own
    measure), with the strategy's text; validation lines printed above it. For runs planned by seconds."""

    def __init__(self, label: str):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn(label), BarColumn(), TimeElapsedColumn(), TextColumn("{task.fields[info]}"))
        self.task = self.progress.add_task(label, total=1.0, info="")

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def update(self, step: int, fraction: float, text: str) -> None:
        self.progress.update(self.task, completed=min(max(fraction, 0.0), 1.0), info=text)

    def note(self, text: str) -> None:
        self.progress.console.print(text)
