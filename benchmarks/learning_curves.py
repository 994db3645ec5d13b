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


def campaigns(curves: list[dict]) -> list[list[dict]]:
    """Runs scored on the same validation set (same metric, degradation, best baseline and its score), in order of
    CPU-minutes: the stages of one campaign, whose best scores can be read as one curve."""
    groups: dict[tuple, list[dict]] = {}
    for c in curves:
        if c["points"]:
            first = c["points"][0]
            key = (c["metric"], c["val_degrade"], first["best_baseline"], first["baseline"])
            groups.setdefault(key, []).append(c)
    return [sorted(g, key=lambda c: c["points"][-1]["cpu_minutes"]) for g in groups.values()]


def stage_ends(campaign: list[dict]) -> list[tuple[float, float]]:
    """(CPU-minutes, score) of each run's best validation, kept where it improves on every run before it: the
    best the campaign had reached by that much compute (a probe that lost, or a warm restart's dip, adds none)."""
    lower = campaign[0]["metric"] in LOWER_IS_BETTER
    ends, best = [], None
    for c in campaign:
        point = (min if lower else max)(c["points"], key=lambda q: q["model"])
        if best is None or (point["model"] < best if lower else point["model"] > best):
            best = point["model"]
            ends.append((point["cpu_minutes"], best))
    return ends


def saturating(t, limit, gap, power):
    """limit - gap x t^-power: a score that approaches `limit` as compute t grows (t in units of the last point)."""
    import numpy as np

    return limit - gap * np.power(t, -power)


def projection(campaign: list[dict], min_points: int = 4) -> dict | None:
    """Where more compute would take the campaign: `saturating` fitted (least squares) to its stage ends, with the
    limit's standard error and the scores projected at 2x and 4x the CPU-minutes spent. Why: a tail slope says
    whether the last stage still gained, not how much is left; a campaign's stage gains shrink from one stage to
    the next, and the limit they approach says whether a target is within reach of the same recipe at all."""
    import numpy as np
    from scipy.optimize import curve_fit

    ends = stage_ends(campaign)
    if len(ends) < min_points:
        return None
    sign = -1.0 if campaign[0]["metric"] in LOWER_IS_BETTER else 1.0  # fit a rising curve either way
    t = np.array([e[0] for e in ends]) / ends[-1][0]
    y = sign * np.array([e[1] for e in ends])
    fits = []
    for power in (0.5, 1.0, 2.0, 4.0):  # several starts: with few points the least squares has local minima
        try:
            params, cov = curve_fit(saturating, t, y, p0=(y[-1] + abs(y[-1] - y[0]), abs(y[-1] - y[0]) + 1e-3, power),
                                    bounds=([-np.inf, 0.0, 0.05], [np.inf, np.inf, 10.0]), maxfev=20000)
        except (RuntimeError, ValueError):
            continue
        fits.append((float(np.sum((y - saturating(t, *params)) ** 2)), params, cov))
    if not fits:  # no fit converged: say nothing rather than something wrong
        return None
    _, params, cov = min(fits, key=lambda f: f[0])
    fitted = saturating(t, *params)
    return {"runs": [c["run"] for c in campaign], "stage_ends": [[round(m, 1), v] for m, v in ends],
            "limit": round(float(sign * params[0]), 3), "limit_se": round(float(np.sqrt(cov[0, 0])), 3),
            "power": round(float(params[2]), 2), "residual_sd": round(float(np.std(y - fitted)), 4),
            "at_2x": round(float(sign * saturating(2.0, *params)), 3),
            "at_4x": round(float(sign * saturating(4.0, *params)), 3), "cpu_minutes": round(ends[-1][0], 1),
            "metric": campaign[0]["metric"], "fit": [float(x) for x in params]}


def panels(count: int, most_cols: int, width: float):
    """A figure of `count` panels, at most `most_cols` a row (the unused ones hidden), and its axes in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(most_cols, count)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.axis("off")
    return fig, list(axes.flat)


def save(fig, out: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def figure(curves: list[dict], out: Path) -> None:
    fig, axes = panels(len(curves), 4, 4.2)
    for ax, c in zip(axes, curves):
        xs = [p["cpu_minutes"] for p in c["points"]]
        ax.plot(xs, [p["model"] for p in c["points"]], label="model (EMA)")
        base = [p["baseline"] for p in c["points"]]
        if base and base[-1] is not None:
            ax.plot(xs, base, "--", label=f"best baseline ({c['points'][-1]['best_baseline']})")
        ax.set_title(f"{c['run']}\n{c['val_degrade']}", fontsize=9)
        ax.set_xlabel("CPU-minutes")
        ax.set_ylabel(f"validation {c['metric'].upper()}" + ("" if c["metric"] in LOWER_IS_BETTER else " (dB)"))
        ax.legend(fontsize=7)
    save(fig, out)


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


def projections_markdown(projections: list[dict]) -> str:
    lines = ["## Where more compute would take each campaign", "",
             "Runs scored on the same validation set are read as one campaign; its stage ends are each run's best "
             "score where it improved on every run before it. Fitted: score = limit - gap x (CPU-minutes / "
             "CPU-minutes spent)^-power (least squares, `benchmarks/learning_curves.py`). The limit is what the "
             "same recipe approaches with unbounded compute; 2x and 4x: the fitted score at twice and four times "
             "the CPU-minutes spent. A fit of few points is a rough guide: where the limit's standard error is "
             "large, the stage ends do not yet bend enough to show where they level off.", "",
             "| campaign (first - last run) | metric | stage ends | CPU-min spent | best | limit (se) | at 2x | at 4x "
             "| residual sd |", "|---" * 9 + "|"]
    for p in projections:
        lower = p["metric"] in LOWER_IS_BETTER
        fmt = ".4f" if lower else ".2f"
        lines.append(f"| {p['runs'][0]} - {p['runs'][-1]} | {p['metric'].upper()} | {len(p['stage_ends'])} | "
                     f"{p['cpu_minutes']:.0f} | {p['stage_ends'][-1][1]:{fmt}} | {p['limit']:{fmt}} "
                     f"({p['limit_se']:{fmt}}) | {p['at_2x']:{fmt}} | {p['at_4x']:{fmt}} | {p['residual_sd']:.3g} |")
    lines += ["", "![projections](../figures/learning-projections.png)", ""]
    return "\n".join(lines)


def projections_figure(projections: list[dict], out: Path) -> None:
    """Each campaign's stage ends and its fitted curve out to 4x the compute spent, the limit dotted."""
    import numpy as np

    fig, axes = panels(len(projections), 3, 4.4)
    for ax, p in zip(axes, projections):
        minutes, scores = zip(*p["stage_ends"])
        ax.plot(minutes, scores, "o", label="stage ends")
        sign = -1.0 if p["metric"] in LOWER_IS_BETTER else 1.0
        t = np.linspace(min(minutes) / p["cpu_minutes"], 4.0, 200)
        curve = sign * saturating(t, *p["fit"])
        ax.plot(t * p["cpu_minutes"], curve, "-", label="fit to 4x the compute")
        low, high = min(*scores, *curve), max(*scores, *curve)
        ax.set_ylim(low - 0.05 * (high - low), high + 0.1 * (high - low))  # a far limit is named, not drawn
        ax.axhline(p["limit"], linestyle=":", color="grey", label=f"limit {p['limit']:.4g}")
        ax.set_title(f"{p['runs'][0]} -\n{p['runs'][-1]}", fontsize=8)
        ax.set_xlabel("CPU-minutes")
        ax.set_ylabel(f"validation {p['metric'].upper()}")
        ax.legend(fontsize=7)
    save(fig, out)


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
    projections = [p for p in map(projection, campaigns(curves)) if p is not None]
    figure(curves, args.out / "figures" / "learning-curves.png")
    text = markdown(curves)
    if projections:
        projections_figure(projections, args.out / "figures" / "learning-projections.png")
        text += "\n" + projections_markdown(projections)
    atomic_write_json(args.out / "results" / "learning_curves.json", {"runs": curves, "projections": projections})
    atomic_write_text(args.out / "results" / "learning_curves.md", text)
    print(text)


if __name__ == "__main__":
    main()
