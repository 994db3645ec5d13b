"""`porous[:options]`: 2-D porous-media images that look like micro-CT slices of a sandstone.

Model: grain centres are scattered at random with random radii; every pixel belongs to its nearest centre and
gets the "distance to that centre / its radius" (plus a little smooth noise so grains are not perfect disks).
The largest values, exactly a fraction `porosity` of the pixels, are pore space - so each clean image has the
requested porosity to the pixel, before the scanner effects. Grey levels and scanner (Gaussian point-spread
blur, Gaussian noise, values clipped to [0, 1]) are ganrecon.data.ct's, shared with `porous-ct`, where this
grain model is the `grains` family.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganrecon.data.convert import IMAGE_RANGE
from ganrecon.data.ct import Scanner, grey_levels, scan
from ganrecon.data.loader import Context, Raw
from ganrecon.data.options import as_meta, number, parse_dataclass, positive_int, size
from ganrecon.data.splits import item_rng


@dataclass(frozen=True)
class PorousOptions:
    n: int = 256                      # images per split
    size: tuple[int, int] = (256, 256)
    porosity: float = 0.2             # pore fraction of each clean image, in (0, 1)
    grain: float = 8.0                # mean grain radius, pixels
    blur: float = 1.0                 # Gaussian point-spread sigma, pixels (0 = none)
    noise: float = 0.03               # Gaussian noise std, grey levels


OPTION_PARSERS = {
    "n": positive_int("porous n", hi=1_000_000),
    "size": size("porous size"),
    "porosity": number("porous porosity", lo=0.0, hi=1.0, lo_open=True, hi_open=True),
    "grain": number("porous grain radius (pixels)", lo=1.0, hi=1000.0),
    "blur": number("porous blur (pixels)", lo=0.0, hi=100.0),
    "noise": number("porous noise", lo=0.0, hi=1.0),
}


def grain_map(rng: np.random.Generator, size: tuple[int, int], grain: float,
              porosity: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(pore mask H x W, grain label of every pixel, number of grains): exactly `porosity` of the pixels are pore."""
    from scipy import ndimage

    h, w = size
    r = grain
    count = max(1, round(1.3 * h * w / (np.pi * r * r)))
    ys = rng.integers(0, h, count)
    xs = rng.integers(0, w, count)
    radius = r * rng.uniform(0.6, 1.4, count)
    seeds = np.ones((h, w), dtype=bool)
    seeds[ys, xs] = False
    owner = np.full((h, w), -1, dtype=np.int64)
    owner[ys, xs] = np.arange(count)  # duplicates: the later centre wins, as it does below
    dist, (iy, ix) = ndimage.distance_transform_edt(seeds, return_indices=True)
    nearest = owner[iy, ix]
    rough = ndimage.gaussian_filter(rng.standard_normal((h, w)), sigma=max(r / 2, 1.0), mode="wrap")
    rough /= rough.std() + 1e-12
    field = dist / radius[nearest] + 0.15 * rough
    threshold = np.quantile(field, 1.0 - porosity)
    return field > threshold, nearest, count


def make_slice(rng: np.random.Generator, opt: PorousOptions) -> tuple[np.ndarray, float]:
    """(H x W float32 image in [0, 1], porosity of the clean phase map)."""
    pore, nearest, count = grain_map(rng, opt.size, opt.grain, opt.porosity)
    image = grey_levels(pore, nearest, count, rng)
    return scan(image, rng, Scanner(blur=opt.blur, noise=opt.noise)), float(pore.mean())


def load_porous(rest: str, ctx: Context) -> Raw:
    opt = parse_dataclass(PorousOptions, rest, "porous", OPTION_PARSERS)
    count = opt.n if ctx.wanted is None else min(opt.n, ctx.wanted)
    images = np.empty((count, 1, *opt.size), dtype=np.float32)
    porosity = np.empty(count, dtype=np.float64)
    for i in range(count):
        images[i, 0], porosity[i] = make_slice(item_rng("porous", ctx.seed, ctx.split, i), opt)
    options = as_meta(opt)
    return Raw(images=images, value_range=IMAGE_RANGE, name="porous", meta={"options": options},
               per_image={"index": np.arange(count, dtype=np.int64), "porosity": porosity})
