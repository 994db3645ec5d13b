"""`photos[:options]`: training photographs whose validation and test images are whole photographs, never crops
of training images.

Sources (`sources=`, any of them joined by "+", default all three):
  skimage     scikit-image's bundled photographs (natural.PHOTOS without `text` and `page`, which belong to
              `digits-text`), 14 images of 303x384 to 1024x1024
  faces       the 100 faces of scikit-image's `lfw_subset` (25x25 grey; its other 100 images are not faces)
  wallpapers  the 11 photographs of Debian's plasma-workspace-wallpapers (2560x1600), installed by
              benchmarks/corpora.sh under /usr/share/wallpapers (or $GANRECON_WALLPAPERS); the package's
              drawings and renderings are not used

Which image is in which split is fixed, whatever the seed (a training seed must never move a test image into
training): see HELDOUT. Everything else is training. skimage's test images are the four that the shipped
`denoise-blind` never saw (benchmarks/denoise.py tests on them too).

Each item is a random crop: a source (uniformly among those chosen), an image of that source in the split, a
zoom z uniform in `zoom`, a window of z x `size` pixels resized to `size` (antialiased), so z > 1 packs
more detail into a patch (a 2560x1600 wallpaper is smooth at 64x64). A face is always taken whole and resized
to `size`. Grey (BT.601 luma) unless rgb=1, where grey sources are repeated over three channels. Nearly flat
crops (every channel's std below natural.MIN_STD) are redrawn, up to natural.MAX_TRIES times.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganrecon.data.convert import FILE_ERRORS, IMAGE_RANGE, to_grey
from ganrecon.data.loader import Context, Raw
from ganrecon.data.natural import MAX_TRIES, MIN_STD, PHOTOS, available_photos
from ganrecon.data.options import (
    as_meta,
    flag,
    names,
    number,
    parse_dataclass,
    parse_range,
    positive_int,
    size,
)
from ganrecon.data.splits import item_rng, split_indices
from ganrecon.errors import GanreconError
from ganrecon.specs import parse_int

SOURCES = ("skimage", "faces", "wallpapers")
SKIMAGE_PHOTOS = tuple(name for name in PHOTOS if name not in ("text", "page"))
WALLPAPER_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
                    "Grey", "Kite", "OneStandsOut", "Path", "summer_1am")
WALLPAPER_ENV = "GANRECON_WALLPAPERS"
WALLPAPER_DIR = "/usr/share/wallpapers"
MAX_N = 1_000_000   # crops per draw: draw d takes the item streams [d * MAX_N, (d + 1) * MAX_N)
MAX_DRAW = 1000
FACES = 100   # lfw_subset()[:100] are faces, [100:] are not
# Held-out images per source and split (faces: positions in lfw_subset), fixed for every seed.
HELDOUT = {
    "skimage": {"val": ("coffee", "grass"), "test": ("camera", "chelsea", "coins", "gravel")},
    "wallpapers": {"val": ("Kite",), "test": ("EveningGlow",)},
    "faces": {split: tuple(str(i) for i in sorted(split_indices(FACES, split, seed=0))) for split in ("val", "test")},
}


@dataclass(frozen=True)
class PhotoOptions:
    n: int = 2048
    size: tuple[int, int] = (64, 64)
    sources: tuple[str, ...] = SOURCES
    rgb: bool = False
    zoom: tuple[float, float] = (1.0, 2.0)
    dihedral: bool = False   # each crop turned by a random multiple of 90 degrees (square sizes) and mirrored
    draw: int = 0            # which draw of training crops: a later stage of a chain sees crops it never saw


def _parse(text: str) -> PhotoOptions:
    parsers = {
        "n": positive_int("photos n", hi=MAX_N),
        "size": size("photos size", max_side=2048),
        "sources": lambda v: names(v, "photos source", SOURCES),
        "rgb": flag("photos rgb", "colour"),
        "dihedral": flag("photos dihedral", "crops randomly turned and mirrored"),
        "draw": lambda v: parse_int(v, "photos draw", lo=0, hi=MAX_DRAW),
        "zoom": lambda v: parse_range(v, "photos zoom", one=number("photos zoom", lo=0.25, hi=16.0)),
    }
    return parse_dataclass(PhotoOptions, text, "photos", parsers)


def wallpaper_dir() -> Path:
    return Path(os.environ.get(WALLPAPER_ENV) or WALLPAPER_DIR)


def _wallpaper_file(name: str) -> Path | None:
    """The largest image of one wallpaper (files are named WIDTHxHEIGHT.jpg/png)."""
    folder = wallpaper_dir() / name / "contents" / "images"
    files = [p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")] if folder.is_dir() else []

    def area(p: Path) -> int:
        w, _, h = p.stem.partition("x")
        return int(w) * int(h) if w.isdigit() and h.isdigit() else 0

    return max(files, key=area) if files else None


def source_images(source: str, split: str | None) -> list[str]:
    """Names of `source`'s images in `split` (faces: positions in lfw_subset as strings)."""
    if source == "skimage":
        present = [name for name in available_photos() if name in SKIMAGE_PHOTOS]
    elif source == "wallpapers":
        present = [name for name in WALLPAPER_PHOTOS if _wallpaper_file(name) is not None]
        if not present:
            raise GanreconError(f"The wallpaper photographs are not installed (looked in {wallpaper_dir()}): run "
                                f"benchmarks/corpora.sh, or leave wallpapers out of the photos sources.")
    else:
        present = [str(i) for i in range(FACES)]
    if split is None:
        return present
    held = HELDOUT[source]
    if split in held:
        return [name for name in present if name in held[split]]
    out = {name for names_ in held.values() for name in names_}
    return [name for name in present if name not in out]


def source_image(source: str, name: str) -> np.ndarray:
    """H x W x 3 uint8 (colour photographs) or H x W float32 in [0, 1] (grey ones, faces), cached."""
    if source == "faces":
        return _faces()[int(name)]
    if source == "skimage":
        return _skimage_photo(name)
    return _wallpaper(str(_wallpaper_file(name)))


@functools.cache
def _faces() -> np.ndarray:
    import skimage.data

    return skimage.data.lfw_subset()[:FACES].astype(np.float32)


@functools.cache
def _skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    return _unit_grey_or_rgb(np.asarray(getattr(skimage.data, name)()))


@functools.cache
def _wallpaper(path: str) -> np.ndarray:
    """Cached by path, so a different wallpaper folder ($GANRECON_WALLPAPERS) never gets stale images."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FILE_ERRORS as exc:
        raise GanreconError(f"The wallpaper {path} cannot be read ({type(exc).__name__}); reinstall it with "
                            f"benchmarks/corpora.sh.") from None


def _unit_grey_or_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] in (2, 4):
        arr = arr[..., :3] if arr.shape[-1] == 4 else arr[..., 0]
    if arr.ndim == 2:
        return (arr / (255.0 if arr.dtype == np.uint8 else 1.0)).astype(np.float32)
    return arr


def _to_channels(region: np.ndarray, rgb: bool) -> np.ndarray:
    """C x H x W float32 in [0, 1] from a uint8 colour or float grey region."""
    if region.ndim == 2:
        grey = region.astype(np.float32)
        return np.repeat(grey[None], 3, axis=0) if rgb else grey[None]
    if rgb:
        return np.moveaxis(region, -1, 0).astype(np.float32) / 255.0
    return (to_grey(region) / 255.0).astype(np.float32)[None]


def _resize(patch: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    if patch.shape[1:] == hw:
        return patch
    t = torch.from_numpy(np.ascontiguousarray(patch))[None]
    return F.interpolate(t, size=hw, mode="bilinear", antialias=True, align_corners=False)[0].numpy()


def _crop(rng: np.random.Generator, source: str, image: np.ndarray, opt: PhotoOptions) -> np.ndarray:
    h, w = opt.size
    big_h, big_w = image.shape[:2]
    fit = min(big_h / h, big_w / w)  # the largest zoom this image allows
    zoom = fit if source == "faces" else min(rng.uniform(*opt.zoom), fit)
    ch, cw = min(big_h, max(1, round(h * zoom))), min(big_w, max(1, round(w * zoom)))
    top = int(rng.integers(big_h - ch + 1))
    left = int(rng.integers(big_w - cw + 1))
    patch = _to_channels(image[top:top + ch, left:left + cw], opt.rgb)
    return np.clip(_resize(patch, (h, w)), 0.0, 1.0)


def _dihedral(rng: np.random.Generator, patch: np.ndarray) -> np.ndarray:
    """One of the 8 turns and mirrors of a square C x H x W patch (2 mirrors of a non-square one): a training
    set of few photographs then has 8 times as many distinct crops, and nothing about turbulence, noise or
    blur depends on the orientation."""
    k = int(rng.integers(8))
    if patch.shape[1] == patch.shape[2]:
        patch = np.rot90(patch, k % 4, axes=(1, 2))
    return np.ascontiguousarray(patch[:, :, ::-1] if k >= 4 else patch)


def load_photos(rest: str, ctx: Context) -> Raw:
    opt = _parse(rest)
    pool = {source: source_images(source, ctx.split) for source in opt.sources}
    pool = {source: chosen for source, chosen in pool.items() if chosen}
    if not pool:
        raise GanreconError(f"No photograph of {'+'.join(opt.sources)} is in the {ctx.split} split.")
    sources = list(pool)
    count = opt.n if ctx.wanted is None else min(opt.n, ctx.wanted)
    images = np.empty((count, 3 if opt.rgb else 1, *opt.size), dtype=np.float32)
    files = []
    first = opt.draw * MAX_N if ctx.split not in ("val", "test") else 0  # held-out crops never move
    for i in range(count):
        rng = item_rng("photos", ctx.seed, ctx.split, first + i)
        for _ in range(MAX_TRIES):
            source = sources[int(rng.integers(len(sources)))]
            name = pool[source][int(rng.integers(len(pool[source])))]
            patch = _crop(rng, source, source_image(source, name), opt)
            if patch.std(axis=(1, 2)).max() >= MIN_STD:  # per channel: a flat coloured patch is flat
                break
        images[i] = _dihedral(rng, patch) if opt.dihedral else patch  # drawn last: the same crops as without
        files.append(f"{source}/{name}")
    options = as_meta(opt)
    return Raw(images=images, value_range=IMAGE_RANGE, name="photos",
               meta={"options": options, "photos": {source: list(chosen) for source, chosen in pool.items()}},
               per_image={"index": np.arange(count, dtype=np.int64), "files": files})
