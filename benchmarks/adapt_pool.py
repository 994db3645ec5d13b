"""Single-gather adaptation with a pool of fixed training problems -> docs/results/adapt_pool.{md,json}.

The shipped seismic model refines the consensus of f-x, dip-steered and sliding-FK interpolation, which it
computes for every training crop: a 60 s adaptation of a 1000 x 80 gather takes only 43-47 steps. With a pool
(`AdaptOptions.pool`) the steps draw from that many fixed problems (crop, hidden traces, mirror, polarity), whose
priors the refiner computes once. This scores pool sizes on benchmarks/seismic_field.py's tuning gathers (seeds
10-12, one per spacing 12.5 / 25 / 37.5 m, 50% random traces, mask seed 1; never its test gathers): SNR on the
missing traces, steps and seconds, each run from a freshly loaded model (no prior cached by an earlier run).

    PYTHONPATH=src python benchmarks/adapt_pool.py [--seconds 60] [--pools 0,24,96] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from ganrecon.adapt import AdaptedModel, AdaptOptions
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seismic_field import missing_snr, tuning_cases  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run(model_name: str, pool: int, seconds: float, case: dict) -> dict:
    adapted = AdaptedModel(load_model(model_name), AdaptOptions(seconds=seconds, pool=pool))
    start = time.perf_counter()
    snr = missing_snr(adapted, case)
    report = adapted.reports[-1]
    return {"pool": pool, "case": case["name"], "snr_missing": round(snr, 2), "steps": report.steps,
            "best_step": report.best_step, "seconds": round(time.perf_counter() - start, 1),
            "holdout_start": round(report.holdout_snr_start, 2), "holdout_best": round(report.holdout_snr_best, 2)}


def markdown(rows: list[dict], pools: list[int], cases: list[str], chosen: int, env: dict) -> str:
    lines = ["## Single-gather adaptation with a pool of fixed problems", "",
             f"Produced by `benchmarks/adapt_pool.py` on {env['cpu']}, {env['threads']} thread(s), torch "
             f"{env['torch']}: model {env['model']}, {env['seconds']:g} s per gather, tuning gathers of "
             "benchmarks/seismic_field.py (never its test gathers), 50% random traces. Per cell: SNR on the missing "
             "traces (dB) / steps / seconds (the final pass included). Pool 0: new problems at every step.", "",
             "| pool | " + " | ".join(cases) + " | mean SNR |", "|---" * (len(cases) + 2) + "|"]
    for pool in pools:
        mine = {r["case"]: r for r in rows if r["pool"] == pool}
        mean = sum(r["snr_missing"] for r in mine.values()) / len(mine)
        lines.append(f"| {pool} | " + " | ".join(f"{mine[c]['snr_missing']:.2f} / {mine[c]['steps']} / "
                                                 f"{mine[c]['seconds']:.1f}" for c in cases) + f" | {mean:.2f} |")
    lines += ["", f"Chosen (the best mean): pool **{chosen}**.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="traces-seismic-unet")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pools", default="0,24,96")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pools = [int(p) for p in args.pools.split(",")]
    cases = [c for c in tuning_cases() if c["fk"] and c["pattern"] == "columns:random:0.5"]
    rows = []
    for case in cases:
        for pool in pools:
            rows.append(run(args.model, pool, args.seconds, case))
            print(rows[-1], flush=True)
    names = [c["name"] for c in cases]
    means = {p: sum(r["snr_missing"] for r in rows if r["pool"] == p) / len(cases) for p in pools}
    chosen = max(pools, key=means.get)
    env = {"cpu": platform.processor() or platform.machine(), "threads": args.threads, "torch": torch.__version__,
           "model": args.model, "seconds": args.seconds}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "adapt_pool.json", {"environment": env, "chosen": chosen, "rows": rows})
    atomic_write_text(args.out / "adapt_pool.md", markdown(rows, pools, names, chosen, env))
    print(f"chosen pool {chosen}; wrote {args.out / 'adapt_pool.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
