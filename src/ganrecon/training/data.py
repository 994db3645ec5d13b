"""The data of a training run: training and held-out validation image sets (one spec or the union of several),
paired data sets that bring their own observed partners, the A/B direction, and the degradation mix that makes
observed images from clean ones on the fly."""

from __future__ import annotations

import torch

from ganrecon.config import TrainConfig
from ganrecon.errors import GanreconError

DIRECTIONS = ("AtoB", "BtoA")


class DegradationMix:
    """One or several degradation specs (so a model can learn several noise levels); each batch draws one, or with
    `per_image` each image does. Per image matters for BatchNorm: with one level per batch the batch statistics
    are those of that level, while the running averages used in eval mode are a blend of all levels, so the
    model is evaluated with normalisation it was never trained with."""

    def __init__(self, specs: list[str], per_image: bool = False):
        from ganrecon.degrade import parse_degradation

        if not specs:
            raise GanreconError("At least one degradation spec is needed.")
        self.parts = [parse_degradation(s) for s in specs]
        self.per_image = bool(per_image)

    @property
    def scale(self) -> int:
        scales = {p.scale for p in self.parts}
        if len(scales) != 1:
            raise GanreconError("All degradations of one run must share the same downsampling factor.")
        return scales.pop()

    @property
    def frames(self) -> int:
        frames = {p.frames for p in self.parts}
        if len(frames) != 1:
            raise GanreconError("All degradations of one run must have the same number of frames (bursts).")
        return frames.pop()

    def __call__(self, clean, *, value_range, generator):
        if len(self.parts) == 1:
            return self.parts[0](clean, value_range=value_range, generator=generator)
        if not self.per_image:
            i = int(torch.randint(len(self.parts), (1,), generator=generator))
            return self.parts[i](clean, value_range=value_range, generator=generator)
        choice = torch.randint(len(self.parts), (len(clean),), generator=generator)
        groups = [(choice == i).nonzero().flatten() for i in range(len(self.parts))]
        outputs = [part(clean[idx], value_range=value_range, generator=generator)
                   for part, idx in zip(self.parts, groups) if len(idx)]
        back = torch.cat(groups).argsort()  # the images' original order
        return torch.cat([o for o, _ in outputs])[back], torch.cat([m for _, m in outputs])[back]


def is_paired(images) -> bool:
    """Whether an image set brings its own observed partners (`paired:`, `aligned:`) in meta["observed"]."""
    return isinstance(images.meta.get("observed"), torch.Tensor)


def paired_observed(images, scale: int) -> torch.Tensor | None:
    """The given low-resolution inputs of a paired data set (`paired:LOWDIR:HIGHDIR`, meta["observed"]), checked
    against the degradation's scale; None for ordinary data, which is degraded on the fly."""
    if not is_paired(images):
        return None
    observed = images.meta["observed"]
    found = images.images.shape[-1] // observed.shape[-1]
    if found != scale:
        raise GanreconError(f"The paired data are x{found} pairs but the degradation's scale is {scale}; "
                            f"set degrade to down:{found}.")
    return observed


def orient(observed: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor, direction: str):
    """pix2pix's --direction. A pair is (A, B) = (observed, clean): the degraded image (or the first folder of
    `paired:`, the left half of `aligned:`) and its clean partner. AtoB learns A -> B (restoration); BtoA learns
    B -> A, e.g. clean -> turbulent to synthesise distortion. Then every target pixel is known: mask all ones."""
    if direction == "AtoB":
        return observed, clean, mask
    if observed.shape != clean.shape:
        raise GanreconError("direction BtoA needs pairs of the same size (not a downsampling degradation).")
    return clean, observed, torch.ones_like(clean)


def load_training_data(config: TrainConfig):
    """Training and validation image sets; validation is a held-out split, never seen in training. A list of
    data specs trains on their union (e.g. clean and field-like seismic gathers); validation then holds an
    equal share of each."""
    from ganrecon.specs import parse_size

    patch = parse_size(config.patch, "patch") if config.patch else None
    train = load_union(config.data, "train", config, config.limit, patch)
    val = load_union(config.val_data or config.data, "val", config, config.val_images, patch)
    if len(train.images) < config.batch_size:
        raise GanreconError(
            f"The training set has {len(train.images)} images, fewer than the batch size {config.batch_size}.")
    return train, val


def load_union(specs: str | list[str], split: str, config: TrainConfig, limit: int | None, patch):
    """One ImageSet from one spec or the union of several (same value range and image size; `limit` is shared
    out equally)."""
    from ganrecon.data import ImageSet, load_dataset

    specs = [specs] if isinstance(specs, str) else list(specs)
    share = None if limit is None else max(1, limit // len(specs))
    sets = [load_dataset(spec, split=split, root=config.data_root, limit=share, seed=config.seed, patch=patch,
                         download=config.download) for spec in specs]
    if len(sets) == 1:
        return sets[0]
    first = sets[0]
    for spec, other in zip(specs[1:], sets[1:]):
        if tuple(other.value_range) != tuple(first.value_range) or other.images.shape[1:] != first.images.shape[1:]:
            raise GanreconError(f"The data specs of one run must give images of one size and value range: {specs[0]} "
                                f"gives {tuple(first.images.shape[1:])} in {tuple(first.value_range)}, {spec} "
                                f"{tuple(other.images.shape[1:])} in {tuple(other.value_range)}.")
        if is_paired(first) or is_paired(other):
            raise GanreconError("Paired data sets cannot be combined with other data in one run.")
    scales = [s.scale for s in sets]
    scale = torch.cat([torch.as_tensor(x) for x in scales]) if all(x is not None for x in scales) else None
    return ImageSet(torch.cat([s.images for s in sets]), first.value_range, "+".join(s.name for s in sets), scale,
                    {"union": specs})
