"""Copy trained model bundles from runs/ into the package as shipped pretrained models (weights stored as
float16 to keep the wheel small, or as int8 with per-row scales where float16 would pass MAX_BYTES; they are
cast back to float32 on load).

    .venv/bin/python benchmarks/ship_models.py [--runs runs] [--to DIR] [NAME ...]
    .venv/bin/python benchmarks/ship_models.py --runs runs-gpu --to DIR --candidates RUN ...

--to writes the bundles to another folder (benchmarks/train_all.sh --device cuda collects them there).
--candidates writes each run's model-best as DIR/RUN.safetensors + .json, stored as shipped bundles are: weights
to benchmark (and to continue with `init:`) before one of them is shipped (benchmarks/gpu_campaign.sh).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ganrecon.checkpoints import quantize_int8
from ganrecon.io_utils import atomic_path, atomic_write_json

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "src" / "ganrecon" / "pretrained"

MAX_BYTES = 4 * 2 ** 20  # a shipped bundle above this in float16 is stored as int8 (the repository keeps files small)

# shipped name -> (run directory, bundle stem inside it)
SOURCES = {
    "traces-mnist-unet": ("traces-mnist-unet-wide-gpu2", "model-best"),  # width 64, H200: -wide-gpu -> -wide-gpu2
    "traces-seismic-unet": ("traces-seismic-unet-soup21-22", "model-best"),  # mean of -wavelets4 and -wavelets5 (benchmarks/average_weights.py); chain: -pocs -> -continued -> -stage3..5 -> -consensus (prior swapped) -> -consensus2..9 (-consensus8, -9: stages 13, 14, weights/) -> -w48 (widened) -> -echo4 (data echoing) -> -echo4-amp (bf16 autocast) -> -wavelets -> -wavelets2 (four wavelet families) -> -wavelets3 (+ straight slow events) -> -wavelets4 (+ Klauder field gathers, fine-spacing straight events) -> -wavelets5 (+ short, untapered Klauder sweeps)
    "latent-mnist-mlp": ("latent-mnist-mlp", "model"),
    "latent-mnist-dcgan": ("latent-mnist-dcgan", "model"),
    "denoise-blind": ("denoise-blind-w48-fresh2", "model-best"),  # chain: -photos-prior -> -decay .. -decay4 (CPU) -> -gpu (H200) -> -cpu7 .. -cpu12 -> -w48 (widened) -> -w48-dihedral-probe -> -w48-dihedral2 -> -w48-fresh -> -w48-fresh2
    "superres-porous-x4": ("superres-porous-ct-x4-prior", "model-content"),
    "superres-porous-x4-gan": ("superres-porous-ct-x4-twin", "model"),
    "translate-turbulence": ("translate-turbulence-refine-wide-stage4", "model-best"),  # chain: refine-wide -> -stage2..4
    "translate-turbulence-burst8": ("translate-turbulence-burst8-stage2", "model-best"),  # chain: burst8 -> -stage2
}

# runs made by no config of their own (benchmarks/average_weights.py) -> the config of the stage they end with
TRAINED_BY = {"traces-seismic-unet-soup21-22": "traces-seismic-unet-wavelets5"}

# shown by `ganrecon info` and stored in the shipped JSON
DESCRIPTIONS = {
    "denoise-blind": "grey photographs, digits and text: salt & pepper (5-50%) and Gaussian (0.05-0.2) noise removed; "
                     "U-Net GAN refining biharmonic inpainting of the impulse candidates, any size",
    "latent-mnist-dcgan": "28x28 MNIST digits: DCGAN generator for `ganrecon invert` (optimise z to fit the kept "
                          "pixels)",
    "latent-mnist-mlp": "28x28 MNIST digits: MLP generator (z of 10) for `ganrecon invert`",
    "superres-porous-x4": "x4 super-resolution of grey micro-CT-like porous slices; SRResNet (content loss), any size",
    "superres-porous-x4-gan": "x4 super-resolution of micro-CT-like porous slices; SRGAN twin (SRResNet + adversarial "
                              "and spectral terms): sharper texture",
    "traces-mnist-unet": "missing columns of 28x28 digit-like images (random, regular, gaps); U-Net GAN",
    "traces-seismic-unet": "missing traces of seismic gathers, any size (random, regular, gaps); U-Net GAN refining "
                           "the consensus of f-x, dip-steered and sliding-FK interpolation, trained on clean, "
                           "field-like and aliased synthetic gathers with Ricker, Ormsby, Klauder and phase-rotated "
                           "wavelets, gathers of slow straight events, and Klauder-only field-like gathers; the "
                           "mean of the weights of two stages (stage 22 adds short, untapered Klauder sweeps)",
    "translate-turbulence": "atmospheric turbulence removed from one grey frame, any size; U-Net (width 64) refining "
                            "the frame itself, MSE-trained",
    "translate-turbulence-burst8": "a burst of 8 turbulent frames of a grey scene -> one clean image, any size; U-Net "
                                   "GAN refining registration onto the temporal mean + Wiener",
}


def half(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}


def write_bundle(tensors: dict[str, torch.Tensor], meta: dict, out: Path, source: Path) -> Path:
    """OUT.safetensors + OUT.json, each written atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp))
    atomic_write_json(out.with_suffix(".json"), meta)
    print(f"{out.stem}: {out.stat().st_size / 1e6:.1f} MB from {source}")
    return out


def compact(original: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """float16, or int8 with per-row scales where float16 would pass MAX_BYTES (from the float32 weights)."""
    tensors = half(original)
    if sum(v.numel() * v.element_size() for v in tensors.values()) > MAX_BYTES:
        return quantize_int8(original), "int8"
    return tensors, "float16"


def ship(name: str, runs: Path, to: Path = PRETRAINED) -> Path | None:
    run, stem = SOURCES[name]
    weights = runs / run / f"{stem}.safetensors"
    if not weights.is_file():
        print(f"{name}: no {weights}, skipped")
        return None
    tensors, stored = compact(load_file(str(weights)))
    meta = json.loads(weights.with_suffix(".json").read_text())
    meta.update(shipped_name=name, stored_dtype=stored, source_run=f"{run}/{stem}", description=DESCRIPTIONS[name])
    if meta.get("kind", "conditional") == "conditional":  # what benchmarks/precision.py measures: new weights run
        meta["auto_precision"] = "fp32"  # in fp32 under `auto` until its --record finds bf16 within the tolerance
    return write_bundle(tensors, meta, to / f"{name}.safetensors", weights)


def candidate(run: str, runs: Path, to: Path) -> Path | None:
    """A run's best weights under the run's name, stored as a shipped bundle is (`compact`): `init:` casts them
    back, and continued training absorbs the rounding."""
    weights = runs / run / "model-best.safetensors"
    if not weights.is_file():
        print(f"{run}: no {weights}, skipped")
        return None
    tensors, stored = compact(load_file(str(weights)))
    meta = json.loads(weights.with_suffix(".json").read_text())
    meta.update(stored_dtype=stored, source_run=f"{run}/model-best")
    return write_bundle(tensors, meta, to / f"{run}.safetensors", weights)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(SOURCES))
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--to", type=Path, default=PRETRAINED, help="folder for the bundles (default: the package)")
    parser.add_argument("--candidates", action="store_true", help="NAMEs are runs: their model-best in float16")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.candidates:
        for run in args.names:
            candidate(run, args.runs, args.to)
        return
    for name in args.names:
        ship(name, args.runs, args.to)


if __name__ == "__main__":
    main()
