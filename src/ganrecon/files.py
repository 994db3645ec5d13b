"""Single-file input and output for `ganrecon reconstruct`: PNG/JPEG, TIFF (also stacks), NPY and SEG-Y.

The output keeps the input's format, shape and dtype; SEG-Y output is a copy of the input with only the trace
samples replaced, so every header survives. Every write is atomic.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganrecon.errors import GanreconError
from ganrecon.io_utils import atomic_path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
TIFF_SUFFIXES = {".tif", ".tiff"}
SEGY_SUFFIXES = {".sgy", ".segy"}


@dataclass
class FileData:
    """Images as float32 N x C x H x W in their natural range, plus what is needed to write them back."""

    images: np.ndarray
    kind: str            # "image" | "tiff" | "npy" | "segy"
    dtype: np.dtype
    shape: tuple         # the original array shape
    signed: bool
    path: Path
    dt_ms: float | None = None  # time sampling from a SEG-Y header, when it gives one
    endian: str = "big"         # a SEG-Y file's byte order, kept when it is written back


def files_in(folder: Path, suffixes) -> list[Path]:
    """The visible files of `folder` (not its subfolders) whose suffix, in any case, is one of `suffixes`,
    sorted by name: what a folder input means wherever one is read."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes)


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    if suffix == ".npy":
        return "npy"
    if suffix in SEGY_SUFFIXES:
        return "segy"
    raise GanreconError(f"{path.name}: unsupported file type {suffix or '(none)'}; use PNG, JPEG, TIFF, NPY or SEG-Y.")


def array_to_unit(arr: np.ndarray) -> tuple[np.ndarray, bool]:
    """Integers scaled to [0, 1]; floats kept (signed floats are seismic-like amplitudes)."""
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        if info.min < 0:
            return arr.astype(np.float32), True
        return arr.astype(np.float32) / info.max, False
    if arr.dtype == bool:
        return arr.astype(np.float32), False
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise GanreconError("The input holds NaN or infinite values.")
    return arr, bool(arr.min() < 0 or arr.max() > 1)


def _as_nchw(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim == 2:
        return arr[None, None]
    if arr.ndim == 3:
        if arr.shape[-1] in (3, 4) and arr.shape[0] not in (3, 4):  # H x W x RGB(A)
            return np.moveaxis(arr[..., :3], -1, 0)[None]
        return arr[:, None]  # a stack of slices
    raise GanreconError(f"{path.name}: expected a 2-D image or a stack of images, got shape {arr.shape}.")


def read_file(path: str | Path, nonfinite_traces_missing: bool = False) -> FileData:
    """One file as FileData. `nonfinite_traces_missing`: a trace (column) holding a NaN or infinite sample is a
    missing trace, zeroed (a survey's dead traces), instead of an error."""
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise GanreconError(f"Input file {path} does not exist.")
    if path.stat().st_size == 0:
        raise GanreconError(f"Input file {path} is empty.")
    try:
        if kind == "image":
            from PIL import Image

            with Image.open(path) as im:
                if im.mode in ("P", "PA", "RGBA", "LA"):
                    im = im.convert("RGB" if im.mode in ("RGBA", "P") else "L")
                arr = np.asarray(im)
        elif kind == "tiff":
            import tifffile

            from ganrecon.data.convert import quiet_tifffile

            with quiet_tifffile():
                arr = tifffile.imread(path)
        elif kind == "npy":  # numpy's own errors for these suggest allow_pickle=True: never give that advice
            with open(path, "rb") as fh:
                if fh.read(6) != b"\x93NUMPY":
                    raise GanreconError(f"{path.name} is not a NumPy .npy file.")
            try:
                arr = np.load(path, allow_pickle=False)
            except ValueError as exc:
                if "pickle" not in str(exc).lower():
                    raise
                raise GanreconError(f"{path.name} holds Python objects (pickled), which ganrecon never loads; "
                                    "save a plain numeric array.") from None
        else:
            import segyio

            from ganrecon.data.segy import open_segy

            with open_segy(path) as f:
                arr = np.asarray(segyio.tools.collect(f.trace[:]), dtype=np.float32).T  # time x traces
                dt_ms = segyio.tools.dt(f, fallback_dt=0.0) / 1000.0 or None  # header microseconds
                endian = "little" if f.endian == "little" else "big"
    except GanreconError:
        raise
    except Exception as exc:  # every reader has its own exception types; all mean "not a readable file"
        raise GanreconError(f"{path.name} could not be read as {kind.upper()} ({type(exc).__name__}: {exc}).") \
            from None
    if arr.size == 0:
        raise GanreconError(f"{path.name} holds no samples.")
    if arr.dtype.kind not in "biuf":  # strings, complex, dates: no image to reconstruct (and no silent casting)
        raise GanreconError(f"{path.name} holds {arr.dtype} values; expected integer or float samples.")
    dtype, shape = arr.dtype, arr.shape
    if nonfinite_traces_missing:
        arr = zero_nonfinite_traces(arr)
    unit, signed = array_to_unit(arr)
    if kind == "segy":
        return FileData(_as_nchw(unit, path), kind, dtype, shape, True, path, dt_ms, endian)
    return FileData(_as_nchw(unit, path), kind, dtype, shape, signed, path)


def unit_to_array(images: np.ndarray, data: FileData) -> np.ndarray:
    """The inverse of `array_to_unit` for the file `data` came from: its layout and dtype (integers rounded and
    clipped)."""
    arr = images
    if len(data.shape) == 3 and data.shape[-1] in (3, 4) and arr.shape[1] == 3:
        arr = np.moveaxis(arr[0], 0, -1)
    else:
        arr = arr[:, 0] if len(data.shape) == 3 else arr[0, 0]
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        gain, low = (1, info.min) if data.signed else (info.max, 0)
        return _rounded(arr, data.dtype, gain, low, info.max)
    return arr.astype(data.dtype)


def _rounded(arr: np.ndarray, dtype, gain: float, low: float, high: float, rows: int = 256) -> np.ndarray:
    """clip(rint(arr * gain), low, high) as `dtype`, a block of leading rows at a time: whole-array temporaries
    would be three float copies of the output (for a x4 super-resolved slice, more than the output itself)."""
    out = np.empty(arr.shape, dtype)
    for r0 in range(0, arr.shape[0], rows):
        block = np.multiply(arr[r0:r0 + rows], gain, dtype=np.result_type(arr.dtype, np.float32))
        np.rint(block, out=block)
        out[r0:r0 + rows] = np.clip(block, low, high, out=block)
    return out


def write_like(data: FileData, images: np.ndarray, out: str | Path) -> Path:
    """Write `images` (N x C x H x W, same layout as read) to `out` in the input's format and dtype."""
    out = Path(out)
    if _kind(out) != data.kind:
        raise GanreconError(f"The output {out.name} must have the input's format ({data.kind}).")
    arr = unit_to_array(images, data)
    with atomic_path(out) as tmp:
        if data.kind == "image":
            from PIL import Image

            Image.fromarray(arr).save(tmp, format="PNG" if out.suffix.lower() == ".png" else "JPEG")
        elif data.kind == "tiff":
            import tifffile

            # explicit: tifffile would otherwise store a 3- or 4-slice grey stack as one planar RGB(A) page
            colour = arr.ndim == 3 and arr.shape[-1] == 3 and images.shape[1] == 3
            tifffile.imwrite(tmp, arr, photometric="rgb" if colour else "minisblack")
        elif data.kind == "npy":
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        else:
            from ganrecon.data.segy import as_sample_dtype, open_segy

            shutil.copyfile(data.path, tmp)
            with open_segy(tmp, "r+", endian=data.endian) as f:
                for i in range(f.tracecount):  # in the file's own sample type: integers rounded and clipped
                    f.trace[i] = as_sample_dtype(arr[:, i], f.dtype)
    return out


def zero_nonfinite_traces(arr: np.ndarray) -> np.ndarray:
    """Traces (last axis: columns) holding any NaN or infinite sample set to zero, so that `dead_trace_mask`
    counts them missing; other arrays are returned as they are."""
    if arr.dtype.kind != "f" or arr.ndim < 2 or np.isfinite(arr).all():
        return arr
    bad = ~np.isfinite(arr).all(axis=-2, keepdims=True)
    return np.where(bad, np.zeros((), arr.dtype), arr)


def dead_trace_mask(images: np.ndarray) -> np.ndarray:
    """Missing = columns (traces) that are all zero in every channel; everything else is observed."""
    alive = np.any(images != 0, axis=(1, 2), keepdims=True)  # N x 1 x 1 x W
    return np.broadcast_to(alive, images.shape).astype(np.float32)
