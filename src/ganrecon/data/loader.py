"""`load_dataset(spec)`: one entry point from a dataset spec string to an `ImageSet`.

Each source kind is a small loader `load(rest, ctx) -> Raw` that reads its files (or synthesises images),
applies the split and converts to float32 N x C x H x W. This module then does what every source shares:
patching, the `limit`, stacking and the clear error when sizes differ. Loaders are imported lazily so that
`import ganrecon.data` does not pull in torchvision, segyio or scikit-image.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganrecon.data.convert import normalise_signed
from ganrecon.data.imageset import ImageSet
from ganrecon.data.splits import check_split, split_indices
from ganrecon.errors import GanreconError
from ganrecon.specs import parse_size, split_kind

DEFAULT_ROOT = "~/.cache/ganrecon/data"

# kind -> (module:function, one-line help). Order is the order `ganrecon info` shows.
_REGISTRY: dict[str, tuple[str, str]] = {
    "mnist": ("ganrecon.data.mnist:load_mnist",
              "MNIST digits 28x28 grey (torchvision files or ROOT/mnist/train.npz; --download to fetch)"),
    "fashion-mnist": ("ganrecon.data.mnist:load_fashion_mnist",
                      "Fashion-MNIST 28x28 grey (torchvision files or ROOT/fashion-mnist/train.npz)"),
    "fer2013": ("ganrecon.data.fer2013:load_fer2013",
                ("FER2013 faces 48x48 grey from the Kaggle CSV in ROOT/fer2013/ (or fer2013:CSV); "
                 "official Training/PublicTest/PrivateTest split")),
    "npz": ("ganrecon.data.arrays:load_npz",
            "npz:PATH[:KEY] array N x H x W, H x W or N x C x H x W (uint8, uint16, float; signed = seismic)"),
    "npy": ("ganrecon.data.arrays:load_npy", "npy:PATH array, same layouts and value rules as npz"),
    "folder": ("ganrecon.data.images:load_folder",
               "folder:PATH[:rgb] PNG/JPEG/TIFF images (8/16-bit) sorted by name, grey unless :rgb"),
    "tiff": ("ganrecon.data.images:load_tiff_stack",
             "tiff:PATH multi-page TIFF stack (e.g. a micro-CT volume), one image per slice"),
    "paired": ("ganrecon.data.paired:load_paired",
               ("paired:ADIR:BDIR two image folders with matching file names: A observed (e.g. turbulent or "
                "low-resolution), B clean, same size or B = 2/4/8 x A; A travels in meta['observed']")),
    "aligned": ("ganrecon.data.paired:load_aligned",
                "aligned:PATH[:rgb] pix2pix's layout: each image file holds A (left half) and B (right half)"),
    "segy": ("ganrecon.data.segy:load_segy",
             "segy:PATH SEG-Y file or folder of them, one gather (time x traces) per file, normalised per gather"),
    "seismic": ("ganrecon.data.seismic:load_seismic",
                ("synthetic shot-gather patches seismic[:n=512,size=128x64,dt=0.004,dx=10,events=3-8,"
                 "fmin=10,fmax=35,vmin=2000,vmax=6000,kinds=linear+parabolic+hyperbolic,noise=0]")),
    "porous": ("ganrecon.data.porous:load_porous",
               ("synthetic micro-CT-like porous-media slices porous[:n=256,size=256x256,porosity=0.2,"
                "grain=8,blur=1,noise=0.03]")),
    "natural": ("ganrecon.data.natural:load_natural",
                ("random grey crops of scikit-image's bundled photographs natural[:n=512,size=64x64,"
                 "images=camera+...]")),
    "photos": ("ganrecon.data.photos:load_photos",
               ("training photographs, whole images held out for val/test: photos[:n=2048,size=64x64,"
                "sources=skimage+faces+wallpapers,rgb=0,zoom=1-2] (wallpapers: benchmarks/corpora.sh)")),
    "deadleaves": ("ganrecon.data.deadleaves:load_deadleaves",
                   ("synthetic occluding discs with power-law radii (the dead-leaves model) deadleaves[:n=2048,"
                    "size=64x64,alpha=3,rmin=1,rmax=SIDE,blur=0-1,rgb=0,draw=0]")),
    "digits-text": ("ganrecon.data.digits_text:load_digits_text",
                    ("MNIST digits mixed with dark-on-light and light-on-dark text: digits-text[:n=4096,"
                     "size=28x28,text=0.5,invert=0.5,mnist=PATH]")),
    "porous-ct": ("ganrecon.data.porous_ct:load_porous_ct",
                  ("porous media through a CT-like scanner porous-ct[:n=256,size=256x256,"
                   "kinds=blobs+polydisperse+overlapping+grains,porosity=0.15-0.35,grain=5-10,blur=1,"
                   "noise=0.03,rings=0,supersample=2] (porespy families: benchmarks/corpora.sh)")),
    "porous-ct-heldout": ("ganrecon.data.porous_ct:load_porous_ct_heldout",
                          ("the transfer test: porespy pseudo-gravity packings, same scanner and options as "
                           "porous-ct (no kinds, no porosity); never in porous-ct")),
}

DATASET_SPECS: dict[str, str] = {kind: help_ for kind, (_, help_) in _REGISTRY.items()}

# The user's own files: evaluated and reconstructed whole by default (one gather is the commonest input there is),
# while built-in datasets keep their held-out test split.
USER_FILE_KINDS = ("npy", "npz", "segy", "tiff", "folder")


@dataclass
class Raw:
    """What a loader hands back: the split already applied, images not yet patched or stacked.

    `images` is either one float32 N x C x H x W array or a list of C x H x W arrays whose sizes may differ
    (files of different sizes are fine when they are cut into patches). `per_image` entries are aligned with
    the images ("index" = position in the source is always present).
    """

    images: np.ndarray | list[np.ndarray]
    value_range: tuple[float, float]
    name: str
    scale: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    per_image: dict[str, np.ndarray | list] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What every loader may need to know about the request."""

    split: str | None
    root: Path
    download: bool
    seed: int
    wanted: int | None  # at most this many source images are needed (the limit, when not patching)
    patch: tuple[int, int] | None = None   # for loaders that must cut aligned patches themselves (paired)
    stride: tuple[int, int] | None = None
    spec: str = ""

    def select(self, n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> np.ndarray:
        """Seeded split of range(n), cut to the number of images actually needed; an empty selection is one
        sentence (before any image is converted)."""
        idx = split_indices(n, self.split, self.seed, fractions)
        if len(idx) == 0:
            if n == 0:
                raise GanreconError(f"There are no images in {self.spec!r}.")
            advice = ("use all of them (split all, --split all)" if self.split == "test" else
                      "give more images (10 or more make every split non-empty)")
            raise GanreconError(f"The {self.split} split of {self.spec!r} is empty: it holds {n} image(s), too few to "
                                f"split 0.8 / 0.1 / 0.1; {advice}.")
        return idx if self.wanted is None else idx[: self.wanted]


def default_split(spec: str) -> str:
    """The split commands use when none is given: "all" for the user's own files, "test" for built-in data."""
    kind = spec.split(":", 1)[0].strip().lower() if isinstance(spec, str) else ""
    return "all" if kind in USER_FILE_KINDS else "test"


def default_root() -> Path:
    return Path(os.environ.get("GANRECON_DATA") or DEFAULT_ROOT).expanduser()


def _size_arg(value, name: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_size(value, name)
    try:
        h, w = (int(v) for v in value)
    except (TypeError, ValueError):
        raise GanreconError(f"{name} must be two whole numbers (height, width), got {value!r}.") from None
    if h < 1 or w < 1:
        raise GanreconError(f"{name} must be positive, got {h}x{w}.")
    return h, w


def _resolve(kind: str):
    if kind not in _REGISTRY:
        raise GanreconError(f"Unknown dataset kind {kind!r}; known kinds: {', '.join(_REGISTRY)}.")
    module, _, func = _REGISTRY[kind][0].partition(":")
    return getattr(importlib.import_module(module), func)


def load_dataset(spec: str, *, split: str | None = None, root: str | None = None, download: bool = False,
                 limit: int | None = None, seed: int = 0, patch: tuple[int, int] | None = None,
                 stride: tuple[int, int] | None = None) -> ImageSet:
    """Clean images for a dataset spec such as "mnist", "npz:gathers.npz", "seismic:n=64,noise=0.1".

    split: None or "all" (everything), "train", "val" or "test"; file sources use a seeded 0.8/0.1/0.1 permutation,
    fer2013 its official split, synthetic sources a different generator seed per split.
    patch/stride: cut every image into (h, w) windows, stride defaulting to the patch (non-overlapping);
    a last window flush with the far edge is added so the whole image is covered. Signed (seismic) patches
    are renormalised to max |amplitude| = 1 and their `scale` updated, so `patch * scale` stays the original.
    limit: keep the first `limit` images after splitting and patching.
    """
    kind, rest = split_kind(spec, "dataset")
    loader = _resolve(kind)
    split = check_split(split)
    patch_hw = _size_arg(patch, "patch")
    stride_hw = _size_arg(stride, "stride")
    if stride_hw is not None and patch_hw is None:
        raise GanreconError("A stride only makes sense together with a patch size.")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
            raise GanreconError(f"limit must be a whole number of at least 1, got {limit!r}.")
        limit = int(limit)
    ctx = Context(split=split, root=Path(root).expanduser() if root else default_root(), download=bool(download),
                  seed=int(seed), wanted=limit if patch_hw is None else None, patch=patch_hw,
                  stride=stride_hw or patch_hw, spec=spec)
    raw = loader(rest, ctx)
    return _finish(raw, spec, split, patch_hw, stride_hw or patch_hw, limit)


def _starts(length: int, size: int, step: int) -> list[int]:
    starts = list(range(0, length - size + 1, step))
    if starts[-1] + size < length:
        starts.append(length - size)  # cover the far edge too
    return starts


def _finish(raw: Raw, spec: str, split: str | None, patch: tuple[int, int] | None,
            stride: tuple[int, int] | None, limit: int | None) -> ImageSet:
    n = len(raw.images)
    if n == 0:
        where = f"the {split} split of " if split else ""
        raise GanreconError(f"There are no images in {where}{spec!r}; use more data or another split.")
    per_image = dict(raw.per_image)
    per_image.setdefault("index", np.arange(n, dtype=np.int64))
    scale = raw.scale
    signed = raw.value_range[0] < 0
    if patch is not None:
        images, scale, per_image = _patchify(raw, per_image, patch, stride, signed, limit)
    else:
        images = _stack(raw.images, spec)
    if limit is not None and len(images) > limit:
        images = images[:limit]
        scale = None if scale is None else scale[:limit]
        per_image = {k: v[:limit] for k, v in per_image.items()}
    meta = dict(raw.meta)
    meta["spec"] = spec
    meta["split"] = split
    for key, value in per_image.items():
        meta[key] = value if isinstance(value, list) else torch.from_numpy(np.ascontiguousarray(value))
    return ImageSet(
        images=torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)),
        value_range=(float(raw.value_range[0]), float(raw.value_range[1])),
        name=raw.name,
        scale=None if scale is None else torch.from_numpy(np.ascontiguousarray(scale, dtype=np.float32)),
        meta=meta,
    )


def _stack(images: np.ndarray | list[np.ndarray], spec: str) -> np.ndarray:
    if isinstance(images, np.ndarray):
        return images
    shapes = sorted({tuple(im.shape) for im in images})
    if len(shapes) > 1:
        sizes = ", ".join("x".join(str(s) for s in shape[1:]) for shape in shapes[:4])
        raise GanreconError(f"The images of {spec!r} differ in size ({sizes}); use images of one size (in "
                            f"Python, load_dataset(..., patch=(H, W)) cuts them into equal patches).")
    return np.stack(images)


def _patchify(raw: Raw, per_image: dict, patch: tuple[int, int], stride: tuple[int, int], signed: bool,
              limit: int | None):
    ph, pw = patch
    sh, sw = stride
    out, scales, origin, rows = [], [], [], []
    count = 0
    for i, image in enumerate(raw.images):
        _, h, w = image.shape
        if ph > h or pw > w:
            raise GanreconError(f"The patch {ph}x{pw} is larger than image {i} ({h}x{w}); use a smaller patch.")
        for top in _starts(h, ph, sh):
            for left in _starts(w, pw, sw):
                out.append(image[:, top:top + ph, left:left + pw])
                origin.append((int(per_image["index"][i]), top, left))
                rows.append(i)
                if raw.scale is not None:
                    scales.append(raw.scale[i])
                count += 1
                if limit is not None and count >= limit:
                    break
            if limit is not None and count >= limit:
                break
        if limit is not None and count >= limit:
            break
    images = np.stack(out).astype(np.float32, copy=False)
    scale = None
    if signed:
        images, patch_scale = normalise_signed(images)
        base = np.asarray(scales, dtype=np.float32) if raw.scale is not None else np.ones(len(images), np.float32)
        scale = base * patch_scale
    elif raw.scale is not None:
        scale = np.asarray(scales, dtype=np.float32)
    rows_arr = np.asarray(rows, dtype=np.int64)
    new = {k: ([v[r] for r in rows] if isinstance(v, list) else np.asarray(v)[rows_arr]) for k, v in per_image.items()}
    new["origin"] = np.asarray(origin, dtype=np.int64).reshape(-1, 3)
    return images, scale, new
