"""bf16 against fp32 inference of every shipped conditional model on held-out sets -> docs/results/precision.{json,md}

`ganrecon reconstruct --precision auto` (the default) runs a model under bf16 autocast where the hardware has
native bf16 (AVX512-BF16 or AMX on a CPU, a CUDA device that reports bf16) and fp32 elsewhere. That default is
allowed only where bf16 costs at most TOLERANCE_DB of PSNR against the clean images: this script measures it, per
model, on held-out sets no model trained on (the same specs as the models' own benchmarks), with the guard off
(the networks themselves) and the same degraded inputs in both precisions. A model with any set beyond the
tolerance runs in fp32 under `auto`: `--record` writes that choice into its shipped bundle's description
(`auto_precision`), which `ganrecon.reconstruction.set_precision` honours. Run it with `--record` after shipping.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/precision.py [--n 64] [--threads 2] [--record]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from pathlib import Path

import torch

from ganrecon.bundles import PRETRAINED_DIR, record_in_shipped
from ganrecon.evaluation import evaluate
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.reconstructor import bf16_native

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE_DB = 0.05  # issue 19: no accuracy change above this, except in an opt-in faster mode
# (model, held-out data spec, degradation): the sets of each model's own benchmark
SETS = [
    ("denoise-blind", "photos:size=48x48", "sp:0.15"),
    ("denoise-blind", "photos:size=48x48", "gauss:0.1"),
    ("denoise-blind", "mnist", "sp:0.15"),
    ("superres-porous-x4", "porous-ct-heldout:n=512,size=256x256", "down:4"),
    ("superres-porous-x4", "porous-ct:n=512,noise=0.01,size=256x256", "down:4"),
    ("superres-porous-x4-gan", "porous-ct-heldout:n=512,size=256x256", "down:4"),
    ("traces-mnist-unet", "mnist", "columns:random:0.5"),
    ("traces-mnist-unet", "mnist", "columns:regular:2"),
    ("traces-seismic-unet", "seismic:n=400,size=128x64", "columns:random:0.5"),
    ("translate-turbulence", "natural:n=400,size=48x48", "turbulence:1.0"),
]


def measure(name: str, data: str, degrade: str, n: int, root: str | None) -> dict:
    """PSNR against the clean images in fp32 and in bf16 (same inputs), and each pass's seconds."""
    fp32 = load_model(name)
    bf16 = dataclasses.replace(fp32, name=f"{name}:bf16", precision="bf16")
    row = {"model": name, "data": data, "degrade": degrade}
    for model, key in ((fp32, "fp32"), (bf16, "bf16")):
        start = time.perf_counter()
        result = evaluate(data, degrade, models=[model], limit=n, root=root, include_baselines=False, guard="off")
        row[f"{key}_seconds"] = time.perf_counter() - start
        row[f"{key}_psnr"] = result.results["methods"][model.name]["psnr"]
        row["images"] = result.results["n_images"]
    row["change_db"] = row["bf16_psnr"] - row["fp32_psnr"]
    return row


def auto_choices(rows: list[dict], tolerance: float) -> dict[str, str]:
    """model -> what `auto` may run it in where bf16 is native: bf16 only if every set is within the tolerance."""
    models = dict.fromkeys(r["model"] for r in rows)
    return {m: "bf16" if all(abs(r["change_db"]) <= tolerance for r in rows if r["model"] == m) else "fp32"
            for m in models}


def record_choices(choices: dict[str, str], folder: Path = PRETRAINED_DIR) -> None:
    """Each shipped bundle's description gets `auto_precision: fp32` where bf16 costs too much (and loses it
    where it no longer does); the weights are untouched."""
    for name, choice in choices.items():
        record_in_shipped(name, {"auto_precision": choice}, {"auto_precision": "bf16"}, folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="held-out images per set")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "results"))
    parser.add_argument("--record", action="store_true",
                        help="write each model's auto choice into its shipped bundle's description")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name, data, degrade in SETS:
        rows.append(measure(name, data, degrade, args.n, args.data_root))
        r = rows[-1]
        print(f"{name} {data} {degrade}: fp32 {r['fp32_psnr']:.3f} bf16 {r['bf16_psnr']:.3f} "
              f"({r['change_db']:+.4f} dB)", flush=True)
    env = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "bf16_native": bf16_native(torch.device("cpu")),
           "argv": sys.argv[1:]}
    choices = auto_choices(rows, TOLERANCE_DB)
    if args.record:
        record_choices(choices)
    data = {"environment": env, "tolerance_db": TOLERANCE_DB, "rows": rows, "auto": choices,
            "recorded": args.record}
    out = Path(args.out)
    atomic_write_json(out / "precision.json", data)
    write_markdown(data, out / "precision.md")
    return 0


def write_markdown(data: dict, path: Path) -> None:
    env, rows = data["environment"], data["rows"]
    lines = ["| model | held-out set | degradation | images | PSNR fp32 | PSNR bf16 | change dB | within |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        ok = "yes" if abs(r["change_db"]) <= data["tolerance_db"] else "**no**"
        lines.append(f"| {r['model']} | `{r['data']}` | {r['degrade']} | {r['images']} | {r['fp32_psnr']:.3f} | "
                     f"{r['bf16_psnr']:.3f} | {r['change_db']:+.4f} | {ok} |")
    worst = max(rows, key=lambda r: abs(r["change_db"]))
    kept = sorted(name for name, choice in data["auto"].items() if choice == "fp32")
    where = (f"no change here exceeds {data['tolerance_db']} dB (largest: {worst['change_db']:+.4f} dB, "
             f"{worst['model']} on `{worst['data']}`)" if not kept else
             f"the change stays within {data['tolerance_db']} dB for every model but {', '.join(kept)}, which "
             f"`auto` runs in fp32 (its bundle records `auto_precision: fp32`"
             f"{'' if data['recorded'] else '; this run did not record it, rerun with --record'})")
    atomic_write_text(path, f"""## Inference precision: bf16 against fp32 on held-out sets

`benchmarks/precision.py`: each shipped conditional model on held-out images (test splits; the guard off, so the
networks themselves), the same degraded inputs in fp32 and under bf16 autocast. `--precision auto`, the default
of `ganrecon reconstruct`, takes bf16 where the hardware has it natively, per model: {where}.
Speed-ups are in throughput.md. {env['threads']} torch thread(s) on {env['cpu']}, torch
{env['torch']}; native bf16 here: {env['bf16_native']}.

{chr(10).join(lines)}
""")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
