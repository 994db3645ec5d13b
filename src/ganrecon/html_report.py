"""`--report DIR` and `ganrecon report RUN_DIR`: one self-contained `DIR/index.html` a person can open offline.

Everything the page needs is inside it (CSS, a few lines of JavaScript, every image as a PNG data URI): no CDN,
no external font or script, so it can be mailed, archived or opened on a machine without a network. A page is
a list of sections; an evaluation section holds the sortable metrics table (best per column marked), a grid
ground truth | observed | each method | error map for a few examples, and a before/after wipe between the
observed input and each model's output. A run section adds loss and validation curves. Every page ends with
the resolved configuration and the environment (versions, device) that produced it.
"""

from __future__ import annotations

import datetime
import io
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganrecon.display import (
    DEFAULT_CLIP_PERCENTILE,
    SIGNED_CMAPS,
    data_uri,
    error_rgb,
    image_rgb,
    png_bytes,
    symmetric_clip,
    wiggle_png,
)
from ganrecon.errors import GanreconError
from ganrecon.io_utils import atomic_write_text
from ganrecon.report import best_per_column, format_metric, plural, same_as_observed

WEB_DIR = Path(__file__).parent / "web"
TABLE_COLUMNS = ("mse", "mse_missing", "psnr", "psnr_missing", "ssim", "snr", "snr_missing", "ms_per_image")


@dataclass
class Panel:
    """One picture in several views: "image" (ordinary images), "grey" / "rwb" / "wiggle" (gathers)."""

    label: str
    views: dict[str, str]
    caption: str = ""
    error: str | None = None   # the error map under a method's output
    error_caption: str = ""


@dataclass
class Wipe:
    label: str
    before: Panel
    after: Panel


@dataclass
class Section:
    title: str
    subtitle: str = ""
    table: dict | None = None              # {"columns": [...], "rows": [{"name", "kind", "cells": [...]}]}
    examples: list[list[Panel]] = field(default_factory=list)
    wipes: list[Wipe] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)   # (caption, data URI)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ pieces

def metrics_table(methods: dict, model_names=()) -> dict:
    """The methods' scores as table rows: only columns some method has, the best value per column flagged."""
    columns = [c for c in TABLE_COLUMNS if any(c in m for m in methods.values())]
    best = best_per_column(methods, columns)
    rows = []
    for name, scores in methods.items():
        cells = []
        for col in columns:
            v = scores.get(col)
            text = format_metric(col, v)
            cells.append({"text": text, "value": "" if text == "-" else repr(float(v)),
                          "best": text != "-" and v == best.get(col)})
        rows.append({"name": name, "kind": "model" if name in model_names else "baseline", "cells": cells})
    return {"columns": columns, "rows": rows,
            "higher_better": [c for c in columns if c not in ("mse", "mse_missing", "ms_per_image")]}


def panel(label: str, img, *, signed: bool, clip: float | None = None, wiggle: bool = False,
          caption: str = "") -> Panel:
    """An image, or a gather in grey and red-white-blue (and wiggles) with one symmetric clip for all views."""
    if not signed:
        return Panel(label, {"image": data_uri(png_bytes(image_rgb(img, signed=False)))}, caption)
    views = {name: data_uri(png_bytes(image_rgb(img, signed=True, clip=clip, cmap=name))) for name in SIGNED_CMAPS}
    if wiggle:
        views["wiggle"] = data_uri(wiggle_png(img, clip))
    return Panel(label, views, caption)


def _per_image_db(estimate: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor, signed: bool) -> str:
    from ganrecon.metrics import image_metrics

    value_range = (-1.0, 1.0) if signed else (0.0, 1.0)
    m = image_metrics(estimate[None], clean[None], mask[None], value_range)  # the mask may be on the observed grid
    if signed and math.isfinite(float(m["snr_missing"][0])):   # where traces are missing, the score on them
        return f"SNR missing {float(m['snr_missing'][0]):.1f} dB"
    key = "snr" if signed else "psnr"
    return f"{key.upper()} {float(m[key][0]):.1f} dB"


def example_rows(evaluation, rows: int = 3, *, clip_percentile: float = DEFAULT_CLIP_PERCENTILE,
                 wiggle: bool = False) -> list[list[Panel]]:
    """Ground truth | observed | each method with its error map below it, for the first `rows` images. A row
    shares one amplitude clip (from the ground truth) and one error scale, so panels compare by eye."""
    signed = evaluation.signed
    observed = evaluation.observed_at_output_size()
    count = min(rows, len(evaluation.clean))
    twin = same_as_observed(observed[:count], {k: v[:count] for k, v in evaluation.estimates.items()})
    out = []
    for r in range(count):
        clean = evaluation.clean[r]
        clip = symmetric_clip(clean, clip_percentile) if signed else None
        kw = dict(signed=signed, clip=clip, wiggle=wiggle)
        row = [panel("ground truth", clean, **kw)] + ([] if twin else [panel("observed", observed[r], **kw)])
        errors = {name: (est[r] - clean).abs() for name, est in evaluation.estimates.items()}
        err_max = max((float(torch.quantile(e.flatten().float(), 0.99)) for e in errors.values()), default=1.0)
        for name, est in evaluation.estimates.items():
            label = f"{name} (= observed)" if name == twin else name
            p = panel(label, est[r], caption=_per_image_db(est[r], clean, evaluation.mask[r], signed), **kw)
            p.error = data_uri(png_bytes(error_rgb(est[r], clean, err_max)))
            p.error_caption = f"|error| 0-{err_max:.2g}"
            row.append(p)
        out.append(row)
    return out


def model_wipes(evaluation, index: int = 0, *, clip_percentile: float = DEFAULT_CLIP_PERCENTILE) -> list[Wipe]:
    """Observed input against each model's output (or the best baseline's when no model ran), one example."""
    names = list(evaluation.model_names) or list(evaluation.estimates)[-1:]
    clean = evaluation.clean[index]
    clip = symmetric_clip(clean, clip_percentile) if evaluation.signed else None
    before = panel("observed", evaluation.observed_at_output_size()[index], signed=evaluation.signed, clip=clip)
    return [Wipe(name, before, panel(name, evaluation.estimates[name][index], signed=evaluation.signed, clip=clip))
            for name in names if name in evaluation.estimates]


def evaluation_section(evaluation, title: str, *, rows: int = 3, clip_percentile: float = DEFAULT_CLIP_PERCENTILE,
                       wiggle: bool = False) -> Section:
    results = evaluation.results
    subtitle = f"{results.get('data')} + {results.get('degrade')}, {plural(results['n_images'], 'image')}, seed " \
               f"{results.get('seed')}"
    from ganrecon.guard import describe

    return Section(title, subtitle, metrics_table(results["methods"], evaluation.model_names),
                   example_rows(evaluation, rows, clip_percentile=clip_percentile, wiggle=wiggle),
                   model_wipes(evaluation, clip_percentile=clip_percentile),
                   notes=[describe(g, name) for name, g in results.get("guard", {}).items()])


def figure_uri(plot, *args, **kwargs) -> str | None:
    """A report.py plot function's PNG as a data URI (None when it had nothing to plot)."""
    buf = io.BytesIO()
    if plot(*args, buf, **kwargs) is False:
        return None
    return data_uri(buf.getvalue())


def environment() -> dict:
    """Versions and device: what a reader needs to reproduce or question the numbers."""
    import numpy

    from ganrecon import __version__

    device = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {"ganrecon": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "platform": platform.platform(), "device": device,
            "cpu threads": torch.get_num_threads(),
            "generated": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


# ------------------------------------------------------------------------------------------------- pages

def render_page(title: str, sections: list[Section], config: dict | str | None) -> str:
    """The whole page as one HTML string; the CSS and JavaScript of web/static are inlined."""
    import jinja2
    import yaml

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB_DIR / "templates"), autoescape=True)
    config_text = config if isinstance(config, str) or config is None else \
        yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
    signed = any("grey" in p.views for s in sections for row in s.examples for p in row)
    wiggle = any("wiggle" in p.views for s in sections for row in s.examples for p in row)
    return env.get_template("report.html").render(
        title=title, sections=sections, config_text=config_text, environment=environment(), signed=signed,
        wiggle=wiggle, css=(WEB_DIR / "static" / "ganrecon.css").read_text(),
        js=(WEB_DIR / "static" / "ganrecon.js").read_text())


def write_report(out_dir: str | Path, title: str, sections: list[Section], config: dict | str | None) -> Path:
    """Write `out_dir/index.html` atomically and return its path."""
    path = Path(out_dir) / "index.html"
    atomic_write_text(path, render_page(title, sections, config))
    return path


def evaluation_report(evaluation, out_dir: str | Path, title: str, config: dict, **display) -> Path:
    """The page for `ganrecon eval` / `ganrecon baseline`: one evaluation section."""
    return write_report(out_dir, title, [evaluation_section(evaluation, "Results", **display)], config)


# --------------------------------------------------------------------------------------------- training runs

def _read_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text()) or {}


def _degrade_of(config: dict) -> str:
    degrade = config.get("val_degrade") or config.get("degrade")
    return degrade[0] if isinstance(degrade, list) else str(degrade)


def run_report(run_dir: str | Path, out_dir: str | Path | None = None, *, data: str | None = None,
               degrade: str | None = None, data_root: str | None = None, limit: int = 8, rows: int = 3,
               clip_percentile: float = DEFAULT_CLIP_PERCENTILE, wiggle: bool = False, progress=None) -> Path:
    """A training run's page: validation scores at the end, loss and validation curves, examples of the model
    next to the baselines on validation images (when its data can be loaded), config, model description."""
    import json

    from ganrecon.report import CONDITIONAL_PANELS, LATENT_PANELS, plot_losses, plot_validation

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise GanreconError(f"{run_dir} is not a training run (no config.yaml).")
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "report"
    config = _read_yaml(run_dir / "config.yaml")
    name = run_dir.resolve().name
    summary_path = run_dir / "summary.json"
    section = Section(f"Training run {name}", f"task {config.get('task')}, data {config.get('data')}")
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        methods = {name if k == "model" else k: v for k, v in summary.get("validation", {}).items()}
        section.table = metrics_table(methods, (name,))
        section.subtitle += f"; {summary.get('step')} steps in {summary.get('seconds')} s; validation at the end " \
                            f"({_degrade_of(config)})"
    else:
        section.notes.append("No summary.json yet: the run has not finished (curves so far are below).")
    if (run_dir / "log.csv").is_file():
        panels = LATENT_PANELS if config.get("task") == "latent" else CONDITIONAL_PANELS
        uri = figure_uri(plot_losses, run_dir / "log.csv", panels=panels, log_first=config.get("task") != "latent")
        if uri:
            section.figures.append(("training losses per logged step", uri))
    if (run_dir / "validation.csv").is_file():
        uri = figure_uri(plot_validation, run_dir / "validation.csv")
        if uri:
            section.figures.append(("validation scores during training", uri))
    sections = [section]
    if limit > 0 and (run_dir / "model.safetensors").is_file():
        sections.append(_run_examples(run_dir, config, data, degrade, data_root, limit, rows, clip_percentile,
                                      wiggle, progress))
    model_meta = run_dir / "model.json"
    config_text = (run_dir / "config.yaml").read_text()
    if model_meta.is_file():
        config_text += "\n# model.json\n" + model_meta.read_text()
    return write_report(out_dir, f"ganrecon run {name}", sections, config_text)


def _run_examples(run_dir, config, data, degrade, data_root, limit, rows, clip_percentile, wiggle, progress):
    from ganrecon.evaluation import evaluate
    from ganrecon.inference import load_model

    data = data or config.get("val_data") or config.get("data")
    degrade = degrade or _degrade_of(config)
    title = "Examples on validation images"
    try:
        evaluation = evaluate(data, degrade, models=[load_model(run_dir)], limit=limit, split="val",
                              task=config.get("task"), root=data_root or config.get("data_root"), progress=progress)
    except (GanreconError, OSError) as exc:  # the data may live on another machine: the page still has the rest
        return Section(title, notes=[f"Examples skipped: {exc} (pass --data / --data-root to choose data)."])
    return evaluation_section(evaluation, title, rows=rows, clip_percentile=clip_percentile, wiggle=wiggle)
