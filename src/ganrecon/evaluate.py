"""Models and conventional baselines on the same degraded images -> one results table (and JSON).

The JSON shape is shared by `ganrecon baseline` and `ganrecon eval`:
`{"n_images": N, "data": .., "degrade": .., "seed": .., "methods": {name: {"mse", "mse_missing", "psnr", "ssim",
"snr", "ms_per_image"}}}`. A learned model is one more method, named after the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganrecon.baselines import applicable_baselines, run_baseline
from ganrecon.data import ImageSet, load_dataset
from ganrecon.degrade import parse_degradation
from ganrecon.errors import GanreconError
from ganrecon.metrics import image_metrics, summarise


@dataclass
class Evaluation:
    """The numbers (`results`, JSON-ready) and the images behind them (for figures)."""

    results: dict
    clean: torch.Tensor
    observed: torch.Tensor
    mask: torch.Tensor
    estimates: dict[str, torch.Tensor] = field(default_factory=dict)
    signed: bool = False
    model_names: tuple[str, ...] = ()   # the learned methods among `estimates` (the rest are baselines)

    def observed_at_output_size(self) -> torch.Tensor:
        """The observed images on the clean grid: a low-resolution input is shown enlarged (nearest), not resampled."""
        if self.observed.shape == self.clean.shape:
            return self.observed
        return torch.nn.functional.interpolate(self.observed, size=self.clean.shape[-2:], mode="nearest")


def degrade_set(images: ImageSet, degrade_spec: str, seed: int = 0):
    """Degrade a whole image set once, seeded, so every method sees exactly the same input."""
    degradation = parse_degradation(degrade_spec)
    given = images.meta.get("observed")
    if isinstance(given, torch.Tensor):  # paired data (paired:LOWDIR:HIGHDIR): the inputs are given, not simulated
        if given.shape[-1] * degradation.scale != images.images.shape[-1]:
            raise GanreconError(f"The paired inputs are {given.shape[-2]}x{given.shape[-1]} for "
                                f"{images.images.shape[-2]}x{images.images.shape[-1]} images, which does not match "
                                f"{degrade_spec!r}; use down:{images.images.shape[-1] // given.shape[-1]}.")
        given = given[: len(images.images)]  # `evaluate(limit=...)` keeps the first images
        return degradation, given, torch.ones_like(given)
    observed, mask = degradation(images.images, value_range=images.value_range,
                                 generator=torch.Generator().manual_seed(seed))
    return degradation, observed, mask


def evaluate(data: str | ImageSet, degrade_spec: str, *, models=(), limit: int | None = None, seed: int = 0,
             split: str | None = "test", root: str | None = None, baselines: list[str] | None = None,
             include_baselines: bool = True, progress=None, download: bool = False,
             guard: str = "choose") -> Evaluation:
    """Run every applicable baseline (or the named ones) and every model on the same degraded images; `guard`
    (choose|report|off, ganrecon.guard) puts each model guarded under its name and unguarded as NAME:raw."""
    from ganrecon.guard import guard_models, guard_reports

    images = data if isinstance(data, ImageSet) else load_dataset(data, split=split, root=root, limit=limit,
                                                                   seed=seed, download=download)
    if limit is not None:
        images = ImageSet(images.images[:limit], images.value_range, images.name, images.scale, images.meta)
    degradation, observed, mask = degrade_set(images, degrade_spec, seed)
    models = guard_models(models, degradation, guard)
    value_range = images.value_range
    methods: dict[str, tuple] = {}
    if include_baselines:
        chosen = applicable_baselines(degradation, value_range)
        if baselines is not None:
            known = {b.name for b in chosen}
            unknown = [b for b in baselines if b not in known]
            if unknown:
                raise GanreconError(f"Baseline {unknown[0]!r} does not apply here; applicable: {', '.join(known)}.")
            chosen = [b for b in chosen if b.name in baselines]
        for b in chosen:
            methods[b.name] = (lambda o, m, name=b.name: run_baseline(
                name, o, m, value_range=value_range, scale=degradation.scale))
    for model in models:
        if tuple(model.value_range) != tuple(value_range):
            raise GanreconError(f"The model {model.name} works on data in {tuple(model.value_range)}, but "
                                f"{images.name} is in {tuple(value_range)}.")
        methods[model.name] = (lambda o, m, model=model: model(o, m))

    clean = images.images
    per_method, estimates = {}, {}
    for name, fn in methods.items():
        if progress:
            progress(name)
        start = time.perf_counter()
        with torch.no_grad():
            est = fn(observed, mask)
        ms = 1000 * (time.perf_counter() - start) / len(clean)
        if est.shape != clean.shape:
            raise GanreconError(f"The method {name} returned shape {tuple(est.shape)}, expected {tuple(clean.shape)}.")
        scores = summarise(image_metrics(est, clean, mask if mask.shape == clean.shape else None, value_range))
        scores["ms_per_image"] = ms
        per_method[name] = scores
        estimates[name] = est
    results = {"n_images": len(clean), "data": images.name if isinstance(data, ImageSet) else data,
               "degrade": degrade_spec, "seed": seed, "methods": per_method, **guard_reports(models)}
    return Evaluation(results, clean, observed, mask, estimates, signed=images.value_range[0] < 0,
                      model_names=tuple(model.name for model in models))


def save_outputs(evaluation: Evaluation, json_path: str | Path | None = None,
                 figure_path: str | Path | None = None, rows: int = 3) -> None:
    from ganrecon.io_utils import atomic_write_json
    from ganrecon.report import comparison_figure

    if json_path:
        atomic_write_json(json_path, evaluation.results)
    if figure_path:
        comparison_figure(evaluation.clean, evaluation.observed_at_output_size(), evaluation.estimates, figure_path,
                          signed=evaluation.signed, rows=rows, scores=evaluation.results["methods"])
