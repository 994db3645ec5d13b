"""The `ganrecon` command: a thin layer over functions a user can import, with the same names and defaults.

Bad input is one sentence on stderr and exit code 2; never a traceback, never a half-written output.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import click
import typer
from rich.console import Console

from ganrecon.errors import GanreconError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Reconstruct degraded images with GANs, measured against the conventional methods.")
console = Console()
err_console = Console(stderr=True)


@app.command()
def info() -> None:
    """Version, device, tasks, models, and the dataset and degradation specs."""
    import torch

    from ganrecon import __version__
    from ganrecon.data import DATASET_SPECS
    from ganrecon.degrade import DEGRADATION_SPECS
    from ganrecon.inference import pretrained_names
    from ganrecon.models import DISCRIMINATORS, GENERATORS
    from ganrecon.tasks import TASKS

    device = "cuda" if torch.cuda.is_available() else "cpu"
    console.print(f"ganrecon {__version__}  torch {torch.__version__}  device {device} "
                  f"({torch.get_num_threads()} CPU threads)")
    sections = [("tasks", {k: t.summary for k, t in TASKS.items()}), ("dataset specs", DATASET_SPECS),
                ("degradation specs (combine with +)", DEGRADATION_SPECS), ("generators", GENERATORS),
                ("discriminators", DISCRIMINATORS),
                ("shipped models", {n: "" for n in pretrained_names()} or {"(none)": ""})]
    for title, entries in sections:
        console.print(f"\n[bold]{title}[/bold]")
        for key, text in entries.items():
            console.print(f"  {key:<22} {text}")


def _report(evaluation, json_out: Optional[Path], figure: Optional[Path], title: str) -> None:
    from ganrecon.evaluate import save_outputs
    from ganrecon.report import results_table

    console.print(results_table(evaluation.results, title=title))
    save_outputs(evaluation, json_out, figure)
    for path in (json_out, figure):
        if path:
            console.print(f"wrote {path}")


@app.command()
def baseline(
    data: str = typer.Option(..., help="dataset spec, e.g. seismic, mnist, npz:PATH"),
    degrade: str = typer.Option(..., help="degradation spec, e.g. columns:random:0.5"),
    limit: Optional[int] = typer.Option(64, help="number of images"),
    seed: int = typer.Option(0, help="seed of the degradation and of synthetic data"),
    split: str = typer.Option("test", help="train, val, test or all"),
    data_root: Optional[str] = typer.Option(None, help="folder holding downloaded datasets"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="write the numbers as JSON"),
    figure: Optional[Path] = typer.Option(None, help="write ground truth | observed | each method"),
) -> None:
    """Run every conventional method that applies and print the results table."""
    from ganrecon.evaluate import evaluate

    evaluation = evaluate(data, degrade, limit=limit, seed=seed, split=None if split == "all" else split,
                          root=data_root, progress=lambda name: err_console.print(f"running {name}...",
                                                                                 style="dim"))
    _report(evaluation, json_out, figure, f"{data} | {degrade} | {evaluation.results['n_images']} images")


@app.command()
def train(
    config: Optional[Path] = typer.Argument(None, help="YAML config (see configs/)"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override a config key: key=value"),
    out: Path = typer.Option(Path("runs/latest"), help="run directory"),
    resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint"),
    progress: bool = typer.Option(True, help="show a progress bar"),
) -> None:
    """Train a conditional GAN; the run directory gets config, checkpoints, logs, figures and model."""
    from ganrecon.training import train_from_files

    result = train_from_files(str(config) if config else None, list(set_ or []), out, resume=resume,
                              progress=progress)
    console.print(f"trained {result.step} steps in {result.seconds:.0f} s; model in {result.run_dir}")


@app.command("eval")
def eval_(
    model: List[str] = typer.Option(..., help="run directory, weights file or shipped model name (repeatable)"),
    data: str = typer.Option(..., help="dataset spec"),
    degrade: str = typer.Option(..., help="degradation spec"),
    limit: Optional[int] = typer.Option(64),
    seed: int = typer.Option(0),
    split: str = typer.Option("test", help="train, val, test or all"),
    data_root: Optional[str] = typer.Option(None),
    json_out: Optional[Path] = typer.Option(None, "--json"),
    figure: Optional[Path] = typer.Option(None),
) -> None:
    """A model (or several) and every applicable baseline on the same degraded images."""
    from ganrecon.evaluate import evaluate
    from ganrecon.inference import load_model

    models = [load_model(m) for m in model]
    evaluation = evaluate(data, degrade, models=models, limit=limit, seed=seed,
                          split=None if split == "all" else split, root=data_root)
    _report(evaluation, json_out, figure, f"{data} | {degrade} | {evaluation.results['n_images']} images")


@app.command()
def reconstruct(
    input: Path = typer.Argument(..., help="PNG, JPEG, TIFF, NPY or SEG-Y file"),
    model: str = typer.Option(..., help="run directory, weights file or shipped model name"),
    output: Path = typer.Option(..., "-o", "--output", help="output file, same format as the input"),
    mask: Optional[str] = typer.Option(None, help="mask file (.npy/.png, nonzero = known) or degradation spec; "
                                                  "default: all-zero traces are missing"),
    seed: int = typer.Option(0, help="seed when --mask is a random degradation spec"),
) -> None:
    """Reconstruct one file with a trained model; the output keeps the input's format, shape and dtype."""
    from ganrecon.reconstruct import reconstruct_file

    path = reconstruct_file(input, model, output, mask=mask, seed=seed)
    console.print(f"wrote {path}")


@app.command()
def demo(out: Path = typer.Option(Path("demo-report"), help="report folder")) -> None:
    """The main job on embedded data: conventional methods and shipped models on synthetic gathers and images."""
    from ganrecon.demo import run_demo

    run_demo(out, console)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 2 bad input, 130 interrupted)."""
    try:
        result = app(args=argv, standalone_mode=False, prog_name="ganrecon")
        return result if isinstance(result, int) else 0
    except GanreconError as exc:
        err_console.print(f"error: {exc}", style="red", highlight=False, soft_wrap=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2


def run() -> None:
    sys.exit(main())
