"""Model bundles (model.safetensors + model.json): where one is, how to read it, and how to rebuild the generator
it describes. Every module that loads trained weights goes through here, so a run directory, a weights file and
a shipped model's name mean the same thing everywhere, and weights never go through pickle.

A bundle's description names its kind: "conditional" (observed, mask -> image: every task but latent; the
default when the field is absent) or "unconditional" (z -> image, reconstruction by inversion). GENERATORS maps
each kind to the builder of its network; `ganrecon.inference.load_model` wraps the network into the
reconstructor of that kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ganrecon.checkpoints import PICKLE_SUFFIXES, read_bundle, state_dict_problem
from ganrecon.errors import GanreconError
from ganrecon.io_utils import atomic_write_json
from ganrecon.models import build_generator
from ganrecon.models.latent import build_latent_generator

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
BUNDLE_KINDS = ("conditional", "unconditional")


def _latent_generator(meta: dict, **options) -> torch.nn.Module:
    options.setdefault("z_dim", int(meta["z_dim"]))
    return build_latent_generator(meta["generator"], channels=int(meta["channels"]),
                                  image_size=tuple(meta["image_size"]), value_range=tuple(meta["value_range"]),
                                  **options)


def _conditional_generator(meta: dict, **options) -> torch.nn.Module:
    return build_generator(meta["generator"], channels=int(meta["channels"]), image_size=tuple(meta["image_size"]),
                           value_range=tuple(meta["value_range"]), frames=int(meta.get("frames", 1)), **options)


# bundle kind -> builder of its network from the description (options: meta["generator_options"])
GENERATORS: dict[str, Callable[..., torch.nn.Module]] = {
    "conditional": _conditional_generator,
    "unconditional": _latent_generator,
}


@dataclass
class LoadedGenerator:
    """A bundle's network with its weights in eval mode, its description and its display name."""

    generator: torch.nn.Module
    meta: dict
    name: str
    weights: Path

    @property
    def kind(self) -> str:
        return bundle_kind(self.meta)


def record_in_shipped(name: str, values: dict, defaults: dict, folder: Path = PRETRAINED_DIR) -> None:
    """Write benchmark-chosen `values` into shipped bundle `name`'s description (weights untouched); a field whose
    value is its default is left out, so a bundle only names what differs from what a model does without it."""
    path = folder / f"{name}.json"
    meta = json.loads(path.read_text())
    for field, value in values.items():
        meta.pop(field, None)
        if value != defaults[field]:
            meta[field] = value
    atomic_write_json(path, meta)


def pretrained_names() -> list[str]:
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.safetensors"))


def bundle_path(ref: str | Path) -> Path:
    """A run directory, a weights file (with or without .safetensors) or a shipped model's name -> the bundle's
    .safetensors path."""
    path = Path(ref)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return path  # read_bundle refuses it with the conversion hint
    if path.is_dir():
        if (path / "model.safetensors").is_file():
            return path / "model.safetensors"
        raise GanreconError(f"{path} holds no model.safetensors; is it a finished or checkpointed training run?")
    if path.is_file():
        return path
    stem = Path(f"{path}.safetensors")  # runs/x/model-best: the bundle's stem, as runs list them (json + weights)
    if stem.is_file():
        return stem
    shipped = PRETRAINED_DIR / f"{ref}.safetensors"
    if shipped.is_file():
        return shipped
    names = ", ".join(pretrained_names()) or "none yet"
    raise GanreconError(f"Model {str(ref)!r} is neither a run directory, a weights file nor a shipped model "
                        f"(shipped: {names}).")


def weight_mean_text(meta: dict) -> str | None:
    """How a weight mean (benchmarks/average_weights.py) came to be, from its description; None for a bundle that
    one training run wrote (its own steps and `init` say it)."""
    parts = meta.get("averaged_from")
    if not parts:
        return None
    names = " and ".join(f"`{part['bundle']}`" for part in parts)
    return f"the mean of the weights of {names} ({meta.get('total_steps')} steps over the chain)"


def bundle_kind(meta: dict) -> str:
    kind = meta.get("kind", "conditional")
    if kind not in BUNDLE_KINDS:
        raise GanreconError(f"The model description names an unknown kind {kind!r}; known: {', '.join(BUNDLE_KINDS)}.")
    return kind


def bundle_name(weights: Path) -> str:
    """A model's display name: its run directory for run_dir/model.safetensors, else the file's stem."""
    weights = Path(weights)
    return weights.parent.name if weights.name == "model.safetensors" else weights.stem


def generator_from_meta(meta: dict, source: Path | str = "the model") -> torch.nn.Module:
    """A freshly initialised generator of the architecture a bundle's description names (weights not loaded)."""
    builder = GENERATORS[bundle_kind(meta)]
    try:
        return builder(meta, **dict(meta.get("generator_options", {})))
    except KeyError as exc:
        raise GanreconError(f"The model description of {source} lacks the field {exc}.") from None


def load_weights_into(generator: torch.nn.Module, tensors: dict, weights: Path,
                      mismatch: str = "The weights in {weights} do not match the architecture in its description "
                                      "({problem}).") -> None:
    """Weights into a freshly built generator (float16 shipped weights are cast back); a mismatch is one sentence
    (`mismatch`, formatted with the weights' path and the problem)."""
    try:
        generator.load_state_dict(tensors)
    except RuntimeError as exc:
        raise GanreconError(mismatch.format(weights=weights, problem=state_dict_problem(exc))) from None


def load_generator(ref: str | Path, device: str | torch.device = "cpu") -> LoadedGenerator:
    """Resolve, read and rebuild a bundle: its network with the weights loaded, in eval mode on `device`."""
    weights = bundle_path(ref)
    tensors, meta = read_bundle(weights)
    generator = generator_from_meta(meta, weights)
    load_weights_into(generator, tensors, weights)
    return LoadedGenerator(generator.eval().to(device), meta, bundle_name(weights), weights)
