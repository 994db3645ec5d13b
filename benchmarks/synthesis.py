"""Benchmark of turbulence synthesis by a pix2pix sampler (issue 21, step 3) -> docs/results/synthesis.{json,md}
and docs/figures/synthesis-draws.png.

The question: can pix2pix clean -> turbulent stand in for the simulator as the source of training pairs? Two
measurements on 48x48 grey crops of the test band of scikit-image's photographs (the held-out set of
benchmarks/translate.py):
- the draws: gradient energy relative to the clean crop, displacement (RMS of the TV-L1 optical flow from clean
  to distorted, mean and spread over crops), PSNR to the clean crop, and the spread of two draws for the same
  clean crop (RMS difference, and the optical flow between them), for the simulator (turbulence:1.0) and two
  samplers: a U-Net with noise maps (configs/translate-turbulence-synth-noise.yaml) and the same with a warp
  head (-synth-warp.yaml);
- the pipeline: restorers with identical settings and steps, one trained on simulator pairs
  (configs/translate-turbulence-restore-sim1600.yaml), one on each sampler's pairs (-restore-synth-noise.yaml,
  with `data` set to the warp sampler's pairs for the second), scored on the same simulator-distorted test
  crops, beside the identity and a Wiener filter tuned on the validation band. Target: a sampler-pairs
  restorer within 1 dB of the simulator-pairs one.
The dropout-only synthesiser of the first recipe is quoted from docs/results/translate.json, where
benchmarks/translate.py measured it.

    .venv/bin/python benchmarks/synthesis.py [--runs runs] [--limit 256] [--threads 2]
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

from ganrecon.data import load_dataset
from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.report import image_grid
from ganrecon.scoring import baseline_methods, score_methods

sys.path.insert(0, str(Path(__file__).resolve().parent))
from translate import (  # noqa: E402
    CROPS,
    classical,
    displacement,
    distort,
    find_model,
    gradient_energy,
    psnr_ssim,
    tune_classical,
)

ROOT = Path(__file__).resolve().parent.parent
STRENGTH = 1.0
SAMPLERS = {"sampler, noise maps": "translate-turbulence-synth-noise",
            "sampler, noise maps + warp head": "translate-turbulence-synth-warp"}
SIMULATOR_RESTORER = "restorer, simulator pairs"
RESTORERS = {SIMULATOR_RESTORER: "translate-turbulence-restore-sim1600",
             "restorer, noise-map sampler pairs": "translate-turbulence-restore-synth-noise",
             "restorer, warp sampler pairs": "translate-turbulence-restore-synth-warp"}
TARGET_GAP_DB = 1.0


def draw_statistics(clean: torch.Tensor, first: torch.Tensor, second: torch.Tensor, clean_energy: float) -> dict:
    flow = displacement(clean, first)
    return {"gradient_energy_ratio": float(gradient_energy(first).mean() / clean_energy),
            "flow_rms_px": float(flow.mean()), "flow_rms_px_std": float(flow.std()),
            "psnr_to_clean": psnr_ssim(first, clean)["psnr"],
            "draw_spread_rms": float(((first - second) ** 2).mean().sqrt()),
            "draw_flow_rms_px": float(displacement(first, second).mean())}


def draws(clean: torch.Tensor, samplers: dict) -> tuple[dict, dict]:
    """Two simulator draws and two draws of each sampler for every clean crop: their statistics, and the draws."""
    out = {"simulated": (distort(clean, STRENGTH, seed=0), distort(clean, STRENGTH, seed=1))}
    for label, sampler in samplers.items():
        with torch.no_grad():
            torch.manual_seed(0)
            out[label] = (sampler(clean), sampler(clean))
    energy = float(gradient_energy(clean).mean())
    return {label: draw_statistics(clean, a, b, energy) for label, (a, b) in out.items()}, out


def restoration(test: torch.Tensor, val: torch.Tensor, restorers: dict) -> dict:
    observed = distort(test, STRENGTH, seed=0)
    settings = tune_classical(val, STRENGTH)
    wiener = classical(STRENGTH, {"wiener": settings["wiener"]})
    methods = {**baseline_methods(f"turbulence:{STRENGTH:g}", (0.0, 1.0), ["identity"]), **wiener, **restorers}
    scored = score_methods(methods, test, observed, torch.ones_like(test), (0.0, 1.0))
    return {label: {"psnr": s["psnr"], "ssim": s["ssim"]} for label, s in scored.items()} | {
        "wiener_settings": {"psf": settings["wiener"]["psf"], **settings["wiener"]["options"]}}


def draws_figure(clean: torch.Tensor, samples: dict, out: Path, rows: int = 4) -> None:
    """Per row: the clean crop, then two draws of the simulator and of each sampler."""
    picks = np.argsort(-gradient_energy(clean))[:rows * 8:8]  # textured crops, where displacement shows
    short = {"simulated": "simulator"} | {label: label.split(", ")[-1].removeprefix("noise maps + ")
                                          for label in SAMPLERS}
    panels = [[("clean", clean[i])] + [(f"{short[label]} {k + 1}", pair[k][i]) for label, pair in samples.items()
                                       for k in range(2)] for i in picks]
    image_grid(panels, out)


def markdown(r: dict) -> str:
    lines = ["## Synthesis: pix2pix as a turbulence sampler (issue 21, step 3)", "",
             f"Produced by `benchmarks/synthesis.py` ({r['hardware']}; {r['seconds']:.0f} s). Held-out data: "
             f"{r['n_images']} 48x48 grey crops of the test band of scikit-image's photographs; simulator "
             f"turbulence:{STRENGTH:g}. Samplers: U-Nets with 4 smooth noise maps, trained so that two draws differ as two "
             "simulator draws do (configs/translate-turbulence-synth-noise.yaml), and the same with a warp head "
             "(-synth-warp.yaml: a displacement field and a correction).", "",
             "Draws (per crop: optical flow from clean to distorted by TV-L1, its RMS in px; the spread is the RMS "
             "difference between two draws for one clean crop, and their relative flow):", "",
             "| source | gradient energy | flow RMS (px), mean ± std | PSNR to clean (dB) | spread of two draws | "
             "flow between two draws (px) |", "|---|---|---|---|---|---|"]
    for label, s in r["draws"].items():
        lines.append(f"| {label} | {s['gradient_energy_ratio']:.3f} | {s['flow_rms_px']:.3f} ± "
                     f"{s['flow_rms_px_std']:.3f} | {s['psnr_to_clean']:.2f} | {s['draw_spread_rms']:.4f} | "
                     f"{s['draw_flow_rms_px']:.3f} |")
    if r.get("dropout_synthesiser"):
        d = r["dropout_synthesiser"]
        lines.append(f"| dropout-only pix2pix (docs/results/translate.md) | {d['gradient_energy_ratio']:.3f} | "
                     f"{d['flow_rms_px']:.3f} | {d['psnr_to_clean']:.2f} | {d['draw_spread_rms']:.4f} | - |")
    lines += ["", "Restoration of simulator-distorted test crops (PSNR dB / SSIM); the restorers differ only in "
              "where their training pairs came from:", "", "| method | PSNR / SSIM |", "|---|---|"]
    for label, s in r["restoration"].items():
        if label != "wiener_settings":
            lines.append(f"| {label} | {s['psnr']:.2f} / {s['ssim']:.3f} |")
    w = r["restoration"]["wiener_settings"]
    lines += ["", f"Wiener: {w['psf']} PSF, balance {w['balance']} (chosen on the validation band).", ""]
    for label, info in r["models"].items():
        lines.append(f"- {label}: {info['source']}, {info['steps']} steps in {info['train_seconds']:.0f} s")
    lines += ["", "Target:", ""] + [f"- {t['target']}: {t['measured']} -> **{'met' if t['met'] else 'missed'}**"
                                    for t in r["targets"]]
    lines += ["", "![simulator and sampler draws](../figures/synthesis-draws.png)", ""]
    return "\n".join(lines)


def main(args) -> None:
    start = time.perf_counter()
    test = load_dataset(CROPS.format(n=args.limit), split="test", seed=0).images
    val = load_dataset(CROPS.format(n=64), split="val", seed=0).images
    samplers = {label: m for label, name in SAMPLERS.items() if (m := find_model(name, args.runs)) is not None}
    stats, samples = draws(test, samplers)
    restorers = {label: m for label, name in RESTORERS.items() if (m := find_model(name, args.runs)) is not None}
    scores = restoration(test, val, restorers)
    print("  " + ", ".join(f"{k} {v['psnr']:.2f}" for k, v in scores.items() if "psnr" in v))
    targets = []
    for label in restorers:
        if label != SIMULATOR_RESTORER and SIMULATOR_RESTORER in restorers:
            gap = scores[SIMULATOR_RESTORER]["psnr"] - scores[label]["psnr"]
            targets.append({"target": f"{label} within {TARGET_GAP_DB:g} dB of the {SIMULATOR_RESTORER}",
                            "measured": f"{gap:+.2f} dB (simulator - sampler)", "met": gap <= TARGET_GAP_DB})
    translate_json = ROOT / "docs" / "results" / "translate.json"
    earlier = json.loads(translate_json.read_text())["synthesis"].get("synthesised") if translate_json.is_file() else None
    models = {label: {"source": m.meta["source"].replace(f"{ROOT}/", ""), "steps": m.meta.get("steps"),
                      "train_seconds": m.meta.get("train_seconds", 0.0)}
              for label, m in [*restorers.items(), *samplers.items()]}
    results = {"n_images": len(test), "draws": stats, "dropout_synthesiser": earlier, "restoration": scores,
               "models": models, "targets": targets, "seconds": time.perf_counter() - start,
               "hardware": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"}
    draws_figure(test, samples, ROOT / "docs" / "figures" / "synthesis-draws.png")
    out = ROOT / "docs" / "results"
    atomic_write_json(out / "synthesis.json", results)
    atomic_write_text(out / "synthesis.md", markdown(results))
    print(f"wrote {out / 'synthesis.md'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--limit", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    main(args)
