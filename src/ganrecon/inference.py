"""Trained models as reconstruction functions: `load_model(ref)` turns a run directory, a weights file or a shipped
model's name into the reconstructor its bundle describes (ganrecon.reconstructor), ready to apply to images of any
size.

The names below (ReconstructionModel, ModelWrapper, tiled_apply, pretrained_names, ...) stay importable from
here; they live in ganrecon.reconstructor, ganrecon.tiling and ganrecon.bundles.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganrecon.bundles import (
    PRETRAINED_DIR,
    bundle_name,
    bundle_path,
    generator_from_meta,
    load_generator,
    load_weights_into,
    pretrained_names,
)
from ganrecon.invert import LatentModel
from ganrecon.reconstructor import ModelWrapper, ReconstructionModel, Reconstructor
from ganrecon.tiling import tiled_apply

__all__ = ["PRETRAINED_DIR", "RECONSTRUCTORS", "LatentModel", "ModelWrapper", "ReconstructionModel", "Reconstructor",
           "bundle_name", "bundle_path", "generator_from_meta", "load_model", "load_weights_into",
           "pretrained_names", "tiled_apply"]

# bundle kind (ganrecon.bundles) -> the reconstructor that runs its network
RECONSTRUCTORS: dict[str, type[Reconstructor]] = {
    "conditional": ReconstructionModel,
    "unconditional": LatentModel,   # reconstruction by inversion (ganrecon.invert)
}


def load_model(ref: str | Path, device: str | torch.device = "cpu") -> Reconstructor:
    """Load a model bundle as its reconstructor; weights never go through pickle, and a mismatch with its
    description is one sentence."""
    loaded = load_generator(ref, device)
    return RECONSTRUCTORS[loaded.kind](loaded.generator, loaded.meta, loaded.name)
