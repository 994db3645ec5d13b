"""How the seismic model should run over a whole gather: tile overlap and self-ensemble, chosen together ->
docs/results/gather_inference.{md,json}

A gather larger than the model's 128 x 64 training patches goes through in overlapping tiles, blended
(ganrecon.tiling). With more overlap each sample is the weighted mean of more tiles, each seeing it at another
place; with the mirror self-ensemble each tile also goes through the network mirrored (ganrecon.orientations).
Both are ensembles bought with network passes, and what one adds may be what the other already gave, so they
are measured together, not assumed: the shipped model alone (guard off) on benchmarks/seismic_field.py's tuning
gathers (pylops, seeds 10-15, both decimations: what chooses) and its test gathers (seeds 0-2: the report),
missing-trace SNR for every setting of SETTINGS, and seconds a gather with the refiner's prior computed afresh
(its cache off, as for a new gather). (benchmarks/self_ensemble.py scores patches of one tile, where
neither the overlap nor a gather's edges play.) The choice is the fastest setting (mean seconds a tuning gather)
within SLACK_DB of the best mean tuning gain over the default (no ensemble, a quarter overlap), provided that gain
is at least MIN_GAIN_DB and no tuning case loses more than SLACK_DB; `--record` writes it into the shipped bundle
as `tile_overlap` and `self_ensemble` (ganrecon.reconstructor reads both; a default value is left out).

    .venv/bin/python benchmarks/gather_inference.py [--model traces-seismic-unet] [--record] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ganrecon.bundles import PRETRAINED_DIR, record_in_shipped
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seismic_field import (  # noqa: E402
    PATTERNS,
    ROOT,
    SPACINGS,
    decimated,
    fresh_priors,
    gather_set,
    missing_snr,
    pylops_gather,
    tuning_cases,
)

DEFAULT = ("none", 0.25)       # what a bundle without either key runs
SETTINGS = [(ensemble, overlap) for ensemble in ("none", "mirror") for overlap in (0.25, 0.5, 0.75)]
MIN_GAIN_DB = 0.1              # below this mean tuning gain the extra passes are not worth their time
SLACK_DB = 0.05                # a faster setting this close to the best is chosen; a case losing more vetoes one


def key(setting: tuple[str, float]) -> str:
    ensemble, overlap = setting
    return f"{ensemble}@{overlap:g}"


def parse_key(text: str) -> tuple[str, float]:
    ensemble, _, overlap = text.partition("@")
    return ensemble, float(overlap)


def test_cases() -> list[dict]:
    """seismic_field's test gathers (seed i at the i-th spacing) under each decimation, mask seed 0."""
    return [decimated(gather_set(pylops_gather(seed, dx), "test"), f"dx{dx:g}/s{seed}", pattern, 0)
            for seed, dx in enumerate(SPACINGS) for pattern in PATTERNS]


def score(model, cases: list[dict]) -> dict:
    """Per setting: each case's missing-trace SNR and the mean seconds per gather."""
    out = {}
    for ensemble, overlap in SETTINGS:
        start = time.perf_counter()
        snr = {c["name"]: missing_snr(lambda o, m, e=ensemble, ov=overlap: model(o, m, overlap=ov, ensemble=e), c)
               for c in cases}
        seconds = (time.perf_counter() - start) / len(cases)
        out[key((ensemble, overlap))] = {"snr_missing": snr, "seconds": seconds}
        print(f"{key((ensemble, overlap))}: mean {np.mean(list(snr.values())):.3f} dB, {seconds:.1f} s a gather",
              flush=True)
    return out


def gains(scores: dict) -> dict[str, list[float]]:
    """setting -> each case's SNR gain over the default setting."""
    base = scores[key(DEFAULT)]["snr_missing"]
    return {k: [v["snr_missing"][c] - base[c] for c in base] for k, v in scores.items()}


def choose(tuning: dict) -> tuple[str, float]:
    """The setting the module docstring's rule picks from the tuning scores."""
    ok = {k: float(np.mean(v)) for k, v in gains(tuning).items() if min(v) >= -SLACK_DB}
    best = max(ok.values())
    if best < MIN_GAIN_DB:
        return DEFAULT
    fits = [k for k in ok if ok[k] >= best - SLACK_DB]
    return parse_key(min(fits, key=lambda k: tuning[k]["seconds"]))


def record(name: str, setting: tuple[str, float], folder: Path = PRETRAINED_DIR) -> None:
    """The shipped bundle's description gets `self_ensemble` and `tile_overlap` where they differ from the default
    (and loses them where the default is chosen)."""
    fields = ("self_ensemble", "tile_overlap")
    record_in_shipped(name, dict(zip(fields, setting)), dict(zip(fields, DEFAULT)), folder)


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
    fresh_priors(model)  # every setting pays for its priors, as a new gather would
    print("tuning gathers", flush=True)
    tuning = score(model, tuning_cases())
    print("test gathers", flush=True)
    test = score(model, test_cases())
    chosen = choose(tuning)
    if args.record:
        record(args.model, chosen)
    env = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "model": args.model,
           "steps": model.meta.get("total_steps")}
    data = {"environment": env, "tuning": tuning, "test": test, "chosen": key(chosen), "recorded": args.record}
    out = Path(args.out)
    atomic_write_json(out / "gather_inference.json", data)
    write_markdown(data, out / "gather_inference.md")
    return 0


def write_markdown(data: dict, path: Path) -> None:
    env = data["environment"]
    lines = ["| self-ensemble | overlap | tuning mean dB | gain | worst case | s / gather | test mean dB | gain | "
             "worst case | s / gather |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in data["tuning"]:
        cells = []
        for part in ("tuning", "test"):
            g, s = gains(data[part])[name], data[part][name]
            cells += [f"{np.mean(list(s['snr_missing'].values())):.2f}", f"{np.mean(g):+.2f}", f"{min(g):+.2f}",
                      f"{s['seconds']:.1f}"]
        ensemble, overlap = parse_key(name)
        lines.append(f"| {ensemble} | {overlap:g} | " + " | ".join(cells) + " |")
    ensemble, overlap = parse_key(data["chosen"])
    recorded = "recorded in the bundle" if data["recorded"] else "not recorded"
    atomic_write_text(path, f"""## Tile overlap and self-ensemble for whole seismic gathers

`benchmarks/gather_inference.py`: the shipped `{env['model']}` ({env['steps']} steps) alone on
benchmarks/seismic_field.py's pylops gathers (1000 x 80, 12.5 / 25 / 37.5 m, 50% random and every 2nd trace
missing): 12 tuning cases (seeds 10-15), which choose, and 6 test cases (seeds 0-2), which report. Missing-trace
SNR for each self-ensemble and share of a tile overlapping its neighbour; gains over no ensemble at a quarter
overlap (the default); worst case = the case that gained least. Chosen: **{ensemble}, overlap {overlap:g}**
({recorded}). {env['threads']} torch thread(s) on {env['cpu']}, torch {env['torch']}.

""" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
