"""The turns and mirrors of an image, shared by training augmentation (ganrecon.training.augment) and the
self-ensemble at inference (ganrecon.reconstructor).

Noise, blur, resolution and missing columns do not care which way up a photograph or a rock slice is, so a model
may learn from, and be asked about, every orientation of one. A group names the orientations used: `mirror`
(left-right mirror, which keeps columns columns, as missing traces need) or `dihedral` (the 8 turns by multiples
of 90 degrees, each mirrored or not, for square images). Orientation `code` is mirrored when odd and then
turned by `code // 2` quarter turns.
"""

from __future__ import annotations

import torch

from ganrecon.errors import GanreconError

GROUPS = {"none": 1, "mirror": 2, "dihedral": 8}   # group -> number of orientations


def check_group(name: str, what: str) -> str:
    if name not in GROUPS:
        raise GanreconError(f"Unknown {what} {name!r}; choose from {', '.join(GROUPS)}.")
    return name


def check_shape(name: str, height: int, width: int, what: str) -> None:
    """A quarter turn swaps height and width: `dihedral` needs square images (`what` says whose)."""
    if name == "dihedral" and height != width:
        raise GanreconError(f"dihedral turns by 90 degrees and needs square images, but {what} {height}x{width}; "
                            f"use mirror or none.")


def orient(x: torch.Tensor, code: int) -> torch.Tensor:
    """Orientation `code` of ... x H x W tensors."""
    x = x.flip(-1) if code % 2 else x
    return torch.rot90(x, code // 2, dims=(-2, -1)) if code >= 2 else x


def unorient(x: torch.Tensor, code: int) -> torch.Tensor:
    """The inverse of `orient(., code)`."""
    x = torch.rot90(x, -(code // 2), dims=(-2, -1)) if code >= 2 else x
    return x.flip(-1) if code % 2 else x


def oriented_mean(fn, orientations: int):
    """`fn(x, mask)` averaged over the first `orientations` orientations of its inputs, each output turned back:
    the self-ensemble, whether `fn` is a whole model pass or a refiner's correction (ganrecon.reconstructor,
    ganrecon.models.refine)."""
    def averaged(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        total = fn(x, mask)
        for code in range(1, orientations):
            total = total + unorient(fn(orient(x, code), orient(mask, code)), code)
        return total / orientations
    return averaged
