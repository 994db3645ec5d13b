"""Invertible seismic pre-processing around a model: a gain applied before it and removed after, and the time
axis resampled to the model's training sampling and back.

Field gathers lose orders of magnitude of amplitude with time (spherical divergence, absorption), so a model that
normalises a tile by its largest amplitude sees late reflections as noise; a gain balances them. The gain is
computed from the known traces only and is the same for every trace, so removing it restores the original
amplitudes exactly and never depends on what is missing.

Specs: `agc:W` (automatic gain control: 1 / RMS over a window of W time samples and all known traces),
`tpow:P` (t^P correction, t in samples from 1).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch

from ganrecon.errors import GanreconError
from ganrecon.reconstructor import ModelWrapper
from ganrecon.specs import parse_float, parse_int, split_kind


def parse_gain(spec: str) -> tuple[str, float]:
    kind, rest = split_kind(spec, "gain")
    if kind == "agc":
        return kind, float(parse_int(rest or "50", "agc window (samples)", lo=1, hi=100_000))
    if kind == "tpow":
        return kind, parse_float(rest or "2", "tpow power", lo=-10.0, hi=10.0)
    raise GanreconError(f"Unknown gain {spec!r}; use agc:WINDOW_SAMPLES or tpow:POWER.")


def gain_curve(observed: torch.Tensor, mask: torch.Tensor, spec: str) -> torch.Tensor:
    """N x 1 x H x 1 positive gain, a function of time only, from the known entries (mask == 1) only."""
    kind, value = parse_gain(spec)
    n, _, h, _ = observed.shape
    if kind == "tpow":
        t = torch.arange(1, h + 1, dtype=torch.float32)
        return (t ** value).view(1, 1, h, 1).expand(n, 1, h, 1).clone()
    known = (mask > 0).float()
    power = (torch.nan_to_num(observed.float()) ** 2 * known).sum(dim=(1, 3)) / known.sum(dim=(1, 3)).clamp_min(1)
    window = int(value)
    kernel = torch.ones(1, 1, window) / window
    smooth = torch.nn.functional.conv1d(power[:, None], kernel, padding=window // 2)[..., :h]
    rms = smooth.clamp_min(0).sqrt()[:, 0]  # N x H
    floor = rms.amax(dim=1, keepdim=True).clamp_min(1e-12) * 1e-3  # silent stretches get a bounded gain
    return (1.0 / torch.maximum(rms, floor)).view(n, 1, h, 1)


class GainedModel(ModelWrapper):
    """`model` applied to gained data, its output with the gain removed (same call shape as the model)."""

    def __init__(self, model, spec: str):
        parse_gain(spec)
        super().__init__(model, f"{model.name}+{spec}")
        self.spec = spec

    def reconstruct(self, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        gain = gain_curve(observed, mask, self.spec)
        return self.model(observed * gain, mask) / gain


def training_dt_ms(meta: dict) -> tuple[float, float] | None:
    """The (lowest, highest) time sampling in ms the model was trained on, when its data was `seismic:` (a list
    of specs, as training takes, counts when every one of them is seismic; the range spans them all)."""
    specs = meta.get("data") or []
    specs = [specs] if isinstance(specs, str) else list(specs)
    ranges = [_seismic_dt_ms(str(spec)) for spec in specs]
    if not ranges or any(r is None for r in ranges):
        return None
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def _seismic_dt_ms(spec: str) -> tuple[float, float] | None:
    kind, rest = split_kind(spec, "dataset") if spec.strip() else ("", "")
    if kind != "seismic":
        return None
    from ganrecon.data.seismic import parse_seismic_options

    opt = parse_seismic_options(rest)
    low, high = opt.dt_range or (opt.dt, opt.dt)
    return low * 1000.0, high * 1000.0


def header_sampling(model, header_dt_ms: float | None) -> tuple[float | None, str | None]:
    """What to do with a SEG-Y header's sample interval when --dt-ms is not given: (dt_ms to resample from, or
    None; a sentence saying what was done, or None when the file gives no interval)."""
    if not header_dt_ms:
        return None, None
    trained = training_dt_ms(model.meta)
    if trained is None:
        return None, (f"The SEG-Y sample interval ({header_dt_ms:g} ms) is not used: {model.name} was not trained "
                      "on seismic data of known sampling.")
    low, high = trained
    span = f"{low:g} ms" if low == high else f"{low:g}-{high:g} ms"
    action = "no resampling needed" if low <= header_dt_ms <= high else \
        f"resampled to {min(max(header_dt_ms, low), high):g} ms and back"
    return header_dt_ms, (f"--dt-ms {header_dt_ms:g} from the SEG-Y header ({model.name} was trained on {span}: "
                          f"{action}).")


def resample_time(x: torch.Tensor, up: int, down: int, length: int | None = None) -> torch.Tensor:
    """Polyphase (anti-aliased) resampling along H by up/down, cut or zero-padded to `length` samples."""
    from scipy.signal import resample_poly

    out = torch.from_numpy(np.ascontiguousarray(resample_poly(x.numpy(), up, down, axis=-2), dtype=np.float32))
    if length is not None:
        out = out[..., :length, :]
        if out.shape[-2] < length:
            out = torch.nn.functional.pad(out, (0, 0, 0, length - out.shape[-2]))
    return out


class ResampledModel(ModelWrapper):
    """`model` run at its training time sampling: the input is resampled from `dt_ms` to the nearest sampling
    the model was trained on, and the output back. Traces are columns, so the mask keeps its trace pattern; the
    known samples are kept as given (resampling there and back would change them)."""

    data_consistency = True

    def __init__(self, model, dt_ms: float):
        if not (isinstance(dt_ms, (int, float)) and 0 < dt_ms < float("inf")):
            raise GanreconError(f"--dt-ms must be a positive number of milliseconds, got {dt_ms}.")
        trained = training_dt_ms(model.meta)
        if trained is None:
            raise GanreconError(f"The model {model.name} was not trained on seismic data of known sampling, so "
                                "--dt-ms cannot resample for it.")
        super().__init__(model, model.name)
        self.dt_ms = dt_ms
        self.target_ms = min(max(dt_ms, trained[0]), trained[1])
        ratio = Fraction(self.target_ms / dt_ms).limit_denominator(64)  # new samples per old sample = dt / target
        self.up, self.down = (ratio.denominator, ratio.numerator)

    def reconstruct(self, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.up == self.down:
            return self.model(observed, mask)
        h = observed.shape[-2]
        new_h = -(-h * self.up // self.down)
        traces = mask.amax(dim=-2, keepdim=True)  # N x C x 1 x W: a trace is known if any sample is
        resampled = resample_time(observed, self.up, self.down, new_h)
        new_mask = traces.expand(*traces.shape[:2], new_h, traces.shape[-1]).contiguous()
        out = self.model(resampled * new_mask, new_mask)
        return resample_time(out, self.down, self.up, h)
