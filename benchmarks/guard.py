"""The guard on held-out sets of every task: baselines, the raw model and the guarded model side by side.

Each set is data the shipped model never saw in training, degraded once (seed 0); every method sees the same
input. The guarded model (`ganrecon.guard`, mode choose, default share, folds and tiles) is what `ganrecon eval`
puts under the model's name; `NAME:raw` is the model alone. Scores: PSNR for images, SNR for seismic gathers,
over all images of a set (as `ganrecon eval`). The issue's bar: guarded >= best baseline - 0.1 dB on every set,
and (issue 20: on any gather) on every image against the set's best baseline.

Sets:
- denoise: crops of scikit-image photographs left out of the blind denoiser's training, and MNIST digits (a
  domain it never saw: ../shared/datasets/mnist/train.npz, test split), salt & pepper 0.15;
- superres: photograph crops and thresholded Gaussian random fields (benchmarks/superres.py's second porous
  generator), x4;
- traces: pylops gathers 1000 x 80 (benchmarks/seismic_field.py's generator, test seeds) with 50% random and
  regular-2 decimation, and MNIST digits with 50% of columns missing (the MNIST model's own domain);
- translate: turbulence on photograph crops (no self-check: the guard says so and uses the model).

    PYTHONPATH=src python benchmarks/guard.py [--quick]      # --quick: fewer images per set
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ganrecon.data import ImageSet, load_dataset
from ganrecon.data.convert import SIGNED_RANGE
from ganrecon.evaluation import evaluate
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.metrics import image_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seismic_field import SPACINGS, pylops_gather  # noqa: E402
from superres import grf_porous, photo_crops  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MNIST_PLACES = [ROOT.parent / "shared" / "datasets" / "mnist" / "train.npz",   # next to the main checkout
                ROOT.parent.parent / "shared" / "datasets" / "mnist" / "train.npz"]  # next to a worktree folder
UNSEEN_PHOTOS = "camera+chelsea+coins+gravel"  # the photos corpus's test photographs: never in any training
TOLERANCE_DB = 0.1


def sets(n: int, mnist: Path | None = None) -> list[dict]:
    """(task, set name, description, images, degradation, model) for every benchmark set."""
    rng = np.random.default_rng(1234)
    photos = ImageSet(torch.from_numpy(photo_crops()), (0.0, 1.0), "photos")
    unseen = load_dataset(f"natural:n={n},size=96x96,images={UNSEEN_PHOTOS}", split=None, limit=n, seed=0)
    grf = ImageSet(torch.from_numpy(np.stack([grf_porous(rng) for _ in range(max(2, n // 4))])[:, None]),
                   (0.0, 1.0), "grf")
    gathers = ImageSet(torch.from_numpy(np.stack([pylops_gather(seed, dx) for seed, dx in enumerate(SPACINGS)])
                                        [:, None]), SIGNED_RANGE, "pylops")
    out = [
        ("denoise", "photos-unseen", f"{n} crops 96 x 96 of {UNSEEN_PHOTOS}", unseen, "sp:0.15", "denoise-blind"),
        ("superres", "photos", f"{len(photos.images)} crops 128 x 128 of scikit-image photographs", photos,
         "down:4", "superres-porous-x4"),
        ("superres", "grf", f"{len(grf.images)} thresholded Gaussian random fields 256 x 256", grf, "down:4",
         "superres-porous-x4"),
        ("traces", "pylops-random", "3 pylops gathers 1000 x 80 (dx 12.5/25/37.5 m)", gathers,
         "columns:random:0.5", "traces-seismic-unet"),
        ("traces", "pylops-regular", "the same gathers", gathers, "columns:regular:2", "traces-seismic-unet"),
        ("translate", "photos-turbulence", f"{n} crops 64 x 64 of the held-out band of the training photographs",
         load_dataset(f"natural:n={n},size=64x64", split="test", limit=n, seed=0), "turbulence:1.0",
         "translate-turbulence"),
    ]
    if mnist is not None and mnist.is_file():
        digits = load_dataset(f"npz:{mnist}", split="test", limit=4 * n, seed=0)
        out += [("denoise", "mnist", f"{4 * n} MNIST digits (test split of the training file)", digits, "sp:0.15",
                 "denoise-blind"),
                ("traces", "mnist", f"{4 * n} MNIST digits (test split of the training file)", digits,
                 "columns:random:0.5", "traces-mnist-unet")]
    return [dict(zip(("task", "set", "description", "images", "degrade", "model"), s)) for s in out]


def run_set(case: dict) -> dict:
    """Every baseline, the raw and the guarded model on one set -> the row of the results."""
    start = time.perf_counter()
    evaluation = evaluate(case["images"], case["degrade"], models=[load_model(case["model"])], seed=0)
    results = evaluation.results
    metric = "snr" if case["images"].value_range[0] < 0 else "psnr"
    name = case["model"]
    scores = {m: float(s[metric]) for m, s in results["methods"].items()}
    baselines = {m: v for m, v in scores.items() if m not in (name, f"{name}:raw")}
    best = max(baselines, key=baselines.get)
    per_image = {m: image_metrics(evaluation.estimates[m], evaluation.clean, evaluation.mask,
                                  evaluation.value_range)[metric].tolist() for m in (name, best)}
    margins = [round(g - b, 2) for g, b in zip(per_image[name], per_image[best])]
    guard = results["guard"][name]
    return {"task": case["task"], "set": case["set"], "description": case["description"],
            "degrade": case["degrade"], "model": name, "metric": metric, "n_images": results["n_images"],
            "scores": scores, "best_baseline": best, "raw": scores[f"{name}:raw"], "guarded": scores[name],
            "guarded_minus_best_db": round(scores[name] - baselines[best], 2),
            "raw_minus_best_db": round(scores[f"{name}:raw"] - baselines[best], 2),
            "meets_bar": scores[name] >= baselines[best] - TOLERANCE_DB,
            "image_margins_db": margins, "every_image_meets_bar": min(margins) >= -TOLERANCE_DB,
            "guard": {"check": guard["check"], "methods": guard["summary"]["methods"],
                      "images": [{k: im[k] for k in ("method", "baseline", "margin_db", "note") if im.get(k)}
                                 for im in guard["images"]]},
            "seconds": round(time.perf_counter() - start, 1)}


def worst(row: dict) -> str:
    return f"{min(row['image_margins_db']):+.2f}" if "image_margins_db" in row else "-"


def every(row: dict) -> str:
    if "every_image_meets_bar" not in row:
        return "-"
    return "met" if row["every_image_meets_bar"] else "missed"


def markdown(rows: list[dict], env: dict) -> str:
    lines = ["## The guard: baselines, raw model and guarded model on held-out sets", "",
             f"Produced by `benchmarks/guard.py{' --quick' if env['quick'] else ''}` on {env['machine']}, "
             f"{env['threads']} thread(s), torch {env['torch']}, {env['seconds']:.0f} s in all. Guard: mode choose, "
             "10% held out, 3 folds, 256-pixel tiles. PSNR for images, SNR for gathers, in dB, over each whole set. "
             f"Bar (issue 17): guarded >= best baseline - {TOLERANCE_DB} dB; per image (issue 20), each image's "
             "guarded score against the same baseline's on that image.", "",
             "| task | set | degradation | model | best baseline | raw | guarded | guarded - best | raw - best "
             "| guard used | bar | worst image: guarded - best | bar on every image |", "|---" * 13 + "|"]
    for r in rows:
        used = ", ".join(f"{k} {v}" for k, v in sorted(r["guard"]["methods"].items()))
        lines.append(f"| {r['task']} | {r['set']} | `{r['degrade']}` | {r['model']} | {r['best_baseline']} "
                     f"{r['scores'][r['best_baseline']]:.2f} | {r['raw']:.2f} | {r['guarded']:.2f} | "
                     f"{r['guarded_minus_best_db']:+.2f} | {r['raw_minus_best_db']:+.2f} | {used} | "
                     f"{'met' if r['meets_bar'] else 'missed'} | {worst(r)} | {every(r)} |")
    lines += ["", "Sets:", ""] + [f"- {r['task']} / {r['set']}: {r['description']}; check: {r['guard']['check']}."
                                  for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 images per set instead of 8 (digits: 16, not 32)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mnist", type=Path, default=next((p for p in MNIST_PLACES if p.is_file()), None),
                        help="MNIST training file (npz: images); its test split is used")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = []
    for case in sets(4 if args.quick else 8, args.mnist):
        rows.append(run_set(case))
        r = rows[-1]
        print(f"{r['task']:9s} {r['set']:17s} best {r['best_baseline']} {r['scores'][r['best_baseline']]:.2f}  "
              f"raw {r['raw']:.2f}  guarded {r['guarded']:.2f}  ({r['seconds']:.0f} s)", flush=True)
    env = {"machine": platform.machine(), "threads": args.threads, "torch": torch.__version__, "quick": args.quick,
           "seconds": time.perf_counter() - start}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "guard.json", {"environment": env, "sets": rows})
    atomic_write_text(args.out / "guard.md", markdown(rows, env))
    print(f"wrote {args.out / 'guard.md'} and guard.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
