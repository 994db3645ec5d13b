"""`segy:PATH`: SEG-Y shot gathers read with segyio, one gather (time x traces) per file.

Files are opened with `ignore_geometry=True`: pre-stack gathers have no inline/crossline geometry, and we want
the traces in file order. Each gather is divided by its own max |amplitude| (kept in `scale`), so a quiet
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


def read_gather(path: Path) -> tuple[np.ndarray, float]:
    """(float32 samples x traces, dt in ms) of one SEG-Y file, or a sentence saying why not."""
    import segyio

    try:
        with segyio.open(str(path), "r", ignore_geometry=True) as f:
            data = np.asarray(f.trace.raw[:], dtype=np.float32)
            dt_ms = float(segyio.tools.dt(f, fallback_dt=4000.0)) / 1000.0
    except FILE_ERRORS as exc:  # segyio raises RuntimeError/OSError/IndexError for broken or foreign files
        reason = str(exc).splitlines()[0].rstrip(".") if str(exc) else type(exc).__name__
        raise GanreconError(f"{path} is not a readable SEG-Y file with equal trace lengths ({reason}).") from None
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
