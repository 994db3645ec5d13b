"""Learning curves of the training campaign (issue 18) -> docs/results/learning_curves.{json,md} and
docs/figures/learning-curves.png.

For each run directory: the validation score of the model (PSNR for images, SNR for gathers, the run's own
validation set and degradation) against CPU-minutes (wall minutes x torch threads, from the run's log), next to
the best conventional baseline on the same validation images. The gain per CPU-minute over the last part of the
run says whether more compute would still pay: a curve that still rises is a campaign to continue (from the
committed weights, `init:`), not a target missed.

    .venv/bin/python benchmarks/learning_curves.py runs/denoise-blind-photos-prior runs/superres-porous-ct-x4-prior ...
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import yaml

from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.training.accumulate import lineage
from ganrecon.training.rundir import seconds_at
from ganrecon.training.validation import PER_SPEC

ROOT = Path(__file__).resolve().parent.parent
SKIP = {"model", "noisy", "identity"}  # not conventional answers to compare the model with
LOWER_IS_BETTER = {"mse_missing", "mse"}


def read_run(run: Path, default_threads: int = 1) -> dict:
    """Steps, CPU-minutes, the model's validation score and the best baseline's, from one run directory. A run
    that continues other weights (`init:`) starts at the CPU-minutes those hold (at this run's thread count).
    `default_threads`: the torch threads of a run whose config left them to the environment (OMP_NUM_THREADS)."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    threads = int(config.get("threads") or default_threads)
    start = inherited_seconds(run, config) * threads / 60
    metric, model_key = run_metric(config)
    lower = metric in LOWER_IS_BETTER
    scores: dict[int, dict[str, float]] = {}
    with open(run / "validation.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            value = float(row[metric])
            if math.isfinite(value):
                scores.setdefault(int(row["step"]), {})[row["method"]] = value
    seconds = seconds_at(run, scores)
    points = []
    for step in sorted(scores):
        if model_key not in scores[step] or step not in seconds:
            continue
        baselines = {k: v for k, v in scores[step].items()
                     if k not in SKIP | {model_key} and PER_SPEC not in k}  # over several noises: best-classical
        best = (min if lower else max)(baselines, key=baselines.get) if baselines else None
        digits = 5 if lower else 3
        points.append({"step": step, "cpu_minutes": round(start + seconds[step] * threads / 60, 2),
                       "model": round(scores[step][model_key], digits), "best_baseline": best,
                       "baseline": round(baselines[best], digits) if best else None})
    return {"run": run.name, "task": config.get("task"), "data": config.get("data"), "metric": metric,
            "threads": threads, "init": config.get("init"), "amp": bool(config.get("amp")), "val_degrade": _specs(config.get("val_degrade")
            or config.get("degrade")), "points": points, "tail_gain_per_cpu_minute": tail_slope(points)}


def _specs(degrade) -> str:
    """A run's validation degradation(s) as one label."""
    return " + ".join(degrade) if isinstance(degrade, list) else str(degrade)


def inherited_seconds(run: Path, config: dict) -> float:
    """Training seconds the run's starting weights held: from the run's own bundle (its total less its own), since
    the `init:` name may since have been shipped again with this very run's weights in it; else the init's."""
    import json

    for stem in ("model", "model-best"):
        meta = run / f"{stem}.json"
        if meta.is_file():
            m = json.loads(meta.read_text())
            if "total_train_seconds" in m and "train_seconds" in m:
                return max(0.0, float(m["total_train_seconds"]) - float(m["train_seconds"]))
    return lineage(config.get("init"))[1]


def run_metric(config: dict) -> tuple[str, str]:
    """The validation metric a run is judged by, and the validation.csv method that is the model: SNR for seismic
    gathers, PSNR for images, and for latent inversion the missing-region MSE of the inverted generator."""
    if config.get("task") == "latent":
        return "mse_missing", "inversion"
    return ("snr" if config.get("task") == "traces" and "seismic" in str(config.get("data")) else "psnr"), "model"


def merged(curves: list[dict], previous: Path) -> list[dict]:
    """The runs of an earlier report, with those measured now replaced: run directories are local to a session,
    so a campaign that spans sessions keeps its earlier curves from the committed JSON."""
    import json

    old = json.loads(previous.read_text())["runs"] if previous.is_file() else []
    names = {c["run"] for c in curves}
    return [c for c in old if c["run"] not in names] + curves


def tail_slope(points: list[dict], share: float = 0.3) -> float | None:
    """Least-squares slope (metric units per CPU-minute) of the model's score over the last `share` of the CPU-minutes."""
    if len(points) < 3:
        return None
    end = points[-1]["cpu_minutes"]
    tail = [p for p in points if p["cpu_minutes"] >= (1 - share) * end] or points[-3:]
    if len(tail) < 3:
        tail = points[-3:]
    xs, ys = [p["cpu_minutes"] for p in tail], [p["model"] for p in tail]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var, 4) if var > 0 else None


def figure(curves: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, len(curves))
    rows = -(-len(curves) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(curves):]:
        ax.axis("off")
    for ax, c in zip(axes.flat, curves):
        xs = [p["cpu_minutes"] for p in c["points"]]
        ax.plot(xs, [p["model"] for p in c["points"]], label="model (EMA)")
        base = [p["baseline"] for p in c["points"]]
        if base and base[-1] is not None:
            ax.plot(xs, base, "--", label=f"best baseline ({c['points'][-1]['best_baseline']})")
        ax.set_title(f"{c['run']}\n{c['val_degrade']}", fontsize=9)
        ax.set_xlabel("CPU-minutes")
        ax.set_ylabel(f"validation {c['metric'].upper()}" + ("" if c["metric"] in LOWER_IS_BETTER else " (dB)"))
        ax.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def markdown(curves: list[dict]) -> str:
    lines = ["## Learning curves of the training campaign", "",
             "Produced by `benchmarks/learning_curves.py` from the runs' own logs. Validation score of the model "
             "(EMA generator) on each run's validation set against CPU-minutes (wall minutes x torch threads), "
             "with the best conventional baseline on the same images; a run that continues another's weights "
             "(`init:`) starts at the CPU-minutes they hold. The tail slope is the least-squares gain "
             "per CPU-minute over the last 30% of the run: positive means more compute still pays. Latent "
             "generators are judged by what they are for, the missing-region MSE of inversion on held-out "
             "digits (lower is better, so there a negative slope pays).", "",
             "| run | val degradation | metric | CPU-min | steps | first | best | last | best baseline | "
             "tail slope (per CPU-min) | bf16 |", "|---" * 11 + "|"]
    for c in curves:
        p = c["points"]
        if not p:
            continue
        lower = c["metric"] in LOWER_IS_BETTER
        fmt = ".4f" if lower else ".2f"
        best = (min if lower else max)(q["model"] for q in p)
        base = f"{p[-1]['best_baseline']} {p[-1]['baseline']:{fmt}}" if p[-1]["baseline"] is not None else "-"
        slope = "-" if c["tail_gain_per_cpu_minute"] is None else f"{c['tail_gain_per_cpu_minute']:+.{6 if lower else 4}f}"
        lines.append(f"| {c['run']} | `{c['val_degrade']}` | {c['metric'].upper()} | {p[-1]['cpu_minutes']:.1f} | "
                     f"{p[-1]['step']} | {p[0]['model']:{fmt}} | {best:{fmt}} | {p[-1]['model']:{fmt}} | {base} | {slope} "
                     f"| {'yes' if c['amp'] else 'no'} |")
    lines += ["", "![learning curves](../figures/learning-curves.png)", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (config.yaml, log.csv, validation.csv)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--add", action="store_true",
                        help="keep the runs of the existing learning_curves.json (replacing those measured now)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of runs whose config leaves them unset (trained with OMP_NUM_THREADS=N)")
    args = parser.parse_args()
    missing = [str(r) for r in args.runs if not (r / "validation.csv").is_file()]
    if missing:
        sys.exit(f"No validation.csv in {', '.join(missing)}: is that a training run directory?")
    curves = [read_run(r, args.threads) for r in args.runs]
    if args.add:
        curves = merged(curves, args.out / "results" / "learning_curves.json")
    figure(curves, args.out / "figures" / "learning-curves.png")
    atomic_write_json(args.out / "results" / "learning_curves.json", {"runs": curves})
    atomic_write_text(args.out / "results" / "learning_curves.md", markdown(curves))
    print(markdown(curves))


if __name__ == "__main__":
    main()
