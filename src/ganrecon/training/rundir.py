"""A run directory: its lock, what it holds (is there a run to resume?), and the files the loop writes there:
config.yaml, log.csv, validation.csv, TensorBoard events and summary.json."""

from __future__ import annotations

import bisect
import contextlib
import csv
import fcntl
from pathlib import Path

from ganrecon.checkpoints import latest_checkpoint
from ganrecon.config import save_config
from ganrecon.errors import GanreconError
from ganrecon.io_utils import atomic_write_json

VAL_FIELDS = ["step", "method", "mse", "mse_missing", "psnr", "ssim", "snr", "porosity_error", "hf_ratio"]


class RunLock:
    """An exclusive lock on a run directory, so two trainings cannot interleave their checkpoints."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self.handle = None
        self.created_dir = False

    def __enter__(self):
        self.created_dir = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise GanreconError(
                f"Another training is already using {self.path.parent}; wait for it or choose another --out.") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
        if self.created_dir and [p.name for p in self.path.parent.iterdir()] == [".lock"]:
            # a run that failed before writing anything (bad data spec, ...) leaves no empty folder behind
            self.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()


def checkpoint_to_resume(run_dir: Path, resume: bool) -> Path | None:
    """The checkpoint a run continues from. Without --resume a directory holding a run is refused (its checkpoints
    would be overwritten); with --resume a directory holding no run is refused (a mistyped --out would otherwise
    start a full training from step 0). A run killed before its first checkpoint (config.yaml, no checkpoint)
    starts again from step 0."""
    checkpoint = latest_checkpoint(run_dir)
    if not resume:
        if checkpoint is not None:
            raise GanreconError(f"{run_dir} already holds a training run; pass --resume to continue it or choose "
                                "another --out.")
        return None
    if checkpoint is None and not (Path(run_dir) / "config.yaml").is_file():
        raise GanreconError(f"{run_dir} holds no training run to resume; check --out, or leave out --resume to "
                            "start a new run there.")
    return checkpoint


def fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def truncate_csv(path: Path, fields: list[str], start_step: int) -> None:
    """Keep the log rows up to the checkpoint we resume from, so a resumed run's log has no duplicate steps."""
    rows = []
    if start_step > 0 and path.is_file():
        with open(path, newline="") as fh:
            rows = [r for r in csv.reader(fh)][1:]
        rows = [r for r in rows if r and r[0].isdigit() and int(r[0]) <= start_step]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        writer.writerows(rows)


def seconds_at(run_dir: Path, steps) -> dict[int, float]:
    """The run's seconds at each of `steps` (validation steps), from log.csv (resumed parts included): validation
    falls on a logged step or next to one, so a step takes the nearest logged step's time; step 0 (the starting
    weights) is 0. Steps with no logged time (an empty log) are left out."""
    logged = {}
    with open(Path(run_dir) / "log.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("seconds"):
                logged[int(row["step"])] = float(row["seconds"])
    order = sorted(logged)
    times = {}
    for step in set(steps):
        if step == 0:
            times[step] = 0.0
        elif order:  # the nearest logged step (the earlier of two as near), found by bisection
            i = bisect.bisect_left(order, step)
            times[step] = logged[min(order[max(i - 1, 0):i + 1], key=lambda s: abs(s - step))]
    return times


def open_tensorboard(run_dir: Path):
    """A TensorBoard writer beside the CSV logs, for users who installed the `tensorboard` extra."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise GanreconError("tensorboard: true needs the tensorboard package: pip install 'ganrecon[tensorboard]'.") \
            from None
    return SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))


class RunFiles:
    """The files of one run directory that the loop writes (rank 0 only): the resolved config, one log.csv row
    per logged step, validation.csv rows per method, optional TensorBoard events and summary.json."""

    def __init__(self, run_dir: Path, config, tensorboard: bool = False):
        self.run_dir, self.config, self.tensorboard = Path(run_dir), config, tensorboard
        self.log_path, self.val_path = self.run_dir / "log.csv", self.run_dir / "validation.csv"
        self.log_fields: list[str] = []
        self.board = None

    def open(self, start_step: int, log_fields: list[str]) -> None:
        """Called once the checkpoint (if any) has loaded: a run that fails before this changes no file."""
        self.board = open_tensorboard(self.run_dir) if self.tensorboard else None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        save_config(self.config, self.run_dir / "config.yaml")
        self.log_fields = ["step", *log_fields, "images_per_s", "seconds"]
        truncate_csv(self.log_path, self.log_fields, start_step)
        truncate_csv(self.val_path, VAL_FIELDS, start_step)

    def log(self, step: int, values: dict, images_per_s: float, seconds: float) -> None:
        row = [step, *(values[k] for k in self.log_fields[1:-2]), images_per_s, seconds]
        with open(self.log_path, "a", newline="") as fh:
            csv.writer(fh).writerow([fmt(v) for v in row])
        if self.board is not None:
            for name, value in zip(self.log_fields[1:], row[1:]):
                if name != "epoch":
                    self.board.add_scalar(f"train/{name}", float(value), step)

    def validation(self, step: int, scores: dict) -> None:
        with open(self.val_path, "a", newline="") as fh:
            writer = csv.writer(fh)
            for method, s in scores.items():
                writer.writerow([step, method] + [fmt(s.get(k)) for k in VAL_FIELDS[2:]])
        if self.board is not None:
            for key in ("psnr", "ssim", "snr"):
                board_scores = {m: s[key] for m, s in scores.items() if s.get(key) is not None}
                if board_scores:
                    self.board.add_scalars(f"val/{key}", board_scores, step)

    def summary(self, step: int, seconds: float, validation: dict) -> None:
        atomic_write_json(self.run_dir / "summary.json", {"step": step, "seconds": round(seconds, 1),
                                                          "validation": validation})

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
            self.board = None
