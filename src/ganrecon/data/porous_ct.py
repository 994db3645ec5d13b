"""`porous-ct[:options]` and `porous-ct-heldout[:options]`: porous media from several rock models, one scanner.

Phase maps come from porespy's generators, the field's library (an optional extra: `pip install
'ganrecon[train]'` or benchmarks/corpora.sh), and from ganrecon's own grain model (`porous`), and all go
through the CT-like scanner of ganrecon.data.ct (partial volume, point-spread blur, optional rings, noise).

Families (pore = dark, solid = grains):
  blobs        porespy.generators.blobs: thresholded Gaussian-filtered noise (cemented, rounded pores)
  polydisperse porespy.generators.polydisperse_spheres: overlapping disks of normally distributed radii
  overlapping  porespy.generators.overlapping_spheres: overlapping disks of one radius
  grains       ganrecon's Voronoi grain model (`porous`), no porespy needed
  gravity      porespy.generators.pseudo_gravity_packing: non-overlapping disks settled under gravity, in
               layers of GRAVITY_PASSES radii (0.6-1.4 x the drawn radius)

`gravity` is never part of `porous-ct`: it is the transfer test, reachable only as `porous-ct-heldout`, so a
model trained on `porous-ct` is measured on a rock model it never saw (and a packing of separate grains, the
closest of the five to a sandstone). Each image draws its porosity and grain radius uniformly from the given
ranges (gravity packings set their own porosity); families take turns (image i is family i mod #kinds).
Images of a split come from their own seed stream, so no image is in two splits.

Generating is slow for the porespy packings (~0.2-0.7 s per 256x256 image at supersample 2, plus ~10 s to
import porespy), so results are cached on disk (ganrecon.data.cache: $GANRECON_CACHE, default
~/.cache/ganrecon/corpora).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ganrecon.data.cache import cached_arrays
from ganrecon.data.convert import IMAGE_RANGE
from ganrecon.data.ct import SCANNER_PARSERS, Scanner, grey_levels, scan
from ganrecon.data.loader import Context, Raw
from ganrecon.data.options import as_meta, names, number, parse_dataclass, parse_range, positive_int, size
from ganrecon.data.porous import grain_map
from ganrecon.data.splits import item_rng
from ganrecon.errors import GanreconError

TRAIN_FAMILIES = ("blobs", "polydisperse", "overlapping", "grains")
HELDOUT_FAMILY = "gravity"
PORESPY_FAMILIES = ("blobs", "polydisperse", "overlapping", "gravity")
GRAVITY_PASSES = 6


@dataclass(frozen=True)
class PorousCTOptions:
    n: int = 256                                 # images per split
    size: tuple[int, int] = (256, 256)
    kinds: tuple[str, ...] = TRAIN_FAMILIES
    porosity: tuple[float, float] = (0.15, 0.35)  # pore fraction range (not for gravity packings)
    grain: tuple[float, float] = (5.0, 10.0)      # grain (disk) radius range, output pixels
    blur: float = 1.0
    noise: float = 0.03
    rings: float = 0.0
    supersample: int = 2

    @property
    def scanner(self) -> Scanner:
        return Scanner(blur=self.blur, noise=self.noise, rings=self.rings, supersample=self.supersample)


def _parsers(families: tuple[str, ...] | None) -> dict:
    parsers = {
        "n": positive_int("porous-ct n", hi=1_000_000),
        "size": size("porous-ct size", max_side=4096),
        "grain": lambda v: parse_range(v, "porous-ct grain", one=number("porous-ct grain radius", lo=1.0, hi=500.0)),
        **SCANNER_PARSERS,
    }
    if families is not None:
        parsers["kinds"] = lambda v: names(v, "porous-ct family", families)
        parsers["porosity"] = lambda v: parse_range(
            v, "porous-ct porosity", one=number("porous-ct porosity", lo=0.0, hi=1.0, lo_open=True, hi_open=True))
    return parsers


def _porespy():
    try:
        import porespy
    except ImportError:
        raise GanreconError("The porespy families need porespy: run benchmarks/corpora.sh or "
                            "pip install 'ganrecon[train]' (or use porous-ct:kinds=grains).") from None
    return porespy


def _porespy_pore(family: str, shape: tuple[int, int], radius: float, porosity: float, seed: int) -> np.ndarray:
    """Pore mask from a porespy generator; numpy's global random state is restored afterwards."""
    gen = _porespy().generators
    import scipy.stats

    r = max(1, int(round(radius)))
    state = np.random.get_state()  # porespy seeds numpy's global generator
    try:
        if family == "blobs":  # porespy's blob filter sigma is mean(shape) / (40 blobiness)
            return gen.blobs(list(shape), porosity=porosity, blobiness=float(np.mean(shape)) / (40 * 0.6 * radius),
                             seed=seed, periodic=False)
        if family == "overlapping":
            return gen.overlapping_spheres(list(shape), r=r, porosity=porosity, seed=seed)
        if family == "polydisperse":
            dist = scipy.stats.norm(loc=radius, scale=0.35 * radius)
            return gen.polydisperse_spheres(list(shape), porosity=porosity, dist=dist, r_min=max(2, r // 3),
                                            seed=seed)
        return ~_gravity_solid(gen, shape, radius, seed)
    finally:
        np.random.set_state(state)


def _gravity_solid(gen, shape: tuple[int, int], radius: float, seed: int) -> np.ndarray:
    """GRAVITY_PASSES packings of one radius each (0.6-1.4 x `radius`), each filling its share from the
    bottom: one radius alone settles into a crystal lattice, which no sandstone is."""
    rng = np.random.default_rng(seed)
    solid = np.zeros(shape, dtype=bool)
    for _ in range(GRAVITY_PASSES):
        r = max(1, int(round(radius * rng.uniform(0.6, 1.4))))
        solid = gen.pseudo_gravity_packing(im=solid, r=r, seed=int(rng.integers(2**31 - 1)), edges="extended",
                                           phi=1.2 / GRAVITY_PASSES, maxiter=1_000_000).astype(bool)
    return solid


def phase_map(family: str, rng: np.random.Generator, shape: tuple[int, int], radius: float,
              porosity: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(pore mask, grain label per pixel, number of labels) for one image of `family`."""
    from scipy import ndimage

    if family == "grains":
        return grain_map(rng, shape, radius, porosity)
    pore = np.asarray(_porespy_pore(family, shape, radius, porosity, int(rng.integers(2**31 - 1))), dtype=bool)
    if rng.random() < 0.5:  # packings settle towards one side: either way up
        pore = pore[::-1]
    labels, count = ndimage.label(~pore)
    return pore, labels, count + 1


def make_image(family: str, rng: np.random.Generator, opt: PorousCTOptions) -> tuple[np.ndarray, float]:
    """(H x W float32 slice in [0, 1], porosity of the clean phase map)."""
    s = opt.supersample
    radius = rng.uniform(*opt.grain) * s
    porosity = rng.uniform(*opt.porosity)
    pore, labels, count = phase_map(family, rng, (opt.size[0] * s, opt.size[1] * s), radius, porosity)
    return scan(grey_levels(pore, labels, count, rng), rng, opt.scanner), float(pore.mean())


def _load(kind: str, opt: PorousCTOptions, ctx: Context) -> Raw:
    count = opt.n if ctx.wanted is None else min(opt.n, ctx.wanted)
    families = [opt.kinds[i % len(opt.kinds)] for i in range(count)]

    def make() -> dict[str, np.ndarray]:
        images = np.empty((count, 1, *opt.size), dtype=np.float32)
        porosity = np.empty(count, dtype=np.float64)
        for i, family in enumerate(families):
            images[i, 0], porosity[i] = make_image(family, item_rng(kind, ctx.seed, ctx.split, i), opt)
        return {"images": images, "porosity": porosity}

    options = as_meta(opt)
    key = {"options": options, "seed": ctx.seed, "split": ctx.split, "count": count}
    arrays = cached_arrays(kind, key, make) if any(f in PORESPY_FAMILIES for f in opt.kinds) else make()
    return Raw(images=arrays["images"], value_range=IMAGE_RANGE, name=kind, meta={"options": options},
               per_image={"index": np.arange(count, dtype=np.int64), "porosity": arrays["porosity"],
                          "family": families})


def load_porous_ct(rest: str, ctx: Context) -> Raw:
    return _load("porous-ct", parse_dataclass(PorousCTOptions, rest, "porous-ct", _parsers(TRAIN_FAMILIES)), ctx)


def load_porous_ct_heldout(rest: str, ctx: Context) -> Raw:
    opt = parse_dataclass(PorousCTOptions, rest, "porous-ct-heldout", _parsers(None))
    return _load("porous-ct-heldout", replace(opt, kinds=(HELDOUT_FAMILY,)), ctx)
