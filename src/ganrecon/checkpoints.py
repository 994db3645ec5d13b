"""Checkpoints and model bundles, in safetensors + JSON only: loading weights never executes code.

A *checkpoint* (run_dir/checkpoints/step_XXXXXXX/) holds everything needed to resume exactly: generator,
discriminator, EMA generator, both optimizers and the torch RNG state. A strategy without a discriminator
(self-supervised adaptation) leaves it and its optimizer out, and one that keeps its best-scoring weights apart
from the training ones stores them too (`best`). A *model bundle* (model.safetensors +
model.json) holds only what reconstruction needs: the EMA generator weights and how to build and feed it.
Both are written to a temporary name and renamed, so a kill mid-write never leaves a broken file behind.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ganrecon.errors import GanreconError
from ganrecon.io_utils import atomic_path, atomic_write_json, atomic_write_text

PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".bin")
BUNDLE_FORMAT = "ganrecon-model"


def _flatten_optimizer(prefix: str, state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (for safetensors) and plain data (for JSON)."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict = {"param_groups": state["param_groups"], "state": {}}
    for idx, entry in state["state"].items():
        plain["state"][str(idx)] = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{idx}.{key}"] = value.detach().cpu().contiguous()
                plain["state"][str(idx)][key] = "__tensor__"
            else:
                plain["state"][str(idx)][key] = value
    return tensors, plain


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], plain: dict) -> dict:
    state = {}
    for idx, entry in plain["state"].items():
        state[int(idx)] = {k: (tensors[f"{prefix}.{idx}.{k}"] if v == "__tensor__" else v) for k, v in entry.items()}
    return {"state": state, "param_groups": plain["param_groups"]}


def _module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _load_module(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    sub = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        module.load_state_dict(sub)
    except RuntimeError as exc:
        raise GanreconError(
            f"The checkpoint's {prefix} weights do not match the configured architecture "
            f"({state_dict_problem(exc)}).") from None


def state_dict_problem(exc: Exception) -> str:
    """The first concrete line of a load_state_dict error (its first line only names the module class)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
    return detail if len(detail) <= 200 else detail[:197] + "..."


def _optional_modules(discriminator, ema, best) -> dict[str, torch.nn.Module]:
    """The checkpoint prefixes of the modules a strategy may not have."""
    return {prefix: m for prefix, m in (("D", discriminator), ("EMA", ema), ("BEST", best)) if m is not None}


def save_checkpoint(run_dir: Path, step: int, *, generator, opt_g, extra: dict, discriminator=None, ema=None,
                    opt_d=None, best=None, keep: int = 2) -> Path:
    """Write checkpoints/step_N atomically (temp folder, then rename) and point checkpoints/latest at it."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:07d}"
    tmp = root / f".tmp_step_{step:07d}_{os.getpid()}"
    # temporaries of writes a SIGKILL cut short (never renamed into place); the caller holds the run lock
    for stale in [*root.glob(".tmp_step_*"), *Path(run_dir).glob(".*.tmp*")]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    tmp.mkdir()
    tensors = _module_tensors("G", generator)
    for prefix, module in _optional_modules(discriminator, ema, best).items():
        tensors.update(_module_tensors(prefix, module))
    optimisers = {}
    for prefix, optimiser in (("optG", opt_g), ("optD", opt_d)):
        if optimiser is not None:
            flat, optimisers[prefix] = _flatten_optimizer(prefix, optimiser.state_dict())
            tensors.update(flat)
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(tmp / "state.safetensors"))
    atomic_write_json(tmp / "state.json", {"step": step, **optimisers, **extra})
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(root / "latest", final.name + "\n")
    older = sorted(p for p in root.glob("step_*") if p != final)
    for old in older[:max(len(older) - (keep - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    pointer = Path(run_dir) / "checkpoints" / "latest"
    if pointer.is_file():
        path = pointer.parent / pointer.read_text().strip()
        if pointer.read_text().strip() and (path / "state.json").is_file():
            return path
    # no usable pointer (deleted, or a folder copied without it): the newest complete checkpoint folder
    found = sorted(p for p in pointer.parent.glob("step_*") if (p / "state.json").is_file())
    return found[-1] if found else None


def checkpoint_meta(path: Path) -> dict:
    """A checkpoint folder's JSON metadata (step, ...) without its tensors."""
    try:
        return json.loads((Path(path) / "state.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise GanreconError(f"The checkpoint metadata {Path(path) / 'state.json'} is missing or corrupted.") from None


def load_checkpoint(path: Path, *, generator, opt_g, discriminator=None, ema=None, opt_d=None, best=None) -> dict:
    """Restore all training state from a checkpoint folder (the modules given, as `save_checkpoint` wrote them);
    returns its JSON metadata (step, ...)."""
    tensors = _read_safetensors(path / "state.safetensors")
    meta = checkpoint_meta(path)
    _load_module("G", generator, tensors)
    for prefix, module in _optional_modules(discriminator, ema, best).items():
        _load_module(prefix, module, tensors)
    try:
        opt_g.load_state_dict(_unflatten_optimizer("optG", tensors, meta["optG"]))
        if opt_d is not None:
            opt_d.load_state_dict(_unflatten_optimizer("optD", tensors, meta["optD"]))
        torch.set_rng_state(tensors["rng.torch"])
        int(meta["step"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise GanreconError(f"The checkpoint {path} is incomplete or does not match this configuration "
                            f"({type(exc).__name__}: {exc}).") from None
    return meta


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise GanreconError(
            f"{path.name} is a pickle-based PyTorch file, which can run code when loaded, so ganrecon refuses it; "
            "convert it once in a trusted session with "
            "`safetensors.torch.save_file(torch.load(f, weights_only=True), 'model.safetensors')`.")
    if not path.is_file():
        raise GanreconError(f"Weights file {path} does not exist.")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise GanreconError(f"Weights file {path} is truncated or corrupted ({exc}).") from None


def save_bundle(path_stem: Path, generator: torch.nn.Module | dict[str, torch.Tensor], meta: dict) -> None:
    """Write <stem>.safetensors + <stem>.json: the EMA generator (or its state dict) and how to rebuild it."""
    path_stem = Path(path_stem)
    weights = path_stem.with_suffix(".safetensors")
    state = generator if isinstance(generator, dict) else generator.state_dict()
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp))
    atomic_write_json(path_stem.with_suffix(".json"), {"format": BUNDLE_FORMAT, "version": 1, **meta})


INT8_SCALE = ".int8_scale"  # suffix of the per-row scale beside an int8-stored weight
INT8_MIN_ELEMENTS = 65536  # smaller weight tensors stay float16 (quantize_int8)


def quantize_int8(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights of two or more dimensions as int8, one float32 scale per output row (symmetric, max-abs), the rest
    as float16: half the bytes of float16, so that a wide shipped model stays small in the repository and the
    wheel; `read_bundle` restores float weights (the width-64 turbulence U-Net: 10.2 MB in float16, 5.1 in int8).
    Tensors under INT8_MIN_ELEMENTS stay float16: they hold a few percent of the bytes, but in int8 a denoiser's
    output layer (one row of 48 weights under one scale) and the convolution before it cost stage 18 of
    `denoise-blind` 0.36 dB on held-out photographs at salt & pepper 0.15 (46.65 against 47.01 dB)."""
    out = {}
    for key, value in tensors.items():
        if value.is_floating_point() and value.dim() >= 2 and value.numel() >= INT8_MIN_ELEMENTS:
            scale = value.float().abs().amax(dim=tuple(range(1, value.dim())), keepdim=True).clamp_min(1e-12) / 127
            out[key] = torch.round(value.float() / scale).to(torch.int8).contiguous()
            out[key + INT8_SCALE] = scale.contiguous()
        else:
            out[key] = (value.half() if value.is_floating_point() else value).contiguous()
    return out


def dequantize_int8(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float weights back from `quantize_int8`'s int8 and scales; other tensors pass through."""
    scales = {k[:-len(INT8_SCALE)]: v for k, v in tensors.items() if k.endswith(INT8_SCALE)}
    return {k: (v.float() * scales[k] if k in scales else v) for k, v in tensors.items() if not k.endswith(INT8_SCALE)}


def read_bundle(weights: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a bundle's weights (int8-stored ones restored to float) and metadata (the JSON file beside them)."""
    weights = Path(weights)
    tensors = dequantize_int8(_read_safetensors(weights))
    meta_path = weights.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise GanreconError(f"{meta_path} is missing; a model needs its JSON description beside its weights.") from None
    except json.JSONDecodeError:
        raise GanreconError(f"{meta_path} is not valid JSON.") from None
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
        raise GanreconError(f"{meta_path} is not a ganrecon model description.")
    _check_meta(meta, meta_path)
    return tensors, meta


def _check_meta(meta: dict, meta_path: Path) -> None:
    """The fields every bundle reader builds a model from, checked once: a hand-edited model.json is one
    sentence, not a TypeError deep in a constructor (or a billion-channel layer)."""
    def whole(v, lo, hi):
        return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < float("inf")

    size, vr = meta.get("image_size"), meta.get("value_range")
    checks = [
        ("generator", isinstance(meta.get("generator"), str), "a generator name"),
        ("channels", whole(meta.get("channels"), 1, 64), "a whole number from 1 to 64"),
        ("image_size", isinstance(size, list) and len(size) == 2 and all(whole(s, 1, 65536) for s in size),
         "[height, width]"),
        ("value_range", isinstance(vr, list) and len(vr) == 2 and all(number(v) for v in vr) and vr[0] < vr[1],
         "[low, high] with low < high"),
        ("generator_options", isinstance(meta.get("generator_options", {}), dict), "a mapping"),
        ("scale", meta.get("scale", 1) in (1, 2, 4, 8) and not isinstance(meta.get("scale", 1), bool),
         "1, 2, 4 or 8"),
    ]
    for key, ok, wanted in checks:
        if not ok:
            found = "missing" if key not in meta else f"{meta[key]!r}"[:60]
            raise GanreconError(f"{meta_path} has an invalid {key!r} ({found}); expected {wanted}.")
