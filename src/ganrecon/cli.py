"""The `ganrecon` command: a thin layer over functions a user can import, with the same names and defaults.

Bad input is one sentence on stderr and exit code 2; never a traceback, never a half-written output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from ganrecon.errors import GanreconError, Stopped


def _seed(value: int) -> int:
    """--seed, bounded in one sentence (a huge seed would overflow torch's generator)."""
    from ganrecon.specs import check_seed

    return check_seed(value)


def _check(files: dict | None = None, folders: dict | None = None, **kw) -> None:
    """Every output of a command checked before any work (ganrecon.outputs)."""
    from ganrecon.outputs import check_outputs

    check_outputs(files, folders, **kw)


def _title(data: str, degrade: str, n: int, extra: str = "") -> str:
    from ganrecon.report import plural

    return f"{data} | {degrade} | {plural(n, 'image')}{extra}"


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
    from ganrecon.models import DISCRIMINATORS, GENERATORS
    from ganrecon.shipped import shipped_descriptions
    from ganrecon.tasks import TASKS

    device = "cuda" if torch.cuda.is_available() else "cpu"
    console.print(f"ganrecon {__version__}  torch {torch.__version__}  device {device} "
                  f"({torch.get_num_threads()} CPU threads)")
    sections = [("tasks", {k: t.summary for k, t in TASKS.items()}), ("dataset specs", DATASET_SPECS),
                ("degradation specs (combine with +)", DEGRADATION_SPECS), ("generators", GENERATORS),
                ("discriminators", DISCRIMINATORS),
                ("shipped models", shipped_descriptions() or {"(none)": ""})]
    from rich.table import Table

    for title, entries in sections:
        console.print(f"\n[bold]{title}[/bold]")
        grid = Table.grid(padding=(0, 1))   # wrapped descriptions stay in their column
        grid.add_column(min_width=24, no_wrap=True)
        grid.add_column()
        for key, text in entries.items():
            grid.add_row(f"  {key}", text)
        console.print(grid)


def _report(evaluation, json_out: Path | None, figure: Path | None, title: str, report: Path | None = None,
            config: dict | None = None) -> None:
    from ganrecon.evaluation import save_outputs
    from ganrecon.report import results_table

    console.print(results_table(evaluation.results, title=title))
    for line in evaluation.results.get("notes", []):
        console.print(line, soft_wrap=True, highlight=False)
    from ganrecon.guard import describe

    for name, guard in evaluation.results.get("guard", {}).items():
        console.print(describe(guard, name), highlight=False, soft_wrap=True)
    save_outputs(evaluation, json_out, figure)
    page = None
    if report:
        from ganrecon.html_report import evaluation_report

        page = evaluation_report(evaluation, report, title, config or {})
    for path in (json_out, figure, page):
        if path:
            console.print(f"wrote {path}", soft_wrap=True)


REPORT_HELP = "write DIR/index.html: one self-contained page (table, examples, wipe slider, config, environment)"
SPLIT_HELP = ("train, val, test or all; auto: all of your own files (npy:, npz:, segy:, tiff:, folder:), the test "
              "split of built-in data")
GUARD_HELP = ("check the model on the input itself against the baselines: choose (the better, per image and "
              "tile), report (the model, margin stated) or off; auto: choose, but off with --adapt/--gather-only")
ENSEMBLE_HELP = ("self-ensemble: none; mirror or dihedral: the network also sees each tile mirrored (2x the time), "
                 "or in all 8 turns and mirrors (8x), and the outputs are averaged; auto: the model's bundle's "
                 "choice (docs/results/self_ensemble.md)")


def _warn_precision(precision: str) -> None:
    """An explicit bf16 where it is emulated is said on stderr before any work (ganrecon.reconstructor)."""
    from ganrecon.reconstructor import precision_note

    note = precision_note(precision)
    if note:
        err_console.print(note, soft_wrap=True, highlight=False)


def _guard_mode(guard: str, adapting: bool, notes: list[str]) -> str:
    """`auto` is `choose`, except for models adapted to the input: their check would adapt them again for each
    held-out fold (several times the adaptation budget), so there it is off, and said so."""
    if guard != "auto":
        return guard
    if adapting:
        notes.append("The guard is off for adapted models: its check would adapt them again for each held-out "
                     "fold; pass --guard choose to check them anyway.")
        return "off"
    return "choose"


@app.command()
def baseline(
    data: str = typer.Option(..., help="dataset spec, e.g. seismic, mnist, npz:PATH"),
    degrade: str = typer.Option(..., help="degradation spec, e.g. columns:random:0.5"),
    limit: int | None = typer.Option(64, help="number of images"),
    seed: int = typer.Option(0, callback=_seed, help="seed of the degradation and of synthetic data"),
    split: str = typer.Option("auto", help=SPLIT_HELP),
    data_root: str | None = typer.Option(None, help="folder holding downloaded datasets"),
    download: bool = typer.Option(False, help="let torchvision fetch mnist / fashion-mnist into --data-root"),
    json_out: Path | None = typer.Option(None, "--json", help="write the numbers as JSON"),
    figure: Path | None = typer.Option(None, help="write ground truth | observed | each method (PNG)"),
    report: Path | None = typer.Option(None, metavar="DIR", help=REPORT_HELP),
) -> None:
    """Run every conventional method that applies and print the results table."""
    from ganrecon.evaluation import evaluate

    _check({"--json": json_out, "--figure": figure}, {"--report": report})
    evaluation = evaluate(data, degrade, limit=limit, seed=seed, split=split, root=data_root, download=download,
                          progress=lambda name: err_console.print(f"running {name}...", style="dim"))
    _report(evaluation, json_out, figure, _title(data, degrade, evaluation.results["n_images"]), report,
            dict(command="baseline", data=data, degrade=degrade, limit=limit, seed=seed, split=split))


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

    _check(folders={"--out": out})
    overrides = list(set_ or []) + ([f"direction={direction}"] if direction else [])
    result = train_from_files(str(config) if config else None, overrides, out, resume=resume, progress=progress)
    done = result.step - result.first_step
    span = f" (steps {result.first_step + 1}-{result.step})" if done else ""
    console.print(f"trained {done} steps in this process{span}, {result.step} in total, {result.seconds:.0f} s of "
                  f"training in all; model in {result.run_dir}")


@app.command("eval")
def eval_(
    model: list[str] = typer.Option(..., help="run directory, weights file or shipped model name (repeatable)"),
    data: str = typer.Option(..., help="dataset spec"),
    degrade: str = typer.Option(..., help="degradation spec"),
    limit: int | None = typer.Option(64),
    seed: int = typer.Option(0, callback=_seed),
    split: str = typer.Option("auto", help=SPLIT_HELP),
    data_root: str | None = typer.Option(None),
    download: bool = typer.Option(False, help="let torchvision fetch mnist / fashion-mnist into --data-root"),
    json_out: Path | None = typer.Option(None, "--json"),
    figure: Path | None = typer.Option(None),
    adapt: bool = typer.Option(False, help="also each model adapted to each image (self-supervised, seismic)"),
    adapt_seconds: float = typer.Option(60.0, help="adaptation budget per image, seconds (final reconstruction "
                                                   "included)"),
    gather_only: bool = typer.Option(False, help="also each model's architecture trained on each image alone"),
    gain: str | None = typer.Option(None, help="gain applied before the models and removed after: agc:W, tpow:P"),
    dt_ms: float | None = typer.Option(None, help="time sampling of the data, ms: resample to the model's "
                                                  "(segy: read from the headers)"),
    report: Path | None = typer.Option(None, metavar="DIR", help=REPORT_HELP),
    guard: str = typer.Option("auto", help=GUARD_HELP + "; the model's row is guarded, NAME:raw is not"),
    ensemble: str = typer.Option("auto", help=ENSEMBLE_HELP),
) -> None:
    """A model (or several) and every applicable baseline on the same degraded images."""
    from ganrecon.adapt import AdaptOptions
    from ganrecon.evaluation import evaluate
    from ganrecon.inference import load_model
    from ganrecon.reconstruction import set_ensemble, with_preprocessing

    _check({"--json": json_out, "--figure": figure}, {"--report": report})
    loaded = [load_model(m) for m in model]
    for m in loaded:
        set_ensemble(m, ensemble)
    notes: list[str] = []
    sampling = _sampling(loaded, data, dt_ms, notes)
    guard = _guard_mode(guard, adapt or gather_only, notes)
    with _AdaptProgress(adapt or gather_only) as progress:
        variants = [None]
        if adapt:
            variants.append(AdaptOptions(seconds=adapt_seconds))
        if gather_only:
            variants.append(AdaptOptions(seconds=adapt_seconds, from_scratch=True))
        models = [with_preprocessing(m, gain=gain, dt_ms=sampling[i], adapt=v, progress=progress)
                  for i, m in enumerate(loaded) for v in variants]
        evaluation = evaluate(data, degrade, models=models, limit=limit, seed=seed, split=split, root=data_root,
                              download=download, guard=guard)
    _evaluation_notes(evaluation, loaded, models, notes)
    _report(evaluation, json_out, figure, _title(data, degrade, evaluation.results["n_images"]), report,
            dict(command="eval", data=data, degrade=degrade, limit=limit, seed=seed, split=split,
                 models={m.name: getattr(m, "meta", {}) for m in models}))


def _sampling(models, data: str, dt_ms: float | None, notes: list[str]) -> list[float | None]:
    """Each model's --dt-ms: the one given, or for `segy:` data the files' header interval where the model knows
    the sampling it was trained on (and a sentence saying so)."""
    if dt_ms is not None or not data.strip().lower().startswith("segy:"):
        return [dt_ms] * len(models)
    from ganrecon.data.segy import segy_dt_ms
    from ganrecon.preprocess import header_sampling

    header = segy_dt_ms(data.split(":", 1)[1])
    chosen = []
    for m in models:
        value, sentence = header_sampling(m, header)
        chosen.append(value)
        if sentence:
            notes.append(sentence)
    return chosen


def _evaluation_notes(evaluation, loaded, models, notes: list[str]) -> None:
    """What the table cannot say, as lines under it and in the JSON: how grey models met colour images, and
    what each adaptation did (steps, held-out SNR before and after, the weights it kept)."""
    from ganrecon.adapt_summary import adaptation_line, adaptation_summaries
    from ganrecon.colour import describe

    channels = evaluation.clean.shape[1]
    if channels > 1:
        notes += [describe(m.name, m.meta.get("task"), channels, evaluation.signed) for m in loaded
                  if m.meta.get("channels") == 1]
    adaptation = {m.name: adaptation_summaries(m) for m in models}
    adaptation = {name: runs for name, runs in adaptation.items() if runs}
    for name, runs in adaptation.items():
        notes += [adaptation_line(name, summary, i, len(runs)) for i, summary in enumerate(runs)]
    if adaptation:
        evaluation.results["adaptation"] = adaptation
    if notes:
        evaluation.results["notes"] = notes


@app.command("report")
def report_(
    run_dir: Path = typer.Argument(..., help="training run directory"),
    out: Path | None = typer.Option(None, "-o", "--out", help="report folder [default: RUN_DIR/report]"),
    data: str | None = typer.Option(None, help="data for the examples [default: the run's validation data]"),
    degrade: str | None = typer.Option(None, help="degradation for the examples [default: the run's val_degrade]"),
    data_root: str | None = typer.Option(None, help="folder holding downloaded datasets [default: the run's]"),
    limit: int = typer.Option(8, help="validation images for the examples (0: none)"),
    wiggle: bool = typer.Option(False, help="also draw gathers as wiggle traces"),
    clip: float = typer.Option(98.0, help="seismic display: clip at this percentile of |amplitude|"),
) -> None:
    """A training run as one offline HTML page: scores, loss curves, examples, config and environment."""
    from ganrecon.html_report import run_report

    _check(folders={"-o": out})
    path = run_report(run_dir, out, data=data, degrade=degrade, data_root=data_root, limit=limit, wiggle=wiggle,
                      clip_percentile=clip, progress=lambda name: err_console.print(f"running {name}...", style="dim"))
    console.print(f"wrote {path}", soft_wrap=True)


class _AdaptProgress:
    """A progress bar for per-image adaptation (a callable taking (fraction, message)); silent when unused."""

    def __init__(self, enabled: bool):
        self.enabled, self.bar, self.task = enabled, None, None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("adapting"), BarColumn(), TimeElapsedColumn(),
                                TextColumn("{task.description}"), console=err_console, transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("", total=1.0)
        return self if self.enabled else None

    def __call__(self, fraction: float, message: str) -> None:
        self.bar.update(self.task, completed=fraction, description=message)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _reconstruct_folder(folder: Path, output: Path, notes: list[str], **options) -> None:
    """`reconstruct` of a folder: a progress bar over this process's files, then each file's notes and a count."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ganrecon.folders import reconstruct_folder

    with Progress(TextColumn("reconstructing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=err_console, transient=True) as bar:
        task = bar.add_task("", total=None)
        run = reconstruct_folder(folder, options.pop("model"), output, notes=notes.append,
                                 progress=lambda done, total, name: bar.update(task, completed=done, total=total,
                                                                               description=name), **options)
    for line in notes:
        console.print(line, soft_wrap=True, highlight=False)
    if run.skipped:
        console.print(f"skipped {len(run.skipped)} file(s) whose output exists in {output} (pass --force to redo "
                      "them)", soft_wrap=True)
    console.print(f"wrote {len(run.written)} file(s) to {output}", soft_wrap=True)


@app.command()
def reconstruct(
    input: Path = typer.Argument(..., help="PNG, JPEG, TIFF, NPY or SEG-Y file, or a folder of them"),
    model: str = typer.Option(..., help="run directory, weights file or shipped model name"),
    output: Path = typer.Option(..., "-o", "--output", help="output file, same format as the input (a folder for "
                                                             "a folder: same file names)"),
    mask: str | None = typer.Option(None, help="mask file (.npy/.png, nonzero = known) or degradation spec; "
                                                  "default: all-zero traces are missing"),
    seed: int = typer.Option(0, callback=_seed, help="seed when --mask is a random degradation spec"),
    adapt: bool = typer.Option(False, help="fine-tune the model on the input itself first (self-supervised)"),
    adapt_seconds: float = typer.Option(60.0, help="adaptation budget per image, seconds (final reconstruction "
                                                   "included)"),
    gather_only: bool = typer.Option(False, help="train the model's architecture on the input alone instead"),
    gain: str | None = typer.Option(None, help="gain applied before the model and removed after: agc:W, tpow:P"),
    dt_ms: float | None = typer.Option(None, help="time sampling of the input, ms (SEG-Y: read from the header)"),
    force: bool = typer.Option(False, help="overwrite the output file if it exists (a folder: redo the files whose "
                                           "output exists)"),
    guard: str = typer.Option("auto", help=GUARD_HELP),
    precision: str = typer.Option("auto", help="fp32; bf16: the network (and --adapt's training steps) under "
                                                "bf16 autocast, up to 2x faster on CPUs with bf16 units "
                                                "(docs/results/throughput.md; PSNR change per model in "
                                                "docs/results/precision.md); auto: bf16 where the hardware has "
                                                "it natively and the model's bundle allows it, else fp32"),
    ensemble: str = typer.Option("auto", help=ENSEMBLE_HELP),
) -> None:
    """Reconstruct one file, or every file of a folder, with a trained model; each output keeps its input's
    format, shape and dtype. Under torchrun a folder's files (or a TIFF stack's slices) are shared among the
    processes, and a rerun skips what is done."""
    from ganrecon.adapt import AdaptOptions
    from ganrecon.reconstruction import reconstruct as reconstruct_file

    folder = input.is_dir()
    if folder:  # reconstruct_folder refuses -o = the input folder before any work
        _check(folders={"-o": output})
    else:
        _check({"-o": output}, inputs=[input], force=force)
    if adapt and gather_only:
        raise GanreconError("Choose --adapt or --gather-only, not both.")
    options = (AdaptOptions(seconds=adapt_seconds, from_scratch=gather_only, precision=precision)
               if adapt or gather_only else None)
    _warn_precision(precision)
    notes: list[str] = []
    guard = _guard_mode(guard, options is not None, notes)
    if folder:
        _reconstruct_folder(input, output, notes, model=model, mask=mask, seed=seed, gain=gain, dt_ms=dt_ms,
                            adapt=options, guard=guard, precision=precision, ensemble=ensemble, force=force)
        return
    with _AdaptProgress(options is not None) as progress:
        path = reconstruct_file(input, model, output, mask=mask, seed=seed, gain=gain, dt_ms=dt_ms,
                                adapt=options, progress=progress, notes=notes.append,
                                guard=guard, precision=precision, ensemble=ensemble)
    for line in notes:
        console.print(line, soft_wrap=True, highlight=False)
    console.print(f"wrote {path}", soft_wrap=True)


@app.command()
def adapt(
    survey: str = typer.Argument(..., help="SEG-Y file of many gathers (split by FFID), folder of SEG-Y / NPY "
                                           "gathers, NPY stack, or dataset spec (segy:, npy:, npz:, seismic:...)"),
    model: str = typer.Option("traces-seismic-unet", help="seismic traces model: run directory, weights file or "
                                                          "shipped name"),
    out: Path = typer.Option(..., help="run directory: checkpoints, logs and the adapted model (model.safetensors)"),
    degrade: str | None = typer.Option(None, help="also remove traces (a mask spec such as columns:random:0.5), "
                                                  "e.g. from a complete synthetic survey; default: the survey's own "
                                                  "zero, NaN and dead traces are the missing ones"),
    seconds: float = typer.Option(600.0, help="time budget of the whole run (resumed parts included)"),
    steps: int | None = typer.Option(None, help="a step limit as well [default: until the time budget ends]"),
    resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint"),
    threads: int | None = typer.Option(None, help="CPU threads for torch"),
    hide: float = typer.Option(0.3, help="share of a crop's known traces hidden and learnt back at each step"),
    holdout: float = typer.Option(0.1, help="share of each gather's known traces kept out to choose the weights"),
    lr: float | None = typer.Option(None, help="learning rate [default: 2e-4]"),
    lr_decay: str = typer.Option("none", help="none; linear-budget: constant for the first half of the budget "
                                              "(--seconds, or --steps), then linearly to zero. A resumed run may "
                                              "add it to a constant rate"),
    batch_size: int = typer.Option(4, help="crops per step"),
    eval_every: int = typer.Option(50, help="steps between held-out scores and checkpoints; each score is one "
                                            "pass over the survey, so raise it for large surveys"),
    seed: int = typer.Option(0, callback=_seed, help="seed of --degrade, the held-out traces and the crops"),
    precision: str = typer.Option("auto", help="of the training steps: fp32; bf16 autocast (1.5x faster on CPUs "
                                                "with bf16 units, docs/results/adapt_precision.md; held-out scores "
                                                "and output stay fp32); auto: bf16 where native, else fp32"),
    pool: int = typer.Option(0, help="0: new training problems at every step; N: the steps draw from N fixed "
                                     "problems (crop, hidden traces), whose costly prior (the seismic consensus) "
                                     "is computed once each: many more steps per minute. A resumed run may grow "
                                     "it (its first problems stay the same)"),
    progress: bool = typer.Option(True, help="show a progress bar"),
) -> None:
    """Fine-tune a seismic model on every gather of a survey (self-supervised: no clean data); then reconstruct
    with --model OUT."""
    from ganrecon.adapt_survey import SurveyAdaptConfig, adapt_survey

    _check(folders={"--out": out})
    _warn_precision(precision)
    config = SurveyAdaptConfig(survey=survey, model=model, degrade=degrade, seconds=seconds, steps=steps, hide=hide,
                               holdout=holdout, lr=lr, batch_size=batch_size, eval_every=eval_every, seed=seed,
                               threads=threads, precision=precision, lr_decay=lr_decay, pool=pool)
    result = adapt_survey(config, out, resume=resume, progress=progress,
                          notes=lambda line: console.print(line, soft_wrap=True, highlight=False))
    done = result.steps - result.first_step
    span = f" (steps {result.first_step + 1}-{result.steps})" if done else ""
    if result.best_step is None:
        kept = "the last weights were kept (no held-out traces to choose with)"
    elif result.best_step == 0:
        kept = f"the starting weights were kept ({result.holdout_snr_start:.2f} dB on held-out known traces)"
    else:
        kept = (f"held-out known traces {result.holdout_snr_start:.2f} -> {result.holdout_snr_best:.2f} dB, "
                f"the weights of step {result.best_step} kept")
    console.print(f"adapted {done} steps in this process{span}, {result.steps} in total, {result.seconds:.0f} s in "
                  f"all, on {result.gathers} gathers; {kept}. Model in {result.run_dir}: ganrecon reconstruct "
                  f"GATHER --model {result.run_dir}", soft_wrap=True, highlight=False)


@app.command()
def synthesise(
    model: str = typer.Option(..., help="a clean -> distorted model (trained with direction BtoA): run directory, "
                                        "weights file or shipped name"),
    data: str = typer.Option(..., help="clean images, e.g. natural:n=8192,size=48x48"),
    out: Path = typer.Option(..., help="folder for the pairs: OUT/A (synthesised) and OUT/B (clean)"),
    split: str = typer.Option("train", help="train, val, test or all"),
    limit: int | None = typer.Option(None, help="at most this many images"),
    seed: int = typer.Option(0, callback=_seed, help="seed of synthetic data and of the dropout noise"),
    data_root: str | None = typer.Option(None, help="folder holding downloaded datasets"),
    noise: bool = typer.Option(True, help="keep pix2pix's dropout on as its noise source (noise maps of a "
                                          "noise_channels model are always drawn)"),
    draws: int = typer.Option(1, min=1, help="distorted draws of each clean image (for a sampler)"),
) -> None:
    """Make a paired training set from clean images with a pix2pix model; train on it with paired:OUT/A:OUT/B."""
    from ganrecon.translate import synthesise_pairs

    _check(folders={"--out": out})
    path = synthesise_pairs(model, data, out, split=None if split == "all" else split, limit=limit, seed=seed,
                            root=data_root, noise=noise, draws=draws)
    console.print(f"wrote pairs to {path}: train on them with --set data=paired:{path / 'A'}:{path / 'B'}")


@app.command()
def demo(out: Path = typer.Option(Path("demo-report"), help="report folder"),
         report: Path | None = typer.Option(None, metavar="DIR", help=REPORT_HELP)) -> None:
    """The main job on embedded data: conventional methods and shipped models on synthetic gathers and images."""
    from ganrecon.demo import run_demo

    _check(folders={"--out": out, "--report": report})
    run_demo(out, console, report)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to bind; the default keeps the app on this machine"),
    port: int = typer.Option(8000, help="TCP port"),
    max_upload_mb: float = typer.Option(16.0, help="larger uploads are refused (413)"),
) -> None:
    """A local web app: upload a file, pick task, model and degradation, compare with the baselines, download."""
    try:
        from ganrecon.webapp import serve as run_server
    except ModuleNotFoundError as exc:
        raise GanreconError(f"The web app needs {exc.name}: pip install 'ganrecon[web]'.") from None
    run_server(host, port, max_upload_mb, console)


@app.command("invert")
def invert_(
    model: str = typer.Option(..., help="latent model (task latent): run directory, weights file or shipped name"),
    data: str = typer.Option(..., help="dataset spec, e.g. mnist"),
    degrade: str = typer.Option(..., help="measurements, e.g. keep-first:400+gauss:0.05, columns:..., mask:PATH"),
    restarts: int = typer.Option(10, help="random starts per image, optimised together"),
    estimate: str = typer.Option("mean", help="mean: the mean of the restarts' G(z*) (least squared error); "
                                              "best: G(z*) of the restart with the lowest J (the reference)"),
    steps: int = typer.Option(500, help="optimisation steps"),
    lr: float | None = typer.Option(None, help="step size [default: adam 0.05; gd 5e-4 (log), 0.02 (l2)]"),
    cost: str = typer.Option("log", help="log: N log||y - T G(z)||^2 + W z'z;  l2: ||y - T G(z)||^2 + W ||z||^2"),
    zprior: float | None = typer.Option(None, help="prior weight W [default: 1 for log, 0.01 for l2]"),
    optimizer: str = typer.Option("adam", help="adam or gd (plain gradient descent, as the reference)"),
    limit: int | None = typer.Option(64, help="number of images"),
    seed: int = typer.Option(0, callback=_seed, help="seed of the degradation and of the random starts"),
    split: str = typer.Option("auto", help=SPLIT_HELP),
    data_root: str | None = typer.Option(None, help="folder holding downloaded datasets"),
    baselines: bool = typer.Option(True, help="also run zero-fill and biharmonic inpainting"),
    json_out: Path | None = typer.Option(None, "--json", help="write the numbers as JSON"),
    figure: Path | None = typer.Option(None, help="original | observed | J per iteration | G(z*) | error map"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the reconstructions as .npy"),
) -> None:
    """Reconstruct by optimising the latent vector of a pretrained unconditional generator (batched restarts)."""
    from rich.progress import Progress

    from ganrecon.evaluation import save_outputs
    from ganrecon.invert import inversion_figure, invert_dataset
    from ganrecon.report import results_table

    if output is not None and output.suffix.lower() != ".npy":
        raise GanreconError(f"--output must be a .npy file, got {output.name}.")
    _check({"--json": json_out, "--figure": figure, "-o": output})
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("inverting", total=None)
        evaluation, result = invert_dataset(
            model, data, degrade, restarts=restarts, steps=steps, lr=lr, cost=cost, zprior=zprior,
            optimizer=optimizer, limit=limit, seed=seed, split=split, root=data_root, estimate=estimate,
            baselines=baselines, progress=lambda done, total: bar.update(task, completed=done, total=total))
    info = evaluation.results["inversion"]
    console.print(results_table(evaluation.results, title=_title(
        data, degrade, evaluation.results["n_images"], f" | {info['cost']} cost, {restarts} restarts x {steps} "
        f"{optimizer} steps, {estimate}")))
    save_outputs(evaluation, json_out, None)
    if figure:
        inversion_figure(evaluation.clean, evaluation.observed, evaluation.mask, result, figure,
                         value_range=evaluation.value_range)
    if output:
        import numpy as np

        from ganrecon.io_utils import atomic_path

        with atomic_path(output) as tmp, open(tmp, "wb") as fh:
            np.save(fh, result.estimate.float().cpu().numpy())
    for path in (json_out, figure, output):
        if path:
            console.print(f"wrote {path}", soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 2 bad input or usage, 130 interrupted)."""
    try:
        app(args=argv, prog_name="ganrecon")  # standalone mode: usage errors exit 2 by themselves
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Stopped as exc:  # the user's own stop, its work saved: said plainly, not as an error
        err_console.print(f"stopped: {exc}", highlight=False, soft_wrap=True)
        return 130
    except GanreconError as exc:
        err_console.print(f"error: {exc}", style="red", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except OSError as exc:  # a disk that fills or a folder that goes away mid-run: still one sentence
        where = f" {exc.filename}" if exc.filename else ""
        err_console.print(f"error: could not read or write{where} ({exc.strerror or type(exc).__name__}).",
                          style="red", highlight=False, soft_wrap=True)
        return 1
    return 0


def run() -> None:
    sys.exit(main())
