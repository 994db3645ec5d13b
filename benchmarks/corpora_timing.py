"""How long each training corpus takes to make: a few thousand patches per spec, made from scratch, then read
back from the disk cache where the spec has one. Writes docs/results/corpora.{md,json}.

    .venv/bin/python benchmarks/corpora_timing.py [--data-root ../shared/datasets]

Needs benchmarks/corpora.sh (wallpapers, porespy). One thread; CPU seconds are reported beside wall-clock
seconds because the machine may be shared. MNIST (for digits-text) comes from --data-root.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "results"

# (label, spec, patch or None): each gives 1024-4096 training images of 28x28 to 96x96
CASES = [
    ("photos, grey 64x64", "photos:n=4096,size=64x64", None),
    ("photos, RGB 96x96", "photos:n=2048,size=96x96,rgb=1", None),
    ("digits-text 28x28", "digits-text:n=4096,size=28x28", None),
    ("digits-text 48x48", "digits-text:n=4096,size=48x48", None),
    ("porous-ct, 256 slices 256x256 -> 64x64 patches", "porous-ct:n=256,size=256x256", (64, 64)),
    ("porous-ct-heldout, 64 slices 256x256 -> 64x64 patches", "porous-ct-heldout:n=64,size=256x256", (64, 64)),
]


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def warm_up_porespy() -> dict:
    """Import porespy and compile its numba kernels once, so the corpus timings below are generation only."""
    from ganrecon.data import load_dataset

    _, wall, cpu = timed(lambda: [load_dataset(spec, split="val") for spec in (
        "porous-ct:n=4,size=32x32", "porous-ct-heldout:n=1,size=32x32")])
    return {"label": "porespy import + numba compilation (once per process)", "wall_s": wall, "cpu_s": cpu}


def run(data_root: str) -> list[dict]:
    import torch

    from ganrecon.data import load_dataset

    torch.set_num_threads(1)
    rows = [warm_up_porespy()]
    for label, spec, patch in CASES:
        def load(spec=spec, patch=patch):
            return load_dataset(spec, split="train", root=data_root, patch=patch)
        ds, wall, cpu = timed(load)
        row = {"label": label, "spec": spec, "patch": patch, "images": len(ds),
               "size": list(ds.images.shape[1:]), "wall_s": wall, "cpu_s": cpu}
        if spec.startswith("porous-ct"):
            again, row["cached_wall_s"], _ = timed(load)
            assert torch.equal(again.images, ds.images)
        rows.append(row)
        print(f"{label}: {len(ds)} images in {wall:.1f} s ({cpu:.1f} CPU s)", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["# Training corpora: generation time", "",
             "Made by `benchmarks/corpora_timing.py` (one thread, split `train`, disk cache in a fresh folder).",
             "Wall-clock seconds grow with whatever else runs on the machine (it was shared when these were measured);",
             "CPU seconds do not: on an idle core, a corpus takes about its CPU seconds.", "",
             "| corpus | spec | images | made in (wall s) | CPU s | from the cache (s) |", "|---|---|---|---|---|---|"]
    for r in rows:
        spec = f"`{r['spec']}`" + (f" patch {r['patch'][0]}x{r['patch'][1]}" if r.get("patch") else "") \
            if "spec" in r else ""
        cached = f"{r['cached_wall_s']:.1f}" if "cached_wall_s" in r else "-"
        images = f"{r['images']} x {'x'.join(map(str, r['size']))}" if "images" in r else "-"
        lines.append(f"| {r['label']} | {spec} | {images} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {cached} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["GANRECON_CACHE"] = cache
        rows = run(args.data_root)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "corpora.json").write_text(json.dumps(rows, indent=2) + "\n")
    (OUT / "corpora.md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
