"""Burst restoration (issue 21): a burst of turbulent frames -> one image, learned against classical fusion.

Writes docs/results/burst.md and .json, and docs/figures/burst-turbulence1.png. Held-out photographs: 48 x 48 grey
crops of the test split of the `photos` corpus (whole photographs no training or validation crop comes from),
each seen as FRAMES frames through independent `turbulence:1.0` (the simulator of the shipped model). Methods:

- one frame: the first frame of the burst as it is, and Wiener deconvolution of it (the single-frame bar);
- the burst baselines (ganrecon.baselines): temporal mean and median, each alone and followed by Wiener or
  Richardson-Lucy with the burst's long-exposure PSF; the frames registered onto their mean (dense
  Lucas-Kanade), averaged, alone and followed by Wiener or Richardson-Lucy with the short-exposure PSF widened
  by the registration error; Wiener's balance, Richardson-Lucy's iterations and that error are chosen on the
  validation split, so "best classical" is the best a practitioner could get from them;
- the learned burst restorer (configs/translate-turbulence-burst8.yaml) and the learned single-frame restorer
  (configs/translate-turbulence-refine-wide.yaml and its stages, else translate-turbulence-refine.yaml, on the
  burst's first frame), from runs/ where it holds them, else the shipped bundles of the same generators.

    .venv/bin/python benchmarks/burst.py [--runs runs] [--limit 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from pathlib import Path

import torch

from ganrecon.data import load_dataset
from ganrecon.degrade import parse_degradation
from ganrecon.evaluation import Evaluation, save_outputs
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.scoring import baseline_methods, score_methods

ROOT = Path(__file__).resolve().parent.parent
CROPS = "photos:n={n},size=48x48"
STRENGTH, FRAMES = 1.0, 8
# runs/ names, the latest training stage first
RESTORER, LEARNED_BURST = ("translate-turbulence-burst8-stage2", "translate-turbulence-burst8"), "learned burst restorer"
SINGLE, LEARNED_FRAME = ("translate-turbulence-refine-wide-stage4", "translate-turbulence-refine-wide-stage3",
                         "translate-turbulence-refine-wide-stage2",
                         "translate-turbulence-refine-wide",
                         "translate-turbulence-refine"), "one frame, learned refine"  # the refine design, one frame
TARGET_OVER_CLASSICAL_DB, TARGET_OVER_FRAME_DB, TARGET_SINGLE_DB = 2.0, 5.0, 0.5
BALANCES, ITERATIONS, RESIDUALS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3), (3, 5, 10, 20, 40), (0.3, 0.5, 0.7)


def burst_spec(frames: int = FRAMES) -> str:
    return f"turbulence:{STRENGTH:g}:frames={frames}"


def grid(name: str) -> list[dict]:
    """The option settings tried for a deconvolving baseline: Wiener's balance or Richardson-Lucy's iterations,
    and after registration also the registration error's spread (`residual`)."""
    axes = {"balance": BALANCES} if name.endswith("wiener") else {"num_iter": ITERATIONS}
    if name.startswith("burst-register"):
        axes["residual"] = RESIDUALS
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def tuned_options(val: torch.Tensor) -> dict[str, dict]:
    """Per deconvolving baseline (burst and single-frame Wiener), the grid setting with the best validation PSNR."""
    burst = parse_degradation(burst_spec())
    observed, mask = burst(val, generator=1)
    frame = parse_degradation(f"turbulence:{STRENGTH:g}")
    one, one_mask = frame(val, generator=1)
    chosen = {}
    for name in [n for n in baseline_methods(burst, (0.0, 1.0)) if n.endswith(("-wiener", "-rl"))] + ["wiener"]:
        degradation, obs, msk = (frame, one, one_mask) if name == "wiener" else (burst, observed, mask)
        best = None
        for setting in grid(name):
            method = baseline_methods(degradation, (0.0, 1.0), [name], options={name: setting})
            psnr = score_methods(method, val, obs, msk, (0.0, 1.0))[name]["psnr"]
            if best is None or psnr > best[1]:
                best = (setting, psnr)
        chosen[name] = {"options": best[0], "val_psnr": best[1]}
    return chosen


def restorer(runs: Path, stages: tuple[str, ...], label: str, shipped: str):
    """The best-validation generator (else the last) of the latest stage in runs/, named `label`; without one
    (a fresh checkout has no runs/), the shipped bundle `shipped` (its fp16 copy of such a generator)."""
    for run in stages:
        for stem in ("model-best", "model"):
            if (runs / run / f"{stem}.safetensors").is_file():
                model = load_model(runs / run / f"{stem}.safetensors")
                model.name = label
                model.meta["source_run"] = f"{run}/{stem}"
                return model
    print(f"  (no {stages[-1]} in {runs}: the shipped {shipped} bundle)")
    model = load_model(shipped)
    model.name = label
    return model


def provenance(model) -> dict:
    return {k: model.meta.get(k) for k in ("source_run", "shipped_name", "stored_dtype", "steps", "train_seconds",
                                           "total_steps", "total_train_seconds", "selected") if k in model.meta}


def run(test: torch.Tensor, val: torch.Tensor, runs: Path) -> tuple[dict, Evaluation]:
    settings = tuned_options(val)
    burst = parse_degradation(burst_spec())
    observed, mask = burst(test, generator=0)
    frame = parse_degradation(f"turbulence:{STRENGTH:g}")
    options = {k: v["options"] for k, v in settings.items()}
    methods = {"one frame": lambda o, m: o[:, :1],
               "one frame, wiener": lambda o, m: baseline_methods(frame, (0.0, 1.0), ["wiener"],
                                                                   options=options)["wiener"](o[:, :1], None),
               **baseline_methods(burst, (0.0, 1.0), options=options)}
    single = restorer(runs, SINGLE, LEARNED_FRAME, "translate-turbulence")
    methods[single.name] = lambda o, m: single(o[:, :1])
    model = restorer(runs, RESTORER, LEARNED_BURST, "translate-turbulence-burst8")
    methods[model.name] = model
    estimates: dict[str, torch.Tensor] = {}
    scores = score_methods(methods, test, observed, mask, (0.0, 1.0), estimates=estimates)
    results = {"n_images": len(test), "degrade": burst_spec(), "methods": scores, "settings": settings,
               "models": {m.name: provenance(m) for m in (single, model)}}
    return results, Evaluation(results, test, observed, mask, estimates)


def targets(results: dict) -> list[str]:
    m = results["methods"]
    classical = {k: v["psnr"] for k, v in m.items() if k.startswith("burst-")}
    best = max(classical, key=classical.get)
    lines = [f"best classical burst method: {best} {classical[best]:.2f} dB; one frame {m['one frame']['psnr']:.2f} dB"]
    checks = [(LEARNED_BURST, "best classical + 2 dB", classical[best], TARGET_OVER_CLASSICAL_DB),
              (LEARNED_BURST, "one frame + 5 dB", m["one frame"]["psnr"], TARGET_OVER_FRAME_DB),
              (LEARNED_FRAME, "one frame + 0.5 dB", m["one frame"]["psnr"], TARGET_SINGLE_DB)]
    for name, label, bar, gain in checks:
        if name not in m:
            lines.append(f"{name}: not trained yet, {label} not measured")
            continue
        got = m[name]["psnr"] - bar
        lines.append(f"{name} {m[name]['psnr']:.2f} dB vs {label}: {got:+.2f} dB -> "
                     f"{'met' if got >= gain else 'missed'}")
    return lines


def markdown(results: dict) -> str:
    lines = ["## Burst restoration: 8 turbulent frames -> one image", "",
             f"Produced by `benchmarks/burst.py` on {results['hardware']}. {results['n_images']} 48 x 48 grey crops of "
             f"the held-out test photographs of the `photos` corpus, each as a burst `{results['degrade']}` (seed 0). "
             "Wiener balance, Richardson-Lucy iterations and registration error chosen on the validation split: "
             + ", ".join(f"{k} {v['options']}" for k, v in results["settings"].items()) + ".", "",
             "| method | PSNR dB | SSIM | ms/image |", "|---|---:|---:|---:|"]
    for name, s in results["methods"].items():
        lines.append(f"| {name} | {s['psnr']:.2f} | {s['ssim']:.4f} | {s['ms_per_image']:.1f} |")
    for name, meta in results.get("models", {}).items():
        lines += ["", f"{name}: " + ", ".join(f"{k} {v}" for k, v in meta.items() if v is not None)]
    lines += ["", "Targets (issue 21):", ""] + [f"- {t}" for t in results["targets"]]
    lines += ["", "![burst restoration](../figures/burst-turbulence1.png)", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--limit", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    test = load_dataset(CROPS.format(n=args.limit), split="test", seed=0).images
    val = load_dataset(CROPS.format(n=64), split="val", seed=0).images
    results, evaluation = run(test, val, args.runs)
    results["targets"] = targets(results)
    results["hardware"] = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    results["seconds"] = time.perf_counter() - start
    out = ROOT / "docs" / "results"
    atomic_write_json(out / "burst.json", results)
    atomic_write_text(out / "burst.md", markdown(results))
    evaluation.estimates.pop("one frame")  # the figure shows the first frame as the observed image already
    save_outputs(evaluation, None, ROOT / "docs" / "figures" / "burst-turbulence1.png", rows=4)
    print(markdown(results))


if __name__ == "__main__":
    main()
