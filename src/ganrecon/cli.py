"""The `ganrecon` command: a thin layer over functions a user can import, with the same names and defaults.

Bad input is one sentence on stderr and exit code 2; never a traceback, never a half-written output.
"""

from __future__ import annotations

import sys
from pathlib import Path

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


def _report(evaluation, json_out: Path | None, figure: Path | None, title: str) -> None:
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
    limit: int | None = typer.Option(64, help="number of images"),
    seed: int = typer.Option(0, help="seed of the degradation and of synthetic data"),
    split: str = typer.Option("test", help="train, val, test or all"),
    data_root: str | None = typer.Option(None, help="folder holding downloaded datasets"),
    download: bool = typer.Option(False, help="let torchvision fetch mnist / fashion-mnist into --data-root"),
    json_out: Path | None = typer.Option(None, "--json", help="write the numbers as JSON"),
    figure: Path | None = typer.Option(None, help="write ground truth | observed | each method"),
) -> None:
    """Run every conventional method that applies and print the results table."""
    from ganrecon.evaluate import evaluate

    evaluation = evaluate(data, degrade, limit=limit, seed=seed, split=None if split == "all" else split,
                          root=data_root, download=download, progress=lambda name: err_console.print(f"running {name}...",
                                                                                 style="dim"))
    _report(evaluation, json_out, figure, f"{data} | {degrade} | {evaluation.results['n_images']} images")


@app.command()
def train(
    config: Path | None = typer.Argument(None, help="YAML config (see configs/)"),
    set_: list[str] | None = typer.Option(None, "--set", help="override a config key: key=value"),
    out: Path = typer.Option(Path("runs/latest"), help="run directory"),
    resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint"),
    progress: bool = typer.Option(True, help="show a progress bar"),
    direction: str | None = typer.Option(None, help="AtoB (observed -> clean) or BtoA (clean -> observed, e.g. "
                                                     "to synthesise distortion); same as --set direction=..."),
) -> None:
    """Train a conditional GAN; the run directory gets config, checkpoints, logs, figures and model."""
    from ganrecon.training import train_from_files

    overrides = list(set_ or []) + ([f"direction={direction}"] if direction else [])
    result = train_from_files(str(config) if config else None, overrides, out, resume=resume, progress=progress)
    console.print(f"trained {result.step} steps in {result.seconds:.0f} s; model in {result.run_dir}")


@app.command("eval")
def eval_(
    model: list[str] = typer.Option(..., help="run directory, weights file or shipped model name (repeatable)"),
    data: str = typer.Option(..., help="dataset spec"),
    degrade: str = typer.Option(..., help="degradation spec"),
    limit: int | None = typer.Option(64),
    seed: int = typer.Option(0),
    split: str = typer.Option("test", help="train, val, test or all"),
    data_root: str | None = typer.Option(None),
    download: bool = typer.Option(False, help="let torchvision fetch mnist / fashion-mnist into --data-root"),
    json_out: Path | None = typer.Option(None, "--json"),
    figure: Path | None = typer.Option(None),
) -> None:
    """A model (or several) and every applicable baseline on the same degraded images."""
    from ganrecon.evaluate import evaluate
    from ganrecon.inference import load_model

    models = [load_model(m) for m in model]
    evaluation = evaluate(data, degrade, models=models, limit=limit, seed=seed,
                          split=None if split == "all" else split, root=data_root, download=download)
    _report(evaluation, json_out, figure, f"{data} | {degrade} | {evaluation.results['n_images']} images")


@app.command()
def reconstruct(
    input: Path = typer.Argument(..., help="PNG, JPEG, TIFF, NPY or SEG-Y file"),
    model: str = typer.Option(..., help="run directory, weights file or shipped model name"),
    output: Path = typer.Option(..., "-o", "--output", help="output file, same format as the input"),
    mask: str | None = typer.Option(None, help="mask file (.npy/.png, nonzero = known) or degradation spec; "
                                                  "default: all-zero traces are missing"),
    seed: int = typer.Option(0, help="seed when --mask is a random degradation spec"),
) -> None:
    """Reconstruct one file with a trained model; the output keeps the input's format, shape and dtype."""
    from ganrecon.reconstruct import reconstruct_file

    path = reconstruct_file(input, model, output, mask=mask, seed=seed)
    console.print(f"wrote {path}")


@app.command()
def synthesise(
    model: str = typer.Option(..., help="a clean -> distorted model (trained with direction BtoA): run directory, "
                                        "weights file or shipped name"),
    data: str = typer.Option(..., help="clean images, e.g. natural:n=8192,size=48x48"),
    out: Path = typer.Option(..., help="folder for the pairs: OUT/A (synthesised) and OUT/B (clean)"),
    split: str = typer.Option("train", help="train, val, test or all"),
    limit: int | None = typer.Option(None, help="at most this many images"),
    seed: int = typer.Option(0, help="seed of synthetic data and of the dropout noise"),
    data_root: str | None = typer.Option(None, help="folder holding downloaded datasets"),
    noise: bool = typer.Option(True, help="keep pix2pix's dropout on as its noise source"),
) -> None:
    """Make a paired training set from clean images with a pix2pix model; train on it with paired:OUT/A:OUT/B."""
    from ganrecon.translate import synthesise_pairs

    path = synthesise_pairs(model, data, out, split=None if split == "all" else split, limit=limit, seed=seed,
                            root=data_root, noise=noise)
    console.print(f"wrote pairs to {path}: train on them with --set data=paired:{path / 'A'}:{path / 'B'}")


@app.command()
def demo(out: Path = typer.Option(Path("demo-report"), help="report folder")) -> None:
    """The main job on embedded data: conventional methods and shipped models on synthetic gathers and images."""
    from ganrecon.demo import run_demo

    run_demo(out, console)


@app.command("invert")
def invert_(
    model: str = typer.Option(..., help="latent model (task latent): run directory, weights file or shipped name"),
    data: str = typer.Option(..., help="dataset spec, e.g. mnist"),
    degrade: str = typer.Option(..., help="measurements, e.g. keep-first:400+gauss:0.05, columns:..., mask:PATH"),
    restarts: int = typer.Option(10, help="random starts per image, optimised together; the lowest J wins"),
    steps: int = typer.Option(500, help="optimisation steps"),
    lr: float | None = typer.Option(None, help="step size [default: adam 0.05; gd 5e-4 (log), 0.02 (l2)]"),
    cost: str = typer.Option("log", help="log: N log||y - T G(z)||^2 + W z'z;  l2: ||y - T G(z)||^2 + W ||z||^2"),
    zprior: float | None = typer.Option(None, help="prior weight W [default: 1 for log, 0.01 for l2]"),
    optimizer: str = typer.Option("adam", help="adam or gd (plain gradient descent, as the reference)"),
    limit: int | None = typer.Option(64, help="number of images"),
    seed: int = typer.Option(0, help="seed of the degradation and of the random starts"),
    split: str = typer.Option("test", help="train, val, test or all"),
    data_root: str | None = typer.Option(None, help="folder holding downloaded datasets"),
    baselines: bool = typer.Option(True, help="also run zero-fill and biharmonic inpainting"),
    json_out: Path | None = typer.Option(None, "--json", help="write the numbers as JSON"),
    figure: Path | None = typer.Option(None, help="original | observed | J per iteration | G(z*) | error map"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the reconstructions G(z*) as .npy"),
) -> None:
    """Reconstruct by optimising the latent vector of a pretrained unconditional generator (batched restarts)."""
    from rich.progress import Progress

    from ganrecon.evaluate import save_outputs
    from ganrecon.invert import inversion_figure, invert_dataset
    from ganrecon.report import results_table

    if output is not None and output.suffix.lower() != ".npy":
        raise GanreconError(f"--output must be a .npy file, got {output.name}.")
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("inverting", total=None)
        evaluation, result = invert_dataset(
            model, data, degrade, restarts=restarts, steps=steps, lr=lr, cost=cost, zprior=zprior,
            optimizer=optimizer, limit=limit, seed=seed, split=None if split == "all" else split, root=data_root,
            baselines=baselines, progress=lambda done, total: bar.update(task, completed=done, total=total))
    info = evaluation.results["inversion"]
    console.print(results_table(evaluation.results, title=f"{data} | {degrade} | {evaluation.results['n_images']} "
                                f"images | {info['cost']} cost, {restarts} restarts x {steps} {optimizer} steps"))
    save_outputs(evaluation, json_out, None)
    if figure:
        inversion_figure(evaluation.clean, evaluation.observed, evaluation.mask, result, figure,
                         value_range=evaluation.results.get("value_range", (0.0, 1.0)))
    if output:
        import numpy as np

        from ganrecon.io_utils import atomic_path

        with atomic_path(output) as tmp, open(tmp, "wb") as fh:
            np.save(fh, result.estimate.float().cpu().numpy())
    for path in (json_out, figure, output):
        if path:
            console.print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 2 bad input or usage, 130 interrupted)."""
    try:
        app(args=argv, prog_name="ganrecon")  # standalone mode: usage errors exit 2 by themselves
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except GanreconError as exc:
        err_console.print(f"error: {exc}", style="red", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    return 0


def run() -> None:
    sys.exit(main())
