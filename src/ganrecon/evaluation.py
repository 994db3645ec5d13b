"""`evaluate`: models and conventional baselines on the same degraded images -> one results table (and JSON).

The JSON shape is shared by `ganrecon baseline` and `ganrecon eval`:
`{"n_images": N, "data": .., "degrade": .., "seed": .., "value_range": [lo, hi], "methods": {name: {"mse",
"mse_missing", "psnr", "ssim", "snr", "ms_per_image", ...}}}`. A learned model is one more method, named after the
model. Running and scoring the methods is `ganrecon.scoring`, the same code the trainer validates with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganrecon.data import ImageSet, default_split, load_dataset
from ganrecon.degrade import parse_degradation
from ganrecon.errors import GanreconError
from ganrecon.fit import check_model_fits
from ganrecon.scoring import baseline_methods, score_methods


@dataclass
class Evaluation:
    """The numbers (`results`, JSON-ready) and the images behind them (for figures). `mask` is on the observed
    grid (a down:S degradation makes it H/S x W/S, like `observed`)."""

    results: dict
    clean: torch.Tensor
    observed: torch.Tensor
    mask: torch.Tensor
    estimates: dict[str, torch.Tensor] = field(default_factory=dict)
    signed: bool = False
    model_names: tuple[str, ...] = ()   # the learned methods among `estimates` (the rest are baselines)

    @property
    def value_range(self) -> tuple[float, float]:
        return tuple(self.results.get("value_range", (-1.0, 1.0) if self.signed else (0.0, 1.0)))

    def observed_at_output_size(self) -> torch.Tensor:
        """The observed images on the clean grid: a low-resolution input is shown enlarged (nearest), not resampled;
        of a burst (frames stacked along the channels), the first frame."""
        observed = self.observed[:, :self.clean.shape[1]]
        if observed.shape == self.clean.shape:
            return observed
        return torch.nn.functional.interpolate(observed, size=self.clean.shape[-2:], mode="nearest")


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


def resolve_split(data: str, split: str | None) -> str | None:
    """"auto" -> the whole file for the user's own files (npy:, npz:, segy:, tiff:, folder:), the test split for
    built-in data; "all" or None -> everything; else as given."""
    if split == "auto":
        split = default_split(data)
    return None if split in (None, "all") else split


def evaluate(data: str | ImageSet, degrade_spec: str, *, models=(), limit: int | None = None, seed: int = 0,
             split: str | None = "auto", root: str | None = None, baselines: list[str] | None = None,
             include_baselines: bool = True, task: str | None = None, progress=None,
             download: bool = False, guard: str = "choose") -> Evaluation:
    """Run the conventional baselines that apply (the named ones, or a task record's, see
    ganrecon.scoring.baseline_methods) and every model on the same degraded images, and score them.

    split: "auto" (default: the whole file for your own files, `test` for built-in datasets), "all", "train",
    "val" or "test". `data` may also be an ImageSet already loaded. `guard` (choose|report|off, ganrecon.guard)
    puts each model guarded under its name and unguarded as NAME:raw.
    """
    from ganrecon.guard import guard_models, guard_reports

    images = data if isinstance(data, ImageSet) else load_dataset(
        data, split=resolve_split(data, split), root=root, limit=limit, seed=seed, download=download)
    if limit is not None:
        images = ImageSet(images.images[:limit], images.value_range, images.name, images.scale, images.meta)
    degradation, observed, mask = degrade_set(images, degrade_spec, seed)
    models = guard_models(models, degradation, guard)
    value_range = images.value_range
    methods = baseline_methods(degradation, value_range, baselines, task=task) if include_baselines else {}
    for model in models:
        check_model_fits(model, degradation)   # a super-resolution model needs down:S, said before any work
        if tuple(model.value_range) != tuple(value_range):
            raise GanreconError(f"The model {model.name} works on data in {tuple(model.value_range)}, but "
                                f"{images.name} is in {tuple(value_range)}.")
        methods[model.name] = model
    estimates: dict[str, torch.Tensor] = {}
    per_method = score_methods(methods, images.images, observed, mask, value_range, estimates=estimates,
                               progress=progress)
    results = {"n_images": len(images.images), "data": images.name if isinstance(data, ImageSet) else data,
               "degrade": degrade_spec, "seed": seed, "value_range": [float(v) for v in value_range],
               "methods": per_method, **guard_reports(models)}
    return Evaluation(results, images.images, observed, mask, estimates, signed=value_range[0] < 0,
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
