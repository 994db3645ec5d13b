"""`ganrecon reconstruct`: one file in, the same format out, reconstructed by a trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganrecon.errors import GanreconError
from ganrecon.files import dead_trace_mask, read_file, write_like
from ganrecon.inference import load_model


def _load_mask(mask: str, images: np.ndarray, value_range, seed: int) -> np.ndarray:
    """A mask file (nonzero = known) or a degradation spec applied to the input's shape."""
    path = Path(mask)
    if path.suffix.lower() in (".npy", ".png", ".tif", ".tiff") or path.exists():
        from ganrecon.files import read_file as read

        m = read(path).images
        if m.shape[-2:] != images.shape[-2:]:
            raise GanreconError(f"The mask is {m.shape[-2]}x{m.shape[-1]} but the input is "
                                f"{images.shape[-2]}x{images.shape[-1]}.")
        return np.broadcast_to((m[:1, :1] != 0).astype(np.float32), images.shape).copy()
    from ganrecon.degrade import parse_degradation

    degradation = parse_degradation(mask)
    if "mask" not in degradation.families:
        raise GanreconError(f"--mask {mask!r} is not a mask spec (columns:..., keep-first:..., pixels:..., mask:...).")
    _, m = degradation(torch.from_numpy(images), value_range=value_range,
                       generator=torch.Generator().manual_seed(seed))
    return m.numpy()


def reconstruct_array(images: np.ndarray, model, mask: np.ndarray | None = None) -> np.ndarray:
    """Reconstruct N x C x H x W float images with a loaded model; returns the same layout (times the model's
    scale for super-resolution)."""
    obs = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    m = None if mask is None else torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
    return model(obs, m).numpy()


def reconstruct_file(input_path: str | Path, model_ref: str, output: str | Path, *, mask: str | None = None,
                     seed: int = 0) -> Path:
    model = load_model(model_ref)
    data = read_file(input_path)
    images = data.images
    signed_model = model.value_range[0] < 0
    if data.signed and not signed_model:
        raise GanreconError(f"{Path(input_path).name} holds signed amplitudes, but the model {model.name} works on "
                            "images in [0, 1]; use a seismic model.")
    if images.shape[1] != model.meta["channels"]:
        if model.meta["channels"] == 1:
            images = images.mean(axis=1, keepdims=True)
        else:
            images = np.repeat(images[:, :1], model.meta["channels"], axis=1)
    if data.kind == "segy" and model.scale != 1:
        raise GanreconError("Super-resolution changes the number of traces, so it cannot write SEG-Y; use NPY or TIFF.")
    masks_things = model.meta.get("task") in ("traces", "latent")
    if mask is not None:
        m = _load_mask(mask, images, model.value_range, seed)
    elif masks_things:
        m = dead_trace_mask(images)
    else:
        m = np.ones_like(images)
    out = reconstruct_array(images * m, model, m)
    if out.shape[1] != data.images.shape[1]:
        out = np.repeat(out, data.images.shape[1], axis=1)
    return write_like(data, out, output)
