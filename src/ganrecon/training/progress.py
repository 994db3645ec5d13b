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


class _RichBar(SilentProgress):
    """A rich progress bar, started and stopped as a context; validation lines printed above it."""

    def __init__(self, label: str, *columns, total: float):
        from rich.progress import BarColumn, Progress, TextColumn

        self.progress = Progress(TextColumn(label), BarColumn(), *columns, TextColumn("{task.fields[info]}"))
        self.task = self.progress.add_task(label, total=total, info="")

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def note(self, text: str) -> None:
        self.progress.console.print(text)


class BarProgress(_RichBar):
    """A bar over the planned steps, with the strategy's losses."""

    def __init__(self, total: int, start: int, label: str = "train"):
        from rich.progress import MofNCompleteColumn, TimeRemainingColumn

        super().__init__(label, MofNCompleteColumn(), TimeRemainingColumn(), total=total)
        self.progress.update(self.task, completed=start)

    def update(self, step: int, fraction: float, text: str) -> None:
        self.progress.update(self.task, completed=step, info=text)


class CallbackProgress(SilentProgress):
    """Progress as `callback(fraction done, message)`, the shape the CLI's adaptation bar takes."""

    def __init__(self, callback: Callable[[float, str], None]):
        self.callback = callback

    def update(self, step: int, fraction: float, text: str) -> None:
        self.callback(min(max(fraction, 0.0), 1.0), text)


class FractionBarProgress(_RichBar):
    """A bar over the run's fraction done (steps or time budget, whichever is further: the loop's own measure),
    with the strategy's text. For runs planned by seconds."""

    def __init__(self, label: str):
        from rich.progress import TimeElapsedColumn

        super().__init__(label, TimeElapsedColumn(), total=1.0)

    def update(self, step: int, fraction: float, text: str) -> None:
        self.progress.update(self.task, completed=min(max(fraction, 0.0), 1.0), info=text)
