"""Tuning of the guard's decision constants (ganrecon.guard) -> docs/results/guard_evidence.{md,json} and
docs/results/guard_regular_slack.{md,json} and guard_hedge_weights.{md,json}.

- OWN_EVIDENCE: an image checked together with others follows the set's default unless its own evidence is
  clear the other way; one with OWN_EVIDENCE held-out entries or more is decided on its own evidence alone.
- REGULAR_SLACK_DB (`--constant REGULAR_SLACK_DB`): on a regular decimation the model must beat the best baseline
  by this much on the check (twice the input's trace spacing) to be used in an image or tile.
- HEDGE_WEIGHTS (`--constant HEDGE_WEIGHTS`): the model's weights in its hedges with the consensus, each one more
  candidate beside the baselines.

This scores the guarded model at several values of the constant on tuning sets, never the test sets of
benchmarks/guard.py:
- pylops gathers 1000 x 80 of benchmarks/seismic_field.py's tuning seeds (from 10 on, never its test seeds 0-2),
  checked three at a time (one per spacing 12.5 / 25 / 37.5 m, as guard.py checks its test gathers), at 50%
  random and regular-2 decimation; --batches sets how many such triples (default 4: seeds 10-21);
- MNIST digits of the training file's val split, 50% of columns missing (traces-mnist-unet);
- crops 96 x 96 of the photos corpus's val split under salt & pepper 0.15 (denoise-blind);
- thresholded Gaussian random fields 256 x 256 of another seed than guard.py's, x4 (superres-porous-x4).

Per set and value: the mean over images of guarded - best baseline (the baseline with the best mean score on
the set, as guard.py), the worst image, and how many images fall below it by more than 0.1 dB (the promise).
The model and the baselines run once per distinct input (a memo), so a value costs only the decisions.
Choice: the fewest images below the bar over all sets, then the largest mean gain; the rule as it is (the
constant's value in ganrecon.guard) stays unless another value has fewer images below the bar or 0.01 dB more mean gain. --render rewrites
the markdown and the choice from the JSON without running anything.

    PYTHONPATH=src python benchmarks/guard_evidence.py [--threads 2] [--constant REGULAR_SLACK_DB --only regular]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ganrecon import guard
from ganrecon.data import ImageSet, load_dataset
from ganrecon.data.convert import SIGNED_RANGE
from ganrecon.evaluation import degrade_set
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.metrics import image_metrics
from ganrecon.models.refine import PriorCache

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guard import MNIST_PLACES, TOLERANCE_DB  # noqa: E402
from seismic_field import SPACINGS, TUNING_SEED, pylops_gather  # noqa: E402
from superres import grf_porous  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Per constant: its values (the first: the rule before it existed), names for the infinite ones, the results' file
# name, the title, and which count of images the table shows beside the margins.
CONSTANTS = {
    "OWN_EVIDENCE": {"values": (math.inf, 65536, 16384, 4096, 1024, 256, 0),
                     "labels": {math.inf: "never (set default)"}, "file": "guard_evidence",
                     "title": "The guard's own-evidence threshold (OWN_EVIDENCE), tuned", "count": "alone",
                     "meaning": "An image with at least the threshold's held-out entries is decided on its own "
                                "evidence alone; a smaller one follows its set's default.",
                     "counted": "images decided alone"},
    "REGULAR_SLACK_DB": {"values": (-math.inf, 0.0, 0.25, 0.5, 1.0, 2.0, math.inf),
                         "labels": {-math.inf: "off", math.inf: "never the model"}, "file": "guard_regular_slack",
                         "title": "The guard's slack on a regular decimation (REGULAR_SLACK_DB), tuned",
                         "count": "with_model",
                         "meaning": "On a regular decimation the model is used in an image or tile only where its "
                                    "margin over the best baseline on the check exceeds the value (dB).",
                         "counted": "images with the model in some tile"},
    "HEDGE_WEIGHTS": {"values": ((0.5,), (0.5, 0.75), (0.25, 0.5, 0.75), (0.5, 0.75, 0.9), (0.25, 0.5, 0.75, 0.9)),
                      "labels": {}, "file": "guard_hedge_weights",
                      "title": "The model's weights in its hedges with the consensus (HEDGE_WEIGHTS), tuned",
                      "count": "weighted",
                      "meaning": "Each weight w adds the candidate w x model + (1 - w) x consensus on the missing "
                                 "entries (0.5: the mean, `model+consensus`) beside the baselines.",
                      "counted": "images given a hedge of weight other than 0.5 in some tile"},
}
MIN_GAIN_DB = 0.01  # mean gain over sets that a value needs to replace the first without fewer misses


class Memo:
    """A callable (observed, mask) -> estimate run once per distinct input."""

    def __init__(self, fn):
        self.fn, self.cache = fn, {}

    def __getattr__(self, item):  # a wrapped model's description, sizes and value range
        if item in ("fn", "cache"):
            raise AttributeError(item)
        return getattr(self.fn, item)

    def __call__(self, observed, mask=None, **kwargs):
        key = PriorCache.key(observed, torch.ones_like(observed) if mask is None else mask)  # the refiner's hash
        if key not in self.cache:
            self.cache[key] = self.fn(observed, mask, **kwargs).float().cpu()
        return self.cache[key].clone()


def tuning_sets(mnist: Path | None, batches: int = 4) -> list[dict]:
    """(set name, images, degradation, model) of every tuning set."""
    out = []
    for batch in range(batches):
        seeds = [TUNING_SEED + batch * len(SPACINGS) + i for i in range(len(SPACINGS))]
        gathers = ImageSet(torch.from_numpy(np.stack([pylops_gather(s, dx) for s, dx in zip(seeds, SPACINGS)])
                                            [:, None]), SIGNED_RANGE, "pylops")
        for pattern in ("columns:random:0.5", "columns:regular:2"):
            out.append((f"pylops seeds {seeds[0]}-{seeds[-1]}, {pattern.split(':')[1]}", gathers, pattern,
                        "traces-seismic-unet"))
    if mnist is not None and mnist.is_file():
        digits = load_dataset(f"npz:{mnist}", split="val", limit=32, seed=0)
        out.append(("MNIST val, 32 digits", digits, "columns:random:0.5", "traces-mnist-unet"))
    out.append(("photos val, 8 crops 96 x 96", load_dataset("natural:n=8,size=96x96", split="val", limit=8, seed=0),
                "sp:0.15", "denoise-blind"))
    rng = np.random.default_rng(4321)
    grf = ImageSet(torch.from_numpy(np.stack([grf_porous(rng) for _ in range(4)])[:, None]), (0.0, 1.0), "grf")
    out.append(("Gaussian random fields, 4 x 256 x 256", grf, "down:4", "superres-porous-x4"))
    return [dict(zip(("set", "images", "degrade", "model"), s)) for s in out]


def score_set(case: dict, constant: str = "OWN_EVIDENCE") -> dict:
    """Guarded scores at every value of `constant` against the set's best baseline, per image."""
    images = case["images"]
    degradation, observed, mask = degrade_set(images, case["degrade"], seed=0)
    guarded = guard.GuardedModel(load_model(case["model"]), case["degrade"])
    guarded.model = Memo(guarded.model)
    guarded.baselines = {name: Memo(fn) for name, fn in guarded.baselines.items()}
    metric = "snr" if images.value_range[0] < 0 else "psnr"

    def scores(estimate):
        return image_metrics(estimate, images.images, mask, images.value_range)[metric]

    baselines = {name: scores(fn(observed, mask)) for name, fn in guarded.baselines.items()}
    best = max(baselines, key=lambda k: float(baselines[k].mean()))
    rows, kept = [], getattr(guard, constant)
    try:
        for value in CONSTANTS[constant]["values"]:
            setattr(guard, constant, value)
            guarded.reset()
            margins = (scores(guarded(observed, mask)) - baselines[best]).tolist()
            alone = sum(im.get("held_out", 0) >= guard.OWN_EVIDENCE for im in guarded.images)
            methods = [im["method"] for im in guarded.images]
            rows.append({"threshold": value, "mean_margin_db": round(float(np.mean(margins)), 3),
                         "margins_db": [round(m, 2) for m in margins], "alone": int(alone),
                         "with_model": sum(m in ("model", "mixed") for m in methods),
                         "weighted": sum(":" in im.get("baseline", "") and im["method"] != "model"
                                         for im in guarded.images),
                         "below_bar": sum(m < -TOLERANCE_DB for m in margins), "methods": methods})
    finally:
        setattr(guard, constant, kept)
    held_out = [im.get("held_out") for im in guarded.images]
    return {"set": case["set"], "degrade": case["degrade"], "model": case["model"], "best_baseline": best,
            "held_out": held_out, "rows": rows}


def incumbent(constant: str) -> int:
    """Index of the guard's current value of `constant` among the values tried (the first where it is not one)."""
    values = CONSTANTS[constant]["values"]
    current = getattr(guard, constant)
    return values.index(current) if current in values else 0


def choose(results: list[dict], constant: str = "OWN_EVIDENCE") -> float:
    """The fewest images below the bar over all sets, then the largest mean gain (mean over sets); but the
    guard's rule as it is (the constant's current value in ganrecon.guard) stays unless the best is better by
    fewer images below the bar or by MIN_GAIN_DB of mean: set means are rounded to 0.001 dB, and a change must
    show a gain."""
    values, now = CONSTANTS[constant]["values"], incumbent(constant)

    def key(i):
        return (sum(r["rows"][i]["below_bar"] for r in results),
                -np.mean([r["rows"][i]["mean_margin_db"] for r in results]))
    best = min(range(len(values)), key=key)
    (misses, loss), (misses0, loss0) = key(best), key(now)
    return values[best] if misses < misses0 or loss0 - loss >= MIN_GAIN_DB else values[now]


def label(value, constant: str = "OWN_EVIDENCE") -> str:
    """A value as the tables show it (a tuple, or the list JSON made of it, as its items)."""
    if isinstance(value, (tuple, list)):
        return ", ".join(f"{v:g}" for v in value)
    return CONSTANTS[constant]["labels"].get(value, f"{value:g}")


def markdown(results: list[dict], chosen: float, env: dict, constant: str = "OWN_EVIDENCE") -> str:
    spec = CONSTANTS[constant]
    values = spec["values"]
    lines = [f"## {spec['title']}", "",
             f"Produced by `benchmarks/guard_evidence.py --constant {constant}` on {env['machine']}, "
             f"{env['threads']} thread(s), torch {env['torch']}, {env['seconds']:.0f} s. Guard: mode choose, 10% "
             f"held out, 3 folds, 256-pixel tiles. {spec['meaning']} Per cell: mean over the set's images of "
             f"guarded - best baseline (dB) / worst image / images below it by more than {TOLERANCE_DB} dB / "
             f"{spec['counted']}.",
             "", "| set | model | best baseline | held-out entries per image | "
             + " | ".join(label(v, constant) for v in values) + " |", "|---" * (4 + len(values)) + "|"]
    for r in results:
        cells = [f"{x['mean_margin_db']:+.2f} / {min(x['margins_db']):+.2f} / {x['below_bar']} / "
                 f"{x.get(spec['count'], '-')}" for x in r["rows"]]
        held = sorted(h for h in r["held_out"] if h is not None)
        spread = f"{held[0]}-{held[-1]}" if held else "-"
        lines.append(f"| {r['set']} (`{r['degrade']}`) | {r['model']} | {r['best_baseline']} | {spread} | "
                     + " | ".join(cells) + " |")
    lines += ["", f"Chosen (fewest images below the bar, then the largest mean gain; the guard's current "
              f"{label(values[incumbent(constant)], constant)} "
              f"stays unless another has fewer below the bar or {MIN_GAIN_DB} dB more mean gain): "
              f"**{label(chosen, constant)}**.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mnist", type=Path, default=next((p for p in MNIST_PLACES if p.is_file()), None))
    parser.add_argument("--only", default="", help="only the sets whose name contains this (a quick look)")
    parser.add_argument("--batches", type=int, default=4, help="triples of tuning gathers per decimation")
    parser.add_argument("--constant", choices=sorted(CONSTANTS), default="OWN_EVIDENCE")
    parser.add_argument("--render", action="store_true", help="only rewrite the markdown and choice from the JSON")
    args = parser.parse_args(argv)
    if args.render:
        data = json.loads((args.out / f"{CONSTANTS[args.constant]['file']}.json").read_text())
        return write(args.out, data["sets"], data["environment"], args.constant)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    results = []
    for case in tuning_sets(args.mnist, args.batches):
        if args.only not in case["set"]:
            continue
        results.append(score_set(case, args.constant))
        r = results[-1]
        print(f"{r['set']}: " + "  ".join(f"{label(x['threshold'], args.constant)} {x['mean_margin_db']:+.2f}/"
                                          f"{x['below_bar']}" for x in r["rows"]), flush=True)
    env = {"machine": platform.machine(), "threads": args.threads, "torch": torch.__version__,
           "seconds": time.perf_counter() - start}
    return write(args.out, results, env, args.constant)


def write(out: Path, results: list[dict], env: dict, constant: str = "OWN_EVIDENCE") -> int:
    chosen, name = choose(results, constant), CONSTANTS[constant]["file"]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / f"{name}.json", {"environment": env, "constant": constant,
                                             "chosen": label(chosen, constant), "sets": results})
    atomic_write_text(out / f"{name}.md", markdown(results, chosen, env, constant))
    print(f"chosen: {constant} = {label(chosen, constant)}; wrote {out / name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
