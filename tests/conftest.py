"""Shared fixtures: tiny synthetic data sets written to tmp folders (tests never read ../shared)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(2)


def smooth_images(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Blurry blobs in [0, 1]: structure a tiny model can learn to interpolate in a few steps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((n, h, w), np.float32)
    for i in range(n):
        for _ in range(3):
            cy, cx, s = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, 5)
            out[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return np.clip(out / out.max(axis=(1, 2), keepdims=True), 0, 1)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: one thread avoids OpenMP contention that makes them up to 10x
    slower (a module opts in with `pytestmark = pytest.mark.usefixtures("one_thread")`)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> str:
    """80 smooth 16x16 images as an npz spec."""
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, images=(smooth_images(80, 16, 16) * 255).astype(np.uint8))
    return f"npz:{path}"


def tiny_overrides(data_spec: str, **extra) -> dict:
    """A config small enough to train in a second or two on one CPU core."""
    base = {"task": "traces", "data": data_spec, "degrade": "columns:random:0.5",
            "generator_options": {"depth": 2, "width": 8}, "discriminator_options": {"width": 8},
            "steps": 12, "batch_size": 8, "val_images": 8, "eval_every": 6, "checkpoint_every": 4,
            "log_every": 1, "seed": 3}
    base.update(extra)
    return base


def signals_at_step(monkeypatch, task: str, step: int, *signals):
    """Make the `task` strategy send itself `signals` when its training step `step` starts (a user's Ctrl-C or a
    scheduler's SIGTERM arriving mid-run); returns the real step, for a test that then trains on without them."""
    import os

    from ganrecon.training import strategy_for

    strategy_class = strategy_for(task)
    real_step = strategy_class.step

    def step_with_signals(self, i, rng):
        if i == step:
            for sig in signals:
                os.kill(os.getpid(), sig)
        return real_step(self, i, rng)

    monkeypatch.setattr(strategy_class, "step", step_with_signals)
    return real_step


def load_benchmark(stem: str, name: str | None = None):
    """benchmarks/STEM.py as a module (benchmarks/ holds scripts, not a package), registered in sys.modules (its
    dataclasses look their module up there), with benchmarks/ on sys.path for the scripts' imports of each other."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(name or f"{stem}_benchmark", folder / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
