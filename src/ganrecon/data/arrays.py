"""`npz:PATH[:KEY]` and `npy:PATH`: images stored as numpy arrays (never unpickled)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ganrecon.data.convert import as_nchw, to_unit
from ganrecon.data.loader import Context, Raw
from ganrecon.errors import GanreconError

# Tried in order when an .npz holds several arrays and no KEY was given.
_IMAGE_KEYS = ("images", "x", "data", "arr_0")


def existing_file(text: str, kind: str, what: str = "file") -> Path:
    """The path in a spec, or a sentence saying it is missing."""
    if not text:
        raise GanreconError(f"The {kind} spec needs a path, e.g. {kind}:PATH.")
    path = Path(text).expanduser()
    if not path.exists():
        raise GanreconError(f"The {what} {str(path)!r} for {kind}: does not exist.")
    return path


NUMPY_SIGNATURES = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")   # .npy, and .npz (a zip archive)


def _open_npy(path: Path, kind: str):
    # numpy takes any other file for a pickle, and its refusal would call a text file "pickled"
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise GanreconError(f"{path} is not a readable {kind} file ({type(exc).__name__}).") from None
    if not head.startswith(NUMPY_SIGNATURES):
        raise GanreconError(f"{path} is not a NumPy .{kind} file (it is {'empty' if not head else 'another kind of file'}).")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise GanreconError(f"{path} holds Python objects (pickled); save plain numeric arrays instead.") from None
        raise GanreconError(f"{path} is not a readable {kind} file ({exc}).") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise GanreconError(f"{path} is not a readable {kind} file ({type(exc).__name__}).") from None


def _from_array(arr: np.ndarray, what: str, name: str, ctx: Context, labels=None, meta=None) -> Raw:
    n = as_nchw(arr, what).shape[0]
    index = ctx.select(n)
    images, value_range, scale, info = to_unit(arr, what, index)
    per_image: dict = {"index": index}
    if labels is not None and np.ndim(labels) == 1 and len(labels) == n and np.asarray(labels).dtype.kind in "iu":
        per_image["labels"] = np.asarray(labels, dtype=np.int64)[index]
    return Raw(images=images, value_range=value_range, name=name, scale=scale,
               meta={**(meta or {}), **info}, per_image=per_image)


def load_npz(rest: str, ctx: Context) -> Raw:
    """npz:PATH[:KEY]; without KEY: the only array, else the first of images/x/data/arr_0."""
    path_text, key = rest, None
    if not Path(rest).expanduser().exists() and ":" in rest:
        path_text, _, key = rest.rpartition(":")
    path = existing_file(path_text, "npz")
    archive = _open_npy(path, "npz")
    if not hasattr(archive, "files"):
        raise GanreconError(f"{path} is a single .npy array, not an .npz archive; use npy:{path}.")
    with archive:
        keys = list(archive.files)
        if key is None:
            found = keys if len(keys) == 1 else [k for k in _IMAGE_KEYS if k in keys]
            if not found:
                raise GanreconError(f"{path} holds several arrays ({', '.join(keys)}); choose one with "
                                    f"npz:{path}:KEY.")
            key = found[0]
        if key not in keys:
            raise GanreconError(f"{path} has no array {key!r}; it holds {', '.join(keys) or 'nothing'}.")
        try:
            arr = archive[key]
            labels = archive["labels"] if "labels" in keys and key != "labels" else None
        except ValueError:
            raise GanreconError(f"Array {key!r} in {path} holds Python objects; save plain numeric arrays.") from None
    return _from_array(arr, f"Array {key!r} in {path}", path.stem, ctx, labels,
                       meta={"path": str(path), "key": key})


def load_npy(rest: str, ctx: Context) -> Raw:
    path = existing_file(rest, "npy")
    arr = _open_npy(path, "npy")
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise GanreconError(f"{path} is an .npz archive, not a single array; use npz:{path}.")
    return _from_array(arr, f"The array in {path}", path.stem, ctx, meta={"path": str(path)})
