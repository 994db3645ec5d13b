"""The strongest conventional seismic interpolators, in the baseline call shape of `ganrecon.baselines`.

``fn(observed, mask, *, value_range, scale, **options) -> estimate``: N x C x H x W tensors (time along H,
traces along W, mask 1 = known), every gather and channel done on its own in numpy. Missing samples are never
read (they may hold anything, NaN included) and known samples are returned exactly; new values are clamped to
`value_range`. The algorithms live in their own modules:

* ``pocs`` -- POCS with FK thresholding (Abma & Kabir 2006) in tapered time windows (`ganrecon.seismic_pocs`);
* ``sliding-fk`` -- the same in small overlapping space-time windows, so curved events are locally linear;
* ``fx`` -- Spitz f-x prediction (filters from the known traces at f / 2 applied at f) for regular decimation,
  its adaptive form (Naghizadeh & Sacchi 2009, filters from a dip-steered first estimate) for other masks
  (`ganrecon.seismic_fx`);
* ``dip-steered`` -- slopes from a low-frequency then full-band semblance scan of the known traces, missing
  traces stacked from their nearest known ones along them (`ganrecon.seismic_dip`);
* ``consensus`` -- the mean of ``fx``, ``dip-steered`` and ``sliding-fk``: their errors are partly independent,
  so the mean is never worse than the worst of them and on gathers usually better than the best (the guard
  benchmark, docs/results/guard.md, scores it beside each);
* ``deep-prior`` -- an untrained U-Net fitted to the known samples for a fixed number of steps
  (`ganrecon.seismic_deep_prior`); seconds per gather, not milliseconds.

`fx` and `dip-steered` work on whole traces: a partly known trace counts as missing for them (its known samples
are still returned). POCS and the deep prior take any mask.

Defaults: tuned by ``benchmarks/seismic_methods.py`` on its tuning gathers (pylops gathers of seeds 10-15 at
12.5-50 m trace spacing, 50% random and every-other-trace decimation; never its test gathers): the setting of
each search with the best mean missing-trace SNR over all tuning cases. The searches and scores are in
docs/results/seismic_methods.md.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ganrecon.errors import GanreconError
from ganrecon.seismic_deep_prior import deep_prior as deep_prior_gather
from ganrecon.seismic_dip import dip_interpolate, dip_stacks
from ganrecon.seismic_fx import fx_interpolate
from ganrecon.seismic_pocs import check_pocs, pocs_interpolate

# Tuned by benchmarks/seismic_methods.py (see the module docstring).
POCS_OPTIONS = {"niter": 30, "first": 0.99, "last": 0.001, "schedule": "exp", "pad": 2.0, "antialias": 1.0,
                "window": (128, 4096), "overlap": (0.5, 0.0)}
SLIDING_FK_OPTIONS = {"niter": 30, "first": 0.99, "last": 0.01, "schedule": "exp", "pad": 2.0, "antialias": 1.0,
                      "window": (64, 16), "overlap": (0.5, 0.5)}
FX_OPTIONS = {"window": (100, 24), "overlap": (0.5, 0.5), "length": 4, "damping": 0.01, "fill_damping": 1e-4,
              "first": "dip"}
DIP_OPTIONS = {"neighbours": 4, "max_slope": 12.0, "slope_step": 0.25, "lowpass": 0.04, "smooth": 8.0,
               "refine": 1.0, "power": 2.0}
# the stacking power of f-x prediction's dip-steered first estimate (`dip_interpolate`'s default); its scan settings
# are DIP_OPTIONS' (the defaults too), so the consensus shares one scan (tests/test_seismic_methods.py checks it)
FX_FIRST_POWER = 1.0
DEEP_PRIOR_OPTIONS = {"iterations": 100, "width": 16, "depth": 4, "lr": 0.005, "channels": 4, "seed": 0}


def gathers(observed, mask) -> tuple[np.ndarray, np.ndarray]:
    """(observed as float64 N x C x H x W with missing samples zeroed, known as bool of the same shape)."""
    if not isinstance(observed, torch.Tensor):
        observed = torch.as_tensor(np.asarray(observed))
    if observed.ndim != 4:
        raise GanreconError(f"The observed gathers must be a batch N x C x H x W, got shape {tuple(observed.shape)}.")
    obs = observed.detach().to("cpu", torch.float64).numpy()
    if mask is None:
        known = np.ones(obs.shape, dtype=bool)
    else:
        mask = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        try:
            known = np.broadcast_to(mask != 0, obs.shape)
        except ValueError:
            raise GanreconError(f"The mask shape {tuple(mask.shape)} does not fit the observed gathers "
                                f"{tuple(obs.shape)}.") from None
    return np.where(known, obs, 0.0), known


def per_gather(method: Callable[[np.ndarray, np.ndarray], np.ndarray], observed, mask, value_range,
               parallel: bool = True) -> torch.Tensor:
    """Apply `method(gather, known) -> estimate` to every H x W slice; known samples exact, the rest clamped.
    `parallel`: slices in torch's thread count of threads (numpy methods; not one that seeds torch globally)."""
    return per_gather_parts(lambda d, k: [method(d, k)], 1, observed, mask, value_range, parallel)[0]


def per_gather_parts(method: Callable[[np.ndarray, np.ndarray], list[np.ndarray]], count: int, observed, mask,
                     value_range, parallel: bool = True) -> list[torch.Tensor]:
    """`per_gather` for a method that gives `count` estimates of each slice (a list)."""
    obs, known = gathers(observed, mask)
    todo = [(n, c) for n in range(obs.shape[0]) for c in range(obs.shape[1]) if not known[n, c].all()]
    workers = min(len(todo), torch.get_num_threads() if parallel else 1)

    def one(nc):
        return method(obs[nc], known[nc].copy())

    if workers > 1:  # numpy's FFTs and solvers release the GIL, so the gathers of a batch run side by side
        with ThreadPoolExecutor(workers) as pool:
            estimates = list(pool.map(one, todo))
    else:
        estimates = list(map(one, todo))
    outs = [obs.copy() for _ in range(count)]
    for nc, parts in zip(todo, estimates):
        for out, estimate in zip(outs, parts):
            out[nc] = estimate
    device = observed.device if isinstance(observed, torch.Tensor) else torch.device("cpu")
    return [torch.from_numpy(np.ascontiguousarray(np.where(known, obs, np.clip(out, *value_range)),
                                                  dtype=np.float32)).to(device) for out in outs]


def pocs(observed, mask, *, value_range=(-1.0, 1.0), scale=1, niter: int = POCS_OPTIONS["niter"],
         first: float = POCS_OPTIONS["first"], last: float = POCS_OPTIONS["last"],
         schedule: str = POCS_OPTIONS["schedule"], pad: float = POCS_OPTIONS["pad"],
         antialias: float = POCS_OPTIONS["antialias"], window=POCS_OPTIONS["window"],
         overlap=POCS_OPTIONS["overlap"]):
    """POCS with FK thresholding (Abma & Kabir) in tapered time windows; any mask."""
    check_pocs(niter, first, last, schedule, pad, antialias)
    options = dict(niter=int(niter), first=first, last=last, schedule=schedule, pad=pad, antialias=antialias)
    return per_gather(lambda d, k: pocs_interpolate(d, k, window=window, overlap=overlap, **options),
                      observed, mask, value_range)


def sliding_fk(observed, mask, *, value_range=(-1.0, 1.0), scale=1, niter: int = SLIDING_FK_OPTIONS["niter"],
               first: float = SLIDING_FK_OPTIONS["first"], last: float = SLIDING_FK_OPTIONS["last"],
               schedule: str = SLIDING_FK_OPTIONS["schedule"], pad: float = SLIDING_FK_OPTIONS["pad"],
               antialias: float = SLIDING_FK_OPTIONS["antialias"], window=SLIDING_FK_OPTIONS["window"],
               overlap=SLIDING_FK_OPTIONS["overlap"]):
    """POCS FK interpolation in small overlapping space-time windows, blended with tapers; any mask."""
    return pocs(observed, mask, value_range=value_range, niter=niter, first=first, last=last, schedule=schedule,
                pad=pad, antialias=antialias, window=window, overlap=overlap)


def fx(observed, mask, *, value_range=(-1.0, 1.0), scale=1, window=FX_OPTIONS["window"],
       overlap=FX_OPTIONS["overlap"], length: int = FX_OPTIONS["length"], damping: float = FX_OPTIONS["damping"],
       fill_damping: float = FX_OPTIONS["fill_damping"], first: str = FX_OPTIONS["first"]):
    """Spitz f-x prediction interpolation (regular decimation; the adaptive form for other trace masks)."""
    return per_gather(lambda d, k: fx_interpolate(d, k, window=window, overlap=overlap, length=length,
                                                  damping=damping, fill_damping=fill_damping, first=first),
                      observed, mask, value_range)


def dip_steered(observed, mask, *, value_range=(-1.0, 1.0), scale=1, neighbours: int = DIP_OPTIONS["neighbours"],
                max_slope: float = DIP_OPTIONS["max_slope"], slope_step: float = DIP_OPTIONS["slope_step"],
                lowpass: float = DIP_OPTIONS["lowpass"], smooth: float = DIP_OPTIONS["smooth"],
                refine: float = DIP_OPTIONS["refine"], power: float = DIP_OPTIONS["power"]):
    """Dip-steered interpolation: semblance slopes from the known traces, stacking along them."""
    return per_gather(lambda d, k: dip_interpolate(d, k, neighbours=neighbours, max_slope=max_slope,
                                                   slope_step=slope_step, lowpass=lowpass, smooth=smooth,
                                                   refine=refine, power=power),
                      observed, mask, value_range)


CONSENSUS_PARTS = ("fx", "dip-steered", "sliding-fk")


def consensus(observed, mask, *, value_range=(-1.0, 1.0), scale=1):
    """The mean of f-x prediction, dip-steered interpolation and sliding-window FK (known samples stay exact)."""
    return consensus_of(consensus_parts(observed, mask, value_range=value_range), observed, mask)


def consensus_parts(observed, mask, *, value_range=(-1.0, 1.0)) -> list[torch.Tensor]:
    """`fx`, `dip_steered` and `sliding_fk` with their defaults (CONSENSUS_PARTS order) in one pass per gather:
    f-x prediction's first estimate is the dip-steered stack at its own weights (1 / distance), so both come
    from one slope scan, the costliest step of either (the scan took half of the consensus's time)."""
    scan = {name: value for name, value in DIP_OPTIONS.items() if name != "power"}
    # the stack at f-x's weights only while f-x's first estimate is dip-steered (else f-x makes its own)
    powers = (DIP_OPTIONS["power"], FX_FIRST_POWER) if FX_OPTIONS["first"] == "dip" else (DIP_OPTIONS["power"],)

    def parts(d, k):
        dip, *first = dip_stacks(d, k, powers=powers, **scan)
        return [fx_interpolate(d, k, guess=first[0] if first else None, **FX_OPTIONS), dip,
                pocs_interpolate(d, k, **SLIDING_FK_OPTIONS)]

    return per_gather_parts(parts, len(CONSENSUS_PARTS), observed, mask, value_range)


def consensus_of(parts, observed, mask, weights=None) -> torch.Tensor:
    """The consensus from its parts' estimates, already computed (the guard has them from its own runs), their
    mean or, with `weights` (summing to 1), their weighted mean; known samples are the observed ones exactly (a
    mean of three equal floats may not be that float)."""
    weights = [1.0 / len(parts)] * len(parts) if weights is None else weights
    mean = sum(w * part.float() for w, part in zip(weights, parts))
    known = torch.as_tensor(mask).expand_as(mean) > 0
    return torch.where(known, torch.as_tensor(observed).float().expand_as(mean), mean)


def deep_prior(observed, mask, *, value_range=(-1.0, 1.0), scale=1,
               iterations: int = DEEP_PRIOR_OPTIONS["iterations"], width: int = DEEP_PRIOR_OPTIONS["width"],
               depth: int = DEEP_PRIOR_OPTIONS["depth"], lr: float = DEEP_PRIOR_OPTIONS["lr"],
               channels: int = DEEP_PRIOR_OPTIONS["channels"], seed: int = DEEP_PRIOR_OPTIONS["seed"]):
    """Untrained deep prior: a small U-Net fitted to the known samples of each gather for `iterations` steps."""
    return per_gather(lambda d, k: deep_prior_gather(d, k, iterations=iterations, width=width, depth=depth, lr=lr,
                                                     channels=channels, seed=seed),
                      observed, mask, value_range, parallel=False)
