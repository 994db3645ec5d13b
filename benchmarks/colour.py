"""Colour photographs through the shipped grey models -> docs/results/colour.{json,md}: which colour mode to use
per task (`ganrecon.colour.COLOUR_MODES`).

Four colour photographs bundled with scikit-image (astronaut, coffee, chelsea, rocket; a 256 x 256 crop from the
centre of each), degraded in colour with one seed, then restored by each shipped grey model in two ways:

- per channel: R, G and B each through the grey model;
- luminance: Y through the grey model, Cb and Cr from the task's conventional method on the colour input
  (`ganrecon.colour.CHROMA_BASELINES`: bicubic, median 3x3, identity, linear interpolation);

next to what ganrecon did before issue 16 (the channels averaged to grey, the grey result copied to R, G and B)
and the conventional method alone, run per channel. PSNR and SSIM over the three channels, against the colour
original. Astronaut, coffee and rocket are among denoise-blind's training photographs (its training crops avoid
a test band, but not the centre), chelsea is not; the comparison between the modes is what matters here.

    .venv/bin/python benchmarks/colour.py [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ganrecon.baselines import run_baseline
from ganrecon.colour import CHROMA_BASELINES, colour_apply
from ganrecon.degrade import parse_degradation
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.metrics import image_metrics, summarise
from ganrecon.report import plural

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
CROP = 256
# shipped model -> degradation it is measured at
CASES = (("denoise-blind", "sp:0.15"), ("superres-porous-x4", "down:4"), ("translate-turbulence", "turbulence:1.0"),
         ("traces-mnist-unet", "columns:random:0.5"))
METHODS = ("grey (before)", "per channel", "luminance", "conventional")


def photographs() -> torch.Tensor:
    """N x 3 x CROP x CROP in [0, 1]: the centre crop of each photograph."""
    import skimage.data

    out = []
    for name in PHOTOS:
        img = np.asarray(getattr(skimage.data, name)()[..., :3], np.float32) / 255.0
        top, left = (img.shape[0] - CROP) // 2, (img.shape[1] - CROP) // 2
        out.append(torch.from_numpy(np.ascontiguousarray(img[top:top + CROP, left:left + CROP])).permute(2, 0, 1))
    return torch.stack(out)


def restore(method: str, model, observed: torch.Tensor, mask: torch.Tensor, task: str) -> torch.Tensor:
    grey = lambda o, m: model(o, m)  # noqa: E731 - the model on one-channel images
    if method == "grey (before)":
        y = observed.mean(dim=1, keepdim=True)
        return grey(y, mask.amin(dim=1, keepdim=True)).repeat(1, 3, 1, 1)
    if method == "conventional":
        return run_baseline(CHROMA_BASELINES[task], observed, mask, value_range=(0.0, 1.0), scale=model.scale)
    mode = "channels" if method == "per channel" else "luminance"
    return colour_apply(grey, observed, mask, task=task, scale=model.scale, mode=mode,
                        keep_known=bool(model.meta.get("data_consistency")))   # as the model itself calls it


def run_case(name: str, spec: str, clean: torch.Tensor) -> dict:
    model = load_model(name)
    task = model.meta["task"]
    observed, mask = parse_degradation(spec)(clean, value_range=(0.0, 1.0), generator=torch.Generator().manual_seed(0))
    rows = {}
    for method in METHODS:
        start = time.perf_counter()
        with torch.no_grad():
            est = restore(method, model, observed, mask, task).clamp(0, 1)
        seconds = time.perf_counter() - start
        scores = summarise(image_metrics(est, clean, mask if mask.shape == clean.shape else None, (0.0, 1.0)))
        rows[method] = {"psnr": scores["psnr"], "ssim": scores["ssim"], "ms_per_image": 1000 * seconds / len(clean)}
        print(f"{name} {spec} {method}: {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}", flush=True)
    learned = {m: rows[m]["psnr"] for m in ("per channel", "luminance")}
    return {"model": name, "task": task, "degrade": spec, "chroma_from": CHROMA_BASELINES[task], "methods": rows,
            "better_mode": "channels" if learned["per channel"] >= learned["luminance"] else "luminance"}


def markdown(results: dict) -> str:
    lines = ["## Colour photographs through grey models", "",
             f"Produced by `benchmarks/colour.py` on {results['machine']}, {plural(results['threads'], 'thread')}, torch "
             f"{results['torch']}. {len(PHOTOS)} colour photographs of scikit-image ({', '.join(PHOTOS)}), a "
             f"{CROP} x {CROP} crop from the centre of each, degraded in colour (seed 0); PSNR (dB) / SSIM over "
             "the three channels against the colour original. `grey (before)`: the channels averaged, the grey "
             "result copied to R, G and B (what ganrecon did before issue 16); `per channel`: R, G and B each "
             "through the grey model; `luminance`: Y through the model, chroma from the conventional method; "
             "`conventional`: that method alone, per channel. Astronaut, coffee and rocket are among "
             "denoise-blind's training photographs, chelsea is not.", "",
             "| model | degradation | chroma from | " + " | ".join(METHODS) + " | mode used |",
             "|---" * (len(METHODS) + 4) + "|"]
    for case in results["cases"]:
        best = max(case["methods"][m]["psnr"] for m in ("per channel", "luminance"))
        cells = []
        for m in METHODS:
            r = case["methods"][m]
            text = f"{r['psnr']:.2f} / {r['ssim']:.3f}"
            cells.append(f"**{text}**" if m in ("per channel", "luminance") and r["psnr"] == best else text)
        lines.append(f"| `{case['model']}` | `{case['degrade']}` | {case['chroma_from']} | " + " | ".join(cells)
                     + f" | {case['better_mode']} |")
    lines += ["", "The mode with the higher PSNR is the one `ganrecon.colour.COLOUR_MODES` uses for the model's "
              "task; `latent` (no shipped model takes photographs) runs per channel.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clean = photographs()
    results = {"machine": platform.machine(), "threads": args.threads, "torch": torch.__version__,
               "photos": list(PHOTOS), "crop": CROP, "cases": [run_case(n, s, clean) for n, s in CASES]}
    atomic_write_json(ROOT / "docs" / "results" / "colour.json", results)
    atomic_write_text(ROOT / "docs" / "results" / "colour.md", markdown(results))
    print(json.dumps({c["model"]: c["better_mode"] for c in results["cases"]}))


if __name__ == "__main__":
    main()
