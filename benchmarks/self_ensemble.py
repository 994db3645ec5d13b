"""Self-ensemble (each tile through the network in several orientations, outputs averaged) for every shipped
conditional model -> docs/results/self_ensemble.{json,md}

A network trained on photographs, rock slices or digits in one orientation gives slightly different answers for
the same image turned or mirrored; their mean is an ensemble of models for the price of more network passes
(Timofte et al., "Seven ways to improve example-based single image super resolution", 2016). Which orientations
pay is a property of each model, so it is measured (the seismic model's on whole gathers, jointly with its tile
overlap, by benchmarks/gather_inference.py): per model and degradation, on validation images (the choice)
and held-out test images (the report), the network alone (guard off), the same degraded inputs for every
ensemble. A model's default (`self_ensemble` in its bundle, which `--ensemble auto` follows) is the smallest
group within SLACK_DB of the best group's mean validation gain, provided that gain is at least MIN_GAIN_DB and
no validation set loses more than SLACK_DB. Averaging blurs what a network invents, so for the models whose
adversarial term is there for texture (TEXTURE) a group is also vetoed where it moves the high-frequency power
ratio (ganrecon.metrics.hf_power, estimate / truth) further from 1 by more than HF_SLACK in |log ratio| on any
validation set. Missing columns try only mirrors: a quarter turn would make columns rows.
`--record` writes the choices into the shipped bundles' descriptions (`--record a,b`: those models' only).
`--only a,b` measures those models again and keeps the other models' rows (and recorded choices) from the last run.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/self_ensemble.py [--threads 2] [--only a,b] [--record [a,b]]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
from pathlib import Path

import torch

from ganrecon.bundles import PRETRAINED_DIR, record_in_shipped
from ganrecon.evaluation import evaluate
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.metrics import extra_metrics, hf_gap
from ganrecon.orientations import GROUPS

ROOT = Path(__file__).resolve().parent.parent
MIN_GAIN_DB = 0.1    # below this mean validation gain the extra passes are not worth their time
SLACK_DB = 0.05      # a smaller group this close to the best is chosen; a set losing more vetoes the group
HF_SLACK = 0.05     # |log HF ratio| a texture model may move away from 1 (about 5 % of the power)
TEXTURE = ("superres-porous-x4-gan", "translate-turbulence")   # the SRGAN twin and pix2pix: sharpness is the point
SQUARE = ("mirror", "dihedral")
COLUMNS = ("mirror",)
# (model, validation data, held-out data, degradation, images per set, groups tried)
SETS = [
    ("denoise-blind", "photos:size=48x48", "photos:size=48x48", "sp:0.15", 200, SQUARE),
    ("denoise-blind", "photos:size=48x48", "photos:size=48x48", "gauss:0.1", 200, SQUARE),
    ("denoise-blind", "mnist", "mnist", "sp:0.15", 200, SQUARE),
    ("superres-porous-x4", "porous-ct:n=32,size=256x256", "porous-ct-heldout:n=32,size=256x256", "down:4", 32,
     SQUARE),
    ("superres-porous-x4-gan", "porous-ct:n=32,size=256x256", "porous-ct-heldout:n=32,size=256x256", "down:4", 32,
     SQUARE),
    ("traces-mnist-unet", "mnist", "mnist", "columns:random:0.5", 500, COLUMNS),
    ("traces-mnist-unet", "mnist", "mnist", "columns:regular:2", 500, COLUMNS),
    ("translate-turbulence", "natural:n=200,size=48x48", "natural:n=200,size=48x48", "turbulence:1.0", 200, SQUARE),
]


def measure(name: str, data: str, degrade: str, n: int, split: str, groups: tuple[str, ...],
            root: str | None) -> dict:
    """PSNR and ms per image of the network alone and of each ensemble, on the same degraded images."""
    plain = load_model(name)
    plain.ensemble = "none"
    models = [plain] + [dataclasses.replace(plain, name=f"{name}:{g}", ensemble=g) for g in groups]
    evaluation = evaluate(data, degrade, models=models, limit=n, split=split, root=root, include_baselines=False,
                          guard="off")
    result = evaluation.results
    keys = {"none": name, **{g: f"{name}:{g}" for g in groups}}
    hf = {g: extra_metrics(evaluation.estimates[k], evaluation.clean, ("hf_ratio",))["hf_ratio"].nanmean().item()
          for g, k in keys.items()}
    return {"psnr": {g: result["methods"][k]["psnr"] for g, k in keys.items()},
            "ms_per_image": {g: result["methods"][k]["ms_per_image"] for g, k in keys.items()},
            "hf_ratio": hf, "images": result["n_images"]}


def with_earlier_rows(rows: list[dict], path: Path) -> tuple[list[dict], list[str], list[str]]:
    """An `--only` run's rows among the earlier run's rows of the models it did not measure (and SETS still
    lists), in SETS order; returns (rows, the models kept from the earlier run, the models that run recorded)."""
    if not path.exists():
        return rows, [], []
    earlier = json.loads(path.read_text())
    measured = {r["model"] for r in rows}
    order = list(dict.fromkeys(name for name, *_ in SETS))
    old = [r for r in earlier["rows"] if r["model"] not in measured and r["model"] in order]
    merged = sorted(old + rows, key=lambda r: order.index(r["model"]))
    return merged, sorted({r["model"] for r in old}), earlier.get("recorded", [])


def blurs(row: dict, group: str) -> bool:
    """Whether `group` moves a texture model's validation HF ratio further from 1 than HF_SLACK allows."""
    hf = row["val"].get("hf_ratio")
    if row["model"] not in TEXTURE or not hf:
        return False
    return hf_gap(hf[group]) > hf_gap(hf["none"]) + HF_SLACK


def choose(rows: list[dict]) -> dict[str, str]:
    """model -> its default ensemble, from the validation gains (module docstring)."""
    choices = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        gains = {g: [r["val"]["psnr"][g] - r["val"]["psnr"]["none"] for r in mine] for g in mine[0]["groups"]}
        ok = {g: sum(v) / len(v) for g, v in gains.items()
              if min(v) >= -SLACK_DB and not any(blurs(r, g) for r in mine)}
        best = max(ok.values(), default=0.0)
        fits = [g for g in GROUPS if g in ok and ok[g] >= best - SLACK_DB]
        choices[model] = fits[0] if best >= MIN_GAIN_DB and fits else "none"
    return choices


def record_choices(choices: dict[str, str], folder: Path = PRETRAINED_DIR) -> None:
    """Each shipped bundle's description gets `self_ensemble` where one pays (and loses it where none does)."""
    for name, choice in choices.items():
        record_in_shipped(name, {"self_ensemble": choice}, {"self_ensemble": "none"}, folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", default=None, help="models to measure, comma-separated (default: all)")
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "results"))
    parser.add_argument("--record", nargs="?", const="all", default="",
                        help="write the choices into the shipped bundles: all, or the models named (comma-separated; "
                             "a model whose own benchmark has not been rerun with its choice is best left out)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    only = set(args.only.split(",")) if args.only else None
    rows = []
    for name, val_data, test_data, degrade, n, groups in SETS:
        if only and name not in only:
            continue
        row = {"model": name, "val_data": val_data, "test_data": test_data, "degrade": degrade, "groups": groups,
               "val": measure(name, val_data, degrade, n, "val", groups, args.data_root),
               "test": measure(name, test_data, degrade, n, "test", groups, args.data_root)}
        rows.append(row)
        gains = ", ".join(f"{g} {row['test']['psnr'][g] - row['test']['psnr']['none']:+.3f}" for g in groups)
        print(f"{name} {degrade}: held-out {row['test']['psnr']['none']:.3f} dB alone; {gains}", flush=True)
    out = Path(args.out) / "self_ensemble.json"
    rows, kept, earlier = with_earlier_rows(rows, out) if only else (rows, [], [])
    choices = choose(rows)
    recorded = sorted(choices if args.record == "all" else set(args.record.split(",")) & set(choices))
    record_choices({name: choices[name] for name in recorded})
    recorded = sorted(set(recorded) | (set(earlier) & set(kept)))
    env = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "argv": sys.argv[1:]}
    data = {"environment": env, "min_gain_db": MIN_GAIN_DB, "slack_db": SLACK_DB, "hf_slack": HF_SLACK,
            "texture": list(TEXTURE), "rows": rows,
            "choices": choices, "recorded": recorded, "kept": kept}
    atomic_write_json(out, data)
    write_markdown(data, Path(args.out) / "self_ensemble.md")
    return 0


def write_markdown(data: dict, path: Path) -> None:
    env = data["environment"]
    lines = ["| model | degradation | set | images | alone dB | mirror | dihedral | time x (mirror / dihedral) "
             "| HF ratio (alone / mirror / dihedral) |", "|---|---|---|---:|---:|---:|---:|---|---|"]
    for r in data["rows"]:
        for part in ("val", "test"):
            m = r[part]
            gain = {g: f"{m['psnr'][g] - m['psnr']['none']:+.3f}" if g in m["psnr"] else "-" for g in SQUARE}
            times = " / ".join(f"{m['ms_per_image'][g] / max(m['ms_per_image']['none'], 1e-9):.1f}"
                               for g in r["groups"])
            hf = " / ".join(f"{m['hf_ratio'][g]:.3f}" for g in ("none", *r["groups"])) if "hf_ratio" in m else "-"
            spec = r[f"{part}_data"]
            lines.append(f"| {r['model']} | {r['degrade']} | {part}: `{spec}` | {m['images']} | "
                         f"{m['psnr']['none']:.3f} | {gain['mirror']} | {gain['dihedral']} | {times} | {hf} |")
    chosen = ", ".join(f"{k}: **{v}**" + ("" if k in data["recorded"] else " (not recorded)")
                       for k, v in data["choices"].items())
    recorded = ("a choice marked not recorded is this run's measurement only: its bundle keeps its default until "
                "the model's own benchmark is rerun with it")
    if data.get("kept"):
        recorded += f"; the rows of {', '.join(data['kept'])} are kept from an earlier run of all models"
    atomic_write_text(path, f"""## Self-ensemble: each tile in several orientations, outputs averaged

`benchmarks/self_ensemble.py`: each shipped conditional model alone (guard off) on validation images, which choose,
and held-out test images, which report; the same degraded inputs for the network once (`alone`), mirrored too
(`mirror`, 2 passes) and in all 8 turns and mirrors (`dihedral`, 8 passes; square images only), gains in dB of
PSNR over the network alone. The default per model (`self_ensemble` in its bundle, what `--ensemble auto` runs):
the smallest group within {data['slack_db']} dB of the best mean validation gain, if that gain is at least
{data['min_gain_db']} dB and no validation set loses more than {data['slack_db']} dB; for the models trained for
texture ({', '.join(data.get('texture', []))}), a group that moves the validation HF ratio (high-frequency power,
estimate / truth) further from 1 by more than {data.get('hf_slack')} in |log ratio| is vetoed, since averaging
blurs what the network invents. Missing columns try mirrors only (the seismic model is scored on whole gathers by
benchmarks/gather_inference.py). Choices ({recorded}): {chosen}.
Times: wall time per image relative to the network alone, same run.
{env['threads']} torch thread(s) on {env['cpu']}, torch {env['torch']}.

{chr(10).join(lines)}
""")
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
