"""Kill `ganrecon train` at random steps and inside checkpoint writes, resume it, and compare with an
uninterrupted run of the same seed: on CPU every weight must be bit-identical.

    .venv/bin/python benchmarks/fault_injection.py --kills 10          # about 4 minutes on 2 busy cores

Faults injected (each in a fresh `python -m ganrecon train` process, one thread):
- SIGKILL at a random logged step (log.csv is watched), then `--resume` in a new process;
- SIGKILL inside a checkpoint write: after the state file is written but before the folder is renamed, after
  the rename but before the `latest` pointer moves, and between the model bundle's weights and its JSON;
- SIGINT and SIGTERM: the trainer must save a checkpoint at the current step before exiting.
For every resumed run: model.safetensors, every tensor of the final checkpoint (G, D, EMA, both optimizers,
RNG) and the loss columns of log.csv are compared with the uninterrupted run. Results go to
docs/results/fault_injection.json (read by benchmarks/reliability_table.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import smooth_images  # noqa: E402  (tests/ is put on the path above)
from test_reliability import logged_steps, loss_rows  # noqa: E402  (the same helpers the CI test uses)

STEPS = 40

# Run inside the child: SIGKILL itself at one precise point of a checkpoint write (argv[1] says where).
MID_WRITE = r"""
import os, signal, sys
import ganrecon.checkpoints as ck
where, nth = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}
def die_after(fn, match=lambda *a, **k: True):
    def wrapped(*args, **kwargs):
        result = fn(*args, **kwargs)
        if match(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapped
if where == "state-written":      # state.safetensors in the temporary folder, nothing renamed yet
    ck.save_file = die_after(ck.save_file, lambda tensors, path, *a, **k: str(path).endswith("state.safetensors"))
elif where == "folder-renamed":   # checkpoint folder in place, `latest` still names the previous one
    real_replace = ck.os.replace
    class _Os:
        def __getattr__(self, name):
            return getattr(os, name)
        @staticmethod
        def replace(src, dst):
            real_replace(src, dst)
            if "step_" in str(dst):
                calls["n"] += 1
                if calls["n"] == nth:
                    os.kill(os.getpid(), signal.SIGKILL)
    ck.os = _Os()
elif where == "bundle-half":      # model.safetensors replaced, model.json not yet
    real = ck.atomic_write_json
    def json_then(path, data):
        if str(path).endswith("/model.json"):
            calls["n"] += 1
            if calls["n"] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(path, data)
    ck.atomic_write_json = json_then
sys.argv = ["ganrecon", *sys.argv[3:]]
from ganrecon.cli import run
run()
"""


def train_args(data_spec: str, out: Path, **extra) -> list[str]:
    config = {"task": "traces", "data": data_spec, "degrade": "columns:random:0.5", "generator_options.depth": 2,
              "generator_options.width": 8, "discriminator_options.width": 8, "steps": STEPS, "batch_size": 8,
              "val_images": 8, "eval_every": 20, "checkpoint_every": 5, "log_every": 1, "seed": 3, "threads": 1}
    config.update(extra)
    args = ["train", "--out", str(out), "--no-progress"]
    for key, value in config.items():
        args += ["--set", f"{key}={value}"]
    return args


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1",
                PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _popen(args: list[str], prefix: list[str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, *(prefix or ["-m", "ganrecon"]), *args]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def _differences(a: dict, b: dict) -> list[str]:
    import torch

    return sorted(k for k in a.keys() | b.keys() if k not in a or k not in b or not torch.equal(a[k], b[k]))


def _latest(run: Path) -> Path | None:
    from ganrecon.checkpoints import latest_checkpoint

    return latest_checkpoint(run)


def _step_of(checkpoint: Path | None) -> int:
    return 0 if checkpoint is None else int(json.loads((checkpoint / "state.json").read_text())["step"])


def _leftovers(run: Path) -> list[str]:
    """Temporary files or folders a killed write left behind (harmless, but they cost disk space)."""
    return sorted(str(p.relative_to(run)) for p in run.rglob(".*") if p.name != ".lock")


def compare(reference: Path, run: Path) -> dict:
    model = _differences(_tensors(reference / "model.safetensors"), _tensors(run / "model.safetensors"))
    state = _differences(_tensors(_latest(reference) / "state.safetensors"), _tensors(_latest(run) / "state.safetensors"))
    log_equal = loss_rows(reference) == loss_rows(run)
    return {"model_mismatches": len(model), "checkpoint_mismatches": len(state), "log_identical": log_equal,
            "mismatch": bool(model or state or not log_equal), "differing": (model + state)[:5]}


def resume(run: Path, data_spec: str, timeout: float = 600) -> tuple[int, str]:
    proc = _popen(train_args(data_spec, run) + ["--resume"])
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def kill_at_step(run: Path, data_spec: str, at: int, sig: int = signal.SIGKILL, timeout: float = 600,
                 **extra) -> dict:
    """Start training, send `sig` once log.csv has `at` rows; returns what happened."""
    proc = _popen(train_args(data_spec, run, **extra))
    deadline = time.monotonic() + timeout
    rows = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        current = logged_steps(run)
        if current >= at:
            proc.send_signal(sig)
            rows = current
            break
        time.sleep(0.002)
    _, err = proc.communicate(timeout=timeout)
    return {"rows_at_signal": rows, "returncode": proc.returncode, "stderr": err.strip().splitlines()[-1:]}


def run_fault_injection(kills: int = 10, seed: int | None = None, workdir: Path | None = None,
                        mid_write: bool = True, interrupts: bool = True, log=print) -> dict:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="ganrecon-faults-", dir=workdir))
    try:
        npz = tmp / "tiny.npz"
        np.savez(npz, images=(smooth_images(80, 16, 16) * 255).astype(np.uint8))
        data = f"npz:{npz}"
        t0 = time.perf_counter()
        reference = tmp / "reference"
        proc = _popen(train_args(data, reference))
        _, err = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"the uninterrupted run failed: {err[-2000:]}")
        log(f"uninterrupted run: {time.perf_counter() - t0:.1f} s")
        trials = []

        def finish(kind: str, run: Path, info: dict) -> None:
            code, err = resume(run, data)
            info.update(kind=kind, resume_returncode=code)
            if code == 0:
                info.update(compare(reference, run))
            else:
                info.update(mismatch=True, resume_error=err.strip().splitlines()[-1:])
            info["leftovers"] = _leftovers(run)
            trials.append(info)
            log(f"{kind:<14} {json.dumps({k: info.get(k) for k in ('kill_at', 'rows_at_signal', 'resumed_from', 'mismatch', 'leftovers')})}")
            shutil.rmtree(run, ignore_errors=True)

        for i in range(kills):
            at = rng.randint(1, STEPS - 2)
            run = tmp / f"kill{i}"
            info = kill_at_step(run, data, at)
            info.update(kill_at=at, resumed_from=_step_of(_latest(run)))
            if info["rows_at_signal"] is None:
                info["note"] = "finished before the kill"
            finish("sigkill", run, info)

        if mid_write:
            for where, nth in (("state-written", 2), ("folder-renamed", 3), ("bundle-half", 2)):
                run = tmp / f"mid-{where}"
                proc = _popen([where, str(nth), *train_args(data, run)], prefix=["-c", MID_WRITE])
                _, err = proc.communicate(timeout=900)
                info = {"kill_at": f"{where} #{nth}", "rows_at_signal": logged_steps(run), "returncode": proc.returncode,
                        "resumed_from": _step_of(_latest(run))}
                if proc.returncode != -signal.SIGKILL:
                    info["note"] = f"the injected kill did not happen ({err.strip().splitlines()[-1:]})"
                finish("mid-write", run, info)

        interrupted = []
        if interrupts:
            for sig in (signal.SIGINT, signal.SIGTERM):
                run = tmp / f"sig{int(sig)}"
                at = rng.randint(2, STEPS - 2)
                info = kill_at_step(run, data, at, sig=sig)
                saved = _step_of(_latest(run))
                info.update(signal=signal.Signals(sig).name, kill_at=at, checkpoint_step=saved,
                            logged_steps=logged_steps(run),
                            checkpoint_at_interrupt=info["rows_at_signal"] is not None and saved == logged_steps(run)
                            and saved >= info["rows_at_signal"])
                interrupted.append(info)
                log(f"{info['signal']:<14} rows at signal {info['rows_at_signal']}, checkpoint step {saved}, "
                    f"exit {info['returncode']}")
                finish(info["signal"].lower(), run, {k: info[k] for k in ("kill_at", "rows_at_signal")} |
                       {"resumed_from": saved})

        return {
            "steps_per_run": STEPS,
            "checkpoint_every": 5,
            "runs": len(trials) + 1,
            "kill_points": [t["kill_at"] for t in trials if t["kind"] == "sigkill"],
            "mid_write_kills": [t["kill_at"] for t in trials if t["kind"] == "mid-write"],
            "mismatches": sum(bool(t.get("mismatch")) for t in trials),
            "max_steps_redone": max((t["rows_at_signal"] - t["resumed_from"] for t in trials
                                     if isinstance(t.get("rows_at_signal"), int)), default=0),
            "interrupts": interrupted,
            "trials": trials,
            "seconds": round(time.perf_counter() - t0, 1),
            "python": sys.version.split()[0],
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="random SIGKILL points")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill points (default: random)")
    parser.add_argument("--no-mid-write", action="store_true")
    parser.add_argument("--no-interrupts", action="store_true")
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "results" / "fault_injection.json")
    args = parser.parse_args(argv)
    result = run_fault_injection(args.kills, args.seed, mid_write=not args.no_mid_write,
                                 interrupts=not args.no_interrupts)
    from ganrecon.io_utils import atomic_write_json

    atomic_write_json(args.json, result)
    print(f"{result['runs']} runs, {len(result['kill_points'])} random kill points, "
          f"{len(result['mid_write_kills'])} kills inside checkpoint writes, mismatches: {result['mismatches']}; "
          f"wrote {args.json}")
    return 1 if result["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
