"""Which self-check tells the model from the consensus on a regular decimation of pylops gathers? (issue 20)

On the pylops test gathers of benchmarks/seismic_field.py at 37.5 m with every 2nd trace missing, the guard's
regular check (`ganrecon.guard.regular_check`: the known traces alone, decimated again by 2) put the model
0.39 dB ahead of the consensus while on the missing traces it was 1.08 dB behind. This script sets the truth
(each method's error on the missing traces) beside three checks that use only the known traces, on tuning
gathers (seismic_field's generator, seeds that are not its test seeds, 50 m added):

- `compact`: what the guard does now (the compacted gather has twice the input's trace spacing);
- `compact, half band`: the same on the known traces low-passed to half their band (`ganrecon.guard.half_band`);
- `shifted phase`: the method's own reconstruction on the input's grid, with the known traces hidden and the
  reconstructed traces of the other phase kept, reconstructed again by the same method and scored on the
  known traces: the input's problem at the input's spacing, posed on the method's own answer.

For each gather and check: the model's margin over the consensus, in dB (positive = model better), and whether
the check's sign agrees with the truth's. Two more columns give the truth's margin of a mean of the two methods
over the consensus: with equal weights (what the guard weighs as `model+consensus`) and with the weight that fits
best on the compact check. Writes docs/results/seismic_regular_pylops.{md,json}.

    .venv/bin/python benchmarks/guard_regular_pylops.py [--seeds 10 11 12 13 14 15] [--spacings 37.5 50]
        [--threads 2] [--markdown-only]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seismic_field import pylops_gather  # noqa: E402

from ganrecon.baselines import run_baseline  # noqa: E402
from ganrecon.guard import decimations, half_band, margin_db  # noqa: E402
from ganrecon.inference import load_model  # noqa: E402
from ganrecon.io_utils import atomic_write_json, atomic_write_text  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "results"
SPACINGS = (12.5, 25.0, 37.5, 50.0)
SIGNED = (-1.0, 1.0)
BASELINE = "consensus"


def methods(model):
    return {"model": lambda o, m: model(o, m).float().cpu(),
            BASELINE: lambda o, m: run_baseline(BASELINE, o, m, value_range=SIGNED).float().cpu()}


def error(estimate: torch.Tensor, truth: torch.Tensor, where: torch.Tensor) -> float:
    return float(((estimate - truth) ** 2 * where).sum())


def compact_estimates(run, known: torch.Tensor, band: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(the known traces, `run`'s estimate of each from the other phase) with the known traces decimated again
    by 2, optionally at half band."""
    if band:
        known = half_band(known)
    out = torch.zeros_like(known)
    for kept, lost in decimations(known, 2):
        out += run(known * kept, kept) * lost
    return known, out


def blend_weight(truth: torch.Tensor, model: torch.Tensor, baseline: torch.Tensor) -> float:
    """The weight w in [0, 1] of the model in w model + (1 - w) baseline with the least squared error."""
    diff = model - baseline
    w = float(((truth - baseline) * diff).sum() / diff.square().sum().clamp_min(1e-12))
    return min(1.0, max(0.0, w))


def shifted_error(run, observed: torch.Tensor, mask: torch.Tensor, first: torch.Tensor) -> float:
    """Error on the known traces of `run` applied to its own reconstruction `first` with the known traces
    hidden (the other phase kept)."""
    other = 1.0 - mask
    return error(run(first * other, other), observed, mask)


def one_gather(model, seed: int, dx: float) -> dict:
    gather = torch.from_numpy(pylops_gather(seed, dx))[None, None]
    mask = torch.zeros_like(gather)
    mask[..., ::2] = 1.0
    observed = gather * mask
    cols = torch.arange(0, gather.shape[-1], 2)
    known = observed[..., cols]
    row, firsts, compacts = {"seed": seed, "dx_m": dx, "errors": {}}, {}, {}
    for name, run in methods(model).items():
        start = time.perf_counter()
        first = firsts[name] = run(observed, mask)
        truth_c, compacts[name] = compact_estimates(run, known, band=False)
        row["errors"][name] = {"truth": error(first, gather, 1.0 - mask),
                               "compact": error(compacts[name], truth_c, torch.ones(1)),
                               "compact, half band": error(*compact_estimates(run, known, band=True)[::-1],
                                                           torch.ones(1)),
                               "shifted phase": shifted_error(run, observed, mask, first),
                               "seconds": time.perf_counter() - start}
    e = row["errors"]
    row["margins_db"] = {check: margin_db(e[BASELINE][check], e["model"][check])
                         for check in ("truth", "compact", "compact, half band", "shifted phase")}
    w = blend_weight(truth_c, compacts["model"], compacts[BASELINE])
    for label, weight in (("blend 0.5", 0.5), ("blend, compact weight", w)):
        blend = weight * firsts["model"] + (1 - weight) * firsts[BASELINE]
        row["margins_db"][label] = margin_db(e[BASELINE]["truth"], error(blend, gather, 1.0 - mask))
    row["compact_weight"] = w
    return row


def markdown(data: dict) -> str:
    checks = list(data["rows"][0]["margins_db"])
    source = f" (bundle from `{data['source_run']}`)" if data.get("source_run") else ""
    lines = ["## Seismic, every 2nd trace on pylops gathers: the model against the consensus, truth and self-checks",
             "", f"Produced by `benchmarks/guard_regular_pylops.py` on {data['environment']['cpu']}, "
             f"{data['environment']['threads']} threads: pylops gathers of `benchmarks/seismic_field.py`'s generator "
             f"(1000 x 80, seeds {', '.join(map(str, data['seeds']))}, never its test seeds 0-2), every 2nd trace "
             f"missing; model `{data['model']}`{source}. The model's margin over the consensus in dB on the squared "
             "error of the missing traces (`truth`) and of each self-check, positive = model better; `agree` counts "
             "gathers where the check's sign is the truth's (margins within 0.1 dB agree either way). The `blend` "
             "columns are the truth's margin over the consensus of the mean of the two methods, with equal weights "
             "(the guard's `model+consensus`) and with the weight that fits the compact check best.", "",
             "| spacing | seed | " + " | ".join(checks) + " |", "|---|---|" + "---|" * len(checks)]
    for r in data["rows"]:
        lines.append(f"| {r['dx_m']:g} m | {r['seed']} | "
                     + " | ".join(f"{r['margins_db'][c]:+.2f}" for c in checks) + " |")
    lines.append("| **agree** | | " + " | ".join(f"{data['agree'][c]}/{len(data['rows'])}" if c in data["agree"]
                                             else "" for c in checks) + " |")
    return "\n".join(lines) + "\n"


def agreement(rows: list[dict]) -> dict:
    out = {}
    for check in [c for c in rows[0]["margins_db"] if not c.startswith("blend")]:
        out[check] = sum(1 for r in rows if abs(r["margins_db"]["truth"]) <= 0.1
                         or abs(r["margins_db"][check]) <= 0.1
                         or (r["margins_db"]["truth"] > 0) == (r["margins_db"][check] > 0))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="traces-seismic-unet")
    parser.add_argument("--seeds", type=int, nargs="+", default=[10, 11, 12, 13, 14, 15])
    parser.add_argument("--spacings", type=float, nargs="+", default=list(SPACINGS))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--markdown-only", action="store_true", help="re-render the .md from the existing JSON")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.markdown_only:
        atomic_write_text(out / "seismic_regular_pylops.md",
                          markdown(json.loads((out / "seismic_regular_pylops.json").read_text())))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model)
    rows = []
    with torch.no_grad():
        for seed in args.seeds:
            for dx in args.spacings:
                rows.append(one_gather(model, seed, dx))
                margins = rows[-1]["margins_db"].items()
                print(f"seed {seed} dx {dx:g}: " + ", ".join(f"{k} {v:+.2f}" for k, v in margins), flush=True)
    data = {"model": args.model, "source_run": model.meta.get("source_run"), "seeds": args.seeds, "rows": rows,
            "agree": agreement(rows),
            "environment": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                            "torch": torch.__version__}}
    atomic_write_json(out / "seismic_regular_pylops.json", data)
    atomic_write_text(out / "seismic_regular_pylops.md", markdown(data))
    print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
