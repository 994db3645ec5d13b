"""The one container every dataset loader returns: clean images plus the value range they live in.

The range travels with the data so that degradations, metrics and output activations never have to guess
whether they are looking at [0, 1] photographs or signed seismic amplitudes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ImageSet:
    """Clean images as a float32 N x C x H x W tensor with their value range.

    `scale` is the per-image factor that was divided out (seismic: the original max |amplitude|), so
    `images * scale[:, None, None, None]` gives back the original amplitudes; None for ordinary images.
    `meta` holds dataset-wide facts (e.g. "dt_ms") and per-image entries aligned with `images`:
    "index" (position in the source before splitting), "labels", "files", "origin" (patches only:
    source index, top, left).
    """

    images: torch.Tensor
    value_range: tuple[float, float]
    name: str
    scale: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    @property
    def signed(self) -> bool:
        return self.value_range[0] < 0

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        # The default dataclass repr would print the whole tensor; notebooks want a one-liner.
        shape = "x".join(str(s) for s in self.images.shape)
        return (f"ImageSet(name={self.name!r}, images={shape} {str(self.images.dtype).replace('torch.', '')}, "
                f"value_range={self.value_range}, scaled={self.scale is not None})")
