"""Where the salt & pepper guard's time goes (issue 19): the model alone, each checked baseline, and the guarded
call on the same photo crops; and the Laplacian adjoint of the biharmonic CG solve as `conv_transpose2d` against
the convolution of the zero-padded map with the flipped kernel (ganrecon.inpaint._normal_operator). Prints
seconds; ratios within one run are what to compare.

    .venv/bin/python benchmarks/guard_impulse_time.py [--images 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F

from ganrecon.data import load_dataset
from ganrecon.degrade import parse_degradation
from ganrecon.guard import GuardedModel
from ganrecon.inference import load_model
from ganrecon.inpaint import LAPLACIAN


def seconds(fn, repeats: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}")
    kernel = LAPLACIAN[None, None]
    lap = torch.randn(4 * args.images, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    transpose = seconds(lambda: F.conv_transpose2d(lap, kernel), 100)
    padded = seconds(lambda: F.conv2d(F.pad(lap, (2, 2, 2, 2)), kernel.flip(-2, -1)), 100)
    print(f"Laplacian adjoint, 100 x {len(lap)} maps 48 x 48: conv_transpose2d {transpose:.2f} s, "
          f"padded conv2d {padded:.2f} s ({transpose / padded:.1f}x)")
    clean = load_dataset(f"natural:n={args.images},size=48x48", split="all", limit=args.images, seed=0).images
    noisy, mask = parse_degradation("sp:0.15")(clean.float(), value_range=(0.0, 1.0), generator=0)
    model = load_model("denoise-blind")
    guard = GuardedModel(model, "sp:0.15")
    with torch.no_grad():
        model(noisy, mask)  # warm-up
        print(f"{args.images} crops 48 x 48, sp:0.15: model alone {seconds(lambda: model(noisy, mask)):.2f} s")
        for name, fn in guard.baselines.items():
            print(f"  baseline {name}: {seconds(lambda fn=fn: fn(noisy, mask)):.2f} s")
        print(f"  guarded: {seconds(lambda: guard(noisy, mask)):.2f} s")


if __name__ == "__main__":
    main()
