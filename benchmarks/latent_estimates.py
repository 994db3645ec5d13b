"""Which estimate to make from K restarts of the latent inversion, chosen on MNIST *validation* digits (tuning data;
benchmarks/latent.py scores the choice on the test split).

From one inversion (K restarts, each ending at the lowest J it reached) three estimates are scored on the missing
region: `best` (the restart with the lowest J, the reference exercise), `mean` (the mean of the restarts'
G(z*)) and `posterior` (the restarts weighted by exp(-J/2), the posterior under J). Writes
docs/results/latent_estimates.{json,md}.

    .venv/bin/python benchmarks/latent_estimates.py [--images 50] [--model latent-mnist-dcgan]
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

from ganrecon.data import load_dataset
from ganrecon.degrade import parse_degradation
from ganrecon.invert import invert, load_latent_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def estimates(generator, result) -> dict[str, torch.Tensor]:
    """The three estimates from one inversion's restarts (N x K x z_dim latent vectors, N x K costs)."""
    n, k, z_dim = result.restart_z.shape
    with torch.no_grad():
        images = generator(result.restart_z.reshape(n * k, z_dim)).reshape(n, k, *result.estimate.shape[1:])
    weights = torch.softmax(-result.restart_costs / 2, 1)
    return {"best": images[torch.arange(n), result.restart], "mean": images.mean(1),
            "posterior": (weights[:, :, None, None, None] * images).sum(1),
            "kept by the posterior": (1 / weights.square().sum(1)).mean()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="latent-mnist-dcgan")
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--ns", default="400,350")
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_latent_model(args.model)
    clean = load_dataset("mnist", split="val", root=args.data_root, limit=args.images, seed=0).images.float()
    rows = {}
    for n_kept in (int(v) for v in args.ns.split(",")):
        spec = f"keep-first:{n_kept}+gauss:0.05"
        observed, mask = parse_degradation(spec)(clean, value_range=(0.0, 1.0), generator=0)
        result = invert(model.generator, observed, mask, restarts=args.restarts, estimate="best")
        missing = (mask == 0).float()
        found = estimates(model.generator, result)
        kept = float(found.pop("kept by the posterior"))
        rows[spec] = {name: float(((est - clean).square() * missing).sum() / missing.sum())
                      for name, est in found.items()}
        rows[spec]["restarts kept by the posterior"] = kept
        print(spec, {k: round(v, 5) for k, v in rows[spec].items()})
    report = {"model": args.model, "images": args.images, "split": "val", "restarts": args.restarts,
              "hardware": f"{platform.machine()}, {args.threads} threads, torch {torch.__version__}", "rows": rows}
    atomic_write_json(args.out / "latent_estimates.json", report)
    names = ["best", "mean", "posterior"]
    lines = ["## Latent inversion: which estimate from K restarts (tuning, MNIST validation digits)", "",
             f"Produced by `benchmarks/latent_estimates.py`: `{args.model}`, {args.images} digits of the `val` split, "
             f"K = {args.restarts} restarts of 500 Adam steps; missing-region MSE (lower is better). best: the "
             "restart with the lowest J; mean: the mean of the restarts' G(z*); posterior: the restarts weighted by "
             "exp(-J/2), with the effective number of restarts it keeps.", "",
             "| measurements | " + " | ".join(names) + " | restarts kept by the posterior |",
             "|---" * (len(names) + 2) + "|"]
    for spec, r in rows.items():
        lines.append(f"| `{spec}` | " + " | ".join(f"{r[k]:.4f}" for k in names)
                     + f" | {r['restarts kept by the posterior']:.1f} |")
    atomic_write_text(args.out / "latent_estimates.md", "\n".join(lines) + "\n")
    print(f"wrote {args.out / 'latent_estimates.md'}")


if __name__ == "__main__":
    main()
