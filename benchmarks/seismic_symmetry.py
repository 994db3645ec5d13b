"""Ablation of the symmetries used in seismic inference -> docs/results/seismic_symmetry.md

A seismic model should be odd in the data (the reconstruction of -d is minus that of d). `ReconstructionModel`
enforces it by averaging f(d) and -f(-d). A gather mirrored (the traces in reverse order) is as much a gather, so
a mirror self-ensemble may also pay. This script scores, on the pylops tuning gathers of
benchmarks/seismic_field.py (never its test gathers), the shipped seismic U-Net as one plain pass, with the
polarity average, with the polarity average of the mirrored gather too (the refiner's prior computed again for
it), and with the mirror self-ensemble as shipped code runs it (`ensemble="mirror"`: the prior computed once per
tile and mirrored with it). Missing-trace SNR in dB and seconds per gather; inference only, a few minutes on 2
CPU threads. The mean gains over the polarity average choose the seismic model's `self_ensemble` default
(benchmarks/self_ensemble.py records it), with that script's rule: at least 0.1 dB.

    .venv/bin/python benchmarks/seismic_symmetry.py [--model traces-seismic-unet] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ganrecon.inference import load_model, tiled_apply
from ganrecon.io_utils import atomic_write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seismic_field import ROOT, missing_snr, tuning_cases  # noqa: E402


def plain(model):
    """One pass of the model: ReconstructionModel.__call__ without the polarity average."""
    def run(observed, mask):
        out = tiled_apply(model.apply_tiles, observed * mask, mask, model.tile, model.scale, overlap=0.25,
                          batch_tiles=16)
        return mask * observed + (1 - mask) * out
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="traces-seismic-unet")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = dataclasses.replace(load_model(args.model), ensemble="none")
    if hasattr(model.generator, "cache"):  # every variant pays for its priors, as a new gather would
        model.generator.cache.disable()
    mirrored = dataclasses.replace(model, ensemble="mirror")
    variants = {
        "one pass": plain(model),
        "polarity average": model,
        "+ mirrored gather, prior again": lambda o, m: (model(o, m) + model(o.flip(-1), m.flip(-1)).flip(-1)) / 2,
        "+ mirror ensemble, prior shared": mirrored,
    }
    cases = tuning_cases()
    rows, seconds = {}, {}
    for label, method in variants.items():
        start = time.perf_counter()
        rows[label] = [missing_snr(method, case) for case in cases]
        seconds[label] = (time.perf_counter() - start) / len(cases)
        print(f"{label}: mean {np.mean(rows[label]):.2f} dB, {seconds[label]:.1f} s per gather", flush=True)
    base = np.array(rows["polarity average"])
    lines = ["## Seismic inference: the polarity average and the mirror", "",
             f"`benchmarks/seismic_symmetry.py`: the model `{args.model}` on the {len(cases)} pylops tuning cases of "
             "`benchmarks/seismic_field.py` (1000 x 80 gathers, 12.5-37.5 m spacing, 50% random and every other "
             f"trace missing), missing-trace SNR in dB; seconds per gather on {torch.get_num_threads()} thread(s), "
             f"{platform.machine()}, the refiner's prior cache off (each variant pays for its priors, as a new "
             "gather would).", "",
             "| variant | mean | min | max | gain over the polarity average (min / mean / max) | s / gather |",
             "|---|---|---|---|---|---|"]
    for k, v in rows.items():
        gain = np.array(v) - base
        lines.append(f"| {k} | {np.mean(v):.2f} | {np.min(v):.2f} | {np.max(v):.2f} | "
                     f"{gain.min():+.2f} / {gain.mean():+.2f} / {gain.max():+.2f} | {seconds[k]:.1f} |")
    lines.append("")
    out = ROOT / "docs" / "results" / "seismic_symmetry.md"
    atomic_write_text(out, "\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
