"""`digits-text[:options]`: MNIST digits mixed with text, so that one blind denoiser learns that large black
(or white) areas are real and not salt & pepper to be filled in.

Items (a fraction `text` of them text, the rest digits, in a seeded order):
  mnist     MNIST digits, split as the `mnist` spec splits them (so `digits-text` validation digits are
            `mnist` validation digits for the same seed); from `mnist=PATH` (a train.npz or a folder holding
            one) or the data root. Placed in the middle of a black `size` canvas (or centre-cropped).
  page      crops of scikit-image's `page` (a scanned book page): training only
  text      crops of scikit-image's `text` (a photographed sign): test only
  rendered  text drawn with Pillow's bundled font (random letters and digits, 8 px to 0.8 x the height,
            random grey levels): every split, each from its own seed stream
A text item is inverted (light text on a dark ground, like MNIST) with probability `invert`. No image is in
two splits: page and text each belong to one split, MNIST images to the one `mnist` gives them, and rendered
items come from per-split seeds.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ganrecon.data.convert import IMAGE_RANGE
from ganrecon.data.loader import Context, Raw
from ganrecon.data.mnist import load_mnist
from ganrecon.data.natural import MAX_TRIES, MIN_STD, photo
from ganrecon.data.options import as_meta, number, parse_dataclass, positive_int, size
from ganrecon.data.splits import item_rng
from ganrecon.errors import GanreconError

TEXT_SOURCES = {"train": ("page", "rendered"), "val": ("rendered",), "test": ("text", "rendered"),
                None: ("page", "text", "rendered")}
GLYPHS = string.ascii_letters + string.digits + "   .,;:!?-"


@dataclass(frozen=True)
class DigitsTextOptions:
    n: int = 4096
    size: tuple[int, int] = (28, 28)
    text: float = 0.5      # fraction of the items that are text
    invert: float = 0.5    # probability that a text item is light on dark
    mnist: str = ""        # train.npz or a folder holding one; empty: the data root, as for the `mnist` spec


PARSERS = {
    "n": positive_int("digits-text n", hi=1_000_000),
    "size": size("digits-text size", max_side=1024),
    "text": number("digits-text text share", lo=0.0, hi=1.0),
    "invert": number("digits-text invert probability", lo=0.0, hi=1.0),
    "mnist": str,
}


def _digits(opt: DigitsTextOptions, ctx: Context, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(count x 1 x 28 x 28 digits of the split, their MNIST indices)."""
    if count == 0:
        return np.zeros((0, 1, 28, 28), np.float32), np.zeros(0, np.int64)
    root = ctx.root
    if opt.mnist:
        path = Path(opt.mnist).expanduser()
        if path.is_file() and path.name != "train.npz":
            raise GanreconError(f"digits-text mnist= must be a train.npz file or a folder holding one, got {path}.")
        root = path.parent if path.is_file() else path
    raw = load_mnist("", replace(ctx, root=root, wanted=count))
    return np.asarray(raw.images), np.asarray(raw.per_image["index"], dtype=np.int64)


def _canvas(digits: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Digits in the middle of a black hw canvas (centre-cropped when hw is smaller than 28x28)."""
    h, w = hw
    out = np.zeros((len(digits), 1, h, w), dtype=np.float32)
    dh, dw = digits.shape[-2:]
    sy, sx = max(0, (dh - h) // 2), max(0, (dw - w) // 2)   # source window
    ty, tx = max(0, (h - dh) // 2), max(0, (w - dw) // 2)   # target offset
    ch, cw = min(h, dh), min(w, dw)
    out[:, :, ty:ty + ch, tx:tx + cw] = digits[:, :, sy:sy + ch, sx:sx + cw]
    return out


@functools.cache
def _font(px: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=px)
    except (TypeError, ValueError, OSError):  # Pillow without FreeType: its fixed bitmap font
        return ImageFont.load_default()


def render_text(rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    """H x W float32 in [0, 1]: lines of random glyphs, dark on a light ground."""
    from PIL import Image, ImageDraw

    h, w = hw
    px = int(rng.integers(8, max(9, int(0.8 * h)) + 1))
    font = _font(px)
    ground = int(255 * rng.uniform(0.7, 1.0))
    ink = int(255 * rng.uniform(0.0, 0.35))
    canvas = Image.new("L", (w, h), ground)
    draw = ImageDraw.Draw(canvas)
    y = int(rng.integers(-px // 2, px // 2 + 1))
    while y < h:
        line = "".join(GLYPHS[int(k)] for k in rng.integers(len(GLYPHS), size=max(4, 2 * w // px)))
        draw.text((int(rng.integers(-px, 1)), y), line, fill=ink, font=font)
        y += int(px * rng.uniform(1.1, 1.6))
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _text_item(rng: np.random.Generator, sources: tuple[str, ...], hw: tuple[int, int]) -> tuple[np.ndarray, str]:
    for _ in range(MAX_TRIES):
        source = sources[int(rng.integers(len(sources)))]
        if source == "rendered":
            item = render_text(rng, hw)
        else:
            image = photo(source)
            if image.shape[0] < hw[0] or image.shape[1] < hw[1]:
                raise GanreconError(f"digits-text size {hw[0]}x{hw[1]} is larger than scikit-image's {source} "
                                    f"({image.shape[0]}x{image.shape[1]}); use a smaller size.")
            top = int(rng.integers(image.shape[0] - hw[0] + 1))
            left = int(rng.integers(image.shape[1] - hw[1] + 1))
            item = image[top:top + hw[0], left:left + hw[1]]
        if item.std() >= MIN_STD:
            break
    return item, source


def load_digits_text(rest: str, ctx: Context) -> Raw:
    opt = parse_dataclass(DigitsTextOptions, rest, "digits-text", PARSERS)
    count = opt.n if ctx.wanted is None else min(opt.n, ctx.wanted)
    n_text = int(round(opt.text * count))
    digits, digit_index = _digits(opt, ctx, count - n_text)
    n_text = count - len(digits)  # fewer digits in the split than asked: text makes up the rest
    images = np.empty((count, 1, *opt.size), dtype=np.float32)
    order = item_rng("digits-text-order", ctx.seed, ctx.split, 0).permutation(count)
    is_digit = np.zeros(count, dtype=bool)
    is_digit[order[: len(digits)]] = True
    images[is_digit] = _canvas(digits, opt.size)
    mnist_index = np.full(count, -1, dtype=np.int64)
    mnist_index[is_digit] = digit_index
    sources = ["mnist"] * count
    for i in np.flatnonzero(~is_digit):
        rng = item_rng("digits-text", ctx.seed, ctx.split, int(i))
        item, sources[i] = _text_item(rng, TEXT_SOURCES[ctx.split], opt.size)
        images[i, 0] = 1.0 - item if rng.random() < opt.invert else item
    options = as_meta(opt)
    return Raw(images=np.clip(images, 0.0, 1.0), value_range=IMAGE_RANGE, name="digits-text",
               meta={"options": options},
               per_image={"index": np.arange(count, dtype=np.int64), "mnist_index": mnist_index,
                          "source": sources})
