"""Step 2 of the turbulence recipe: a clean -> distorted pix2pix model (trained with `direction: BtoA`) turns
clean images into a synthetic paired training set, for when real distorted/clean pairs are hard to collect.

The pairs are written as two folders with matching names, `OUT/A` (synthesised distorted) and `OUT/B` (clean),
which `paired:OUT/A:OUT/B` reads back for the restoration model (step 3). pix2pix has no noise input; its only
source of variety is dropout, which it keeps on at test time, and so do we (`noise=False` turns dropout off).
A U-Net with `noise_channels` draws noise maps on every call whatever `noise` says: that is what makes it a
sampler, and several `draws` of each clean image give the restorer fresh distortions of the same scene. Grey images are stored as 16-bit PNG so quantisation does not become a
distortion of its own; colour as 8-bit PNG (Pillow cannot write 16-bit colour PNGs).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from ganrecon.errors import GanreconError
from ganrecon.io_utils import atomic_path, atomic_write_json


@contextlib.contextmanager
def dropout_as_noise(model: torch.nn.Module, enabled: bool = True):
    """Dropout layers in training mode (BatchNorm and the rest stay in eval mode), restored afterwards."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)] if enabled else []
    before = [m.training for m in layers]
    for m in layers:
        m.train()
    try:
        yield
    finally:
        for m, mode in zip(layers, before):
            m.train(mode)


def write_png(path: Path, image: torch.Tensor) -> None:
    """One C x H x W image in [0, 1] -> PNG: 16-bit grey, or 8-bit RGB."""
    from PIL import Image

    arr = image.detach().float().clamp(0, 1).cpu().numpy()
    if arr.shape[0] == 1:
        pixels = np.rint(arr[0] * 65535).astype(np.uint16)
    else:
        pixels = np.rint(np.moveaxis(arr[:3], 0, -1) * 255).astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")


def synthesise_pairs(model, data: str, out: str | Path, *, split: str | None = "train", limit: int | None = None,
                     seed: int = 0, root: str | None = None, noise: bool = True, batch: int = 256,
                     draws: int = 1) -> Path:
    """Apply a clean -> distorted model to the clean images of `data`, `draws` times each (a sampler's draws
    differ; a fresh distortion per epoch is what a simulator gives); write OUT/A (output), OUT/B (input) and
    OUT/synthesis.json (provenance). Returns OUT."""
    from ganrecon.data import load_dataset
    from ganrecon.inference import ReconstructionModel, load_model

    model = model if isinstance(model, ReconstructionModel) else load_model(model)
    images = load_dataset(data, split=split, root=root, limit=limit, seed=seed)
    if tuple(images.value_range) != tuple(model.value_range) or images.value_range[0] < 0:
        raise GanreconError(f"synthesise writes images in [0, 1]; {images.name} is in {images.value_range} and "
                            f"the model {model.name} works in {tuple(model.value_range)}.")
    if draws < 1:
        raise GanreconError(f"draws must be at least 1, got {draws}.")
    out = Path(out)
    torch.manual_seed(seed)
    width = len(str(len(images) - 1))
    with dropout_as_noise(model.generator, noise):
        for draw in range(draws):
            for start in range(0, len(images), batch):
                clean = images.images[start:start + batch]
                distorted = model(clean)
                for k, (a, b) in enumerate(zip(distorted, clean)):
                    name = f"{start + k:0{width}d}" + (f"-{draw}" if draws > 1 else "") + ".png"
                    write_png(out / "A" / name, a)
                    write_png(out / "B" / name, b)
    atomic_write_json(out / "synthesis.json", {"model": model.name, "model_meta": model.meta, "data": data,
                                              "split": split, "seed": seed, "n": len(images), "draws": draws,
                                              "dropout_noise": noise, "pairs": f"paired:{out / 'A'}:{out / 'B'}"})
    return out
