"""`mnist` and `fashion-mnist`: torchvision's files, or a plain `train.npz` (and optional `test.npz`).

Splits: when an official test set exists, `test` is that set and `train`/`val` are a seeded 90/10 split of
the official training set (so model selection never touches the test set). With only a `train.npz` (our
benchmark copy has no test set), the usual seeded 0.8/0.1/0.1 split of it is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganrecon.data.convert import FILE_ERRORS, IMAGE_RANGE
from ganrecon.data.loader import Context, Raw
from ganrecon.data.splits import split_indices
from ganrecon.errors import GanreconError

# kind -> (torchvision class, sub-folder names searched under root for train.npz / test.npz)
_SETS = {
    "mnist": ("MNIST", ("mnist", "MNIST")),
    "fashion-mnist": ("FashionMNIST", ("fashion-mnist", "fashion_mnist", "FashionMNIST")),
}


def _npz_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as z:
            key = "images" if "images" in z.files else (z.files[0] if len(z.files) == 1 else None)
            if key is None:
                raise GanreconError(f"{path} must hold an 'images' array (uint8, N x 28 x 28).")
            images = z[key]
            labels = z["labels"] if "labels" in z.files else None
    except FILE_ERRORS as exc:
        raise GanreconError(f"{path} is not a readable .npz file ({type(exc).__name__}).") from None
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise GanreconError(f"The images in {path} must be uint8 N x 28 x 28, got {images.dtype} "
                            f"{'x'.join(map(str, images.shape))}.")
    if labels is not None and (labels.shape != (len(images),) or labels.dtype.kind not in "iu"):
        labels = None
    return images, labels


def _find_npz(root: Path, folders: tuple[str, ...]) -> Path | None:
    for folder in (*folders, ""):
        candidate = root / folder / "train.npz" if folder else root / "train.npz"
        if candidate.is_file():
            return candidate
    return None


def _torchvision(kind: str, ctx: Context, train: bool):
    from torchvision import datasets

    cls_name = _SETS[kind][0]
    try:
        ds = getattr(datasets, cls_name)(root=str(ctx.root), train=train, download=ctx.download)
    except RuntimeError as exc:
        if ctx.download:
            raise GanreconError(f"Downloading {cls_name} into {ctx.root} failed ({exc}).") from None
        raise GanreconError(
            f"{cls_name} was not found under {ctx.root}: put torchvision's files in {ctx.root / cls_name / 'raw'} "
            f"(or a train.npz with an 'images' array in {ctx.root / kind}), point --data-root elsewhere, "
            f"or pass --download (download: true in a training config).") from None
    except (OSError, ValueError) as exc:  # network errors (URLError is an OSError) while downloading
        raise GanreconError(f"Downloading {cls_name} into {ctx.root} failed ({type(exc).__name__}: {exc}).") from None
    return ds.data.numpy(), ds.targets.numpy()


def _load(kind: str, rest: str, ctx: Context) -> Raw:
    if rest:
        raise GanreconError(f"The {kind} spec takes no path; point --data-root (root=) at the folder instead.")
    npz = _find_npz(ctx.root, _SETS[kind][1])
    meta: dict = {}
    need_test = ctx.split in (None, "test")
    if npz is not None:
        train_x, train_y = _npz_arrays(npz)
        test_path = npz.with_name("test.npz")
        has_test = test_path.is_file()
        test = _npz_arrays(test_path) if has_test and need_test else None
        meta["path"] = str(npz.parent)
    else:
        train_x, train_y = _torchvision(kind, ctx, train=True)
        has_test = True
        test = _torchvision(kind, ctx, train=False) if need_test else None
        meta["path"] = str(ctx.root)
        meta["source"] = "torchvision"
    n_train = len(train_x)
    if not has_test:  # only a training file: the generic seeded split
        index = ctx.select(n_train)
        x, y = train_x[index], (None if train_y is None else train_y[index])
    elif ctx.split in ("train", "val"):
        index = split_indices(n_train, ctx.split, ctx.seed, (0.9, 0.1, 0.0))[: ctx.wanted]
        x, y = train_x[index], (None if train_y is None else train_y[index])
    elif ctx.split == "test":
        test_x, test_y = test
        local = np.arange(len(test_x))[: ctx.wanted]
        index = n_train + local
        x, y = test_x[local], (None if test_y is None else test_y[local])
    else:  # everything: official training then test images
        test_x, test_y = test
        x = np.concatenate([train_x, test_x])
        y = None if train_y is None or test_y is None else np.concatenate([train_y, test_y])
        index = np.arange(len(x))[: ctx.wanted]
        x, y = x[index], (None if y is None else y[index])
    per_image: dict = {"index": np.asarray(index, dtype=np.int64)}
    if y is not None:
        per_image["labels"] = np.asarray(y, dtype=np.int64)
    images = (x.astype(np.float32) / 255.0)[:, None]
    return Raw(images=images, value_range=IMAGE_RANGE, name=kind, meta=meta, per_image=per_image)


def load_mnist(rest: str, ctx: Context) -> Raw:
    return _load("mnist", rest, ctx)


def load_fashion_mnist(rest: str, ctx: Context) -> Raw:
    return _load("fashion-mnist", rest, ctx)
