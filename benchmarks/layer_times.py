"""Where a shipped model's inference time goes, layer by layer, against this CPU's convolution peak (issue 19).

    PYTHONPATH=src .venv/bin/python benchmarks/layer_times.py superres-porous-x4 [--tile 256] [--threads 2]

`throughput.py` says how far a whole model is from the peak; this says which layers hold it back. One batch of
tiles of the model's own tile size (a latent model: G on `--batch` random z; random input, the layout the tiled
path runs: channels_last, no_grad) goes
through the generator `--repeats` times with its layers as trained (`layers_as_trained`: every layer a module
call); forward hooks on every leaf module time it (the best of the repeats), and FlopCounterMode counts its
FLOPs. `--compare` then times the whole generator as trained against the faster form inference runs
(BatchNorm folded into convolutions, SRResNet's sub-pixel tail). The reference peak is `throughput.conv_peak`,
measured in the same run. Layers without FLOPs (activations, BatchNorm, PixelShuffle) are memory-bound: their
seconds are the price of one more pass over the activations. Prints a Markdown table; `--out FILE.md` also writes it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import best_seconds, conv_peak  # noqa: E402  (the same reference as the throughput page)


def leaf_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if name and not list(m.children())]


def time_leaves(generator: torch.nn.Module, inputs: tuple, repeats: int) -> dict[str, float]:
    """Best-of-`repeats` wall seconds of each leaf module's forward, from pre- and post-forward hooks."""
    starts: dict[str, float] = {}
    runs: dict[str, list[float]] = defaultdict(list)
    handles = []
    for name, module in leaf_modules(generator):
        def pre(_m, _i, name=name):
            starts[name] = time.perf_counter()

        def post(_m, _i, _o, name=name):
            runs[name].append(time.perf_counter() - starts[name])
        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        with torch.no_grad():
            generator(*inputs)  # warm-up: oneDNN picks and caches its kernels on the first call
            runs.clear()
            for _ in range(repeats):
                generator(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return {name: min(times) for name, times in runs.items()}


def leaf_flops(generator: torch.nn.Module, inputs: tuple) -> dict[str, int]:
    """FLOPs of each leaf module (FlopCounterMode's per-module totals, keyed by the module's dotted name)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        generator(*inputs)
    counts = counter.get_flop_counts()  # keyed "Root.child.leaf", the root named after its class; "Global": all
    return {name.partition(".")[2]: int(sum(ops.values())) for name, ops in counts.items() if "." in name}


def shapes_out(generator: torch.nn.Module, inputs: tuple) -> dict[str, tuple]:
    shapes, handles = {}, []
    for name, module in leaf_modules(generator):
        handles.append(module.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape))))
    with torch.no_grad():
        generator(*inputs)
    for handle in handles:
        handle.remove()
    return shapes


def table(generator: torch.nn.Module, inputs: tuple, repeats: int, peak: float) -> list[str]:
    seconds = time_leaves(generator, inputs, repeats)
    flops = leaf_flops(generator, inputs)
    shapes = shapes_out(generator, inputs)
    modules = dict(leaf_modules(generator))
    total = sum(seconds.values())
    lines = ["| layer | type | output | GFLOP | ms | share of time | GFLOP/s | % of peak |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for name, secs in seconds.items():
        f = flops.get(name, 0)
        rate = f / secs / 1e9 if f else None
        lines.append(f"| {name} | {type(modules[name]).__name__} | {' x '.join(map(str, shapes.get(name, ())))} | "
                     f"{f / 1e9:.2f} | {secs * 1e3:.1f} | {secs / total:.0%} | "
                     f"{'-' if rate is None else f'{rate:.0f}'} | {'-' if rate is None else f'{rate / peak:.0%}'} |")
    all_flops = sum(flops.get(name, 0) for name in seconds)
    lines.append(f"| all leaves | | | {all_flops / 1e9:.2f} | {total * 1e3:.1f} | 100% | {all_flops / total / 1e9:.0f} | "
                 f"{all_flops / total / 1e9 / peak:.0%} |")
    return lines


def compare_forms(generator: torch.nn.Module, inputs: tuple, repeats: int) -> list[str]:
    """Whole-generator seconds (best of `repeats`) with the layers as trained against the faster inference form
    (BatchNorm folded, SRResNet's sub-pixel tail; models/generators.py), and how far their outputs differ."""
    from ganrecon.models.generators import layers_as_trained

    with torch.no_grad():
        with layers_as_trained():
            slow = best_seconds(lambda: generator(*inputs), repeats)
            reference = generator(*inputs)
        fast = best_seconds(lambda: generator(*inputs), repeats)
        diff = float((generator(*inputs) - reference).abs().max())
    return [f"Layers as trained: {slow:.3f} s; inference form: {fast:.3f} s ({slow / fast:.2f}x faster); "
            f"largest output difference {diff:.1e}."]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a shipped model name or a bundle path")
    parser.add_argument("--tile", type=int, default=None, help="input tile side (default: the model's tile)")
    parser.add_argument("--batch", type=int, default=1, help="tiles per batch (latent models: z per batch)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--compare", action="store_true",
                        help="also time the layers as trained against the inference form (same run)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ganrecon.inference import LatentModel, load_model
    from ganrecon.models.generators import layers_as_trained
    from ganrecon.reconstructor import inference_layout

    model = load_model(args.model)
    generator = model.generator
    if isinstance(model, LatentModel):  # G(z): a batch of latent vectors, no tiles
        inputs = (torch.randn(args.batch, model.z_dim, generator=torch.Generator().manual_seed(0)),)
        what = f"{args.batch} z of {model.z_dim}"
    else:
        th, tw = (args.tile, args.tile) if args.tile else model.tile
        observed = torch.rand(args.batch, model.meta.get("channels", 1), th, tw).contiguous(
            memory_format=torch.channels_last)
        inputs, what = (observed, torch.ones_like(observed)), f"{args.batch} x {observed.shape[1]} x {th} x {tw}"
    peak = conv_peak()["gflop_per_s"]
    with inference_layout(generator, True):
        with layers_as_trained():  # every layer a module call its hooks see (folded BatchNorm is not)
            lines = table(generator.eval(), inputs, args.repeats, peak)
        if args.compare:
            lines += ["", *compare_forms(generator, inputs, args.repeats)]
    head = (f"Layer times of `{args.model}` on {what} "
            f"({torch.get_num_threads()} threads, channels_last, no_grad, best of {args.repeats}; "
            f"reference peak {peak:.0f} GFLOP/s; `benchmarks/layer_times.py`).")
    text = "\n".join([f"## Layer times: {args.model}", "", head, "", *lines]) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
