"""Would a fixed blend of the blind denoiser and BM3D beat both at Gaussian noise? -> docs/results/denoise_blend.{json,md}

Gaussian noise has no self-check (ganrecon.guard): the guard cannot choose between the model and BM3D per image,
so the only way to use BM3D's answer there is a fixed blend, w x model + (1 - w) x BM3D. It pays only where the
two err in different places: with errors of correlation rho and equal size the blend's error falls by at most
(1 + rho) / 2. Measured on the validation split of the `photos` corpus (never its held-out test photographs), the
shipped `denoise-blind` as users run it (its self-ensemble, the guard off: nothing to check), BM3D given the true
sigma. Score: mean PSNR over crops; rho: the correlation of the two methods' errors over all pixels.

    .venv/bin/python benchmarks/denoise_blend.py [--limit 200] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from ganrecon.evaluation import evaluate
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
LEVELS = ("gauss:0.05", "gauss:0.1", "gauss:0.2")
WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.9)   # the model's weight in the blend
DATA = "photos:size=48x48"


def mean_psnr(estimate: torch.Tensor, clean: torch.Tensor) -> float:
    mse = (estimate.clamp(0, 1) - clean).square().flatten(1).mean(1)
    return (10 * torch.log10(1 / mse)).mean().item()


def measure(level: str, limit: int) -> dict:
    """PSNR of the model, BM3D and each blend on the same degraded validation crops."""
    evaluation = evaluate(DATA, level, models=[load_model("denoise-blind")], limit=limit, split="val",
                          guard="off", baselines=["bm3d"])
    clean = evaluation.clean.float()
    model, bm3d = evaluation.estimates["denoise-blind"].float(), evaluation.estimates["bm3d"].float()
    errors = torch.stack([(model - clean).flatten(), (bm3d - clean).flatten()])
    return {"level": level, "images": len(clean), "model": mean_psnr(model, clean), "bm3d": mean_psnr(bm3d, clean),
            "error_correlation": torch.corrcoef(errors)[0, 1].item(),
            "blends": {f"{w:g}": mean_psnr(w * model + (1 - w) * bm3d, clean) for w in WEIGHTS}}


def markdown(data: dict) -> str:
    lines = ["## Blending the denoiser with BM3D at Gaussian noise (issue 18)", "",
             f"Produced by `benchmarks/denoise_blend.py` on {data['machine']}, {data['threads']} threads, "
             f"{data['seconds']:.0f} s. Validation crops of `{DATA}` (never the held-out photographs), the shipped "
             "`denoise-blind` with its self-ensemble, BM3D with the true sigma. Mean PSNR (dB); blends: w x model + "
             "(1 - w) x BM3D, as the gain over the model alone.", "",
             "| noise | crops | model | BM3D | error correlation | "
             + " | ".join(f"w {w:g}" for w in WEIGHTS) + " |", "|---" * (5 + len(WEIGHTS)) + "|"]
    for r in data["rows"]:
        gains = " | ".join(f"{r['blends'][f'{w:g}'] - r['model']:+.3f}" for w in WEIGHTS)
        lines.append(f"| `{r['level']}` | {r['images']} | {r['model']:.2f} | {r['bm3d']:.2f} | "
                     f"{r['error_correlation']:.3f} | {gains} |")
    best = max((r["blends"][f"{w:g}"] - r["model"], r["level"], w) for r in data["rows"] for w in WEIGHTS)
    lines += ["", f"Best blend: {best[0]:+.3f} dB over the model alone (`{best[1]}`, w {best[2]:g}).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=200, help="validation crops per noise level")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = []
    for level in LEVELS:
        rows.append(measure(level, args.limit))
        print(f"{level}: model {rows[-1]['model']:.2f}, BM3D {rows[-1]['bm3d']:.2f}", flush=True)
    data = {"machine": platform.machine(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "seconds": time.perf_counter() - start, "rows": rows}
    atomic_write_json(args.out / "denoise_blend.json", data)
    atomic_write_text(args.out / "denoise_blend.md", markdown(data))
    print(f"wrote {args.out / 'denoise_blend.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
