"""Paired data a lab already has: `paired:ADIR:BDIR` (two folders with matching file names) and `aligned:PATH`
(pix2pix's layout: each file holds A and B side by side, A on the left).

B is the clean (target) image, A its observed partner: the low-resolution micro-CT slice of `lowres/` and
`highres/`, or the turbulent frame of a clean one. The A images travel aligned with the B images in
`meta["observed"]` (float32 N x C x h x w), and the trainer and `evaluate` use them instead of degrading the
clean images on the fly (`direction: BtoA` swaps the roles). Files are matched by name without extension
(`lowres/s001.tif` <-> `highres/s001.png`); a file without its partner is an error, not silently dropped. A and B
have the same size (translation) or B is S x A on both axes with S in {2, 4, 8} (super-resolution), one S for
all pairs. Patches are cut here, aligned in both images (the B patch and stride must be multiples of S), because
the generic patcher knows nothing about the second image. 16-bit files keep their precision (float32 in [0, 1],
divided by 65535).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ganrecon.data.arrays import existing_file
from ganrecon.data.convert import IMAGE_RANGE
from ganrecon.data.images import IMAGE_SUFFIXES, read_image
from ganrecon.data.loader import Context, Raw
from ganrecon.errors import GanreconError

SCALES = (1, 2, 4, 8)


def _files(folder, what: str) -> dict:
    if not folder.is_dir():
        raise GanreconError(f"The {what} folder {folder} is a file, not a folder.")
    files = {p.stem: p for p in sorted(folder.iterdir())
             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES}
    if not files:
        raise GanreconError(f"The {what} folder {folder} has no PNG, JPEG or TIFF images.")
    return files


def _starts(length: int, size: int, step: int) -> list[int]:
    starts = list(range(0, length - size + 1, step))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


def collect_pairs(pairs: Iterator[tuple[str, int, np.ndarray, np.ndarray]], ctx: Context) -> tuple[dict, dict]:
    """(name, source index, A, B) pairs -> the B images and per-image entries (with A in "observed"), checked for
    one common scale factor and cut into aligned patches when ctx.patch is set; also returns {"scale": S}."""
    b_images, a_images, files, origin = [], [], [], []
    scale = None
    for name, index, a, b in pairs:
        s = b.shape[-1] // a.shape[-1]
        if s not in SCALES or b.shape[-2:] != (a.shape[-2] * s, a.shape[-1] * s):
            raise GanreconError(f"The pair {name!r} is {a.shape[-2]}x{a.shape[-1]} -> {b.shape[-2]}x{b.shape[-1]}, "
                                "neither the same size nor an upscaling by 2, 4 or 8 on both axes.")
        if scale is not None and s != scale:
            raise GanreconError(f"The pairs mix scale factors ({scale} and {s}); use one factor.")
        scale = s
        if ctx.patch is None:
            b_images.append(b)
            a_images.append(a)
            files.append(name)
            origin.append((int(index), 0, 0))
            continue
        (ph, pw), (sh, sw) = ctx.patch, ctx.stride or ctx.patch
        if ph % s or pw % s or sh % s or sw % s:
            raise GanreconError(f"The patch {ph}x{pw} and stride {sh}x{sw} must be multiples of the pairs' "
                                f"scale factor {s}.")
        if ph > b.shape[-2] or pw > b.shape[-1]:
            raise GanreconError(f"The patch {ph}x{pw} is larger than the pair {name!r} "
                                f"({b.shape[-2]}x{b.shape[-1]}); use a smaller patch.")
        for top in _starts(b.shape[-2], ph, sh):
            for left in _starts(b.shape[-1], pw, sw):
                b_images.append(b[:, top:top + ph, left:left + pw])
                a_images.append(a[:, top // s:(top + ph) // s, left // s:(left + pw) // s])
                files.append(name)
                origin.append((int(index), top, left))
    same = len({im.shape for im in a_images}) == 1 and len({im.shape for im in b_images}) == 1
    per_image = {"index": np.asarray([o[0] for o in origin], dtype=np.int64), "files": files,
                 "observed": np.stack(a_images) if same else a_images,
                 "pair_origin": np.asarray(origin, dtype=np.int64).reshape(-1, 3)}
    return {"images": np.stack(b_images) if same else b_images, "per_image": per_image}, {"scale": scale}


def load_paired(rest: str, ctx: Context) -> Raw:
    parts = rest.split(":")
    if len(parts) != 2 or not all(parts):
        raise GanreconError(f"The paired spec needs two folders, paired:ADIR:BDIR, got paired:{rest}.")
    a_dir, b_dir = existing_file(parts[0], "paired", "folder"), existing_file(parts[1], "paired", "folder")
    a_files, b_files = _files(a_dir, "first (A) paired:"), _files(b_dir, "second (B) paired:")
    unmatched = sorted(set(a_files) ^ set(b_files))
    if unmatched:
        raise GanreconError(f"{len(unmatched)} file(s) have no partner in the other folder of paired: (e.g. "
                            f"{unmatched[0]!r}); the two folders' files must have matching names.")
    names = sorted(b_files)
    pairs = ((names[i], i, read_image(a_files[names[i]]), read_image(b_files[names[i]]))
             for i in ctx.select(len(names)))
    data, meta = collect_pairs(pairs, ctx)
    return Raw(value_range=IMAGE_RANGE, name=b_dir.name, meta={"low": str(a_dir), "high": str(b_dir), **meta},
               **data)


def _halves(path, rgb: bool) -> tuple[np.ndarray, np.ndarray]:
    image = read_image(path, rgb=rgb)
    width = image.shape[-1]
    if width % 2:
        raise GanreconError(f"{path} is {width} pixels wide; an aligned A|B file has two halves of equal width.")
    return image[..., :width // 2], image[..., width // 2:]


def load_aligned(rest: str, ctx: Context) -> Raw:
    path_text, rgb = rest, False
    head, sep, tail = rest.rpartition(":")
    if sep and tail.strip().lower() in ("grey", "gray", "rgb"):
        path_text, rgb = head, tail.strip().lower() == "rgb"
    folder = existing_file(path_text, "aligned", "folder")
    files = sorted(_files(folder, "aligned:").values())
    pairs = ((files[i].stem, int(i), *_halves(files[i], rgb)) for i in ctx.select(len(files)))
    data, meta = collect_pairs(pairs, ctx)
    return Raw(value_range=IMAGE_RANGE, name=folder.name or "aligned", meta={"path": str(folder), **meta}, **data)
