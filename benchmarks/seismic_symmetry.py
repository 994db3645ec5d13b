"""Ablation of the polarity average in seismic inference -> docs/results/seismic_symmetry.md

A seismic model should be odd in the data (the reconstruction of -d is minus that of d). `ReconstructionModel`
enforces it by averaging f(d) and -f(-d). This script scores, on the pylops tuning gathers of
benchmarks/seismic_field.py (never its test gathers), the shipped seismic U-Net as one plain pass, with the
polarity average (what ships), and with the polarity average plus mirrored traces (the variant that was dropped).
Missing-trace SNR in dB; inference only, about a minute on 2 CPU threads.

    .venv/bin/python benchmarks/seismic_symmetry.py [--model traces-seismic-unet]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

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
    args = parser.parse_args()
    model = load_model(args.model)
    one = plain(model)
    variants = {
        "one pass": one,
        "polarity average (shipped)": model,
        "polarity average + mirrored traces": lambda o, m: (model(o, m) + model(o.flip(-1), m.flip(-1)).flip(-1)) / 2,
    }
    cases = tuning_cases()
    rows = {}
    for label, method in variants.items():
        rows[label] = [missing_snr(method, case) for case in cases]
        print(f"{label}: mean {np.mean(rows[label]):.2f} dB", flush=True)
    gain = np.array(rows["polarity average (shipped)"]) - np.array(rows["one pass"])
    lines = ["## Seismic inference: the polarity average", "",
             f"`benchmarks/seismic_symmetry.py`: the model `{args.model}` on the {len(cases)} pylops tuning cases of "
             "`benchmarks/seismic_field.py` (1000 x 80 gathers, 12.5-37.5 m spacing, 50% random and every other "
             "trace missing), missing-trace SNR in dB.", "",
             "| variant | mean | min | max |", "|---|---|---|---|"]
    lines += [f"| {k} | {np.mean(v):.2f} | {np.min(v):.2f} | {np.max(v):.2f} |" for k, v in rows.items()]
    lines += ["", f"Polarity average minus one pass, per case: {gain.min():+.2f} to {gain.max():+.2f} dB "
              f"(mean {gain.mean():+.2f}); it costs a second pass.", ""]
    out = ROOT / "docs" / "results" / "seismic_symmetry.md"
    atomic_write_text(out, "\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
