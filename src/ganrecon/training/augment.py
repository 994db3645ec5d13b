"""Per-step orientation augmentation of training batches (config key `augment`).

A corpus of few photographs or porous images repeats its crops every epoch; turning and mirroring each image
afresh at every step gives the network up to 8 versions of each crop and stops it from learning the crops'
orientation. Nothing about noise, blur or resolution depends on orientation, so the targets stay valid.
"""

from __future__ import annotations

import torch

from ganrecon.errors import GanreconError
from ganrecon.orientations import GROUPS, check_group, check_shape, orient


def check_augment(name: str, image_size: tuple[int, int], paired: bool) -> None:
    """One sentence for an augmentation the run cannot use, before any step."""
    if check_group(name, "augment") == "none":
        return
    if paired:
        raise GanreconError("augment turns the clean images before they are degraded; paired training data comes "
                            "degraded already. Use augment: none.")
    check_shape(name, *image_size, "the training images are")


def augment_batch(images: torch.Tensor, name: str, generator: torch.Generator) -> torch.Tensor:
    """Each N x C x H x W image in its own random orientation of the group (ganrecon.orientations); `none`
    returns the batch itself."""
    kinds = GROUPS[name]
    if kinds == 1:
        return images
    codes = torch.randint(kinds, (images.shape[0],), generator=generator)
    out = images.clone()
    for code in codes.unique().tolist():
        rows = (codes == code).nonzero().flatten().to(images.device)
        out[rows] = orient(images[rows], code)
    return out
