"""`deadleaves[:options]`: synthetic images of occluding discs (the dead-leaves model), for denoisers whose
photograph corpus is small.

Why: a blind denoiser trained on 17 photographs learns those photographs. Dead leaves have what every photograph
has, edges at every scale and orientation between flat regions, with the scale-invariant statistics of natural
images when the radii follow a power law (density proportional to r^-alpha, alpha about 3), and no image of
their own to learn by heart: every item is new. Measured (weights/README.md, stage 20 of `denoise-blind`): a
sixth of the denoiser's training images as dead leaves did not carry to held-out photographs' Gaussian noise.

Model: discs with uniform random centres, radii from the power law on [rmin, rmax] and uniform random grey levels
(rgb=1: colours) fall one upon another. They are drawn front to back: the first disc is on top and a pixel takes
the first disc that covers it, so drawing stops as soon as every pixel is covered (after MAX_DISCS the rest keep
a background level). Rendered at SUPERSAMPLE x the size and block-averaged, so edges are antialiased as a
camera's are, then blurred by a Gaussian of sigma uniform in `blur` (pixels). Nearly flat items (std below
natural.MIN_STD) are redrawn, up to natural.MAX_TRIES times. Item i of a split is the same whatever `n`;
`draw=N` takes the N-th set of training items (validation and test items do not move), as `photos` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganrecon.data.convert import IMAGE_RANGE
from ganrecon.data.loader import Context, Raw
from ganrecon.data.natural import MAX_TRIES, MIN_STD
from ganrecon.data.options import as_meta, flag, number, parse_dataclass, parse_range, positive_int, size
from ganrecon.data.splits import item_rng
from ganrecon.errors import GanreconError
from ganrecon.specs import parse_int

SUPERSAMPLE = 2
CHUNK = 64            # discs tested against the uncovered pixels at once
MAX_DISCS = 20_000
MAX_N = 1_000_000     # items per draw, as in photos
MAX_DRAW = 1000


@dataclass(frozen=True)
class DeadLeavesOptions:
    n: int = 2048
    size: tuple[int, int] = (64, 64)
    alpha: float = 3.0                     # radius density ~ r^-alpha
    rmin: float = 1.0                      # smallest radius, output pixels
    rmax: float | None = None              # largest radius, output pixels (default: the larger side)
    blur: tuple[float, float] = (0.0, 1.0)  # Gaussian sigma range, output pixels
    rgb: bool = False
    draw: int = 0


def _parse(text: str) -> DeadLeavesOptions:
    parsers = {
        "n": positive_int("deadleaves n", hi=MAX_N),
        "size": size("deadleaves size", max_side=2048),
        "alpha": number("deadleaves alpha", lo=1.5, hi=6.0),
        "rmin": number("deadleaves rmin (pixels)", lo=0.5, hi=4096.0),
        "rmax": number("deadleaves rmax (pixels)", lo=0.5, hi=4096.0),
        "blur": lambda v: parse_range(v, "deadleaves blur", one=number("deadleaves blur (pixels)", lo=0.0,
                                                                        hi=100.0)),
        "rgb": flag("deadleaves rgb", "colour"),
        "draw": lambda v: parse_int(v, "deadleaves draw", lo=0, hi=MAX_DRAW),
    }
    opt = parse_dataclass(DeadLeavesOptions, text, "deadleaves", parsers)
    if opt.rmax is not None and opt.rmax < opt.rmin:
        raise GanreconError(f"deadleaves rmax ({opt.rmax:g}) must be at least rmin ({opt.rmin:g}).")
    return opt


def radii(rng: np.random.Generator, count: int, alpha: float, rmin: float, rmax: float) -> np.ndarray:
    """`count` radii with density proportional to r^-alpha on [rmin, rmax] (inverse CDF; alpha > 1)."""
    e = 1.0 - alpha
    u = rng.uniform(size=count)
    return (rmin ** e + u * (rmax ** e - rmin ** e)) ** (1.0 / e)


def render(rng: np.random.Generator, opt: DeadLeavesOptions) -> np.ndarray:
    """One C x H x W float32 image in [0, 1], before blur: discs drawn front to back at SUPERSAMPLE x."""
    h, w = opt.size
    s = SUPERSAMPLE
    channels = 3 if opt.rgb else 1
    rmax = float(opt.rmax if opt.rmax is not None else max(h, w))
    rmin = min(opt.rmin, rmax)
    ys, xs = np.divmod(np.arange(h * s * w * s), w * s)
    py, px = (ys + 0.5) / s, (xs + 0.5) / s            # pixel centres in output pixels
    out = np.empty((channels, py.size), dtype=np.float32)
    todo = np.arange(py.size)
    drawn = 0
    while todo.size and drawn < MAX_DISCS:
        cy, cx = rng.uniform(0, h, CHUNK), rng.uniform(0, w, CHUNK)
        r2 = radii(rng, CHUNK, opt.alpha, rmin, rmax) ** 2
        colours = rng.uniform(size=(channels, CHUNK)).astype(np.float32)
        hit = (py[todo][None] - cy[:, None]) ** 2 + (px[todo][None] - cx[:, None]) ** 2 <= r2[:, None]
        covered = hit.any(axis=0)
        out[:, todo[covered]] = colours[:, hit[:, covered].argmax(axis=0)]
        todo = todo[~covered]
        drawn += CHUNK
    if todo.size:
        out[:, todo] = rng.uniform(size=(channels, 1)).astype(np.float32)
    return out.reshape(channels, h, s, w, s).mean(axis=(2, 4))


def make_image(rng: np.random.Generator, opt: DeadLeavesOptions) -> np.ndarray:
    """One item: rendered, blurred, redrawn while nearly flat."""
    from scipy import ndimage

    for _ in range(MAX_TRIES):
        image = render(rng, opt)
        sigma = rng.uniform(*opt.blur)
        if sigma > 0:
            image = ndimage.gaussian_filter(image, sigma=(0, sigma, sigma), mode="reflect")
        if image.std(axis=(1, 2)).max() >= MIN_STD:
            break
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def load_deadleaves(rest: str, ctx: Context) -> Raw:
    opt = _parse(rest)
    count = opt.n if ctx.wanted is None else min(opt.n, ctx.wanted)
    first = opt.draw * MAX_N if ctx.split not in ("val", "test") else 0  # held-out items never move
    images = np.empty((count, 3 if opt.rgb else 1, *opt.size), dtype=np.float32)
    for i in range(count):
        images[i] = make_image(item_rng("deadleaves", ctx.seed, ctx.split, first + i), opt)
    options = as_meta(opt)
    return Raw(images=images, value_range=IMAGE_RANGE, name="deadleaves", meta={"options": options},
               per_image={"index": np.arange(count, dtype=np.int64)})
