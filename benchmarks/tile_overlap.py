"""How much neighbouring tiles should overlap when the seismic model reconstructs a whole gather ->
docs/results/tile_overlap.{md,json}

A gather larger than the model's 128 x 64 training patches goes through in overlapping tiles, blended
(ganrecon.tiling). With more overlap each sample is the weighted mean of more tiles, each seeing it at another
place: an ensemble of shifted views, for more network passes. Which overlap pays is measured, not assumed: the
shipped model alone (guard off, its bundle's own self-ensemble) on benchmarks/seismic_field.py's tuning gathers
(pylops, seeds 10-15, both decimations: what chooses) and its test gathers (seeds 0-2: the report), missing-trace
SNR at each overlap. The choice is the smallest overlap within SLACK_DB of the best mean tuning gain over a
quarter (the default), provided that gain is at least MIN_GAIN_DB and no tuning case loses more than SLACK_DB;
`--record` writes it into the shipped bundle as `tile_overlap` (ganrecon.reconstructor reads it).

    .venv/bin/python benchmarks/tile_overlap.py [--model traces-seismic-unet] [--record] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ganrecon.bundles import PRETRAINED_DIR
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seismic_field import (  # noqa: E402
    PATTERNS,
    ROOT,
    SPACINGS,
    decimated,
    gather_set,
    missing_snr,
    pylops_gather,
    tuning_cases,
)

OVERLAPS = (0.25, 0.5, 0.75)   # the first is the default
MIN_GAIN_DB = 0.1              # below this mean tuning gain the extra passes are not worth their time
SLACK_DB = 0.05                # a smaller overlap this close to the best is chosen; a case losing more vetoes one


def test_cases() -> list[dict]:
    """seismic_field's test gathers (seed i at the i-th spacing) under each decimation, mask seed 0."""
    return [decimated(gather_set(pylops_gather(seed, dx), "test"), f"dx{dx:g}/s{seed}", pattern, 0)
            for seed, dx in enumerate(SPACINGS) for pattern in PATTERNS]


def score(model, cases: list[dict]) -> dict:
    """Per overlap: each case's missing-trace SNR and the mean seconds per gather."""
    out = {}
    for overlap in OVERLAPS:
        start = time.perf_counter()
        snr = {c["name"]: missing_snr(lambda o, m, ov=overlap: model(o, m, overlap=ov), c) for c in cases}
        out[str(overlap)] = {"snr_missing": snr, "seconds": (time.perf_counter() - start) / len(cases)}
        print(f"overlap {overlap:g}: mean {np.mean(list(snr.values())):.3f} dB, "
              f"{out[str(overlap)]['seconds']:.1f} s a gather", flush=True)
    return out


def gains(scores: dict) -> dict[str, list[float]]:
    """overlap -> each case's SNR gain over the default overlap."""
    base = scores[str(OVERLAPS[0])]["snr_missing"]
    return {k: [v["snr_missing"][c] - base[c] for c in base] for k, v in scores.items()}


def choose(tuning: dict) -> float:
    """The overlap the module docstring's rule picks from the tuning scores."""
    ok = {k: float(np.mean(v)) for k, v in gains(tuning).items() if min(v) >= -SLACK_DB}
    best = max(ok.values())
    fits = [float(k) for k in ok if ok[k] >= best - SLACK_DB]
    return min(fits) if best >= MIN_GAIN_DB else OVERLAPS[0]


def record(name: str, overlap: float, folder: Path = PRETRAINED_DIR) -> None:
    """The shipped bundle's description gets `tile_overlap` (and loses it where the default is chosen)."""
    path = folder / f"{name}.json"
    meta = json.loads(path.read_text())
    meta.pop("tile_overlap", None)
    if overlap != OVERLAPS[0]:
        meta["tile_overlap"] = overlap
    atomic_write_json(path, meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="traces-seismic-unet")
    parser.add_argument("--record", action="store_true", help="write the choice into the shipped bundle")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "docs" / "results"))
    args = parser.parse_args(argv)
    if args.record and not (PRETRAINED_DIR / f"{args.model}.json").is_file():
        parser.error(f"--record writes into a shipped bundle; {args.model!r} is not one")
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    print("tuning gathers", flush=True)
    tuning = score(model, tuning_cases())
    print("test gathers", flush=True)
    test = score(model, test_cases())
    chosen = choose(tuning)
    if args.record:
        record(args.model, chosen)
    env = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "model": args.model,
           "self_ensemble": model.meta.get("self_ensemble", "none"), "steps": model.meta.get("total_steps")}
    data = {"environment": env, "tuning": tuning, "test": test, "chosen": chosen, "recorded": args.record}
    out = Path(args.out)
    atomic_write_json(out / "tile_overlap.json", data)
    write_markdown(data, out / "tile_overlap.md")
    return 0


def write_markdown(data: dict, path: Path) -> None:
    env = data["environment"]
    lines = ["| overlap | tuning mean dB | gain | worst case | s / gather | test mean dB | gain | worst case | "
             "s / gather |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key in data["tuning"]:
        cells = []
        for part in ("tuning", "test"):
            g, s = gains(data[part])[key], data[part][key]
            cells += [f"{np.mean(list(s['snr_missing'].values())):.2f}", f"{np.mean(g):+.2f}", f"{min(g):+.2f}",
                      f"{s['seconds']:.1f}"]
        lines.append(f"| {float(key):g} | " + " | ".join(cells) + " |")
    recorded = "recorded in the bundle" if data["recorded"] else "not recorded"
    atomic_write_text(path, f"""## Tile overlap for whole seismic gathers

`benchmarks/tile_overlap.py`: the shipped `{env['model']}` ({env['steps']} steps; self-ensemble
`{env['self_ensemble']}`) alone on benchmarks/seismic_field.py's pylops gathers (1000 x 80, 12.5 / 25 / 37.5 m,
50% random and every 2nd trace missing): 12 tuning cases (seeds 10-15), which choose, and 6 test cases (seeds
0-2), which report. Missing-trace SNR at each share of a tile overlapping its neighbour; gains over a quarter (the
default); worst case = the case that gained least. Chosen: **{data['chosen']:g}** ({recorded}). {env['threads']}
torch thread(s) on {env['cpu']}, torch {env['torch']}.

""" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
