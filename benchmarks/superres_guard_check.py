"""Does the super-resolution guard's self-check tell the truth? (issue 17) Per image: the true margin of each x4
model over bicubic (PSNR against the high-resolution truth), the self-check's margin with the input downscaled x4
(the model's whole factor, the old check) and x2 (then brought back x2, `ganrecon.guard.check_factor`), and what
the guarded model gives. Sets: the held-out rock model, photographs, the shifted porous generator
(benchmarks/superres.py's test sets).

    .venv/bin/python benchmarks/superres_guard_check.py [--n 32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ganrecon.baselines import run_baseline
from ganrecon.degrade import parse_degradation
from ganrecon.guard import GuardedModel
from ganrecon.inference import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
import superres as bench  # noqa: E402  (its test sets)

RANGE = (0.0, 1.0)


def gain(estimate: torch.Tensor, baseline: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per image, 10 log10(baseline error / estimate error) in dB."""
    err = (estimate - truth).square().mean((1, 2, 3))
    return 10 * torch.log10((baseline - truth).square().mean((1, 2, 3)) / err)


def check_margin(model, low: torch.Tensor, factor: int) -> torch.Tensor:
    """The self-check's margin: `low` downscaled by `factor`, super-resolved x4, brought back by 4 / factor."""
    small, ones = parse_degradation(f"down:{factor}")(low, value_range=RANGE)
    with torch.no_grad():
        est = model(small, ones).float()
    base = run_baseline("bicubic", small, ones, value_range=RANGE, scale=4)
    if factor < 4:
        back = parse_degradation(f"down:{4 // factor}")
        est, base = back(est, value_range=RANGE)[0], back(base, value_range=RANGE)[0]
    return gain(est, base, low)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sets = bench.test_sets("porous-ct:n=512,noise=0.01", args.n)
    for name in ("superres-porous-x4", "superres-porous-x4-gan"):
        model = load_model(name)
        for key in ("porous-ct-heldout", "photos", "porous-shifted"):
            if key not in sets:
                continue
            truth = sets[key][1].images.float()
            low, ones = parse_degradation("down:4")(truth, value_range=RANGE)
            with torch.no_grad():
                raw, guarded = model(low, ones).float(), GuardedModel(model)(low, ones).float()
            bicubic = run_baseline("bicubic", low, ones, value_range=RANGE, scale=4)
            rows = {"true": gain(raw, bicubic, truth), "check x4": check_margin(model, low, 4),
                    "check x2": check_margin(model, low, 2), "guarded": gain(guarded, bicubic, truth)}
            print(f"{name} on {key} ({len(truth)} images), dB over bicubic, mean [min, max]:")
            for label, v in rows.items():
                print(f"  {label:9s} {float(v.mean()):+.2f} [{float(v.min()):+.2f}, {float(v.max()):+.2f}]  "
                      + " ".join(f"{x:+.1f}" for x in v.tolist()))


if __name__ == "__main__":
    main()
