"""Which training recipe buys the most validation per minute: runs that start from the same weights with one knob
changed (benchmarks/seismic_recipe_probe.sh), side by side -> docs/results/NAME.{json,md} and
docs/figures/NAME.png (NAME: recipe_probe unless --name).

For each run: its knobs (echo, amp), steps, seconds per step, the validation curve against training minutes, the
best score and its gain over the starting weights (scored here on the same validation set, no training step), and
that gain per training minute. Same seed and budget for every run, so the only difference is the knob.

    .venv/bin/python benchmarks/recipe_table.py runs/recipe-probe/echo4 runs/recipe-probe/echo1 ... \
        --start-from weights/traces-seismic-unet-echo4.safetensors
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import yaml

from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.training.rundir import seconds_at

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("psnr", "snr")


def start_scores(run: Path, model: str, threads: int) -> dict[str, float]:
    """The starting weights' validation scores on the run's own validation set (its config, seed and masks)."""
    from bundle_validation import validation_scores  # benchmarks/, beside this script

    scores = validation_scores(run / "config.yaml", model, threads)
    return {k: round(float(scores[k]), 4) for k in METRICS}


def read_probe_run(run: Path) -> dict:
    """Knobs, speed and validation curve (minutes, PSNR, SNR) of one run directory."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    summary = json.loads((run / "summary.json").read_text())
    scores: dict[int, dict[str, float]] = {}
    with open(run / "validation.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["method"] == "model":
                scores[int(row["step"])] = {k: float(row[k]) for k in METRICS}
    seconds = seconds_at(run, scores)
    curve = [{"step": s, "minutes": round(seconds[s] / 60, 2), **scores[s]} for s in sorted(scores) if s in seconds]
    steps, train_seconds = int(summary["step"]), float(summary["seconds"])
    return {"run": run.name, "echo": int(config.get("echo") or 1), "amp": bool(config.get("amp")),
            "lr": config.get("lr"), "threads": config.get("threads"), "steps": steps, "minutes": round(train_seconds / 60, 2),
            "seconds_per_step": round(train_seconds / max(steps, 1), 3), "curve": curve,
            "best": {k: max(p[k] for p in curve) for k in METRICS} if curve else None}


def table(runs: list[dict], start: dict[str, float] | None, start_name: str | None, figure_name: str) -> str:
    """The markdown section: one row per run, gains over the starting weights where they were scored."""
    lines = ["## Training recipes compared from the same weights (issue 20)", "",
             "Produced by `benchmarks/seismic_recipe_probe.sh` then `benchmarks/recipe_table.py`: runs of the seismic "
             "campaign's config from the same weights" + (f" (`{start_name}`: validation PSNR {start['psnr']:.2f} "
                                                          f"dB, SNR {start['snr']:.2f} dB)" if start else "")
             + ", same seed, data, validation set and time budget, one knob changed. Best: the highest of the run's "
             "evaluations (a run evaluated more often has more chances); gain: best minus the start; per minute: that "
             "gain over the run's wall-clock training minutes on its threads.", "",
             "| run | echo | amp | lr | threads | steps | s / step | minutes | best PSNR | best SNR | gain PSNR | "
             "dB / minute |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        best = r["best"] or {"psnr": float("nan"), "snr": float("nan")}
        gain = best["psnr"] - start["psnr"] if start else float("nan")
        lines.append(f"| {r['run']} | {r['echo']} | {'bf16' if r['amp'] else 'no'} | {r['lr']:g} | {r['threads']} "
                     f"| {r['steps']} "
                     f"| {r['seconds_per_step']:.2f} | {r['minutes']:.1f} | {best['psnr']:.2f} | {best['snr']:.2f} | "
                     f"{gain:+.2f} | {gain / max(r['minutes'], 1e-9):+.4f} |")
    lines += ["", "Validation PSNR (dB) at each evaluation, minutes of training in brackets:", ""]
    for r in runs:
        points = ", ".join(f"{p['psnr']:.2f} ({p['minutes']:.0f})" for p in r["curve"])
        lines.append(f"- {r['run']}: {points}")
    return "\n".join(lines) + f"\n\n![recipe curves](../figures/{figure_name})\n"


def figure(runs: list[dict], start: dict[str, float] | None, path: Path) -> None:
    """Validation PSNR against training minutes, one line per run: where the recipes part is easier seen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        points = ([{"minutes": 0.0, "psnr": start["psnr"]}] if start else []) + r["curve"]
        ax.plot([p["minutes"] for p in points], [p["psnr"] for p in points], marker="o", label=f"{r['run']} ({r['seconds_per_step']:.2f} s/step)")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("validation PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--start-from", help="the weights every run started from (scored on the validation set)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="recipe_probe", help="docs/results/NAME.{json,md}")
    args = parser.parse_args()
    runs = [read_probe_run(run) for run in args.runs]
    start = start_scores(args.runs[0], args.start_from, args.threads) if args.start_from else None
    out = ROOT / "docs" / "results"
    atomic_write_json(out / f"{args.name}.json", {"start_from": args.start_from, "start": start, "runs": runs})
    figure_name = args.name.replace("_", "-") + ".png"
    text = table(runs, start, args.start_from, figure_name)
    atomic_write_text(out / f"{args.name}.md", text)
    figure(runs, start, ROOT / "docs" / "figures" / figure_name)
    print(text)


if __name__ == "__main__":
    main()
