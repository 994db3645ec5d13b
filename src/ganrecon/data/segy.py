"""`segy:PATH`: SEG-Y shot gathers read with segyio, one gather (time x traces) per file.

Files are opened with `ignore_geometry=True`: pre-stack gathers have no inline/crossline geometry, and we want
the traces in file order. Both byte orders are read: SEG-Y is big-endian by the standard, but little-endian
files are common (written on PCs); the order is read from the binary header's sample format code, which is a
small number in exactly one of the two orders, and kept when a file is written back. Each gather is divided by its own max |amplitude| (kept in `scale`), so a quiet
gather and a loud one reach the model on the same footing and `image * scale` restores the amplitudes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganrecon.data.arrays import existing_file
from ganrecon.data.convert import FILE_ERRORS, SIGNED_RANGE, normalise_signed
from ganrecon.data.loader import Context, Raw
from ganrecon.errors import GanreconError

SEGY_SUFFIXES = (".sgy", ".segy", ".seg")


SAMPLE_FORMATS = frozenset({1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 15, 16})   # sample format codes of SEG-Y rev 0-2
BINARY_HEADER_END = 3600   # 3200-byte text header + 400-byte binary header


def segy_endian(head: bytes) -> str | None:
    """"big" or "little" from the first 3600 bytes of a SEG-Y file (its binary header's sample format code and
    samples per trace), or None when neither order gives a plausible header."""
    if len(head) < BINARY_HEADER_END:
        return None
    for order in ("big", "little"):
        samples = int.from_bytes(head[3220:3222], order)
        code = int.from_bytes(head[3224:3226], order)
        if samples > 0 and code in SAMPLE_FORMATS:
            return order
    return None


def open_segy(path: Path, mode: str = "r", endian: str | None = None):
    """segyio.open in the file's own byte order (read from its header unless given); pre-stack: no geometry."""
    import segyio

    if endian is None:
        with open(path, "rb") as fh:
            endian = segy_endian(fh.read(BINARY_HEADER_END))
        if endian is None:
            size = Path(path).stat().st_size
            raise OSError("empty file" if size == 0 else f"no SEG-Y binary header in its first {size} bytes"
                          if size < BINARY_HEADER_END else "no valid sample format code in the binary header")
    return segyio.open(str(path), mode, ignore_geometry=True, endian=endian)


def as_sample_dtype(samples: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Samples in a file's own sample type: integers rounded and clipped to the type's range (segyio would
    truncate them with a narrowing warning), floats cast."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        samples = np.clip(np.rint(np.asarray(samples, np.float64)), info.min, info.max)
    return np.ascontiguousarray(samples, dtype=dtype)


def read_gather(path: Path) -> tuple[np.ndarray, float]:
    """(float32 samples x traces, dt in ms) of one SEG-Y file, or a sentence saying why not."""
    import segyio

    try:
        with open_segy(path) as f:
            data = np.asarray(f.trace.raw[:], dtype=np.float32)
            dt_ms = float(segyio.tools.dt(f, fallback_dt=4000.0)) / 1000.0
    except FILE_ERRORS as exc:  # segyio raises RuntimeError/OSError/IndexError for broken or foreign files
        raise unreadable(path, exc) from None
    if data.ndim != 2 or data.size == 0:
        raise GanreconError(f"The SEG-Y file {path} has no traces.")
    if not np.isfinite(data).all():
        raise GanreconError(f"The SEG-Y file {path} contains NaN or infinite samples (wrong sample format?).")
    return data.T.copy(), dt_ms


def load_segy(rest: str, ctx: Context) -> Raw:
    path = existing_file(rest, "segy", "file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SEGY_SUFFIXES)
        if not files:
            raise GanreconError(f"The folder {path} has no .sgy or .segy files.")
    else:
        files = [path]
    index = ctx.select(len(files))
    for unused in sorted(set(range(len(files))) - {int(i) for i in index}):
        check_readable(files[unused])  # a broken file is named as broken, even outside the chosen split
    images, scales, dts = [], [], []
    for i in index:
        gather, dt_ms = read_gather(files[i])
        normalised, scale = normalise_signed(gather[None])
        images.append(normalised[0][None])  # 1 x T x Ntraces
        scales.append(scale[0])
        dts.append(dt_ms)
    common_dt = dts[0] if dts and all(d == dts[0] for d in dts) else None
    return Raw(images=images, value_range=SIGNED_RANGE, name=path.stem,
               scale=np.asarray(scales, dtype=np.float32),
               meta={"path": str(path), "dt_ms": common_dt, "time_axis": "H", "trace_axis": "W"},
               per_image={"index": index, "files": [str(files[i]) for i in index],
                          "gather_dt_ms": np.asarray(dts, dtype=np.float64)})


def check_readable(path: Path) -> None:
    """Open a SEG-Y file's headers (not its traces), or one sentence saying it is empty or broken."""
    try:
        with open_segy(path) as f:
            f.tracecount  # noqa: B018 - opening checks the size; reading the count checks the header
    except FILE_ERRORS as exc:
        raise unreadable(path, exc) from None


def unreadable(path: Path, exc: Exception) -> GanreconError:
    """The sentence for a SEG-Y file segyio cannot open: empty, or broken and why."""
    if path.is_file() and path.stat().st_size == 0:
        return GanreconError(f"The SEG-Y file {path} is empty.")
    reason = str(exc).splitlines()[0].rstrip(".") if str(exc) else type(exc).__name__
    return GanreconError(f"{path} is not a readable SEG-Y file with equal trace lengths ({reason}).")


def segy_dt_ms(rest: str) -> float | None:
    """The sample interval (ms) in the headers of `segy:PATH`'s files when they all give the same one, else None."""
    import segyio

    path = Path(rest).expanduser()
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in SEGY_SUFFIXES) if path.is_dir() else [path]
    dts = set()
    for file in files:
        try:
            with open_segy(file) as f:
                dts.add(float(segyio.tools.dt(f, fallback_dt=0.0)) / 1000.0)
        except FILE_ERRORS:
            return None  # loading the data gives the one-sentence reason
    return dts.pop() if len(dts) == 1 and 0 not in dts else None
