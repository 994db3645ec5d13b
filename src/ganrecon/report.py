"""Figures and tables a person can read: loss curves, method comparisons, and result tables as text."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ganrecon.io_utils import atomic_path  # noqa: E402

METRIC_COLUMNS = ("mse", "mse_missing", "psnr", "ssim", "snr", "ms_per_image")


def _savefig(fig, path) -> None:
    """Save to a path atomically, or as PNG into a file-like object (the HTML report embeds figures)."""
    if hasattr(path, "write"):
        fig.savefig(path, dpi=120, bbox_inches="tight", format="png")
        plt.close(fig)
        return
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    plt.close(fig)


CONDITIONAL_PANELS = ((("g_content",), "generator content loss"), (("g_adv",), "generator adversarial loss"),
                      (("d_loss",), "discriminator loss"))
LATENT_PANELS = ((("g_loss",), "generator loss"), (("d_loss",), "discriminator loss"),
                 (("d_real", "d_fake"), "D(real), D(G(z))"))  # 0.5 each = D cannot tell


def plot_losses(log_csv: Path, out, panels=CONDITIONAL_PANELS, log_first: bool = True) -> bool:
    """Losses from a run's log.csv in separate panels (generator and discriminator live on different scales).
    Panels whose columns the log lacks are left out; returns False when there is nothing to plot."""
    with open(log_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    panels = [(keys, title) for keys, title in panels if rows and all(k in rows[0] for k in keys)]
    if not rows or not panels:
        return False
    steps = [int(r["step"]) for r in rows]
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.4), squeeze=False)
    axes = axes[0]
    for ax, (keys, title) in zip(axes, panels):
        for key in keys:
            ax.plot(steps, [float(r[key]) for r in rows], lw=1, label=key)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=8)
    if log_first:
        axes[0].set_yscale("log")
    _savefig(fig, out)
    return True


def plot_validation(validation_csv: Path, out, metrics=("psnr", "snr")) -> bool:
    """A run's validation.csv: each metric per evaluation step, one line per method (model and baselines)."""
    with open(validation_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    metrics = [m for m in metrics if rows and m in rows[0]]
    if not metrics:
        return False
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.5 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for method in dict.fromkeys(r["method"] for r in rows):
            mine = [r for r in rows if r["method"] == method]
            ax.plot([int(r["step"]) for r in mine], [float(r[metric]) for r in mine], marker=".", lw=1, label=method)
        ax.set_title(f"validation {metric} (dB)")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="best")
    _savefig(fig, out)
    return True


def sample_grid(samples: torch.Tensor, out: Path, value_range=(0.0, 1.0), title: str | None = None) -> None:
    """Samples as a square grid image (torchvision's make_grid), written atomically."""
    from torchvision.utils import make_grid

    lo, hi = (float(v) for v in value_range)
    nrow = max(1, int(math.sqrt(len(samples))))
    grid = make_grid(((samples - lo) / (hi - lo)).clamp(0, 1), nrow=nrow, padding=1, pad_value=0.5)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(grid.permute(1, 2, 0).numpy() if grid.shape[0] == 3 else grid[0].numpy(), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    _savefig(fig, out)


def plot_latent_losses(log_csv: Path, out: Path) -> bool:
    """The unconditional trainer's losses and D's mean verdicts on real and generated images."""
    return plot_losses(log_csv, out, LATENT_PANELS, log_first=False)


def _display(img: torch.Tensor, signed: bool) -> tuple[np.ndarray, dict]:
    """One image as a 2-D (or RGB) array with imshow arguments: seismic in grey with symmetric clipping at the
    98th percentile of |amplitude| (time downwards), ordinary images in [0, 1]."""
    arr = img.detach().float().cpu().numpy()
    if arr.shape[0] == 1:
        arr = arr[0]
    else:
        arr = np.clip(np.moveaxis(arr, 0, -1), 0, 1)
    if signed:
        return arr, dict(cmap="gray", vmin=None, vmax=None, aspect="auto", interpolation="nearest")
    return arr, dict(cmap="gray", vmin=0, vmax=1, interpolation="nearest")


def same_as_observed(observed: torch.Tensor, estimates: dict[str, torch.Tensor]) -> str | None:
    """The method whose output is exactly the observed input (zero-fill of a mask, the noisy image), if any: a
    figure then shows that method once instead of an "observed" panel that duplicates it."""
    for name, est in estimates.items():
        if est.shape == observed.shape and torch.equal(est.detach().float().cpu(), observed.detach().float().cpu()):
            return name
    return None


def panel_title(name: str, width: int = 16) -> str:
    """A method name over several lines (at '+', then at '-' or where it must), so titles of neighbouring panels
    never run into each other."""
    import textwrap

    lines = []
    for part in name.replace("+", "\n+").split("\n"):
        lines += textwrap.wrap(part, width, break_on_hyphens=True, break_long_words=True) or [""]
    return "\n".join(lines)


def score_key(scores: dict, signed: bool) -> str:
    """The figure's headline score: for seismic the SNR on the missing traces when traces are missing (zero-fill
    scores 0 dB there, and its whole-gather SNR would flatter it), else SNR; PSNR for images."""
    if not signed:
        return "psnr"
    return "snr_missing" if any(_finite(m.get("snr_missing")) for m in scores.values()) else "snr"


def comparison_figure(clean: torch.Tensor, observed: torch.Tensor, estimates: dict[str, torch.Tensor],
                      out: Path, *, signed: bool = False, rows: int = 3, scores: dict | None = None) -> None:
    """Ground truth | observed | each method, for the first `rows` images; each method's score in its title
    (`score_key`). Gathers get time and trace axes; a method identical to the input replaces the observed panel."""
    rows = min(rows, len(clean))
    twin = same_as_observed(observed[:rows], {k: v[:rows] for k, v in estimates.items()})
    first = [("ground truth", None)] + ([] if twin else [("observed", None)])
    names = first + [(k, k) for k in estimates]
    cols = len(names)
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.0 * rows * (1.6 if signed else 1.0) + 0.4),
                             squeeze=False)
    key = score_key(scores, signed) if scores else None
    for r in range(rows):
        clip = None
        if signed:  # symmetric grey scale clipped at the 98th percentile of |amplitude|, as seismic displays do
            clip = float(torch.quantile(clean[r].abs().flatten().float(), 0.98)) or 1.0
        for c, (label, method) in enumerate(names):
            img = clean[r] if label == "ground truth" else observed[r] if method is None else estimates[method][r]
            arr, kw = _display(img, signed)
            if signed:
                kw.update(vmin=-clip, vmax=clip)
            ax = axes[r][c]
            ax.imshow(arr, **kw)
            _axes_style(ax, signed, first_col=c == 0, last_row=r == rows - 1)
            if r == 0:
                title = panel_title(label) + (" (= observed)" if method is not None and method == twin else "")
                if scores and method in scores and _finite(scores[method].get(key)):
                    title += f"\n{key.replace('_missing', ' missing')} {scores[method][key]:.1f} dB"
                ax.set_title(title, fontsize=7)
    fig.tight_layout()
    _savefig(fig, out)


def _axes_style(ax, signed: bool, *, first_col: bool, last_row: bool) -> None:
    """Images without ticks; gathers with time (samples, downwards) on the left and traces along the bottom."""
    if not signed:
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ax.tick_params(labelsize=6, length=2)
    if first_col:
        ax.set_ylabel("time (sample)", fontsize=7)
    else:
        ax.set_yticklabels([])
    if last_row:
        ax.set_xlabel("trace", fontsize=7)
    else:
        ax.set_xticklabels([])


def image_grid(rows: list[list[tuple[str, torch.Tensor]]], out: Path, *, size: float = 1.6,
               row_labels: list[str] | None = None) -> None:
    """Images in [0, 1] as a grid of titled panels (one list of (title, C x H x W image) per row), for figures
    that are not method comparisons: parameter sweeps, simulated vs synthesised samples."""
    cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(size * cols, size * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row):
                ax.set_axis_off()
                continue
            arr, kw = _display(row[c][1], signed=False)
            ax.imshow(arr, **kw)
            ax.set_title(row[c][0], fontsize=7)
        if row_labels:
            axes[r][0].set_ylabel(row_labels[r], fontsize=7)
    _savefig(fig, out)


TABLE_COLUMNS = ("mse", "mse_missing", "psnr", "ssim", "snr", "snr_missing", "ms_per_image")
HEADERS = {"mse_missing": "mse\nmissing", "psnr_missing": "psnr\nmissing", "snr_missing": "snr\nmissing",
           "ms_per_image": "ms per\nimage"}   # two short lines instead of one long one: narrower columns


class ResultsTable:
    """The evaluation JSON's methods as a rich table, best value per column in bold. Method names are never cut:
    columns with no value for any method are left out, long headers take two lines, and when the metric columns
    still do not fit the terminal (80 columns when piped) they continue in a second table under the first, each
    with the full method names."""

    def __init__(self, results: dict, title: str | None = None, columns=TABLE_COLUMNS):
        self.methods, self.title = results["methods"], title
        self.columns = [c for c in columns if any(_finite(m.get(c)) for m in self.methods.values())] or ["mse"]

    def _cells(self) -> dict[str, list[str]]:
        best = best_per_column(self.methods, self.columns)
        cells = {}
        for col in self.columns:
            values = [m.get(col) for m in self.methods.values()]
            cells[col] = [f"[bold]{format_metric(col, v)}[/bold]" if _finite(v) and v == best.get(col) else
                          format_metric(col, v) for v in values]
        return cells

    def _groups(self, width: int) -> list[list[str]]:
        """Metric columns in groups that fit `width` next to the method column (at least one per group)."""
        name_width = max([len("method"), *(len(n) for n in self.methods)]) + 4   # padding, divider, edge
        groups, used = [[]], name_width
        for col in self.columns:
            need = self._width(col) + 3   # padding and divider
            if groups[-1] and used + need > width:
                groups.append([])
                used = name_width
            groups[-1].append(col)
            used += need
        return groups

    def _width(self, col: str) -> int:
        texts = [format_metric(col, m.get(col)) for m in self.methods.values()]
        return max(len(line) for line in [*HEADERS.get(col, col).split("\n"), *texts])

    def table(self, columns, title: str | None = None):
        from rich import box
        from rich.table import Table

        cells = self._cells()
        table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1))
        table.add_column("method", overflow="fold")   # folded, never cut, on a terminal too narrow for it
        for col in columns:
            table.add_column(HEADERS.get(col, col), justify="right", no_wrap=True, min_width=self._width(col))
        for i, name in enumerate(self.methods):
            table.add_row(name, *(cells[col][i] for col in columns))
        return table

    def __rich_console__(self, console, options):
        groups = self._groups(options.max_width)
        for i, columns in enumerate(groups):
            yield self.table(columns, self.title if i == 0 else None)


def results_table(results: dict, title: str | None = None, columns=TABLE_COLUMNS) -> ResultsTable:
    """The evaluation JSON's methods as a table for the terminal (see ResultsTable)."""
    return ResultsTable(results, title, columns)


def markdown_table(results: dict, columns=METRIC_COLUMNS) -> str:
    """The same table as Markdown, for docs/RESULTS.md (and the demo, which adds snr_missing)."""
    methods = results["methods"]
    lines = ["| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, m in methods.items():
        lines.append(f"| {name} | " + " | ".join(format_metric(c, m.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def plural(count: int, noun: str) -> str:
    """"1 image", "3 images"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


HIGHER_IS_BETTER = frozenset({"psnr", "ssim", "snr", "psnr_missing", "snr_missing"})


def best_per_column(methods: dict, columns=METRIC_COLUMNS) -> dict:
    """The best finite value of each metric over the methods (highest PSNR/SSIM/SNR, lowest error and time)."""
    best = {}
    for col in columns:
        values = [m.get(col) for m in methods.values() if _finite(m.get(col))]
        if values:
            best[col] = (max if col in HIGHER_IS_BETTER else min)(values)
    return best


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and np.isfinite(v)


def format_metric(col: str, v) -> str:
    """A metric as text: "-" when missing or not finite, MSE with 5 decimals, SSIM with 4, the rest with 2."""
    if not _finite(v):
        return "-"
    if col.startswith("mse"):
        return f"{v:.5f}"
    if col == "ssim":
        return f"{v:.4f}"
    if col == "ms_per_image":
        return f"{v:.2f}"
    return f"{v:.2f}"
