"""A seismic survey as survey-level adaptation reads it: many gathers (time x traces), each with its missing traces.

A geophysicist never has one gather: a survey has hundreds of shots with the same geometry and geology, and that
is the training set that fits their data. SURVEY is one of
- a SEG-Y file holding many gathers, split where the field record number (FFID, trace header bytes 9-12) changes;
- a folder of SEG-Y files (each split the same way) and NPY gathers, read in name order;
- an NPY file: one gather (time x traces) or a stack of them (gathers x time x traces);
- a dataset spec (`segy:PATH` and `npy:PATH` as the paths above; `npz:`, `seismic:...` and the others through
  `ganrecon.data.load_dataset`, all of their images).
A trace is missing when it is all zero (dead, as `ganrecon reconstruct` reads a file) or holds a NaN or infinite
sample; `degrade` (a mask spec such as columns:random:0.5) removes traces from a complete, e.g. synthetic, survey
as well. Each gather is divided by its largest known amplitude, so loud and quiet shots weigh alike in the
held-out score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganrecon.errors import GanreconError
from ganrecon.files import dead_trace_mask, read_file, zero_nonfinite_traces

SEGY_SUFFIXES = (".sgy", ".segy", ".seg")
GATHER_SUFFIXES = (*SEGY_SUFFIXES, ".npy")


@dataclass
class Gather:
    name: str                 # where it came from: "shots.sgy FFID 12", "stack.npy [3]"
    observed: torch.Tensor    # C x H x W, divided by its largest known amplitude, zero where missing
    mask: torch.Tensor        # C x H x W, 1 = known trace, 0 = missing


@dataclass
class Survey:
    source: str
    gathers: list[Gather]

    def pairs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(g.observed, g.mask) for g in self.gathers]

    def missing_share(self) -> float:
        return float(sum(float((1 - g.mask).sum()) for g in self.gathers)
                     / sum(g.mask.numel() for g in self.gathers))

    def describe(self) -> str:
        """One line: how many gathers, their sizes and the share of missing traces."""
        sizes = sorted({tuple(g.observed.shape[-2:]) for g in self.gathers})
        span = "x".join(map(str, sizes[0])) + ("" if len(sizes) == 1 else " to " + "x".join(map(str, sizes[-1])))
        count = f"{len(self.gathers)} gather{'s' if len(self.gathers) != 1 else ''}"
        return f"{count} of {span} samples x traces, {100 * self.missing_share():.0f}% of the traces missing"


def read_survey(source: str | Path, *, degrade: str | None = None, seed: int = 0) -> Survey:
    """Every gather of `source` (see the module docstring) with its mask; `degrade` (a mask spec, drawn with
    `seed`, one draw per gather) removes traces on top of those the data already lacks."""
    arrays = survey_arrays(str(source), seed)
    if not arrays:
        raise GanreconError(f"The survey {source} holds no gathers.")
    gathers = []
    for name, array in arrays:
        if array.shape[-1] < 2 or array.shape[-2] < 2:
            raise GanreconError(f"The gather {name} is {array.shape[-2]} x {array.shape[-1]} samples x traces; "
                                "a survey's gathers need at least 2 of each.")
        mask = dead_trace_mask(array[None])[0]
        peak = float(np.abs(array).max())
        observed = array / peak if peak > 0 else array
        gathers.append(Gather(name, torch.from_numpy(np.ascontiguousarray(observed, np.float32)),
                              torch.from_numpy(np.ascontiguousarray(mask, np.float32))))
    if degrade:
        _degrade(gathers, degrade, seed)
    return Survey(str(source), gathers)


def survey_arrays(source: str, seed: int) -> list[tuple[str, np.ndarray]]:
    """(name, C x H x W float32 with missing traces zeroed) for each gather of a path or dataset spec."""
    path = Path(source).expanduser()
    if path.exists():
        return _path_arrays(path)
    kind, colon, rest = source.partition(":")
    kind = kind.strip().lower()
    if not colon:
        raise GanreconError(f"The survey {source} is neither a file, a folder nor a dataset spec (segy:PATH, "
                            "npy:PATH, npz:PATH, seismic:...).")
    if kind in ("segy", "npy"):
        path = Path(rest.strip()).expanduser()
        if not path.exists():
            raise GanreconError(f"The survey {rest.strip()} does not exist.")
        return _path_arrays(path)
    from ganrecon.data import load_dataset

    images = load_dataset(source, split="all", seed=seed).images.numpy()
    return [(f"{source} [{i}]", zero_nonfinite_traces(image)) for i, image in enumerate(images)]


def _path_arrays(path: Path) -> list[tuple[str, np.ndarray]]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in GATHER_SUFFIXES)
        if not files:
            raise GanreconError(f"The folder {path} holds no SEG-Y (.sgy, .segy) or NPY gathers.")
        return [gather for file in files for gather in _file_arrays(file)]
    return _file_arrays(path)


def _file_arrays(path: Path) -> list[tuple[str, np.ndarray]]:
    suffix = path.suffix.lower()
    if suffix in SEGY_SUFFIXES:
        return segy_gathers(path)
    if suffix == ".npy":
        images = read_file(path, nonfinite_traces_missing=True).images  # N x 1 x H x W
        if len(images) == 1:
            return [(path.name, images[0])]
        return [(f"{path.name} [{i}]", image) for i, image in enumerate(images)]
    raise GanreconError(f"{path.name}: a survey is SEG-Y (.sgy, .segy) or NPY gathers, not {suffix or 'no suffix'}.")


def segy_gathers(path: Path) -> list[tuple[str, np.ndarray]]:
    """The gathers of one SEG-Y file: consecutive traces with the same field record number (FFID) form one; a file
    whose headers give none (all equal) is one gather."""
    import segyio

    from ganrecon.data.convert import FILE_ERRORS
    from ganrecon.data.segy import open_segy, unreadable

    try:
        with open_segy(path) as f:
            traces = np.asarray(f.trace.raw[:], dtype=np.float32)
            records = np.asarray(f.attributes(segyio.TraceField.FieldRecord)[:]).reshape(-1)
    except FILE_ERRORS as exc:
        raise unreadable(path, exc) from None
    if traces.ndim != 2 or traces.size == 0:
        raise GanreconError(f"The SEG-Y file {path} has no traces.")
    traces = zero_nonfinite_traces(traces.T)  # time x traces
    starts = [0, *(np.flatnonzero(np.diff(records) != 0) + 1).tolist()]
    ends = [*starts[1:], traces.shape[1]]
    if len(starts) == 1:
        return [(path.name, traces[None])]
    return [(f"{path.name} FFID {int(records[a])}", traces[None, :, a:b]) for a, b in zip(starts, ends)]


def _degrade(gathers: list[Gather], spec: str, seed: int) -> None:
    """Remove traces from each gather with a mask degradation (one seeded stream for the whole survey)."""
    from ganrecon.degrade import parse_degradation

    degradation = parse_degradation(spec)
    if "mask" not in degradation.families:
        raise GanreconError(f"--degrade {spec!r} removes no traces; give a mask spec such as columns:random:0.5.")
    generator = torch.Generator().manual_seed(seed)
    for g in gathers:
        observed, mask = degradation(g.observed[None], value_range=(-1.0, 1.0), generator=generator)
        g.mask = (mask[0] > 0).float() * g.mask
        g.observed = torch.nan_to_num(observed[0]) * g.mask
