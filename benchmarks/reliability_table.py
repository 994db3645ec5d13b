"""Write docs/RELIABILITY.md from actual runs: every fault and bad input tried, how many cases, what happened,
and whether any data was lost.

    .venv/bin/python benchmarks/reliability_table.py                 # about 6 minutes on 2 busy cores
    .venv/bin/python benchmarks/reliability_table.py --reuse-faults  # keep docs/results/fault_injection.json

Sources: benchmarks/fault_injection.py (SIGKILL at random steps and inside checkpoint writes, SIGINT, SIGTERM,
each resumed and compared bit for bit with an uninterrupted run); the bad-file and bad-model cases of
tests/test_reliability.py, run through `ganrecon.cli.main` with an existing output file that must survive;
tests/test_properties.py with many more hypothesis examples than CI uses; benchmarks/memory_tiles.py's
docs/results/memory.json when present.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402  (the sys.path lines above make tests/ importable)
import test_reliability as cases  # noqa: E402
import torch  # noqa: E402
from conftest import smooth_images  # noqa: E402

SENTINEL = b"an earlier result that a failed command must not touch"


class Table:
    def __init__(self):
        self.rows: list[tuple[str, str, str, str]] = []
        self.messages: list[tuple[str, str, str]] = []   # (group, case, what the user saw)
        self.problems: list[str] = []

    def add(self, fault: str, count, happened: str, lost: str) -> None:
        self.rows.append((fault, str(count), happened, lost))
        if not lost.startswith(("none", "n/a")):
            self.problems.append(f"{fault}: {lost}")


def attempt(argv: list[str], out: Path | None, tmp: Path) -> dict:
    """Run the CLI in this process with an existing output file; report what the user saw and what survived."""
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(SENTINEL)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli_main(argv)
        except BaseException as exc:  # noqa: BLE001 - a crash is a result to report, not to hide
            code, err = f"crash {type(exc).__name__}", io.StringIO(str(exc))
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    result = {"code": code, "message": " ".join(lines).replace(str(tmp), "…"),
              "one_sentence": len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in lines[0]}
    if out is not None:
        result["output_intact"] = out.read_bytes() == SENTINEL
        result["leftovers"] = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    return result


def cli_main(argv):
    from ganrecon.cli import main

    return main(argv)


def refused_cleanly(r: dict) -> bool:
    return r["code"] == 2 and r["one_sentence"] and r.get("output_intact", True) and not r.get("leftovers")


def _lost(results: list[dict], check=refused_cleanly) -> str:
    bad = [r for r in results if not check(r)]
    return "none" if not bad else f"{len(bad)} case(s) not clean: " + "; ".join(r["message"][:80] for r in bad)


# ------------------------------------------------------------------------------------------------ sections


def faults(table: Table, result: dict) -> None:
    trials = result["trials"]
    kills = [t for t in trials if t["kind"] == "sigkill"]
    mid = [t for t in trials if t["kind"] == "mid-write"]
    sigs = [t for t in trials if t["kind"] in ("sigint", "sigterm")]
    redone = [t["rows_at_signal"] - t["resumed_from"] for t in kills if isinstance(t.get("rows_at_signal"), int)]
    points = ", ".join(str(t["kill_at"]) for t in kills)

    def mism(ts):
        return sum(bool(t.get("mismatch")) for t in ts)

    every = result.get("checkpoint_every", 5)
    table.add("SIGKILL at a random training step, then `ganrecon train --resume` in a new process",
              f"{len(kills)} (steps {points} of {result['steps_per_run']})",
              f"final weights of G, D, EMA, both optimizers, RNG state and every loss in log.csv bit-identical to an "
              f"uninterrupted run of the same seed; mismatches: {mism(kills)}",
              "none" if not mism(kills) else f"{mism(kills)} mismatching run(s)")
    table.messages.append(("faults", "steps recomputed after SIGKILL",
                           f"at most {max(redone, default=0)} (checkpoint every {every} steps)"))
    table.add("SIGKILL inside a checkpoint write (state file written / folder renamed before the `latest` "
              "pointer / bundle weights written before model.json)", len(mid),
              f"resume uses the last complete checkpoint; temporaries are cleaned; runs identical, mismatches: "
              f"{mism(mid)}; files left behind: {sum(len(t.get('leftovers', [])) for t in mid)}",
              "none" if not mism(mid) else f"{mism(mid)} mismatching run(s)")
    inter = result.get("interrupts", [])
    saved = all(i.get("checkpoint_at_interrupt") for i in inter)
    table.add("SIGINT (Ctrl-C) and SIGTERM during training", len(inter),
              ("checkpoint saved at the step reached (the step in progress finishes first), exit 2 with one "
               f"sentence; resumed runs identical, mismatches: {mism(sigs)}") if saved else
              "no checkpoint at the interrupt for " + ", ".join(i["signal"] for i in inter
                                                               if not i.get("checkpoint_at_interrupt")),
              "none" if saved and not mism(sigs) else "see details")


def checkpoints_and_lock(table: Table, tmp: Path) -> None:
    from ganrecon.checkpoints import latest_checkpoint
    from ganrecon.training import RunLock

    npz = tmp / "tiny.npz"
    np.savez(npz, images=(smooth_images(80, 16, 16) * 255).astype(np.uint8))
    base = tmp / "base"
    r = attempt(cases.train_args(f"npz:{npz}", base, steps=10), None, tmp)
    assert r["code"] == 0, r

    def snapshot(run):
        return {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}

    breakers = {
        "truncated state.safetensors": lambda ck: (ck / "state.safetensors").write_bytes(
            (ck / "state.safetensors").read_bytes()[:1000]),
        "state.json not JSON": lambda ck: (ck / "state.json").write_text("{"),
        "state.json without optimizer state": lambda ck: (ck / "state.json").write_text('{"step": 10}'),
        "random bytes as state.safetensors": lambda ck: (ck / "state.safetensors").write_bytes(os.urandom(4096)),
        "config architecture differs from the weights": None,
    }
    results = []
    for name, breaker in breakers.items():
        run = tmp / f"broken{len(results)}"
        shutil.copytree(base, run)
        extra = []
        if breaker is None:
            extra = ["--set", "generator_options.width=16"]
        else:
            breaker(latest_checkpoint(run))
        before = snapshot(run)
        r = attempt(["train", "--resume", "--out", str(run), "--no-progress", "--set", "steps=12", *extra], None, tmp)
        r["output_intact"] = snapshot(run) == before
        results.append(r)
        table.messages.append(("broken checkpoint on --resume", name, r["message"]))
    table.add("Truncated, corrupted or mismatched checkpoint on `--resume`", len(results),
              "exit 2 with one sentence; the run directory is left byte-for-byte unchanged", _lost(results))

    before = snapshot(base)
    with RunLock(base):
        r = attempt(cases.train_args(f"npz:{npz}", base, steps=12) + ["--resume"], None, tmp)
    r["output_intact"] = snapshot(base) == before
    table.messages.append(("second training on a locked run directory", "lock held", r["message"]))
    table.add("A second training on a run directory in use (`.lock`, flock)", 1,
              "refused with one sentence (exit 2); the running run's files unchanged", _lost([r]))


def model_files(table: Table, tmp: Path) -> None:
    folder = tmp / "models"
    folder.mkdir()
    image = tmp / "in.npy"
    np.save(image, np.random.default_rng(0).random((20, 24)).astype(np.float32))
    out = tmp / "out" / "result.npy"
    pickled, broken = [], []
    for name, (model, _) in cases.MODEL_CASES(folder).items():
        r = attempt(["reconstruct", str(image), "--model", str(model), "-o", str(out)], out, tmp)
        (pickled if "pickle" in name else broken).append(r)
        table.messages.append(("model file", name, r["message"]))
    ran = (folder / "CODE_RAN").exists()
    table.add("Pickle-based weights (.pt, .pth, .ckpt, .bin, and a pickle renamed .safetensors) with a code "
              "payload", len(pickled),
              "refused with one sentence saying how to convert with `torch.load(weights_only=True)` + safetensors; "
              f"payload executed: {'YES' if ran else 'never'}", "none" if not ran and _lost(pickled) == "none"
              else _lost(pickled) + ("; code ran" if ran else ""))
    table.add("Truncated, empty or corrupted model weights; model.json missing, not JSON, or describing another "
              "architecture; unknown model name", len(broken),
              "exit 2 with one sentence; the existing output file untouched, no temporary files", _lost(broken))


def input_files(table: Table, tmp: Path) -> None:
    folder = tmp / "inputs"
    folder.mkdir()
    models = {"unet": cases.write_bundle(folder / "unet"), "signed": cases.write_bundle(folder / "signed", signed=True),
              "linear": cases.write_bundle(folder / "linear", generator="linear"),
              "latent": cases.write_latent_bundle(folder / "latent")}
    out = tmp / "out" / "result.npy"
    results = []
    for name, (path, model) in cases.INPUT_CASES(folder).items():
        r = attempt(["reconstruct", str(path), "--model", str(models[model]), "-o", str(out)], out, tmp)
        results.append(r)
        table.messages.append(("input file", name, r["message"]))
    table.add("Bad input files for `reconstruct`: truncated / empty / text named .png, PNG bytes named .npy, "
              "NaN / ±Inf / string / complex / 1-D / empty / pickled .npy, SEG-Y with inconsistent trace count, "
              "not SEG-Y, signed SEG-Y for an image model, unknown suffix, a folder, a missing file", len(results),
              "exit 2 with one sentence; the existing output file untouched, no temporary files", _lost(results))

    from PIL import Image

    rng = np.random.default_rng(0)
    grey = (rng.random((20, 24)) * 255).astype(np.uint8)
    Image.fromarray((rng.random((20, 24)) * 65535).astype(np.uint16)).save(folder / "b16.png")
    Image.fromarray(grey).convert("P").save(folder / "palette.png")
    Image.fromarray((rng.random((20, 24, 4)) * 255).astype(np.uint8)).save(folder / "rgba.png")
    Image.fromarray(grey[:3, :3]).save(folder / "tiny.png")
    np.save(folder / "pixel.npy", np.full((1, 1), 0.5, np.float32))
    valid = []
    for name, model in [("b16.png", "unet"), ("palette.png", "unet"), ("rgba.png", "unet"), ("tiny.png", "unet"),
                        ("tiny.png", "linear"), ("pixel.npy", "unet")]:
        dst = tmp / "valid" / f"{model}-{name}"
        r = attempt(["reconstruct", str(folder / name), "--model", str(models[model]), "-o", str(dst)], None, tmp)
        if r["code"] == 0 and dst.suffix == ".png":
            with Image.open(folder / name) as a, Image.open(dst) as b:
                r["ok"] = a.size == b.size and (name != "b16.png" or np.asarray(b).dtype == np.uint16)
        else:
            r["ok"] = r["code"] == 0 and np.load(dst).shape == np.load(folder / name).shape
        valid.append(r)
        table.messages.append(("unusual valid image", f"{name} ({model} model)",
                               "reconstructed, same size" if r["ok"] else r["message"]))
    table.add("16-bit, palette and RGBA PNGs; 3x3 and 1x1 images (U-Net; 16x16 fixed-size linear model pads)",
              len(valid), "reconstructed; same width and height, 16-bit stays 16-bit",
              "none" if all(r["ok"] for r in valid) else "some failed, see details")
    r = attempt(["reconstruct", str(folder / "tiny.png"), "--model", str(models["latent"]), "-o",
                 str(tmp / "out" / "latent.png")], tmp / "out" / "latent.png", tmp)
    table.messages.append(("input file", "3x3 image for an 8x8 latent model", r["message"]))
    table.add("Image of another size than a fixed-size (latent inversion) model", 1,
              "exit 2 with one sentence; existing output untouched", _lost([r]))


def datasets(table: Table, tmp: Path) -> None:
    folder = tmp / "datasets"
    (folder / "empty").mkdir(parents=True)
    (folder / "texts").mkdir()
    (folder / "texts" / "fake.png").write_text("not an image")
    nan = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
    nan[1, 2, 3] = np.nan
    np.savez(folder / "nan.npz", images=nan)
    cases._segy(folder / "good.sgy")
    (folder / "short.sgy").write_bytes((folder / "good.sgy").read_bytes()[:-70])
    (folder / "segys").mkdir()
    out = tmp / "out" / "results.json"
    results = []
    for data in (f"folder:{folder / 'empty'}", f"folder:{folder / 'texts'}", f"npz:{folder / 'nan.npz'}",
                 f"segy:{folder / 'short.sgy'}", f"segy:{folder / 'segys'}", f"npz:{folder / 'missing.npz'}",
                 "seismic:size=1x1", "porous:n=0", "natural:size=99999x99999"):
        r = attempt(["baseline", "--data", data, "--degrade", "columns:random:0.5", "--split", "all", "--json",
                     str(out)], out, tmp)
        results.append(r)
        table.messages.append(("dataset", data.replace(str(tmp), "…"), r["message"]))
    table.add("Bad datasets for `baseline`/`train`: folder without images, fake PNG in a folder, NaN in .npz, "
              "SEG-Y with inconsistent trace count, folder without SEG-Y, missing file, impossible synthetic sizes",
              len(results), "exit 2 with one sentence; the existing JSON output untouched", _lost(results))


def properties(table: Table, examples: int) -> None:
    env = dict(os.environ, GANRECON_PROPERTY_EXAMPLES=str(examples), OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--hypothesis-show-statistics", str(ROOT / "tests" / "test_properties.py")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600, check=False)
    passing = sum(int(n) for n in re.findall(r"(\d+) passing", proc.stdout))
    failing = sum(int(n) for n in re.findall(r"(\d+) failing", proc.stdout))
    tests = len(set(re.findall(r"::(test_\w+)", proc.stdout)))
    summary = next((line.strip("= ") for line in reversed(proc.stdout.splitlines())
                    if re.search(r"\d+ (passed|failed)", line)), "(no pytest summary)")
    table.messages.append(("hypothesis", f"{tests} properties, up to {examples} examples each", summary))
    table.add(f"Random spec strings and numbers (hypothesis, {tests} properties): degradation specs and their "
              "application to random image sizes, dataset specs and synthetic options, `specs.parse_*`, config "
              "overrides", passing + failing,
              "a valid object, or one GanreconError sentence" + ("" if proc.returncode == 0 else
                                                                 f" — FAILED: {summary}"),
              "n/a (no files)" if proc.returncode == 0 else "failing examples, see pytest output")


def memory(table: Table) -> None:
    path = ROOT / "docs" / "results" / "memory.json"
    if not path.is_file():
        return
    result = json.loads(path.read_text())
    biggest = max((r for r in result["rows"] if r["mode"] == "library"), key=lambda r: r["side"], default=None)
    if biggest is None:
        return
    table.add(f"{biggest['side']} x {biggest['side']} image reconstructed on CPU "
              "(benchmarks/memory_tiles.py)", len(result["rows"]),
              f"{result['tiles_for_largest']} tiles of {result['tile'][0]}x{result['tile'][1]}, "
              f"{result['batch_tiles']} at a time: peak RSS {biggest['peak_mb']:.0f} MB, working set "
              f"{biggest['working_set_mb']:.0f} MB = {biggest['working_set_per_image']:.1f} x the image "
              f"(an untiled forward pass would need {biggest['whole_image_forward_mb']:,} MB)",
              "none" if all(r["ok"] for r in result["rows"]) else "a run failed")


def write(table: Table, fault_result: dict, path: Path) -> None:
    lines = [
        "# Reliability",
        "",
        ("Produced by `benchmarks/reliability_table.py` from actual runs on this machine (CPU); the same cases run "
        "in CI, smaller, in `tests/test_reliability.py` and `tests/test_properties.py`. \"Data lost\" means a "
        "checkpoint, log row, run file or earlier output that was damaged or had to be recomputed beyond one "
        "checkpoint interval."),
        "",
        "| fault or input tried | cases | what happened | data lost |",
        "|---|---:|---|---|",
    ]
    for fault, count, happened, lost in table.rows:
        lines.append(f"| {fault} | {count} | {happened} | {lost} |")
    lines += ["", (f"Fault injection: {fault_result['runs']} training processes, {fault_result['seconds']:.0f} s; "
              f"details in `docs/results/fault_injection.json`."), "", "## What the user saw", "",
              "| group | case | message |", "|---|---|---|"]
    for group, case, message in table.messages:
        lines.append(f"| {group} | {case} | {message.replace('|', '/')} |")
    lines.append("")
    from ganrecon.io_utils import atomic_write_text

    atomic_write_text(path, "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--examples", type=int, default=300, help="hypothesis examples per property")
    parser.add_argument("--reuse-faults", action="store_true", help="read docs/results/fault_injection.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "RELIABILITY.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    fault_json = ROOT / "docs" / "results" / "fault_injection.json"
    if args.reuse_faults and fault_json.is_file():
        fault_result = json.loads(fault_json.read_text())
    else:
        from fault_injection import run_fault_injection

        from ganrecon.io_utils import atomic_write_json

        fault_result = run_fault_injection(args.kills, args.seed)
        atomic_write_json(fault_json, fault_result)
    table = Table()
    faults(table, fault_result)
    with tempfile.TemporaryDirectory(prefix="ganrecon-reliability-") as tmp:
        tmp = Path(tmp)
        checkpoints_and_lock(table, tmp)
        model_files(table, tmp)
        input_files(table, tmp)
        datasets(table, tmp)
    properties(table, args.examples)
    memory(table)
    write(table, fault_result, args.out)
    print("\n".join(f"| {' | '.join(row)} |" for row in table.rows))
    print(f"wrote {args.out}")
    for problem in table.problems:
        print("PROBLEM:", problem)
    return 1 if table.problems else 0


if __name__ == "__main__":
    sys.exit(main())
