"""Scoring: every method, learned or conventional, run on the same degraded batch and measured the same way.

Two functions, used by `evaluate` (and so by `ganrecon baseline` / `eval`, the web app and the benchmarks), by
latent inversion, and by the trainer's validation on its fixed batch:

* `baseline_methods(degradation, value_range, ...)` -> {name: fn(observed, mask) -> estimate}: the conventional
  methods that apply, each bound to what the degradation says about itself (`degradation.parameters`: the scale
  for bicubic, the PSF for Wiener and Richardson-Lucy). Which ones: the names asked for; else the task record's
  baselines (ganrecon.tasks, their single source) that apply; else every one that applies.
* `score_methods(methods, clean, observed, mask, value_range)` -> {name: scores}: each method once on the batch,
  timed, its estimate checked for shape and scored by `ganrecon.metrics` (the mask may be on the observed grid).

A degradation that removes pixels of a downsampled image (`down:2+columns:random:0.5`) has no single
conventional method; each mask baseline then fills the low-resolution grid and bicubic enlarges it
("linear+bicubic", ...).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial

import torch

from ganrecon.baselines import BASELINES, Baseline, applicable_baselines, run_baseline
from ganrecon.degrade import Degradation, OperatorParameters, parse_degradation
from ganrecon.errors import GanreconError
from ganrecon.metrics import image_metrics, summarise
from ganrecon.tasks import get_task

Method = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
UPSAMPLER = "bicubic"   # the last step of a chained baseline for a downsampled image with missing pixels


def _bound(baseline: Baseline, value_range, params: OperatorParameters, options: dict) -> Method:
    """`baseline` as fn(observed, mask), given the degradation parameters its function accepts (and `options`)."""
    accepted = inspect.signature(baseline.fn).parameters
    given = {k: v for k, v in params.options().items() if k in accepted and k != "scale"}
    return partial(run_baseline, baseline.name, value_range=tuple(value_range), scale=params.scale,
                   **{**given, **options})


def _chained(first: Method, scale: int, value_range) -> Method:
    """A mask baseline on the low-resolution grid, then bicubic upsampling by `scale`."""
    def fn(observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return run_baseline(UPSAMPLER, first(observed, mask), None, value_range=tuple(value_range), scale=scale)

    return fn


def _candidates(degradation, value_range, on_request: bool = False) -> dict[str, tuple[Baseline, ...]]:
    """Every applicable baseline (or chain of baselines) by name, in the registry's order; those that run only on
    request (the deep prior) when `on_request`."""
    families = set(getattr(degradation, "families", degradation))
    found = {b.name: (b,) for b in applicable_baselines(families, value_range, on_request=on_request)}
    if {"down", "mask"} <= families:
        up = BASELINES[UPSAMPLER]
        for b in applicable_baselines(families - {"down"}, value_range):
            if "mask" in b.families:
                found[f"{b.name}+{UPSAMPLER}"] = (b, up)
    return found


def baseline_methods(degradation: Degradation | str | Iterable[str], value_range, names: Iterable[str] | None = None,
                     *, task: str | None = None, skip_slow: bool = False,
                     options: Mapping[str, dict] | None = None) -> dict[str, Method]:
    """The conventional methods for `degradation` (a Degradation, a spec, or a set of family names) on data in
    `value_range`, as {name: fn(observed, mask) -> estimate}, in the registry's order.

    names: exactly these (each must apply, else one sentence); task: that task record's baselines that apply (all
    applicable ones when none of them does: a task's model met on another task's degradation); neither: every
    applicable one. skip_slow drops the slow ones (FK inversion), e.g. for validation on a large batch.
    options: per-baseline keyword overrides, e.g. {"wiener": {"balance": 0.1}} (tuning, benchmarks).
    """
    if isinstance(degradation, str):
        degradation = parse_degradation(degradation)
    params = getattr(degradation, "parameters", OperatorParameters())
    options = dict(options or {})
    found = _candidates(degradation, value_range, on_request=names is not None)
    if names is not None:
        names = list(names)
        unknown = [n for n in names if n not in found]
        if unknown:
            raise GanreconError(f"Baseline {unknown[0]!r} does not apply here; applicable: "
                                f"{', '.join(found) or 'none'}.")
        found = {n: found[n] for n in found if n in names}
    elif task is not None:
        wanted = set(get_task(task).baselines)
        chosen = {n: parts for n, parts in found.items() if all(b.name in wanted for b in parts)}
        found = chosen or found
    if skip_slow:
        found = {n: parts for n, parts in found.items() if not any(b.slow for b in parts)}
    methods: dict[str, Method] = {}
    for name, parts in found.items():
        first = _bound(parts[0], value_range, params if len(parts) == 1 else OperatorParameters(),
                       options.get(parts[0].name, {}))
        methods[name] = first if len(parts) == 1 else _chained(first, params.scale, value_range)
    return methods


def score_methods(methods: Mapping[str, Method], clean: torch.Tensor, observed: torch.Tensor, mask: torch.Tensor,
                  value_range, *, extra: tuple[str, ...] = (), estimates: dict | None = None,
                  progress: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
    """Run each method once on (observed, mask) and score it against `clean`: {name: {"mse", "mse_missing",
    "psnr", "psnr_missing", "ssim", "snr", "snr_missing", (extra metrics), "ms_per_image"}} (means over the batch).

    `mask` is on the clean grid or on the observed grid of a down:S degradation. Pass a dict as `estimates` to keep
    each method's estimate (for figures); `progress(name)` is called before each method runs.
    """
    scores: dict[str, dict[str, float]] = {}
    for name, fn in methods.items():
        if progress:
            progress(name)
        start = time.perf_counter()
        with torch.no_grad():
            est = fn(observed, mask)
        ms = 1000 * (time.perf_counter() - start) / len(clean)
        if est.shape != clean.shape:
            raise GanreconError(f"The method {name} returned shape {tuple(est.shape)}, expected {tuple(clean.shape)}.")
        scores[name] = {**summarise(image_metrics(est, clean, mask, value_range, extra=extra)), "ms_per_image": ms}
        if estimates is not None:
            estimates[name] = est
    return scores
