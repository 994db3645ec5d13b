"""`folder:PATH[:rgb]` (one image per PNG/JPEG/TIFF file) and `tiff:PATH` (a multi-page stack, slice by slice).

Folders load grey (C = 1) by default: the reconstruction tasks and the bundled models work on single-channel
images, and one rule for every file (palette, RGBA, 16-bit, TIFF) keeps a mixed folder consistent.
`folder:PATH:rgb` gives C = 3 instead (grey files are repeated into three channels). Alpha is dropped, not
composited, so transparent regions keep their colour values. Colour -> grey uses BT.601 luma, as PIL does.
TIFF files are read with tifffile (PIL mangles 16-bit and float TIFFs); PNG/JPEG with Pillow, which cannot
return more than 8 bits per channel for colour PNGs (16-bit grey PNGs keep their 16 bits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganrecon.data.arrays import existing_file
from ganrecon.data.convert import (
    FILE_ERRORS,
    IMAGE_RANGE,
    check_finite,
    classify,
    quiet_tifffile,
    to_grey,
    to_unit,
)
from ganrecon.data.loader import Context, Raw
from ganrecon.errors import GanreconError
from ganrecon.files import files_in

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_MODES = ("grey", "gray", "rgb")


def _unit_values(arr: np.ndarray, what: str) -> np.ndarray:
    """One file's pixels -> float64 in [0, 1] by its own dtype (8-bit /255, 16-bit /65535, float kept)."""
    check_finite(arr, what)
    rule = classify(arr)
    if rule == "unit":
        return arr.astype(np.float64) / (1.0 if arr.dtype == np.bool_ else np.iinfo(arr.dtype).max)
    if rule == "image":
        return arr.astype(np.float64)
    if rule == "global":
        return arr.astype(np.float64) / float(arr.max())
    raise GanreconError(f"{what} has negative values; load signed data with tiff:, npy: or segy: instead.")


def _read_pil(path: Path) -> np.ndarray:
    """H x W or H x W x 3 pixels of a PNG/JPEG/BMP, in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode.startswith("I;16") or mode == "I":
                # Pillow opens 16-bit grey PNGs as "I;16" or "I" (int32 holding 0..65535).
                arr = np.asarray(im, dtype=np.float64)
                return np.clip(arr / 65535.0, 0.0, 1.0)
            if mode == "F":
                return _unit_values(np.asarray(im, dtype=np.float32), str(path))
            if mode in ("L", "1"):
                return np.asarray(im.convert("L"), dtype=np.float64) / 255.0
            if mode in ("P", "PA", "LA", "RGBA", "La"):
                im = im.convert("RGBA")  # palette transparency is handled by Pillow here
            return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise GanreconError(f"{path} is not a readable image ({type(exc).__name__}).") from None


def _read_tiff_page(path: Path) -> np.ndarray:
    """First page of a TIFF as H x W or H x W x C, in [0, 1]."""
    import tifffile

    try:
        with quiet_tifffile():
            arr = tifffile.imread(path, key=0)
    except FILE_ERRORS as exc:  # tifffile raises several types for damaged or non-TIFF files
        raise GanreconError(f"{path} is not a readable TIFF file ({type(exc).__name__}).") from None
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar RGB
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] > 4):
        raise GanreconError(f"{path} has shape {arr.shape}; expected one grey or colour image per file.")
    return _unit_values(arr, str(path))


def read_image(path: Path, rgb: bool = False) -> np.ndarray:
    """One image file -> float32 C x H x W in [0, 1]; C = 1 (grey) or 3 (rgb)."""
    is_tiff = path.suffix.lower() in (".tif", ".tiff")
    arr = _read_tiff_page(path) if is_tiff else _read_pil(path)
    if rgb:
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=-1)
        elif arr.shape[-1] in (1, 2):
            arr = np.repeat(arr[..., :1], 3, axis=-1)
        out = np.moveaxis(arr[..., :3], -1, 0)
    else:
        out = to_grey(arr)[None]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def load_folder(rest: str, ctx: Context) -> Raw:
    path_text, mode = rest, "grey"
    head, sep, tail = rest.rpartition(":")
    if sep and tail.strip().lower() in _MODES:
        path_text, mode = head, tail.strip().lower()
    folder = existing_file(path_text, "folder", "folder")
    if not folder.is_dir():
        raise GanreconError(f"{folder} is a file, not a folder; use npz:, npy:, tiff: or segy: for single files.")
    files = files_in(folder, IMAGE_SUFFIXES)
    if not files:
        raise GanreconError(f"The folder {folder} has no PNG, JPEG or TIFF images.")
    index = ctx.select(len(files))
    images = [read_image(files[i], rgb=mode == "rgb") for i in index]
    return Raw(images=images, value_range=IMAGE_RANGE, name=folder.name or "folder",
               meta={"path": str(folder), "colour": "rgb" if mode == "rgb" else "grey"},
               per_image={"index": index, "files": [files[i].name for i in index]})


def load_tiff_stack(rest: str, ctx: Context) -> Raw:
    """Every page (slice) of the first series of a TIFF; colour samples are turned grey."""
    import tifffile

    path = existing_file(rest, "tiff")
    try:
        with quiet_tifffile(), tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes
            arr = series.asarray()
    except FILE_ERRORS as exc:  # not a TIFF, truncated, unsupported compression...
        raise GanreconError(f"{path} is not a readable TIFF file ({type(exc).__name__}).") from None
    if "Y" not in axes or "X" not in axes:
        raise GanreconError(f"{path} has axes {axes!r}; expected image planes with Y and X axes.")
    if "S" in axes:  # colour samples -> grey, decided per slice like folder images
        s = axes.index("S")
        arr = np.moveaxis(arr, s, -1)
        check_finite(arr, str(path))
        grey = to_grey(arr) if arr.shape[-1] >= 3 else arr[..., 0].astype(np.float64)
        if arr.dtype in (np.uint8, np.uint16):
            grey = grey / np.iinfo(arr.dtype).max
        arr = grey
        axes = axes.replace("S", "")
    order = [i for i, a in enumerate(axes) if a not in "YX"] + [axes.index("Y"), axes.index("X")]
    arr = np.transpose(arr, order)
    arr = arr.reshape((-1,) + arr.shape[-2:])
    index = ctx.select(arr.shape[0])
    images, value_range, scale, info = to_unit(arr, f"The TIFF stack {path}", index)
    return Raw(images=images, value_range=value_range, name=path.stem, scale=scale,
               meta={"path": str(path), "axes": series.axes, "slices": int(arr.shape[0]), **info},
               per_image={"index": index})
