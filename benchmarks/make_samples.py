"""Embed 64 held-out MNIST digits in the package for `make demo` (users have no ../shared).

The digits come from the *test* split (seed 0) of ../shared/datasets/mnist/train.npz, the split no model is
trained or validated on. MNIST: Yann LeCun, Corinna Cortes, Christopher J.C. Burges, CC BY-SA 3.0.

    .venv/bin/python benchmarks/make_samples.py
"""

from pathlib import Path

import numpy as np

from ganrecon.data import load_dataset

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    digits = load_dataset("mnist", split="test", root=str(ROOT.parent / "shared" / "datasets"), limit=64, seed=0)
    images = np.rint(digits.images[:, 0].numpy() * 255).astype(np.uint8)
    out = ROOT / "src" / "ganrecon" / "samples" / "mnist-test-64.npz"
    np.savez_compressed(out, images=images)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
