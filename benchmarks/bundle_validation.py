"""A training config's validation score for several weights, with no training step: what storing a bundle
(float16, or int8 with per-row scales) costs against the float32 weights it was made from.

    PYTHONPATH=src .venv/bin/python benchmarks/bundle_validation.py CONFIG MODEL [MODEL ...] [--threads 2]

MODEL is anything `init:` takes (a run folder's bundle, a weights/ file, a shipped name). Each is scored on the
config's own validation set (same seed, so the same images and masks as its training runs' validation.csv).
"""

from __future__ import annotations

import argparse

import torch

from ganrecon.config import load_config
from ganrecon.training.conditional import ConditionalGAN


def validation_scores(config_path, model: str, threads: int) -> dict[str, float]:
    """`model`'s scores on the config's validation set, in float32 and without echo (neither changes the set)."""
    torch.set_num_threads(threads)
    config = load_config(config_path, [f"init={model}", "echo=1", "amp=false", f"threads={threads}"])
    return ConditionalGAN(config, torch.device("cpu")).validate(0)["model"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for model in args.models:
        scores = validation_scores(args.config, model, args.threads)
        print(f"{model}: " + ", ".join(f"{k} {scores[k]:.4f}" for k in ("psnr", "snr") if k in scores), flush=True)


if __name__ == "__main__":
    main()
