"""Benchmark of the `superres` task (x4) -> docs/results/superres.{json,md} and docs/figures/superres*.png.

Bicubic, SRResNet (the content-only phase, `model-content`) and SRGAN (the adversarially fine-tuned EMA generator,
`model`) on the same held-out high-resolution images, each downsampled by `down:4` (antialiased bicubic, seed 0):

- `porous`: the training generator with the model's own options, test split (never seen in training);
- `porous-shifted`: the same generator with other options (smaller grains, more pores, less blur);
- `grf`: a different generator written here (thresholded Gaussian random field: blobby, connected pores, grain
  grey levels varying smoothly instead of per grain), so the numbers are not one generator's artefact;
- `porous-ct-heldout`: porespy's pseudo-gravity packings through the same CT-like scanner (ganrecon.data
  .porous_ct), the rock model that `porous-ct` training never includes (the transfer test of issue 18; needs
  porespy, benchmarks/corpora.sh; skipped with a line when it is missing);
- `photos`: 128 x 128 crops of scikit-image's bundled grey textures and photographs (gravel, brick, grass,
  camera, moon, coins), which a model trained on rock images has never seen.

Metrics: PSNR, SSIM, porosity error after Otsu segmentation, high-frequency power ratio (estimate / truth above
half-Nyquist; 1 = as sharp as the truth), ms per image, training time. Also upscales a 2000 x 2000 uint16 slice
(-> 8000 x 8000) with `ganrecon reconstruct` in a subprocess: wall time, peak memory, and the largest difference
between the tiled result and the model applied to a 384 x 384 window in one piece (the seam check).

    .venv/bin/python benchmarks/superres.py [--run runs/superres-porous-ct-x4-prior] [--n 32] [--large-size 2000]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganrecon.data import ImageSet, load_dataset
from ganrecon.errors import GanreconError
from ganrecon.evaluation import evaluate
from ganrecon.inference import load_model, pretrained_names
from ganrecon.io_utils import atomic_path, atomic_write_json, atomic_write_text
from ganrecon.metrics import extra_metrics, hf_gap, summarise

SEAM_WINDOW = 384  # input pixels of the one-piece window compared with the tiled slice (covers a 256-px tile seam)
ROOT = Path(__file__).resolve().parent.parent
DEGRADE = "down:4"
PHOTOS = ("gravel", "brick", "grass", "camera", "moon", "coins")
COLUMNS = (("psnr", "PSNR dB", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"), ("porosity_error", "porosity error", "{:.4f}"),
           ("hf_ratio", "HF ratio", "{:.3f}"), ("ms_per_image", "ms/image", "{:.1f}"))
LABELS = {"bicubic": "bicubic", "srresnet": "SRResNet", "srgan": "SRGAN"}


# ------------------------------------------------------------------------------------------------ models


def find_models(run: Path) -> dict:
    """SRResNet = the content-only phase (model-content; else the best-PSNR model), SRGAN = the final model; from
    the run directory, else the shipped models."""
    candidates = {
        "srresnet": [run / "model-content.safetensors", run / "model-best.safetensors", "superres-porous-x4"],
        "srgan": [run / "model.safetensors", "superres-porous-x4-gan"],
    }
    shipped = set(pretrained_names())
    models = {}
    for label, refs in candidates.items():
        for ref in refs:
            if (isinstance(ref, Path) and ref.is_file()) or (isinstance(ref, str) and ref in shipped):
                model = load_model(ref)
                model.name = label
                model.meta["source"] = str(ref)
                models[label] = model
                break
    if not models:
        raise GanreconError(f"No superres model in {run} and none shipped; train one with "
                            "benchmarks/train_superres.sh first.")
    return models


def training_time(run: Path) -> dict:
    """Seconds and steps of each phase, from the run's log (phase 1 ends at warmup_steps)."""
    log, summary, config = run / "log.csv", run / "summary.json", run / "config.yaml"
    if not (log.is_file() and config.is_file()):
        return {}
    import yaml

    warmup = int(yaml.safe_load(config.read_text()).get("warmup_steps", 0))
    with open(log, newline="") as fh:
        rows = [(int(r["step"]), float(r["seconds"])) for r in csv.DictReader(fh) if r.get("seconds")]
    if not rows:
        return {}
    total_steps, total_s = rows[-1]
    if summary.is_file():
        total_s = json.loads(summary.read_text()).get("seconds", total_s)
    phase1 = [s for step, s in rows if step <= warmup]
    phase1_s = phase1[-1] if phase1 else 0.0
    return {"warmup_steps": warmup, "steps": total_steps, "content_seconds": round(phase1_s, 1),
            "adversarial_seconds": round(total_s - phase1_s, 1), "total_seconds": round(total_s, 1)}


# -------------------------------------------------------------------------------------------------- data


def grf_porous(rng: np.random.Generator, size: int = 256, porosity: float = 0.25, corr: float = 5.0,
               blur: float = 1.0, noise: float = 0.01) -> np.ndarray:
    """A second porous-media generator: pores = the lowest `porosity` fraction of a Gaussian random field
    (smoothed white noise, correlation length `corr` px); grains at a quartz-like grey that drifts smoothly over
    the slice; the same scanner model (Gaussian blur, Gaussian noise) as `porous`."""
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), corr, mode="wrap")
    pore = field < np.quantile(field, porosity)
    drift = ndimage.gaussian_filter(rng.standard_normal((size, size)), 4 * corr, mode="wrap")
    grain = 0.62 + 0.06 * drift / (drift.std() + 1e-12)
    image = np.where(pore, 0.12, grain)
    image = ndimage.gaussian_filter(image, blur) + noise * rng.standard_normal((size, size))
    return np.clip(image, 0, 1).astype(np.float32)


def photo_crops(size: int = 128, per_photo: int = 2) -> np.ndarray:
    """Fixed crops (top-left and centre-right) of scikit-image's bundled photographs, grey in [0, 1]."""
    from ganrecon.data.natural import available_photos, photo

    crops = []
    for name in PHOTOS:
        if name not in available_photos():
            continue
        img = photo(name)
        h, w = img.shape
        spots = [(h // 8, w // 8), (h // 2 - size // 2, w - size - w // 8)][:per_photo]
        crops += [img[y:y + size, x:x + size] for y, x in spots]
    return np.stack(crops)[:, None]


def test_sets(data_spec: str, n: int) -> dict[str, tuple[str, ImageSet]]:
    from ganrecon.specs import split_kind

    _, rest = split_kind(data_spec, "dataset")
    noise = dict(p.split("=") for p in rest.split(",") if "=" in p).get("noise", "0.03")
    rng = np.random.default_rng(1234)
    grf = np.stack([grf_porous(rng, noise=float(noise)) for _ in range(n)])[:, None]
    photos = photo_crops()
    heldout = {}
    scanner = {k: v for k, v in (p.split("=") for p in rest.split(",") if "=" in p)
               if k in ("blur", "noise", "rings", "supersample")}
    heldout_spec = "porous-ct-heldout" + "".join(f"{':' if i == 0 else ','}{k}={v}"
                                                 for i, (k, v) in enumerate(scanner.items()))
    try:
        heldout["porous-ct-heldout"] = (
            f"`{heldout_spec}` test split, {n} slices 256 x 256 (porespy gravity packings: a rock model no "
            "training saw)", load_dataset(heldout_spec, split="test", limit=n, seed=0))
    except GanreconError as exc:
        print(f"  porous-ct-heldout skipped. {exc}")
    return {
        "porous": (f"`{data_spec}` test split, {n} slices 256 x 256 (the training generator and options)",
                   load_dataset(data_spec, split="test", limit=n, seed=0)),
        "porous-shifted": ((f"`porous:grain=5,porosity=0.3,blur=0.7,noise={noise}` test split, {n} slices (same "
                           "generator, other grains, porosity and blur)"),
                           load_dataset(f"porous:grain=5,porosity=0.3,blur=0.7,noise={noise}", split="test",
                                        limit=n, seed=0)),
        "grf": ((f"thresholded Gaussian random fields, {n} slices 256 x 256 (a different generator, same scanner "
                "model)"), ImageSet(torch.from_numpy(grf), (0.0, 1.0), "grf")),
        "photos": (f"{len(photos)} crops 128 x 128 of scikit-image's {', '.join(PHOTOS)}",
                   ImageSet(torch.from_numpy(photos), (0.0, 1.0), "photos")),
        **heldout,
    }


# ------------------------------------------------------------------------------------------------ scoring


def run_set(images: ImageSet, models: dict):
    """-> (results JSON with the extra metrics added, the Evaluation, per-image extra metrics per method)."""
    evaluation = evaluate(images, DEGRADE, models=list(models.values()), seed=0, baselines=["bicubic"])
    per_image = {}
    for name, est in evaluation.estimates.items():
        per_image[name] = extra_metrics(est, evaluation.clean)
        evaluation.results["methods"][name].update(summarise(per_image[name]))
    return evaluation.results, evaluation, per_image


def verdicts(results: dict) -> list[str]:
    """The issue's targets, checked on the numbers (reported whether met or not)."""
    lines = []
    held = results["sets"].get("porous-ct-heldout", {}).get("methods", {})
    if "srresnet" in held:
        gain = held["srresnet"]["psnr"] - held["bicubic"]["psnr"]
        por = held["srresnet"]["porosity_error"] < held["bicubic"]["porosity_error"]
        lines.append(f"- issue 18, SRResNet on `porous-ct-heldout`: {gain:+.2f} dB over bicubic (target >= +3 dB: "
                     f"{'met' if gain >= 3 else 'missed'}); porosity error {held['srresnet']['porosity_error']:.4f}"
                     f" vs bicubic {held['bicubic']['porosity_error']:.4f} ({'met' if por else 'missed'})")
    if "srresnet" in held and "srgan" in held:
        hf = hf_gap(held["srgan"]["hf_ratio"]) < hf_gap(held["srresnet"]["hf_ratio"])
        por = held["srgan"]["porosity_error"] <= held["srresnet"]["porosity_error"]
        lines.append(f"- issue 18, SRGAN on `porous-ct-heldout`: HF ratio {held['srgan']['hf_ratio']:.3f} vs SRResNet "
                     f"{held['srresnet']['hf_ratio']:.3f} (closer to 1: {'met' if hf else 'missed'}), porosity error "
                     f"{held['srgan']['porosity_error']:.4f} vs {held['srresnet']['porosity_error']:.4f} (no worse: "
                     f"{'met' if por else 'missed'})")
    for key in ("porous", "porous-shifted", "grf"):
        m = results["sets"][key]["methods"]
        if "srresnet" in m:
            gain = m["srresnet"]["psnr"] - m["bicubic"]["psnr"]
            lines.append(f"- SRResNet PSNR - bicubic on `{key}`: {gain:+.2f} dB (target >= +5 dB: "
                         f"{'met' if gain >= 5 else 'missed'})")
    for key in ("porous", "grf"):
        m = results["sets"][key]["methods"]
        if "srgan" not in m:
            continue
        others = [k for k in ("bicubic", "srresnet") if k in m]
        por = all(m["srgan"]["porosity_error"] < m[k]["porosity_error"] for k in others)
        hf = all(hf_gap(m["srgan"]["hf_ratio"]) < hf_gap(m[k]["hf_ratio"]) for k in others)
        lines.append(f"- SRGAN on `{key}`: porosity error {m['srgan']['porosity_error']:.4f} vs "
                     + ", ".join(f"{LABELS[k]} {m[k]['porosity_error']:.4f}" for k in others)
                     + f" ({'met' if por else 'missed'}); HF ratio {m['srgan']['hf_ratio']:.3f} vs "
                     + ", ".join(f"{LABELS[k]} {m[k]['hf_ratio']:.3f}" for k in others)
                     + f" (closer to 1: {'met' if hf else 'missed'})")
    return lines


# ------------------------------------------------------------------------------------------------ figure


def figure(evaluations: dict, out: Path, index: int = 0) -> None:
    """Rows = test sets; LR | bicubic | SRResNet | SRGAN | HR with a zoomed inset of the same region in each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    cols = ["LR (x4 smaller)", "bicubic", "srresnet", "srgan", "HR (truth)"]
    fig, axes = plt.subplots(len(evaluations), len(cols), figsize=(2.6 * len(cols), 2.75 * len(evaluations)),
                             squeeze=False)
    for r, (key, (ev, per_image)) in enumerate(evaluations.items()):
        clean = ev.clean[index, 0].numpy()
        h, w = clean.shape
        zh, zw = h // 5, w // 5
        y0, x0 = h // 2 - zh // 2, w // 2 - zw // 2
        panels = {"LR (x4 smaller)": ev.observed[index, 0].numpy(), "HR (truth)": clean}
        panels.update({k: v[index, 0].numpy() for k, v in ev.estimates.items()})
        for c, name in enumerate(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if name not in panels:
                ax.set_axis_off()
                continue
            img = panels[name]
            extent = (0, w, h, 0)  # LR is drawn on the HR grid, pixels as blocks
            ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest", extent=extent)
            ax.add_patch(Rectangle((x0, y0), zw, zh, fill=False, ec="yellow", lw=0.8))
            inset = ax.inset_axes([0.56, 0.0, 0.44, 0.44])
            s = img.shape[0] / h
            inset.imshow(img[int(y0 * s):int((y0 + zh) * s), int(x0 * s):int((x0 + zw) * s)], cmap="gray", vmin=0,
                         vmax=1, interpolation="nearest")
            inset.set_xticks([])
            inset.set_yticks([])
            for spine in inset.spines.values():
                spine.set_edgecolor("yellow")
            title = LABELS.get(name, name)
            if name in per_image:  # this image's own numbers
                err = float(((ev.estimates[name][index] - ev.clean[index]) ** 2).mean())
                title += (f"\n{10 * math.log10(1 / max(err, 1e-10)):.1f} dB, "
                          f"por.err {float(per_image[name]['porosity_error'][index]):.3f}, "
                          f"HF {float(per_image[name]['hf_ratio'][index]):.2f}")
            ax.set_title(title, fontsize=7.5)
            if c == 0:
                ax.set_ylabel(key, fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ large slice

_LARGE = r"""
import json, sys, time
import torch
torch.set_num_threads(int(sys.argv[4]))
from ganrecon.reconstruction import reconstruct
def hwm():  # this process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024
before = hwm()
start = time.perf_counter()
reconstruct(sys.argv[1], sys.argv[2], sys.argv[3], guard="off")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss_mb": hwm(), "peak_rss_after_imports_mb": before}))
"""


def large_slice(model_ref: str, size: int, threads: int) -> dict:
    """A size x size uint16 slice -> (4 size)^2 through `reconstruct` in a fresh process (clean peak memory), with
    the guard off: this measures the tiled model (time, memory, seams); a guard that sends tiles to bicubic would
    make the seam check meaningless (on this smooth field it kept the model in 12 of 256 tiles, margin -0.01 dB).
    docs/results/throughput.md times the guarded run."""
    rng = np.random.default_rng(7)
    lr = (grf_porous(rng, size=size) * 65535).round().astype(np.uint16)
    with tempfile.TemporaryDirectory() as tmp:
        import tifffile

        src, dst = Path(tmp) / "slice.tif", Path(tmp) / "slice-x4.tif"
        tifffile.imwrite(src, lr)
        out = subprocess.run([sys.executable, "-c", _LARGE, str(src), model_ref, str(dst), str(threads)],
                             capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS":
                                                                             str(threads)})
        stats = json.loads(out.stdout.strip().splitlines()[-1])
        up = tifffile.imread(dst)
        # seam check: a SEAM_WINDOW-wide window in one piece vs the same region of the tiled result (ignore the window's
        # own border, where the one-piece run sees zero padding that the tiled run does not)
        model = load_model(model_ref)
        win = min(SEAM_WINDOW, size)  # wide enough to hold a seam of the model's tiles
        y0 = x0 = size // 2 - win // 2
        with torch.no_grad():
            piece = model.generator(torch.from_numpy(lr[y0:y0 + win, x0:x0 + win].astype(np.float32) / 65535)[None, None])
        piece = np.rint(piece[0, 0].numpy() * 65535)
        m = 32 * 4
        diff = np.abs(piece[m:-m, m:-m] - up[4 * y0 + m:4 * (y0 + win) - m, 4 * x0 + m:4 * (x0 + win) - m])
    return {"input": f"{size} x {size} uint16", "output": f"{up.shape[0]} x {up.shape[1]} {up.dtype}",
            "tile": list(model.tile), "overlap_px": round(model.default_overlap() * min(model.tile)), "window": win,
            "seconds": round(stats["seconds"], 1), "peak_rss_mb": round(stats["peak_rss_mb"]),
            "rss_after_imports_mb": round(stats["peak_rss_after_imports_mb"]),
            "seam_max_abs_uint16": int(diff.max()), "seam_mean_abs_uint16": round(float(diff.mean()), 2)}


# ------------------------------------------------------------------------------------------------ main


def in_repo(path: str) -> str:
    """A path as seen from the repository root (results pages must not show one machine's folders)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


def markdown(results: dict, descriptions: dict) -> str:
    t = results["training"]
    lines = ["## superres: SRResNet and SRGAN vs bicubic, x4", "",
             (f"Produced by `benchmarks/superres.py` on {results['hardware']}. Every method sees the same held-out "
             f"high-resolution images downsampled by `{DEGRADE}` (antialiased bicubic, seed 0). PSNR/SSIM against "
             "the truth; porosity error = |pore fraction of the estimate - of the truth|, each segmented by its own "
             "Otsu threshold; HF ratio = spectral power above half-Nyquist, estimate / truth (1 = as sharp as the "
             "truth; bicubic cannot create any). ms/image = batch wall time / images."), "",
             "Models: " + ", ".join(f"{LABELS[k]} = `{in_repo(v)}`" for k, v in results["models"].items()) + "."]
    if t:
        lines += ["", (f"Training (`{in_repo(results['config'])}`): SRResNet phase {t['warmup_steps']} steps in "
                      f"{t['content_seconds'] / 60:.1f} min, then SRGAN phase {t['steps'] - t['warmup_steps']} steps in "
                      f"{t['adversarial_seconds'] / 60:.1f} min ({t['total_seconds'] / 60:.1f} min in all).")]
    lines += ["", "Targets:", "", *verdicts(results), ""]
    for key, res in results["sets"].items():
        lines += [f"### `{key}`: {descriptions[key]}", "",
                  "| method | " + " | ".join(c[1] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
        for name, m in res["methods"].items():
            lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(
                fmt.format(m[k]) if isinstance(m.get(k), (int, float)) and math.isfinite(m[k]) else "-"
                for k, _, fmt in COLUMNS) + " |")
        lines.append("")
    lines += ["![superres](../figures/superres.png)", ""]
    if "large" in results:
        g = results["large"]
        lines += [(f"Large input: `ganrecon reconstruct` upscaled a {g['input']} slice to {g['output']} in "
                  f"{g['seconds']:.0f} s (guard off: the model alone) with a peak memory of {g['peak_rss_mb']} MB ({g['rss_after_imports_mb']} MB of it "
                  f"Python + torch before the first tile; {g['tile'][0]} x {g['tile'][1]} input tiles overlapping by "
                  f"{g['overlap_px']} pixels, blended); tiled vs one-piece on a {g['window']} x {g['window']} window: "
                  f"max |difference| {g['seam_max_abs_uint16']} "
                  f"of 65535, mean {g['seam_mean_abs_uint16']}."), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "superres-porous-ct-x4-prior")
    parser.add_argument("--n", type=int, default=32, help="images per synthetic test set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--large-size", type=int, default=2000, help="side of the large slice (0 = skip)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="writes results/ and figures/ here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    models = find_models(args.run)
    data_spec = next(iter(models.values())).meta.get("data", "porous")
    results = {"hardware": f"{platform.machine()}, {args.threads} threads, torch {torch.__version__}",
               "degrade": DEGRADE, "config": str(args.run / "config.yaml"),
               "models": {k: m.meta["source"] for k, m in models.items()},
               "training": training_time(args.run), "sets": {}}
    sets = test_sets(data_spec, args.n)
    evaluations = {}
    for key, (_, images) in sets.items():
        start = time.perf_counter()
        results["sets"][key], evaluation, per_image = run_set(images, models)
        evaluations[key] = (evaluation, per_image)
        print(f"{key}: " + ", ".join(f"{LABELS.get(k, k)} {v['psnr']:.2f} dB" for k, v in
                                     results["sets"][key]["methods"].items())
              + f" ({time.perf_counter() - start:.0f} s)")
    figure(evaluations, args.out / "figures" / "superres.png")
    if args.large_size:
        ref = models.get("srgan", next(iter(models.values()))).meta["source"]
        results["large"] = large_slice(ref, args.large_size, args.threads)
        print("large:", results["large"])
    atomic_write_json(args.out / "results" / "superres.json", results)
    atomic_write_text(args.out / "results" / "superres.md",
                      markdown(results, {k: d for k, (d, _) in sets.items()}))
    print("\n".join(verdicts(results)))
    print(f"wrote {args.out / 'results' / 'superres.md'}")


if __name__ == "__main__":
    sys.exit(main())
