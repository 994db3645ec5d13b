"""`make demo`: the main job on embedded data, offline. Each case runs the conventional methods and every shipped
model that fits it on the same degraded images, and writes a table, a figure and JSON into one report folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganrecon.evaluation import evaluate, save_outputs
from ganrecon.inference import load_model, pretrained_names
from ganrecon.io_utils import atomic_write_text
from ganrecon.report import METRIC_COLUMNS, markdown_table, plural, results_table


@dataclass(frozen=True)
class DemoCase:
    slug: str
    title: str
    data: str
    degrade: str
    models: tuple[str, ...] = ()
    limit: int = 16
    split: str | None = "test"   # synthetic data: the held-out split; embedded samples: all of them
    adapt_seconds: float = 0.0   # > 0: each model also adapted to each image for this long (ganrecon.adapt)


SAMPLES = Path(__file__).parent / "samples"
MNIST_SAMPLES = f"npz:{SAMPLES / 'mnist-test-64.npz'}"  # 64 held-out MNIST test digits (CC BY-SA 3.0)

CASES = (
    DemoCase("seismic-random", "Synthetic shot gathers, 50% of traces missing at random", "seismic",
             "columns:random:0.5", ("traces-seismic-unet",)),
    DemoCase("seismic-regular", "Synthetic shot gathers, every other trace missing", "seismic",
             "columns:regular:2", ("traces-seismic-unet",)),
    DemoCase("seismic-field-adapt", "Field-like gathers (ground roll, decay, statics, noise, bad traces), 50% of "
             "traces missing: the pretrained U-Net and the same U-Net adapted to each gather for 20 s",
             "seismic:preset=field,size=256x80", "columns:random:0.5", ("traces-seismic-unet",), limit=2,
             adapt_seconds=20.0),
    DemoCase("mnist-random", "Held-out MNIST digits, 50% of columns missing at random", MNIST_SAMPLES,
             "columns:random:0.5", ("traces-mnist-unet",), limit=64, split=None),
    DemoCase("mnist-gap", "Held-out MNIST digits, a gap of 6 missing columns", MNIST_SAMPLES,
             "columns:gap:6", ("traces-mnist-unet",), limit=64, split=None),
    DemoCase("mnist-keep-first", "Held-out MNIST digits, only the first 400 column-major pixels kept, noise 0.05",
             MNIST_SAMPLES, "keep-first:400+gauss:0.05", ("latent-mnist-mlp", "traces-mnist-unet"), limit=16,
             split=None),
    DemoCase("photo-sp", "Photographs never seen in training (48x48 crops), 30% salt & pepper",
             "natural:n=16,size=48x48,images=camera+chelsea+coins+gravel", "sp:0.3", ("denoise-blind",),
             split=None),
    DemoCase("photo-turbulence", "Photograph crops (64x64) from the band left out of training, turbulence 1.0",
             "natural:n=16,size=64x64", "turbulence:1.0", ("translate-turbulence",)),
    DemoCase("porous-x4", "Synthetic micro-CT-like slices, x4 super-resolution (64 -> 256)",
             "porous:n=8,size=256x256,noise=0.01", "down:4", ("superres-porous-x4", "superres-porous-x4-gan"),
             limit=8),
)


def demo_columns(results: dict) -> tuple[str, ...]:
    """The Markdown table's columns: the usual ones, and the SNR on the missing traces where traces are missing
    (on field data zero-fill's whole-gather SNR can beat interpolation; on the missing traces it scores 0 dB)."""
    has_missing = any(isinstance(m.get("snr_missing"), float) and m["snr_missing"] == m["snr_missing"]
                      for m in results["methods"].values())
    if not has_missing:
        return METRIC_COLUMNS
    at = METRIC_COLUMNS.index("snr") + 1
    return (*METRIC_COLUMNS[:at], "snr_missing", *METRIC_COLUMNS[at:])


def run_demo(out: Path, console, report: Path | None = None, cases=CASES) -> Path:
    """Run every case; write README.md (tables and figures) into `out` and, with `report`, one offline HTML page
    with every case's table, examples and wipe slider into `report`/index.html."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shipped = set(pretrained_names())
    sections = ["# ganrecon demo report", "",
                "Every method sees the same degraded images (seed 0), none of them used in training: synthetic "
                "data from the test split, 64 embedded MNIST test digits, photographs left out of training.", ""]
    html_sections = []
    for case in cases:
        models = [load_model(m) for m in case.models if m in shipped]
        if case.adapt_seconds > 0:
            from ganrecon.adapt import AdaptedModel, AdaptOptions

            models += [AdaptedModel(m, AdaptOptions(seconds=case.adapt_seconds)) for m in models]
        console.print(f"[bold]{case.title}[/bold] ({case.degrade})")
        evaluation = evaluate(case.data, case.degrade, models=models, limit=case.limit, seed=0, split=case.split)
        console.print(results_table(evaluation.results))
        save_outputs(evaluation, out / f"{case.slug}.json", out / f"{case.slug}.png")
        missing = [m for m in case.models if m not in shipped]
        sections += [f"## {case.title}", "", f"`{case.data.rsplit('/', 1)[-1]}` + `{case.degrade}`, "
                     f"{plural(evaluation.results['n_images'], 'image')}.", "",
                     markdown_table(evaluation.results, demo_columns(evaluation.results)), "",
                     f"![{case.slug}]({case.slug}.png)", ""]
        if missing:
            sections += [f"(shipped model not available yet: {', '.join(missing)})", ""]
        if report is not None:
            from ganrecon.html_report import evaluation_section

            html_sections.append(evaluation_section(evaluation, case.title, wiggle=evaluation.signed))
            if missing:
                html_sections[-1].notes.append(f"Shipped model not available yet: {', '.join(missing)}.")
    atomic_write_text(out / "README.md", "\n".join(sections))
    console.print(f"\nreport written to {out.resolve()}/README.md")
    if report is not None:
        from ganrecon.html_report import write_report

        page = write_report(report, "ganrecon demo report", html_sections,
                            {"cases": [{"title": c.title, "data": c.data, "degrade": c.degrade, "models": list(c.models),
                                        "limit": c.limit, "split": c.split, "seed": 0} for c in cases]})
        console.print(f"open {page.resolve()} in a browser (works offline)", soft_wrap=True)
    return out
