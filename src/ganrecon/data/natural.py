"""`natural[:options]`: random grey crops of the photographs that ship inside scikit-image.

Only images bundled with the installed scikit-image are used (found beside `skimage.data`); those that
scikit-image would download with pooch are never requested, so this works offline.
Splits never share pixels: each photograph is cut along its longer side into bands of 70 / 15 / 15 % for
train / val / test, and crops of a split come only from its band (photos whose band is smaller than the crop
are skipped for that split). Without a split, crops come from anywhere. Nearly flat crops (grey-level std
below 0.02) are redrawn, up to 10 times, so the set is not padded with black sky.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from ganrecon.data.convert import IMAGE_RANGE, to_grey
from ganrecon.data.loader import Context, Raw
from ganrecon.data.options import as_meta, names, parse_dataclass, positive_int, size
from ganrecon.data.splits import item_rng
from ganrecon.errors import GanreconError

# skimage.data function -> bundled file name. Natural photographs and micrographs only (no logos, masks).
PHOTOS = {
    "camera": "camera.png", "astronaut": "astronaut.png", "coffee": "coffee.png", "chelsea": "chelsea.png",
    "coins": "coins.png", "moon": "moon.png", "page": "page.png", "text": "text.png", "brick": "brick.png",
    "grass": "grass.png", "gravel": "gravel.png", "rocket": "rocket.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg", "immunohistochemistry": "ihc.png", "retina": "retina.jpg",
    "cell": "cell.png",
}
MIN_STD = 0.02  # grey-level spread below which a crop is "flat" and redrawn
MAX_TRIES = 10
BANDS = {"train": (0.0, 0.7), "val": (0.7, 0.85), "test": (0.85, 1.0), None: (0.0, 1.0)}


def available_photos() -> tuple[str, ...]:
    """Names of PHOTOS whose file is present offline in the installed scikit-image."""
    import skimage.data

    # Bundled files sit beside skimage.data's code; data_dir is pooch's download cache when pooch is installed
    # (porespy brings it in), so looking only there would find nothing offline.
    folders = (os.path.dirname(skimage.data.__file__), skimage.data.data_dir)
    return tuple(name for name, file in PHOTOS.items() if hasattr(skimage.data, name)
                 and any(os.path.isfile(os.path.join(folder, file)) for folder in folders))


@functools.cache
def photo(name: str) -> np.ndarray:
    """Grey float32 H x W in [0, 1] (cached: crops are cut from the same few photographs many times)."""
    import skimage.data

    arr = np.asarray(getattr(skimage.data, name)())
    grey = to_grey(arr) / (255.0 if arr.dtype == np.uint8 else 1.0)
    return np.clip(grey, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class NaturalOptions:
    n: int = 512
    size: tuple[int, int] = (64, 64)
    images: tuple[str, ...] = ()      # empty: every available photograph


def _parse(text: str) -> NaturalOptions:
    known = available_photos()
    parsers = {
        "n": positive_int("natural n", hi=1_000_000),
        "size": size("natural size", max_side=2048),
        "images": lambda value: names(value, "natural image", known),
    }
    return parse_dataclass(NaturalOptions, text, "natural", parsers)


def _window(name: str, split: str | None) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The photo and the band (as slices) that `split` may crop from."""
    img = photo(name)
    h, w = img.shape
    lo, hi = BANDS[split]
    if h >= w:
        return img, (slice(int(lo * h), int(hi * h)), slice(0, w))
    return img, (slice(0, h), slice(int(lo * w), int(hi * w)))


def load_natural(rest: str, ctx: Context) -> Raw:
    opt = _parse(rest)
    chosen = opt.images or available_photos()
    if not chosen:
        raise GanreconError("The installed scikit-image has none of its bundled photographs; reinstall it.")
    ch, cw = opt.size
    regions = []
    for name in chosen:
        img, (rows, cols) = _window(name, ctx.split)
        region = img[rows, cols]
        if region.shape[0] >= ch and region.shape[1] >= cw:
            regions.append((name, region))
    if not regions:
        where = f"the {ctx.split} band of " if ctx.split else ""
        raise GanreconError(f"No photograph has {where}at least {ch}x{cw} pixels; use a smaller natural size.")
    count = opt.n if ctx.wanted is None else min(opt.n, ctx.wanted)
    images = np.empty((count, 1, ch, cw), dtype=np.float32)
    sources = []
    for i in range(count):
        rng = item_rng("natural", ctx.seed, ctx.split, i)
        for _ in range(MAX_TRIES):  # skip nearly flat crops (black sky of hubble, retina's border)
            name, region = regions[int(rng.integers(len(regions)))]
            top = int(rng.integers(region.shape[0] - ch + 1))
            left = int(rng.integers(region.shape[1] - cw + 1))
            crop = region[top:top + ch, left:left + cw]
            if crop.std() >= MIN_STD:
                break
        images[i, 0] = crop
        sources.append(name)
    options = as_meta(opt)
    return Raw(images=images, value_range=IMAGE_RANGE, name="natural",
               meta={"options": options, "photos": [name for name, _ in regions]},
               per_image={"index": np.arange(count, dtype=np.int64), "files": sources})
