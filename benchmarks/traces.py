"""Benchmark of the `traces` task -> docs/results/traces.{json,md} and docs/figures/traces-*.png.

Every method sees the same degraded held-out images (test split, never used in training or validation):
MNIST from ../shared/datasets (or --data-root) and synthetic seismic gathers; conventional baselines and the
three GANs (linear, LeNet-5, U-Net generators). Models come from runs/<name> (benchmarks/train_traces.sh) or, if
absent, from the shipped pretrained models. Also checks that the seismic U-Net, trained on 128 x 64 patches,
reconstructs whole 1000 x 80 gathers at any amplitude scale.

    .venv/bin/python benchmarks/traces.py [--runs runs] [--limit 1000] [--seismic-limit 100]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from ganrecon.bundles import weight_mean_text
from ganrecon.data import load_dataset
from ganrecon.evaluation import evaluate, save_outputs
from ganrecon.inference import load_model, pretrained_names
from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.metrics import image_metrics, summarise
from ganrecon.report import markdown_table

ROOT = Path(__file__).resolve().parent.parent
MNIST_MODELS = {"gan-linear": "traces-mnist-linear", "gan-lenet": "traces-mnist-lenet",
                "gan-unet": "traces-mnist-unet"}
SEISMIC_MODELS = {"gan-unet": "traces-seismic-unet"}
MNIST_SETTINGS = ("columns:random:0.5", "columns:regular:2", "columns:gap:6")
SEISMIC_SETTINGS = ("columns:random:0.5", "columns:regular:2")
# issue 18: the guarded MNIST U-Net's PSNR on the held-out digits, at least this many dB
MNIST_TARGETS = {"columns:random:0.5": 26.0, "columns:regular:2": 30.0}


def shipped_from(name: str) -> str:
    """RUN/STEM of the bundle a shipped model was copied from (benchmarks/ship_models.py), else NAME/model."""
    meta = ROOT / "src" / "ganrecon" / "pretrained" / f"{name}.json"
    return json.loads(meta.read_text()).get("source_run", f"{name}/model") if meta.is_file() else f"{name}/model"


def find_models(names: dict[str, str], runs: Path) -> dict:
    """Label -> loaded model, from a run directory when there is one, else the shipped model of that name."""
    found = {}
    for label, name in names.items():
        bundle = runs / shipped_from(name)
        if bundle.with_suffix(".safetensors").is_file():
            model, source = load_model(bundle.with_suffix(".safetensors")), f"{bundle}"
        elif name in pretrained_names():
            model, source = load_model(name), f"shipped {name}"
        else:
            print(f"  (no model {name}: train it with benchmarks/train_traces.sh)")
            continue
        model.name = label
        model.meta["source"] = source
        found[label] = model
    return found


def run_setting(data, degrade: str, models: dict, slug: str, limit: int, root: str | None) -> dict:
    start = time.perf_counter()
    evaluation = evaluate(data, degrade, models=list(models.values()), limit=limit, seed=0, split="test",
                          root=root)
    for label, model in models.items():
        evaluation.results["methods"][label]["train_seconds"] = model.meta.get("train_seconds")
        evaluation.results["methods"][label]["train_steps"] = model.meta.get("steps")
        evaluation.results["methods"][label]["init"] = model.meta.get("init")
        evaluation.results["methods"][label]["train_device"] = model.meta.get("device", "cpu")
        if model.meta.get("averaged_from"):  # a weight mean (benchmarks/average_weights.py): its parts say more
            evaluation.results["methods"][label]["averaged_from"] = model.meta["averaged_from"]
            evaluation.results["methods"][label]["total_steps"] = model.meta.get("total_steps")
    save_outputs(evaluation, None, ROOT / "docs" / "figures" / f"traces-{slug}.png", rows=3)
    print(f"  {slug}: {time.perf_counter() - start:.0f} s")
    return evaluation.results


def large_gathers(model, n: int = 4) -> dict:
    """1000 x 80 gathers (8x the training patch area), 50% random missing traces. The baselines are linear in the
    amplitude (scale-invariant by construction), so only the model is run again at amplitude x1e4: its per-tile
    normalisation is what makes it invariant, and that is what this checks."""
    base = load_dataset(f"seismic:n={n},size=1000x80", split="test", seed=0)
    evaluation = evaluate(base, "columns:random:0.5", models=[model], seed=0,
                          baselines=["zero-fill", "linear", "cubic"])
    out = {"x1": {k: {"snr": v["snr"], "snr_missing": v.get("snr_missing"), "ms_per_image": v["ms_per_image"]}
                  for k, v in evaluation.results["methods"].items()}}
    amp = 1e4
    estimate = model(evaluation.observed * amp, evaluation.mask)
    scores = summarise(image_metrics(estimate, base.images * amp, evaluation.mask, (-amp, amp)))
    out["x10000"] = {f"{model.name}:raw": {"snr": scores["snr"], "snr_missing": scores.get("snr_missing")}}
    return out


def fmt_table(results: dict) -> str:
    table = markdown_table(results)
    extra = [f"- {k}: " + provenance(v) for k, v in results["methods"].items() if v.get("train_seconds")]
    return table + ("\n\n" + "\n".join(extra) if extra else "")


def provenance(method: dict) -> str:
    """How a model row's weights came to be: its last training run, or the runs whose weights it averages."""
    return weight_mean_text(method) or (f"trained {method['train_steps']} steps in {method['train_seconds'] / 60:.1f} min"
            + (f" on the GPU ({method['train_device']})" if method.get("train_device", "cpu") != "cpu" else "")
            + (f", starting from the weights of `{method['init']}`" if method.get("init") else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--limit", type=int, default=1000, help="MNIST test images per setting")
    parser.add_argument("--seismic-limit", type=int, default=100, help="seismic test gathers per setting")
    parser.add_argument("--only-large", action="store_true",
                        help="recompute only the whole-gather check, keeping the other tables of traces.json")
    parser.add_argument("--only-mnist", action="store_true",
                        help="recompute only the MNIST tables (a new MNIST model), keeping the seismic ones")
    parser.add_argument("--only-seismic", action="store_true",
                        help="recompute only the seismic tables and the whole-gather check (a new seismic model)")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite traces.md from traces.json")
    args = parser.parse_args()
    torch.manual_seed(0)

    out = ROOT / "docs" / "results"
    if args.markdown_only:
        write_markdown(json.loads((out / "traces.json").read_text()), out / "traces.md")
        return
    seismic_models = find_models(SEISMIC_MODELS, args.runs)
    if args.only_large or args.only_seismic or args.only_mnist:
        results = json.loads((out / "traces.json").read_text())
        if args.only_seismic:
            results["seismic"] = run_seismic(args, seismic_models)
        if args.only_mnist:
            results["mnist"] = run_mnist(args)
            seismic_models = {}  # the whole-gather check belongs to the seismic model: kept as it was
    else:
        results = run_all(args, seismic_models)
    if "gan-unet" in seismic_models:
        print("large gathers")
        results["large_gathers"] = large_gathers(seismic_models["gan-unet"])
    atomic_write_json(out / "traces.json", results)
    write_markdown(results, out / "traces.md")
    print(f"wrote {out / 'traces.md'}")


def run_all(args, seismic_models: dict) -> dict:
    results = {"hardware": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
               "mnist": run_mnist(args), "seismic": {}}
    results["seismic"] = run_seismic(args, seismic_models)
    return results


def run_mnist(args) -> dict:
    mnist_models = find_models(MNIST_MODELS, args.runs)
    print("MNIST")
    return {degrade: run_setting("mnist", degrade, mnist_models, "mnist-" + degrade.split(":")[1], args.limit,
                                 args.data_root) for degrade in MNIST_SETTINGS}


def target_lines(mnist: dict) -> list[str]:
    """The issue's MNIST targets, measured on the guarded U-Net (what users get)."""
    lines = []
    for degrade, target in MNIST_TARGETS.items():
        unet = mnist.get(degrade, {}).get("methods", {}).get("gan-unet")
        if unet is not None:
            met = "met" if unet["psnr"] >= target else "missed"
            lines.append(f"- issue 18: `traces-mnist-unet` (guarded) on `{degrade}`: {unet['psnr']:.2f} dB "
                         f"(target >= {target:g} dB: {met})")
    return lines


def run_seismic(args, seismic_models: dict) -> dict:
    print("seismic")
    return {degrade: run_setting(f"seismic:n={args.seismic_limit}", degrade, seismic_models,
                                 "seismic-" + degrade.split(":")[1], args.seismic_limit, None)
            for degrade in SEISMIC_SETTINGS}


def write_markdown(results: dict, path: Path) -> None:
    limit = results["mnist"][MNIST_SETTINGS[0]]["n_images"]
    seismic_limit = results["seismic"][SEISMIC_SETTINGS[0]]["n_images"]
    lines = ["## traces: missing columns and seismic traces", "",
             f"Produced by `benchmarks/traces.py` on {results['hardware']}. Held-out test split; every method sees "
             "the same degraded images (seed 0). ms_per_image is the whole batch's wall time divided by its size.",
             "Models: one model per generator, trained on a mix of mask families (random 30/50/70%, every 2nd "
             "column, gaps) with `configs/traces-*.yaml` via `benchmarks/train_traces.sh` (the MNIST U-Net: width 64, "
             "refining linear interpolation, `configs/traces-mnist-unet-wide-gpu.yaml` then -wide-gpu2.yaml on a "
             "lent GPU, benchmarks/gpu_campaign.sh). `gan-*` rows are guarded (ganrecon.guard), `gan-*:raw` the "
             "networks alone.", ""]
    lines += target_lines(results["mnist"]) + [""]
    for group, label in (("mnist", f"MNIST, {limit} test digits"),
                         ("seismic", f"synthetic seismic gathers 128 x 64, {seismic_limit} test gathers")):
        for degrade, res in results[group].items():
            slug = f"{group}-{degrade.split(':')[1]}"
            lines += [f"### {label}, `{degrade}`", "", fmt_table(res), "",
                      f"![{slug}](../figures/traces-{slug}.png)", ""]
    if "large_gathers" in results:
        lines += ["### Whole 1000 x 80 gathers (model trained on 128 x 64 patches), `columns:random:0.5`", "",
                  "SNR in dB over the whole gather; the same gathers at amplitude x1 and x10^4 (the network alone: "
                  "the invariance checked is its per-tile normalisation).", "",
                  "| method | SNR x1 | SNR x1e4 | ms per gather |", "|---|---|---|---|"]
        for method, v in results["large_gathers"]["x1"].items():
            w = results["large_gathers"]["x10000"].get(method)
            scaled = f"{w['snr']:.2f}" if w else "-" if method.startswith("gan-") else "(same: linear in amplitude)"
            lines.append(f"| {method} | {v['snr']:.2f} | {scaled} | {v['ms_per_image']:.0f} |")
        lines.append("")
    atomic_write_text(path, "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
