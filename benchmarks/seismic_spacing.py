"""Where the seismic model stops helping: its lead over the conventional consensus against trace spacing, event
family and source wavelet -> docs/results/seismic_spacing.{md,json}, docs/figures/seismic-spacing.png

Gathers: benchmarks/seismic_field.py's pylops generator (1000 x 80 at 4 ms, noise at 10% of the signal RMS) at
12.5, 25, 37.5 and 50 m, seeds 100 on (never a test seed 0-3, nor a tuning seed 10-33 that chose a guard
constant), whole or cut to one event family: `reflections` (hyperbolic and parabolic events) or `linear` (the
slow straight events, 600-1500 m/s, that alias first). The seed picks the wavelet (seed % 3: Ricker, Ormsby,
Klauder), so every wavelet appears equally often. 50% random missing traces (mask seed 0). Methods: the consensus
(mean of f-x, dip-steered and sliding FK: what the model refines and the guard falls back to) and each model
alone (the guard is off: on random decimation the guarded model lands within a few tenths of a dB of the model
alone on seismic_field's gathers), run once at a quarter tile overlap whatever its bundle names
(benchmarks/gather_inference.py), so that models compare on the same footing. Score: SNR on the missing traces.

This is a diagnosis, not a test: nothing here is tuned, and the test gathers are left alone.

    .venv/bin/python benchmarks/seismic_spacing.py [--model LABEL=MODEL ...] [--seeds 6] [--markdown-only]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ganrecon.adapt import snr_db
from ganrecon.baselines import run_baseline
from ganrecon.data.convert import SIGNED_RANGE
from ganrecon.evaluation import degrade_set
from ganrecon.io_utils import atomic_write_json, atomic_write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seismic_field import ROOT, gather_set, labelled_models, pylops_gather  # noqa: E402

SPACINGS = (12.5, 25.0, 37.5, 50.0)
PARTS = {"all": ("hyperbolic", "parabolic", "linear"), "reflections": ("hyperbolic", "parabolic"),
         "linear": ("linear",)}
WAVELETS = ("ricker", "ormsby", "klauder")  # pylops_gather's wavelet of seed % 3
FIRST_SEED = 100
PATTERN = "columns:random:0.5"
INFERENCE = {"overlap": 0.25, "ensemble": "none"}   # the same for every model, whatever its bundle's defaults


def score_gather(seed: int, dx: float, parts: str, models: dict) -> dict:
    """Missing-trace SNR of the consensus and of each model on one gather."""
    images = gather_set(pylops_gather(seed, dx, PARTS[parts]), f"seed{seed}")
    _, observed, mask = degrade_set(images, PATTERN, 0)
    missing, truth = mask == 0, images.images
    estimates = {"consensus": lambda: run_baseline("consensus", observed, mask, value_range=SIGNED_RANGE)}
    estimates.update({label: (lambda m=m: m(observed, mask, **INFERENCE)) for label, m in models.items()})
    row = {"seed": seed, "dx_m": dx, "parts": parts, "wavelet": WAVELETS[seed % 3], "snr_missing": {}}
    with torch.no_grad():
        for label, run in estimates.items():
            row["snr_missing"][label] = snr_db(run()[missing], truth[missing])
    return row


def gains(rows: list[dict], label: str, key: str, value) -> dict[float, float]:
    """Mean lead of `label` over the consensus (dB) per spacing, over the rows whose `key` is `value`."""
    out = {}
    for dx in SPACINGS:
        picked = [r["snr_missing"] for r in rows if r["dx_m"] == dx and r[key] == value]
        out[dx] = float(np.mean([s[label] - s["consensus"] for s in picked])) if picked else float("nan")
    return out


def splits(rows: list[dict]):
    """(key, value, rows) of every line: the event splits over all rows, the wavelets over the whole gathers."""
    whole = [r for r in rows if r["parts"] == "all"]
    return [("parts", p, rows) for p in PARTS] + [("wavelet", w, whole) for w in WAVELETS]


def markdown(data: dict) -> str:
    rows, labels, env = data["rows"], data["labels"], data["environment"]
    head = "| model | split | " + " | ".join(f"{dx:g} m" for dx in SPACINGS) + " |"
    lines = [head, "|---|---|" + "---|" * len(SPACINGS)]
    for label in labels:
        for key, value, subset in splits(rows):
            g = gains(subset, label, key, value)
            lines.append(f"| {label} | {key} {value} | " + " | ".join(f"{g[dx]:+.2f}" for dx in SPACINGS) + " |")
    consensus = {p: np.mean([r["snr_missing"]["consensus"] for r in rows if r["parts"] == p]) for p in PARTS}
    return ("## Where the seismic model stops helping (issue 20)\n\nProduced by `benchmarks/seismic_spacing.py`. "
            f"Lead of each model alone over the consensus (mean missing-trace SNR difference, dB) on pylops gathers "
            f"1000 x 80, seeds {FIRST_SEED}-{FIRST_SEED + env['seeds'] - 1} per spacing and event split, "
            f"50% random missing traces; the `wavelet` rows are the whole gathers split by source wavelet. "
            f"Consensus mean SNR: " + ", ".join(f"{p} {v:.2f} dB" for p, v in consensus.items())
            + f". {env['threads']} threads, {env['cpu']}, {env['seconds']:.0f} s.\n\n" + "\n".join(lines)
            + "\n\n![lead over the consensus against spacing](../figures/seismic-spacing.png)\n\n"
            + "Models: " + "; ".join(f"`{k}` = {v}" for k, v in env["models"].items()) + "\n")


def figure(data: dict, path: Path) -> None:
    """Lead over the consensus against spacing: one panel per model, a line per event split and per wavelet."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, rows = data["labels"], data["rows"]
    fig, axes = plt.subplots(1, len(labels), figsize=(5 * len(labels), 4), squeeze=False, sharey=True)
    for ax, label in zip(axes[0], labels):
        for key, value, subset in splits(rows):
            g = gains(subset, label, key, value)
            ax.plot(SPACINGS, [g[dx] for dx in SPACINGS], "-" if key == "parts" else ":", marker="o",
                    label=f"{key} {value}")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_title(label)
        ax.set_xlabel("trace spacing (m)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("lead over the consensus (dB)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["shipped=traces-seismic-unet"], metavar="LABEL=MODEL")
    parser.add_argument("--seeds", type=int, default=6, help="gathers per spacing and event split")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown-only", action="store_true", help="re-render from the existing JSON")
    args = parser.parse_args(argv)
    out, figure_path = ROOT / "docs" / "results" / "seismic_spacing.json", ROOT / "docs" / "figures" / "seismic-spacing.png"
    if args.markdown_only:
        data = json.loads(out.read_text())
    else:
        torch.set_num_threads(args.threads)
        models = labelled_models(args.model)
        start, rows = time.perf_counter(), []
        for parts in PARTS:
            for dx in SPACINGS:
                for seed in range(FIRST_SEED, FIRST_SEED + args.seeds):
                    rows.append(score_gather(seed, dx, parts, models))
                print(f"{parts} {dx:g} m: " + ", ".join(f"{label} {v:+.2f}" for label in models
                      for v in [gains(rows, label, "parts", parts)[dx]]), flush=True)
        env = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
               "cpu": platform.processor() or platform.machine(), "seeds": args.seeds,
               "seconds": time.perf_counter() - start,
               "models": {label: f"{ref.partition('=')[2]} ({m.meta.get('steps')} steps)"
                          for (label, m), ref in zip(models.items(), args.model)}}
        data = {"environment": env, "labels": list(models), "pattern": PATTERN, "rows": rows}
        atomic_write_json(out, data)
    atomic_write_text(out.with_suffix(".md"), markdown(data))
    figure(data, figure_path)
    print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
