"""Average the generator weights of runs that continue one another (a "model soup") into one bundle.

A stage trained from another's weights stays in the same basin of the loss, and the mean of the two often scores
above either (Wortsman et al., 2022, "Model soups"); unlike an ensemble it costs nothing at inference. Two
stages of one network on different training data are the case here (issue 20: seismic stages 21 and 22 scored
alike on validation and on the tuning gathers). Whether the mean is better is for the benchmarks to say
(benchmarks/bundle_validation.py, benchmarks/seismic_field.py --choice-only); this script only builds it.

    .venv/bin/python benchmarks/average_weights.py runs/A/model-best runs/B/model-best --out runs/soup/model-best
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ganrecon.checkpoints import read_bundle, save_bundle
from ganrecon.errors import GanreconError

SAME = ("task", "generator", "generator_options", "channels", "image_size", "value_range", "scale")


def average(bundles: list[tuple[dict[str, torch.Tensor], dict]], weights: list[float]) -> dict[str, torch.Tensor]:
    """The weighted mean of every floating-point tensor; other tensors (counters) from the first bundle."""
    first, meta = bundles[0]
    for tensors, other in bundles[1:]:
        differ = [k for k in SAME if other.get(k) != meta.get(k)]
        if differ or tensors.keys() != first.keys() or any(tensors[k].shape != first[k].shape for k in first):
            raise GanreconError("Only bundles of one architecture can be averaged"
                                + (f" (they differ in {', '.join(differ)})." if differ else " (their tensors differ)."))
    total = float(sum(weights))
    return {k: (sum(w / total * t[k].float() for (t, _), w in zip(bundles, weights)) if v.is_floating_point()
                else v.clone()) for k, v in first.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", type=Path, help="bundle stems or .safetensors paths (two or more)")
    parser.add_argument("--out", type=Path, required=True, help="stem of the averaged bundle")
    parser.add_argument("--weights", type=float, nargs="+", default=None, help="one per bundle [equal]")
    args = parser.parse_args(argv)
    weights = args.weights or [1.0] * len(args.bundles)
    if len(args.bundles) < 2 or len(weights) != len(args.bundles) or min(weights) < 0 or sum(weights) <= 0:
        parser.error("give two or more bundles and, if any, one non-negative weight for each")
    try:
        bundles = [read_bundle(Path(b).with_suffix(".safetensors")) for b in args.bundles]
        tensors = average(bundles, weights)
    except GanreconError as exc:
        parser.exit(1, f"error: {exc}\n")
    meta = {k: v for k, v in bundles[-1][1].items() if k not in ("format", "version")}  # the latest stage's description
    meta["averaged_from"] = [{"bundle": str(b), "weight": w, "steps": m.get("steps")}
                             for b, w, (_, m) in zip(args.bundles, weights, bundles)]
    meta["selected"] = "weighted mean of " + ", ".join(str(b) for b in args.bundles)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_bundle(args.out, tensors, meta)
    print(f"wrote {args.out}.safetensors: mean of {len(bundles)} bundles, weights {weights}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
