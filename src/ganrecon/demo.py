"""`make demo`: the main job on embedded data, offline. Each case runs the conventional methods and every shipped
model that fits it on the same degraded images, and writes a table, a figure and JSON into one report folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganrecon.evaluate import evaluate, save_outputs
from ganrecon.inference import load_model, pretrained_names
from ganrecon.io_utils import atomic_write_text
from ganrecon.report import markdown_table, results_table


@dataclass(frozen=True)
class DemoCase:
    slug: str
    title: str
    data: str
    degrade: str
    models: tuple[str, ...] = ()
    limit: int = 16


SAMPLES = Path(__file__).parent / "samples"
MNIST_SAMPLES = f"npz:{SAMPLES / 'mnist-test-64.npz'}"  # 64 held-out MNIST test digits (CC BY-SA 3.0)

CASES = (
    DemoCase("seismic-random", "Synthetic shot gathers, 50% of traces missing at random", "seismic",
             "columns:random:0.5", ("traces-seismic-unet",)),
    DemoCase("seismic-regular", "Synthetic shot gathers, every other trace missing", "seismic",
             "columns:regular:2", ("traces-seismic-unet",)),
    DemoCase("mnist-random", "Held-out MNIST digits, 50% of columns missing at random", MNIST_SAMPLES,
             "columns:random:0.5", ("traces-mnist-unet",), limit=64),
    DemoCase("mnist-gap", "Held-out MNIST digits, a gap of 6 missing columns", MNIST_SAMPLES,
             "columns:gap:6", ("traces-mnist-unet",), limit=64),
)


def run_demo(out: Path, console) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shipped = set(pretrained_names())
    sections = ["# ganrecon demo report", "",
                "Every method sees the same degraded images (seed 0); held-out synthetic data (test split).", ""]
    for case in CASES:
        models = [load_model(m) for m in case.models if m in shipped]
        console.print(f"[bold]{case.title}[/bold] ({case.degrade})")
        split = None if case.data.startswith("npz:") else "test"  # the embedded samples are all held out
        evaluation = evaluate(case.data, case.degrade, models=models, limit=case.limit, seed=0, split=split)
        console.print(results_table(evaluation.results))
        save_outputs(evaluation, out / f"{case.slug}.json", out / f"{case.slug}.png")
        missing = [m for m in case.models if m not in shipped]
        sections += [f"## {case.title}", "", f"`{case.data.rsplit('/', 1)[-1]}` + `{case.degrade}`, {evaluation.results['n_images']} "
                     "images.", "", markdown_table(evaluation.results), "", f"![{case.slug}]({case.slug}.png)", ""]
        if missing:
            sections += [f"(shipped model not available yet: {', '.join(missing)})", ""]
    atomic_write_text(out / "README.md", "\n".join(sections))
    console.print(f"\nreport written to {out.resolve()}/README.md")
    return out
