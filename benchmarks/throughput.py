"""Inference and training throughput of every shipped model against this CPU's own convolution peak (issue 19).

    PYTHONPATH=src .venv/bin/python benchmarks/throughput.py [--threads 2] [--models NAME ...]
    PYTHONPATH=src .venv/bin/python benchmarks/throughput.py --quick --out /tmp/tp   # smoke sizes, seconds

Everything is measured in one run on one machine, so only ratios are compared:

- the reference: the best GFLOP/s of a channels_last 3 x 3 `conv2d` (32 and 64 channels, a few spatial sizes,
  best of a few repeats) at `--threads` threads: what this CPU reaches on the operator the models are made of;
- each shipped model on a realistic input (super-resolution: a 2000 x 2000 16-bit porous slice; the seismic
  model: a 1000 x 80 gather with half its traces missing; the 28/48 px models: 1,000 degraded images; latent
  models: G(z) on 1,000 z). FLOPs are counted by torch.utils.flop_counter.FlopCounterMode (multiply-adds x 2
  of convolutions, transposed convolutions and matrix products), never guessed. The model's own FLOPs on the
  whole input are the FLOPs of one batch of tiles per input pixel times the input's pixels: tile overlaps and
  the seismic polarity average's second pass are work the reconstructor adds, shown as "executed / own".
  FLOPs are those of the layers as defined: SRResNet's sub-pixel tail, an equivalent form inference runs, does
  about 2% more and is not credited for them.
  Seconds and the achieved fraction of the peak (own FLOPs / seconds / peak) for
    - one batch of tiles through the generator (`apply_tiles`; for signed models both polarities of each tile
      together, as the tiled path runs them: exactly the first batch it made),
    - the tiled path (the `ReconstructionModel` call `load_model` returns),
    - the CLI end to end (`python -m ganrecon reconstruct FILE --guard off` in a fresh process: start-up, file
      reading and writing included; the fastest of `cli_repeats` processes), with its peak RSS (os.wait4 in a
      small watcher process) and that of a process that only imported the CLI and loaded the model;
  bf16 (`torch.autocast("cpu", torch.bfloat16)`) against fp32 on the tiled path: speed-up, PSNR of the bf16
  output against the fp32 output, and the change of PSNR against the clean images where the input has them;
- each shipped model's training config (benchmarks/ship_models.py SOURCES: run name = config name, or TRAINED_BY): images/s
  of the whole loop (`ganrecon.training.train`: data, degradation, D and G steps, EMA, logging, validation and
  checkpoints) against the bare D + G step on one fixed batch in the same process (the strategy's own `step`
  with the batch made once and the EMA update left out; a refiner's prior is computed in every bare step, as
  the loop computes it for every new batch: a generator in training mode bypasses the prior cache). Both run
  with warmup_steps=0 so every step trains D and G. The loop runs `--steps` steps with log_every=1; its
  per-step cost is the median of log.csv's step to step seconds (the first step, with the kernels' warm-up,
  left out); validation and checkpoint, measured at the end, are amortised at the config's own eval_every and
  checkpoint_every. Validation is timed twice in a fresh strategy (the first pays for what later ones reuse: a
  costly prior of the fixed validation batch, cached by the EMA copy) and averaged over the validations of the
  config's run (its steps, or what its time budget allows at the loop's speed); its time is scaled linearly
  from the run's val_images to the config's (the same in a full run, 4 in a quick one). Loop and bare are
  measured `train_repeats` times in turn and each quantity is the fastest of its repeats. Each run loads at
  most 1,024 training images (the speed of a step does not depend on the corpus size).

Writes OUT/throughput.json and OUT/throughput.md (default docs/results).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ship_models import SOURCES, TRAINED_BY  # noqa: E402  (the shipped name -> training run map)

DATA_ROOTS = [ROOT.parent / "shared" / "datasets", ROOT.parent.parent / "shared" / "datasets"]


@dataclass(frozen=True)
class Sizes:
    """Input sizes and repeat counts of one run (`FULL` or `QUICK`)."""

    slice_side: int = 2000           # super-resolution input slice, pixels a side
    gather: tuple[int, int] = (1000, 80)   # seismic gather, time samples x traces
    images: int = 1000               # 28/48 px images per batch, z per latent batch
    conv_widths: tuple[int, ...] = (32, 64)
    conv_sides: tuple[int, ...] = (64, 128, 256)
    conv_batch: int = 8
    repeats: int = 5                 # best (inference) / median (training) of so many timed calls
    cli_repeats: int = 3             # fresh CLI processes per model (guard off): the fastest is reported
    train_steps: int = 20            # loop steps per config
    train_repeats: int = 3           # loop + bare measurements per config, in turn: the fastest of each counts
    train_images: int = 1024         # training images loaded per config (the loop's speed does not depend on it)
    val_images: int | None = None    # None: the config's own


FULL = Sizes()
QUICK = Sizes(slice_side=256, gather=(256, 80), images=100, conv_sides=(32,), conv_batch=2, repeats=2,
              cli_repeats=1, train_steps=3, train_repeats=1, train_images=128, val_images=4)


# ------------------------------------------------------------------------------------------ measuring helpers
def best_seconds(fn, repeats: int, warmup: bool = True) -> float:
    """Shortest wall time of `repeats` calls (after one untimed call): the machine's best, least disturbed by
    whatever else runs on it."""
    if warmup:
        fn()
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def without_prior_cache(generator) -> None:
    """A refiner's prior computed at every call, never served from its cache (models/refine.py PriorCache)."""
    cache = getattr(generator, "cache", None)
    if cache is not None:
        cache.disable()


def count_flops(fn, *args) -> int:
    """FLOPs of one call, counted by PyTorch (2 x multiply-adds of conv, transposed conv, matmul)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn(*args)
    return int(counter.get_total_flops())


def conv_peak(widths=(32, 64), sides=(64, 128, 256), batch: int = 8, repeats: int = 5) -> dict:
    """The reference: the best GFLOP/s of a channels_last 3 x 3 convolution (width in = width out, zero
    padding) over the widths and sizes given, each the best of `repeats` calls."""
    rows = []
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for c in widths:
            weight = torch.randn(c, c, 3, 3, generator=gen).contiguous(memory_format=torch.channels_last)
            for side in sides:
                x = torch.randn(batch, c, side, side, generator=gen).contiguous(memory_format=torch.channels_last)
                seconds = best_seconds(lambda x=x, w=weight: torch.nn.functional.conv2d(x, w, padding=1), repeats)
                flops = 2 * batch * side * side * c * c * 9
                rows.append({"width": c, "side": side, "batch": batch, "gflop_per_s": flops / seconds / 1e9})
    best = max(rows, key=lambda r: r["gflop_per_s"])
    return {"gflop_per_s": best["gflop_per_s"], "best": best, "rows": rows}


def higher_peak(before: dict, after: dict) -> dict:
    """The reference from two measurements of the peak, one before the inference rows and one after: the higher
    (a slow spell of this machine lowers a measurement, never raises it), with both recorded."""
    best = max(before, after, key=lambda p: p["gflop_per_s"])
    return {**best, "measured": [before["gflop_per_s"], after["gflop_per_s"]]}


def rescale_to_peak(node, peak: float) -> None:
    """Every `fraction_of_peak` under `node` (rows of rates, nested) recomputed from its GFLOP/s against `peak`."""
    if isinstance(node, dict):
        if "fraction_of_peak" in node and node.get("gflop_per_s") is not None:
            node["fraction_of_peak"] = node["gflop_per_s"] / peak
        for value in node.values():
            rescale_to_peak(value, peak)
    elif isinstance(node, list):
        for value in node:
            rescale_to_peak(value, peak)


def rate(flops: float, seconds: float, peak: float) -> dict:
    return {"seconds": seconds, "gflop_per_s": flops / seconds / 1e9, "fraction_of_peak": flops / seconds / 1e9 / peak}


def psnr(estimate: torch.Tensor, reference: torch.Tensor, width: float) -> float:
    """Mean per-image PSNR (torchmetrics), dB; float32, so an 8000 x 8000 output needs no double copies."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(estimate.float(), reference.float(), data_range=width,
                                         reduction="elementwise_mean", dim=(1, 2, 3)))


def tile_function(model) -> str:
    """The ReconstructionModel method its tiled path calls per batch of tiles: signed models send both
    polarities of a tile through together."""
    return "apply_tiles_polarity_averaged" if model.signed else "apply_tiles"


class TileRecorder:
    """Stands in for a ReconstructionModel's per-tile method (`tile_function`) during one call: keeps the first
    batch of tiles (the piece the raw generator is timed on) and counts the tiles the tiled path ran."""

    def __init__(self, model):
        self.model, self.name = model, tile_function(model)
        self.apply = getattr(model, self.name)
        self.first, self.tiles = None, 0

    def __enter__(self):
        setattr(self.model, self.name, self)
        return self

    def __exit__(self, *exc):
        delattr(self.model, self.name)  # the class's method again

    def __call__(self, obs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.first is None:
            self.first = (obs.clone(), mask.clone())
        self.tiles += obs.shape[0]
        return self.apply(obs, mask)


# A small process between this one and the measured one: Linux carries a process's peak RSS across fork and exec,
# so a child of this (large) process would report at least this process's size; a child of the small watcher
# starts from the watcher's ~10 MB.
WATCHER = ("import json, os, subprocess, sys, time; t = time.perf_counter(); p = subprocess.Popen(sys.argv[2:]); "
           "_, status, usage = os.wait4(p.pid, 0); json.dump({'rc': os.waitstatus_to_exitcode(status), "
           "'seconds': time.perf_counter() - t, 'peak_rss_mb': usage.ru_maxrss / 1024}, open(sys.argv[1], 'w'))")


def run_measured(cmd: list[str], threads: int, log: Path) -> dict:
    """Wall seconds and peak RSS (MB) of one fresh process at `threads` threads; its output goes to `log`."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    report = log.with_suffix(".json")
    with open(log, "w") as out:
        subprocess.run([sys.executable, "-c", WATCHER, str(report), *cmd], env=env, stdout=out,
                       stderr=subprocess.STDOUT, check=True)
    measured = json.loads(report.read_text())
    if measured.pop("rc"):
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{log.read_text()[-2000:]}")
    return measured


# ------------------------------------------------------------------------------------------ inputs
def data_root(given: str | None) -> Path | None:
    if given:
        return Path(given)
    return next((p for p in DATA_ROOTS if (p / "mnist" / "train.npz").is_file()), None)


def clean_input(meta: dict, sizes: Sizes, root: Path | None) -> tuple[torch.Tensor, str]:
    """Clean content of the model's kind at the benchmark's size: a porous slice (super-resolution input), a
    synthetic gather (signed models), MNIST test digits (28 px, when the data root has them) or crops of
    photographs, and the spec it came from."""
    from ganrecon.data import load_dataset

    h, w = meta["image_size"]
    n = sizes.images
    if int(meta.get("scale", 1)) > 1:
        spec = f"porous:n=1,size={sizes.slice_side}x{sizes.slice_side},noise=0.01"
    elif meta["value_range"][0] < 0:
        spec = f"seismic:n=1,size={sizes.gather[0]}x{sizes.gather[1]}"
    elif (h, w) == (28, 28) and root is not None:
        spec = "mnist"
    else:
        spec = f"natural:n={n},size={h}x{w}"
    images = load_dataset(spec, split="test", root=str(root) if root else None, limit=n, seed=0).images
    return images.float(), spec


def degraded_input(meta: dict, sizes: Sizes, root: Path | None) -> dict:
    """The benchmark input of a conditional model: (observed, mask, clean or None, description). Super-resolution
    gets the slice itself, quantised to 16 bits as a micro-CT slice is; every other model the clean images under
    its first training degradation (seed 0)."""
    from ganrecon.degrade import parse_degradation

    clean, spec = clean_input(meta, sizes, root)
    if int(meta.get("scale", 1)) > 1:
        observed = torch.round(clean.clamp(0, 1) * 65535) / 65535
        return {"observed": observed, "mask": torch.ones_like(observed), "clean": None,
                "what": f"{spec} (16-bit)"}
    degrade = meta["degrade"][0] if isinstance(meta["degrade"], list) else meta["degrade"]
    observed, mask = parse_degradation(degrade)(clean, value_range=tuple(meta["value_range"]),
                                                generator=torch.Generator().manual_seed(0))
    return {"observed": observed * mask, "mask": mask, "clean": clean, "what": f"{spec}, {degrade}"}


def write_cli_input(observed: torch.Tensor, scale: int, folder: Path, frames: int = 1) -> Path:
    """The input as a user's file: a 16-bit TIFF slice for super-resolution, else a float32 .npy (a 2-D gather,
    an N x H x W stack, or for a burst model the first scene's burst of `frames` frames; missing entries
    all-zero, as `reconstruct` finds them)."""
    if frames > 1:
        path = folder / "input.npy"
        np.save(path, observed[0].numpy())
        return path
    array = observed[:, 0].numpy()
    if scale > 1:
        import tifffile

        path = folder / "input.tiff"
        tifffile.imwrite(path, np.round(array[0] * 65535).astype(np.uint16))
        return path
    path = folder / "input.npy"
    np.save(path, array[0] if array.shape[0] == 1 else array)
    return path


# ------------------------------------------------------------------------------------------ inference
LOAD_ONLY = "import sys; from ganrecon import cli; from ganrecon.inference import load_model; load_model(sys.argv[1])"


def finite(value: float) -> float | None:
    """JSON has no infinity: identical outputs (PSNR +inf) are written as null and shown as 'identical'."""
    return value if np.isfinite(value) else None


def bf16_row(model, data: dict, warm: tuple, fp32_out: torch.Tensor, fp32_seconds: float) -> dict:
    """The tiled path under bf16 autocast: speed-up over fp32, PSNR of its output against fp32's, and the change
    of PSNR against the clean images (when the input has them)."""
    width = float(np.diff(model.value_range)[0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(*warm)
        t = time.perf_counter()
        out = model(data["observed"], data["mask"])
        seconds = time.perf_counter() - t
    row = {"seconds": seconds, "speedup": fp32_seconds / seconds,
           "psnr_vs_fp32_db": finite(psnr(out, fp32_out, width)), "psnr_change_db": None}
    if data["clean"] is not None:
        row["psnr_change_db"] = psnr(out, data["clean"], width) - psnr(fp32_out, data["clean"], width)
    return row


def cli_row(name: str, observed: torch.Tensor, scale: int, own_flops: float, peak: float, threads: int,
            work: Path, guard: str = "off", frames: int = 1, repeats: int = 1) -> dict:
    """`ganrecon reconstruct` on the input saved as a user's file, in a fresh process, next to a process that only
    imported the CLI and loaded the model (the RSS every run pays before it reads a pixel). `guard`: "off" for
    the network's own speed, "auto" for what a user gets by default (the self-check and its baselines too).
    `repeats` fresh processes: the fastest one's seconds (a busy machine only slows a run down) and the largest
    peak RSS of them all."""
    src = write_cli_input(observed, scale, work, frames)
    dst = work / f"output{src.suffix}"
    loaded = run_measured([sys.executable, "-c", LOAD_ONLY, name], threads, work / "load.log")
    runs = [run_measured([sys.executable, "-m", "ganrecon", "reconstruct", str(src), "--model", name, "-o", str(dst),
                          "--guard", guard, "--force"], threads, work / f"cli-{guard}.log") for _ in range(repeats)]
    run = {"seconds": min(r["seconds"] for r in runs), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
    output_mb = dst.stat().st_size / 2**20
    dst.unlink()
    return {**rate(own_flops, run["seconds"], peak), "file": src.name, "peak_rss_mb": run["peak_rss_mb"],
            "loaded_rss_mb": loaded["peak_rss_mb"], "output_mb": output_mb,
            "peak_over_output": run["peak_rss_mb"] / output_mb,
            "working_set_over_output": (run["peak_rss_mb"] - loaded["peak_rss_mb"]) / output_mb}


def conditional_row(name: str, sizes: Sizes, peak: float, threads: int, root: Path | None, skip: set,
                    work: Path) -> dict:
    """One conditional model: FLOPs, one batch of tiles, the tiled path, bf16 and the CLI."""
    from ganrecon.inference import load_model
    from ganrecon.models.generators import layers_as_trained
    from ganrecon.reconstruction import bundle_keeps_fp32
    from ganrecon.reconstructor import inference_layout

    model = load_model(name)
    prior = getattr(model.generator, "prior", None)  # a refiner's conventional estimate (models/refine.py)
    without_prior_cache(model.generator)  # a user's input is new to the prior's cache; repeated timings pay it too
    data = degraded_input(model.meta, sizes, root)
    obs, mask = data["observed"], data["mask"]
    th, tw = model.tile
    warm = (obs[:2, :, :2 * th, :2 * tw], mask[:2, :, :2 * th, :2 * tw])  # the kernels' warm-up, untimed
    model(*warm)
    with TileRecorder(model) as recorder:
        t = time.perf_counter()
        out = model(obs, mask)
        tiled_seconds = time.perf_counter() - t
    piece, run_piece = recorder.first, getattr(model, tile_function(model))
    with layers_as_trained():  # the model's own FLOPs: its layers as defined, not the faster form inference runs
        piece_flops = count_flops(run_piece, *piece)  # as run: both polarities for signed models
        per_pixel = count_flops(model.apply_tiles, *piece) / (piece[0].shape[0] * piece[0].shape[-2] * piece[0].shape[-1])
    own = per_pixel * obs.shape[0] * obs.shape[-2] * obs.shape[-1]
    executed = piece_flops / piece[0].shape[0] * recorder.tiles
    with torch.no_grad(), inference_layout(model.generator, not model.fixed_size):  # as the tiled path runs it
        raw_seconds = best_seconds(lambda: run_piece(*piece), sizes.repeats)
        prior_seconds = best_seconds(lambda: prior(*piece), sizes.repeats) if prior is not None else None
    row = {"name": name, "kind": "conditional", "input": data["what"],
           "input_shape": list(obs.shape), "output_shape": list(out.shape),
           "piece_shape": list(piece[0].shape), "own_gflop": own / 1e9, "executed_over_own": executed / own,
           "polarity_passes": 2 if model.signed else 1,
           "prior": model.generator.prior_name if prior is not None else None, "prior_seconds": prior_seconds,
           "raw": rate(piece_flops, raw_seconds, peak), "tiled": rate(own, tiled_seconds, peak),
           "auto_precision": "fp32" if bundle_keeps_fp32(model.meta) else None}  # the bundle keeps `auto` in fp32
    row["bf16"] = None if "bf16" in skip else bf16_row(model, data, warm, out, tiled_seconds)
    del out
    frames = getattr(model, "frames", 1)
    row["cli"] = None if "cli" in skip else cli_row(name, obs, model.scale, own, peak, threads, work, frames=frames,
                                                    repeats=sizes.cli_repeats)
    row["cli_guarded"] = None if "cli" in skip else cli_row(name, obs, model.scale, own, peak, threads, work, "auto",
                                                            frames=frames)
    return row


def latent_row(name: str, sizes: Sizes, peak: float, skip: set) -> dict:
    """A latent model: G(z) on a batch of z (its reconstruction is an inversion, many such passes with
    gradients, so there is no tiled path or `reconstruct` run to time)."""
    from ganrecon.inference import load_model

    model = load_model(name)
    generator = model.generator.eval()
    z = torch.randn(sizes.images, model.z_dim, generator=torch.Generator().manual_seed(0))
    flops = count_flops(generator, z)
    with torch.no_grad():
        seconds = best_seconds(lambda: generator(z), sizes.repeats)
        fp32 = generator(z)
    row = {"name": name, "kind": "latent", "input": f"G(z) on {sizes.images} z of {model.z_dim}",
           "input_shape": list(z.shape), "output_shape": list(fp32.shape), "piece_shape": list(z.shape),
           "own_gflop": flops / 1e9, "executed_over_own": 1.0, "polarity_passes": 1,
           "raw": rate(flops, seconds, peak), "tiled": None, "cli": None, "bf16": None}
    if "bf16" not in skip:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            bf16_seconds = best_seconds(lambda: generator(z), sizes.repeats)
            out = generator(z).float()
        width = float(np.diff(model.value_range)[0])
        row["bf16"] = {"seconds": bf16_seconds, "speedup": seconds / bf16_seconds,
                       "psnr_vs_fp32_db": finite(psnr(out, fp32, width)), "psnr_change_db": None}
    return row


# ------------------------------------------------------------------------------------------ training
def config_overrides(base, sizes: Sizes, threads: int, root: Path | None) -> dict:
    """A short run of the config as it trains: its batch, models and losses; D and G from the first step."""
    n = sizes.train_steps
    return {"steps": n, "warmup_steps": 0, "init": None, "max_seconds": None, "eval_every": n,
            "checkpoint_every": n, "log_every": 1, "threads": threads, "device": "cpu",
            "limit": max(sizes.train_images, 2 * base.batch_size), "val_images": sizes.val_images or base.val_images,
            "data_root": str(root) if root else base.data_root}


def logged_seconds(log_csv: Path) -> list[float]:
    """log.csv's `seconds` column (the run's elapsed time after each step)."""
    with open(log_csv, newline="") as fh:
        return [float(row["seconds"]) for row in csv.DictReader(fh)]


def bare_step_seconds(strategy, step: int, seed: int, repeats: int) -> float:
    """Median seconds of the strategy's own `step` on one fixed batch: the conditional batch (data and
    degradation) is made once beforehand, the EMA update is left out. A latent step still draws its z and
    indexes its batch in memory (no degradation there)."""
    from ganrecon.training import step_generator

    if hasattr(strategy, "batch"):
        fixed = strategy.batch(step, step_generator(seed, step))
        strategy.batch = lambda *_, **__: fixed
    strategy.update_ema = lambda *_: None  # a refiner's prior is computed at every step: steps bypass its cache
    return median_seconds(lambda _: strategy.step(step, step_generator(seed, step)), repeats)


def median_seconds(call, repeats: int) -> float:
    """Median seconds of `call(k)` for k = 1 .. repeats, after a warm-up call(0)."""
    call(0)
    times = []
    for k in range(1, max(1, repeats) + 1):
        t = time.perf_counter()
        call(k)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def loop_extras_seconds(strategy, step: int, seed: int, repeats: int) -> tuple[float, float]:
    """Median seconds of what a loop step does besides the bare step: making a batch (data and degradation,
    from the step's own stream) and the EMA update (0 where the strategy has neither)."""
    from ganrecon.training import step_generator

    batch_s = (median_seconds(lambda k: strategy.batch(step + k, step_generator(seed, step + k)), repeats)
               if hasattr(strategy, "batch") else 0.0)
    ema_s = (median_seconds(lambda k: strategy.update_ema(step + k), repeats)
             if getattr(strategy, "ema", None) is not None else 0.0)
    return batch_s, ema_s


def validation_seconds(strategy, step: int) -> float:
    """Seconds of one validation. The first one pays for what later ones reuse (a costly prior of the fixed
    validation batch, computed once and cached by the EMA copy), so a run's validations are timed twice."""
    t = time.perf_counter()
    strategy.validate(step)
    return time.perf_counter() - t


def run_validation_seconds(base, step_s: float, first_s: float, later_s: float) -> tuple[float, int]:
    """Mean seconds of a validation over the config's run (its steps, or as many as its time budget allows at
    this loop's speed), and the number of validations."""
    steps = base.steps or math.inf
    if base.max_seconds:
        steps = min(steps, base.max_seconds / step_s)
    validations = max(1, int(steps // base.eval_every)) if math.isfinite(steps) else 1
    return (first_s + (validations - 1) * later_s) / validations, validations


def loop_and_bare(config, sizes: Sizes) -> dict:
    """One measurement of a config: a short `train` run (its median step, and the end: the final validation and
    checkpoint), then a fresh strategy's validation (twice) and bare step."""
    from ganrecon.training import strategy_for, train

    with tempfile.TemporaryDirectory() as tmp:
        result = train(config, Path(tmp) / "run", progress=False)
        logged = logged_seconds(Path(tmp) / "run" / "log.csv")
    step_s = statistics.median(np.diff(logged)) if len(logged) > 1 else logged[0]
    end_s = result.seconds - logged[-1]  # the final validation and checkpoint
    torch.set_flush_denormal(True)  # as `train` runs
    try:
        strategy = strategy_for(config.task)(config, torch.device("cpu"), name="bare")
        first_s, later_s = (validation_seconds(strategy, config.steps) for _ in range(2))
        batch_s, ema_s = loop_extras_seconds(strategy, config.steps, config.seed, sizes.repeats)
        bare_s = bare_step_seconds(strategy, config.steps, config.seed, sizes.repeats)
    finally:
        torch.set_flush_denormal(False)
    return {"step_s": step_s, "checkpoint_s": max(end_s - first_s, 0.0),  # the loop's only validation was its first
            "first_s": first_s, "later_s": later_s, "bare_s": bare_s, "batch_s": batch_s, "ema_s": ema_s,
            "run_images_per_s": config.steps * config.batch_size / result.seconds}


def amortised_step(base, config, m: dict) -> tuple[float, float, int]:
    """(seconds per step with validation and checkpoints at the config's intervals, mean validation seconds,
    validations in the config's run)."""
    val_s, validations = run_validation_seconds(base, m["step_s"], m["first_s"], m["later_s"])
    val_per_step = val_s * base.val_images / config.val_images / base.eval_every
    return m["step_s"] + val_per_step + m["checkpoint_s"] / base.checkpoint_every, val_s, validations


def training_row(config_name: str, shipped: list[str], sizes: Sizes, threads: int, root: Path | None) -> dict:
    """Whole-loop images/s of one config (amortised at its own validation and checkpoint intervals) against its
    bare D + G step, in this process. The loop and the bare step are measured `train_repeats` times, in turn,
    and each quantity is the fastest of its repeats (as every inference time here is a best of N): this
    machine has slow spells of minutes, in which a single loop-then-bare pair reads almost any ratio."""
    from ganrecon.config import load_config

    path = ROOT / "configs" / f"{config_name}.yaml"
    base = load_config(path)
    config = load_config(path, config_overrides(base, sizes, threads, root))
    runs = [loop_and_bare(config, sizes) for _ in range(max(1, sizes.train_repeats))]
    best = {key: min(m[key] for m in runs) for key in runs[0] if key != "run_images_per_s"}
    loop_s, val_s, validations = amortised_step(base, config, best)
    each = [m["bare_s"] / amortised_step(base, config, m)[0] for m in runs]
    b = config.batch_size
    return {"config": config_name, "shipped": shipped, "task": config.task, "batch_size": b,
            "steps": config.steps, "repeats": len(runs), "bare_images_per_s": b / best["bare_s"],
            "loop_step_images_per_s": b / best["step_s"], "loop_images_per_s": b / loop_s,
            "loop_over_bare": best["bare_s"] / loop_s, "loop_over_bare_each": each,
            "run_images_per_s": max(m["run_images_per_s"] for m in runs), "validation_seconds": val_s,
            "validation_first_seconds": best["first_s"], "validation_later_seconds": best["later_s"],
            "validations": validations, "val_images": config.val_images, "config_val_images": base.val_images,
            "eval_every": base.eval_every, "checkpoint_seconds": best["checkpoint_s"],
            "checkpoint_every": base.checkpoint_every, "batch_seconds": best["batch_s"], "ema_seconds": best["ema_s"]}


def training_configs(names: list[str]) -> dict[str, list[str]]:
    """config name -> the shipped models trained by it (a run is named after its config)."""
    configs: dict[str, list[str]] = {}
    for name in names:
        if name in SOURCES:
            run = SOURCES[name][0]
            configs.setdefault(TRAINED_BY.get(run, run), []).append(name)
    return configs


# ------------------------------------------------------------------------------------------ report
def auto_fp32_note(rows: list[dict]) -> str:
    """The models whose bundles keep `auto` in fp32 (benchmarks/precision.py --record), said after the CPU's
    auto choice."""
    kept = [r["name"] for r in rows if r.get("auto_precision") == "fp32"]
    return (f", fp32 for {', '.join(kept)}, whose bundle records that bf16 costs it more than precision.md's "
            "tolerance" if kept else "")


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def inference_table(rows: list[dict]) -> list[str]:
    lines = ["| model | input | own GFLOP | executed / own | one batch of tiles: s, % of peak | tiled path: s, "
             "% of peak | CLI: s, % of peak | CLI peak RSS MB (loaded model) | output MB | peak / output | "
             "(peak - loaded) / output |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        tiled, cli = r["tiled"] or {}, r["cli"] or {}
        lines.append(
            f"| {r['name']} | {r['input']}, {' x '.join(map(str, r['input_shape']))} | {num(r['own_gflop'], 1)} | "
            f"{num(r['executed_over_own'])} | {secs(r['raw']['seconds'])}, {pct(r['raw']['fraction_of_peak'])} | "
            f"{secs(tiled.get('seconds'))}, {pct(tiled.get('fraction_of_peak'))} | "
            f"{secs(cli.get('seconds'))}, {pct(cli.get('fraction_of_peak'))} | "
            f"{num(cli.get('peak_rss_mb'), 0)} ({num(cli.get('loaded_rss_mb'), 0)}) | {num(cli.get('output_mb'), 1)} | "
            f"{num(cli.get('peak_over_output'), 1)} | {num(cli.get('working_set_over_output'), 1)} |")
    return lines


def guarded_table(rows: list[dict]) -> list[str]:
    lines = ["| model | CLI, guard off: s | CLI, guard auto: s, % of peak | guarded / off, time | peak RSS MB | "
             "(peak - loaded) / output |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        off, auto = r.get("cli") or {}, r.get("cli_guarded") or {}
        if not auto:
            continue
        lines.append(f"| {r['name']} | {secs(off.get('seconds'))} | {secs(auto['seconds'])}, "
                     f"{pct(auto['fraction_of_peak'])} | {num(auto['seconds'] / off['seconds']) if off else '-'} | "
                     f"{num(auto['peak_rss_mb'], 0)} | {num(auto['working_set_over_output'], 1)} |")
    return lines


def shortfall_lines(rows: list[dict], target: float = 0.4) -> list[str]:
    """Where each model below `target` of the peak loses it, from this run's numbers. A conditional model (on
    its tiled path): the network alone on one batch of tiles (the batch's seconds less its prior's), what the
    tiled path executes beyond the model's own FLOPs, and the prior's share of the batch. A latent model (G(z)):
    the layer-by-layer breakdown to run."""
    lines = []
    for r in rows:
        tiled, raw = r.get("tiled"), r.get("raw")
        if r.get("kind") == "latent" and raw and raw["fraction_of_peak"] < target:
            lines.append(f"- {r['name']} (G(z) {pct(raw['fraction_of_peak'])}): no tiles and no prior; where its "
                         f"time goes, layer by layer: `benchmarks/layer_times.py {r['name']} --batch "
                         f"{r['input_shape'][0]}`")
        if not tiled or not raw or tiled["fraction_of_peak"] >= target:
            continue
        prior_s = r.get("prior_seconds") or 0.0
        alone = raw["fraction_of_peak"] * raw["seconds"] / max(raw["seconds"] - prior_s, 1e-12)
        parts = [f"the network alone runs one batch of tiles at {pct(alone)} of the peak"]
        if prior_s:
            parts.append(f"its prior ({r['prior']}) takes {pct(prior_s / raw['seconds'])} of that batch's time")
        if r["executed_over_own"] > 1.05:
            passes = " (two polarity passes)" if r.get("polarity_passes", 1) > 1 else ""
            parts.append(f"the tiled path executes {r['executed_over_own']:.2f} x the model's own FLOPs: tile "
                         f"overlaps{passes}")
        lines.append(f"- {r['name']} (tiled path {pct(tiled['fraction_of_peak'])}): " + "; ".join(parts) + ".")
    return lines


def bf16_table(rows: list[dict]) -> list[str]:
    lines = ["| model | path | fp32 s | bf16 s | speed-up | PSNR bf16 vs fp32 output, dB | PSNR change vs clean, dB |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        b = r["bf16"]
        if b is None:
            continue
        fp32 = (r["tiled"] or r["raw"])["seconds"]
        agreement = "identical" if b["psnr_vs_fp32_db"] is None else num(b["psnr_vs_fp32_db"], 1)
        change = "-" if b["psnr_change_db"] is None else f"{b['psnr_change_db']:+.3f}"
        lines.append(f"| {r['name']} | {'tiled' if r['tiled'] else 'G(z)'} | {secs(fp32)} | {secs(b['seconds'])} | "
                     f"{num(b['speedup'])} | {agreement} | {change} |")
    return lines


def each_repeat(row: dict) -> str:
    each = row.get("loop_over_bare_each") or []
    return f" ({', '.join(pct(v) for v in each)})" if len(each) > 1 else ""


def validation_cell(row: dict) -> str:
    if "validation_first_seconds" not in row:  # a JSON written before validations were timed twice
        return secs(row["validation_seconds"])
    return (f"{secs(row['validation_first_seconds'])}, {secs(row['validation_later_seconds'])}, "
            f"{secs(row['validation_seconds'])} of {row['validations']}")


def training_table(rows: list[dict]) -> list[str]:
    lines = ["| config (shipped) | batch | bare D+G step img/s | loop step img/s | loop img/s, amortised | "
             "loop / bare (each repeat) | validation s: first, later, mean over the run (images -> config's; "
             "every) | checkpoint s (every) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['config']} | skipped: {r['skipped']} |||||||")
            continue
        lines.append(
            f"| {r['config']} ({', '.join(r['shipped'])}) | {r['batch_size']} | {num(r['bare_images_per_s'], 0)} | "
            f"{num(r['loop_step_images_per_s'], 0)} | {num(r['loop_images_per_s'], 0)} | {pct(r['loop_over_bare'])}"
            f"{each_repeat(r)} | "
            f"{validation_cell(r)} ({r['val_images']} -> {r['config_val_images']}; {r['eval_every']}) | "
            f"{secs(r['checkpoint_seconds'])} ({r['checkpoint_every']}) |")
    return lines


def loop_shortfall_lines(rows: list[dict], target: float = 0.85) -> list[str]:
    """Where the loop of each config below `target` of its bare step spends the difference, from this run."""
    lines = []
    for r in rows:
        if "skipped" in r or r["loop_over_bare"] >= target or "batch_seconds" not in r:
            continue
        b = r["batch_size"]
        step_ms, bare_ms, loop_ms = (1e3 * b / r[k] for k in ("loop_step_images_per_s", "bare_images_per_s",
                                                               "loop_images_per_s"))
        lines.append(f"- {r['config']}: a loop step takes {step_ms:.1f} ms against the bare step's {bare_ms:.1f}; "
                     f"making its batch (data and degradation) takes {1e3 * r['batch_seconds']:.1f} ms, the EMA "
                     f"update {1e3 * r['ema_seconds']:.1f} ms, and validation and checkpoints add "
                     f"{loop_ms - step_ms:.1f} ms per step.")
    return lines


def measured_note(peak: dict) -> str:
    """Both measurements of the peak, where the run made two (a JSON from before has one)."""
    if len(peak.get("measured", [])) < 2:
        return ""
    before, after = peak["measured"]
    return (f" Measured before and after the inference rows ({before:.0f} and {after:.0f} GFLOP/s); the higher is the "
            "reference, since a slow spell of this machine lowers a measurement and never raises it.")


def markdown(result: dict) -> str:
    peak = result["peak"]
    best = peak["best"]
    lines = [f"Throughput on this CPU ({result['cpu']}, {result['threads']} threads, torch {result['torch']}; "
             f"`benchmarks/throughput.py{' --quick' if result['quick'] else ''}`, one run).",
             ""]
    if result["quick"]:
        lines += ["**Quick smoke sizes: not results.**", ""]
    lines += [f"Reference: a channels_last 3 x 3 convolution reached **{peak['gflop_per_s']:.1f} GFLOP/s** "
              f"(width {best['width']}, {best['batch']} x {best['side']} x {best['side']}; best of "
              f"{len(peak['rows'])} sizes: " + ", ".join(f"{r['width']}ch {r['side']}px {r['gflop_per_s']:.0f}"
                                                          for r in peak["rows"]) + "). Percentages below are of it."
              + measured_note(peak), ""]
    if result["inference"]:
        lines += ["Inference. Own GFLOP: the model's FLOPs on the whole input (counted on one batch of tiles, per "
                  "input pixel); executed / own: what tile overlaps and the seismic polarity average's second pass "
                  "add. Percentages count the model's own FLOPs. CLI: `ganrecon reconstruct --guard off` in a fresh "
                  f"process, the fastest of {result['sizes'].get('cli_repeats', 1)} (start-up and file I/O included; "
                  "peak RSS: the largest), at its default precision (auto: "
                  f"{result.get('cli_precision', 'fp32')} on this CPU{auto_fp32_note(result['inference'])}; the "
                  "other columns are fp32).", "", *inference_table(result["inference"]), ""]
        if any(r.get("cli_guarded") for r in result["inference"]):
            lines += ["What a user gets by default: the same CLI run with `--guard auto` (the self-check on the "
                      "user's input, the baselines it compares, and the blend; `ganrecon.guard`). Percentages still "
                      "count only the model's own FLOPs on the input.", "", *guarded_table(result["inference"]), ""]
        refiners = [r for r in result["inference"] if r.get("prior_seconds") is not None]
        if refiners:
            lines += ["Of one batch of tiles, the refiners' conventional prior (computed once per tile, outside the "
                      "network's FLOPs) takes: " + "; ".join(
                          f"{r['name']} ({r['prior']}) {secs(r['prior_seconds'])} of {secs(r['raw']['seconds'])}"
                          for r in refiners) + ".", ""]
        short = shortfall_lines(result["inference"])
        if short:
            lines += ["Below 40% of the peak (on the tiled path; latent models: G(z)), and where the time goes "
                      "(this run's numbers):", "",
                      *short, ""]
        if any(r["bf16"] for r in result["inference"]):
            lines += ["bf16 autocast against fp32 (same input, same process):", "",
                      *bf16_table(result["inference"]), ""]
    if result["training"]:
        lines += ["Training, per shipped config (warmup_steps=0: D and G every step). Loop step: median step-to-step "
                  "seconds of a `ganrecon.training.train` run (data, degradation, D and G steps, EMA, logging); "
                  "amortised: plus validation (scaled to the config's val_images) and checkpoint at the config's "
                  "intervals. A run's first validation computes what later ones reuse (a costly prior of the fixed "
                  "validation batch, cached by the EMA copy), so validation is timed twice and averaged over the "
                  "config's planned validations. Bare: the strategy's step on one fixed batch, no EMA. Loop and "
                  "bare are measured several times in turn and each number is the fastest of its repeats (this "
                  "machine has slow spells); the ratio of each repeat on its own is in brackets.", "",
                  *training_table(result["training"]), ""]
        slow = loop_shortfall_lines(result["training"])
        if slow:
            lines += ["Below 85% of the bare step, where the loop's extra time goes (this run's numbers):", "", *slow, ""]
    return "\n".join(lines)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ------------------------------------------------------------------------------------------ main
def run(names: list[str], sizes: Sizes, threads: int, root: Path | None, skip: set, quick: bool) -> dict:
    from ganrecon.errors import GanreconError
    from ganrecon.inference import LatentModel, load_model

    torch.set_num_threads(threads)
    peak = conv_peak(sizes.conv_widths, sizes.conv_sides, sizes.conv_batch, sizes.repeats)
    print(f"reference: {peak['gflop_per_s']:.1f} GFLOP/s", flush=True)
    inference, training = [], []
    if "inference" not in skip:
        with tempfile.TemporaryDirectory() as tmp:
            for name in names:
                latent = isinstance(load_model(name), LatentModel)
                row = (latent_row(name, sizes, peak["gflop_per_s"], skip) if latent else
                       conditional_row(name, sizes, peak["gflop_per_s"], threads, root, skip, Path(tmp)))
                print(f"{name}: tiled {pct((row['tiled'] or row['raw'])['fraction_of_peak'])} of peak", flush=True)
                inference.append(row)
        peak = higher_peak(peak, conv_peak(sizes.conv_widths, sizes.conv_sides, sizes.conv_batch, sizes.repeats))
        rescale_to_peak(inference, peak["gflop_per_s"])
        print(f"reference after the inference rows: {peak['measured'][-1]:.1f} GFLOP/s", flush=True)
    if "train" not in skip:
        for config_name, shipped in training_configs(names).items():
            try:
                row = training_row(config_name, shipped, sizes, threads, root)
            except GanreconError as exc:  # e.g. MNIST not in the data root: say so in the table, measure the rest
                row = {"config": config_name, "shipped": shipped, "skipped": str(exc)}
            print(f"{config_name}: loop / bare {pct(row.get('loop_over_bare'))}", flush=True)
            training.append(row)
    from ganrecon.reconstructor import resolve_precision

    return {"cpu": cpu_name(), "threads": threads, "torch": torch.__version__, "quick": quick,
            "cli_precision": resolve_precision("auto"), "sizes": asdict(sizes), "peak": peak,
            "inference": inference, "training": training}


def main(argv: list[str] | None = None) -> int:
    from ganrecon.inference import pretrained_names
    from ganrecon.io_utils import atomic_write_json, atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads, here and in the CLI processes")
    parser.add_argument("--models", nargs="+", default=None, help="shipped models (default: all)")
    parser.add_argument("--quick", action="store_true", help="smoke sizes (256 x 256 slice, 100 images, 3 steps)")
    parser.add_argument("--steps", type=int, default=None, help="training loop steps per config")
    parser.add_argument("--skip", nargs="*", default=[], choices=["inference", "cli", "bf16", "train"])
    parser.add_argument("--data-root", default=None, help="folder with mnist/train.npz (default: ../shared/datasets)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args(argv)
    names = args.models or pretrained_names()
    unknown = sorted(set(names) - set(pretrained_names()))
    if unknown:
        parser.error(f"not shipped: {', '.join(unknown)}")
    sizes = QUICK if args.quick else FULL
    if args.steps:
        sizes = Sizes(**{**asdict(sizes), "train_steps": args.steps})
    result = run(names, sizes, args.threads, data_root(args.data_root), set(args.skip), args.quick)
    atomic_write_json(args.out / "throughput.json", result)
    atomic_write_text(args.out / "throughput.md", markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
