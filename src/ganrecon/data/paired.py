"""`paired:LOWDIR:HIGHDIR`: super-resolution pairs a lab already has (e.g. micro-CT `lowres/` and `highres/`).

The high-resolution images are the clean images; the low-resolution ones travel aligned with them in
`meta["observed"]` (float32 N x C x h x w), and the trainer and `evaluate` use them instead of degrading the clean
images on the fly. Files are matched by name without extension (`lowres/s001.tif` <-> `highres/s001.png`); a file
without its partner is an error, not silently dropped. Every pair must have the same integer factor S in
{2, 4, 8} (HR = S x LR on both axes). Patches are cut here, aligned in both images (the HR patch and stride must
be multiples of S), because the generic patcher knows nothing about the second image. 16-bit files keep their
precision (float32 in [0, 1], divided by 65535).
"""

from __future__ import annotations

import numpy as np

from ganrecon.data.arrays import existing_file
from ganrecon.data.convert import IMAGE_RANGE
from ganrecon.data.images import IMAGE_SUFFIXES, read_image
from ganrecon.data.loader import Context, Raw
from ganrecon.errors import GanreconError

SCALES = (2, 4, 8)


def _files(folder, what: str) -> dict:
    if not folder.is_dir():
        raise GanreconError(f"The {what} folder {folder} of paired: is a file, not a folder.")
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


def load_paired(rest: str, ctx: Context) -> Raw:
    parts = rest.split(":")
    if len(parts) != 2 or not all(parts):
        raise GanreconError(f"The paired spec needs two folders, paired:LOWDIR:HIGHDIR, got paired:{rest}.")
    low_dir, high_dir = existing_file(parts[0], "paired", "folder"), existing_file(parts[1], "paired", "folder")
    low, high = _files(low_dir, "low-resolution"), _files(high_dir, "high-resolution")
    unmatched = sorted(set(low) ^ set(high))
    if unmatched:
        raise GanreconError(f"{len(unmatched)} file(s) have no partner in the other folder of paired: (e.g. "
                            f"{unmatched[0]!r}); low- and high-resolution files must have matching names.")
    names = sorted(high)
    index = ctx.select(len(names))
    hr_images, lr_images, files, origin = [], [], [], []
    scale = None
    for i in index:
        hr, lr = read_image(high[names[i]]), read_image(low[names[i]])
        s = hr.shape[-1] // lr.shape[-1]
        if s not in SCALES or hr.shape[-2:] != (lr.shape[-2] * s, lr.shape[-1] * s):
            raise GanreconError(f"The pair {names[i]!r} is {lr.shape[-2]}x{lr.shape[-1]} -> {hr.shape[-2]}x"
                                f"{hr.shape[-1]}, not an upscaling by 2, 4 or 8 on both axes.")
        if scale is not None and s != scale:
            raise GanreconError(f"The pairs of paired: mix scale factors ({scale} and {s}); use one factor.")
        scale = s
        if ctx.patch is None:
            hr_images.append(hr)
            lr_images.append(lr)
            files.append(names[i])
            origin.append((int(i), 0, 0))
            continue
        (ph, pw), (sh, sw) = ctx.patch, ctx.stride or ctx.patch
        if ph % s or pw % s or sh % s or sw % s:
            raise GanreconError(f"The patch {ph}x{pw} and stride {sh}x{sw} must be multiples of the pairs' "
                                f"scale factor {s}.")
        if ph > hr.shape[-2] or pw > hr.shape[-1]:
            raise GanreconError(f"The patch {ph}x{pw} is larger than the pair {names[i]!r} "
                                f"({hr.shape[-2]}x{hr.shape[-1]}); use a smaller patch.")
        for top in _starts(hr.shape[-2], ph, sh):
            for left in _starts(hr.shape[-1], pw, sw):
                hr_images.append(hr[:, top:top + ph, left:left + pw])
                lr_images.append(lr[:, top // s:(top + ph) // s, left // s:(left + pw) // s])
                files.append(names[i])
                origin.append((int(i), top, left))
    same = len({im.shape for im in lr_images}) == 1
    per_image = {"index": np.asarray([o[0] for o in origin], dtype=np.int64), "files": files,
                 "observed": np.stack(lr_images) if same else lr_images,
                 "pair_origin": np.asarray(origin, dtype=np.int64).reshape(-1, 3)}
    return Raw(images=np.stack(hr_images) if same else hr_images, value_range=IMAGE_RANGE, name=high_dir.name,
               meta={"low": str(low_dir), "high": str(high_dir), "scale": scale}, per_image=per_image)
