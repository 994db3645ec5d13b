"""A CT-like scanner for 2-D pore/grain maps: what makes a clean phase map look like a micro-CT slice.

One model, shared by every porous-media generator (`porous`, `porous-ct`, `porous-ct-heldout`), so that a
model trained on one family and tested on another sees the same scanner and differs only in the rock:

* `grey_levels`: X-ray attenuation of the phases - dark pores (air/resin), quartz-like grains with a small
  per-grain spread, a few dense bright grains (heavy minerals);
* `scan`: partial-volume averaging (a phase map drawn at `supersample` x the resolution is block-averaged,
  so boundary pixels mix both phases in proportion to their area), the scanner's Gaussian point-spread
  function (`blur`, sigma in output pixels), optional ring artefacts (`rings`: concentric rings around a
  random rotation axis, from miscalibrated detector elements, each ring 1 pixel wide with a Gaussian offset
  of std `rings` on a RING_SHARE of the radii), then Gaussian noise of std `noise`, clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganrecon.data.options import number, positive_int

PORE_LEVEL = 0.12
GRAIN_LEVEL = 0.62
GRAIN_SPREAD = 0.04
DENSE_LEVEL = 0.9
DENSE_SPREAD = 0.03
DENSE_SHARE = 0.05
RING_SHARE = 0.1   # fraction of detector elements (radii) that are miscalibrated


@dataclass(frozen=True)
class Scanner:
    blur: float = 1.0        # Gaussian point-spread sigma, output pixels (0 = none)
    noise: float = 0.03      # Gaussian noise std, grey levels
    rings: float = 0.0       # ring-artefact offset std, grey levels (0 = none)
    supersample: int = 1     # phase map drawn at this many times the resolution, then block-averaged


SCANNER_PARSERS = {
    "blur": number("scanner blur (pixels)", lo=0.0, hi=100.0),
    "noise": number("scanner noise", lo=0.0, hi=1.0),
    "rings": number("scanner rings", lo=0.0, hi=1.0),
    "supersample": positive_int("scanner supersample", hi=8),
}


def grey_levels(pore: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Attenuation image: PORE_LEVEL in the pores, one level per grain label (0 <= labels < count) elsewhere."""
    level = GRAIN_LEVEL + GRAIN_SPREAD * rng.standard_normal(count)
    dense = rng.random(count) < DENSE_SHARE
    level[dense] = DENSE_LEVEL + DENSE_SPREAD * rng.standard_normal(int(dense.sum()))
    return np.where(pore, PORE_LEVEL, level[labels])


def partial_volume(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor blocks (H and W must be multiples of factor)."""
    if factor == 1:
        return image
    h, w = image.shape[0] // factor, image.shape[1] // factor
    return image[: h * factor, : w * factor].reshape(h, factor, w, factor).mean(axis=(1, 3))


def ring_pattern(shape: tuple[int, int], amplitude: float, rng: np.random.Generator,
                 centre: tuple[float, float] | None = None) -> np.ndarray:
    """Concentric 1-pixel rings around `centre` (default: a random axis, possibly outside the image, as for a
    patch of a larger slice)."""
    h, w = shape
    if centre is None:
        centre = (rng.uniform(-0.5 * h, 1.5 * h), rng.uniform(-0.5 * w, 1.5 * w))
    cy, cx = centre
    yy, xx = np.mgrid[0:h, 0:w]
    radius = np.rint(np.hypot(yy - cy, xx - cx)).astype(np.int64)
    count = int(radius.max()) + 1
    offsets = amplitude * rng.standard_normal(count) * (rng.random(count) < RING_SHARE)
    return offsets[radius]


def scan(image: np.ndarray, rng: np.random.Generator, scanner: Scanner) -> np.ndarray:
    """Attenuation image (at `supersample` x the output size) -> float32 slice in [0, 1]."""
    from scipy import ndimage

    image = partial_volume(np.asarray(image, dtype=np.float64), scanner.supersample)
    if scanner.blur > 0:
        image = ndimage.gaussian_filter(image, sigma=scanner.blur, mode="reflect")
    if scanner.rings > 0:
        image = image + ring_pattern(image.shape, scanner.rings, rng)
    if scanner.noise > 0:
        image = image + scanner.noise * rng.standard_normal(image.shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32)
