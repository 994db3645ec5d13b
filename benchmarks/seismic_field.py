"""Benchmark of seismic interpolation on gathers the models were not trained on -> docs/results/seismic_field.*

The test gathers come from a *different* generator than any training data (the `seismic` spec): pylops'
`hyperbolic2d`, `parabolic2d` and `linear2d` with pylops' own wavelets (Ricker, Ormsby, Klauder), 1000 time
samples x 80 traces at 4 ms, at three trace spacings (12.5, 25 and 37.5 m, so the steep events alias more and
more), with spherical-divergence decay and white noise (10% of the signal RMS). Under 50% random and 50% regular decimation, every
conventional method (zero-fill, nearest, linear, cubic, biharmonic, FK sparse inversion with its defaults and
tuned to each spacing and decimation on gathers of other seeds) and the learned ones:
the pretrained U-Net, the same U-Net adapted to each gather (`--adapt`, self-supervised on its known traces)
and the gather-only model (same architecture trained on the gather alone). SNR over the gather and over the
missing traces; seconds per gather. Any SEG-Y files given with --segy are added (their dead traces stay
missing in the truth too, so decimate a complete file).

    .venv/bin/python benchmarks/seismic_field.py [--runs runs] [--adapt-seconds 60] [--segy FILE ...]
    .venv/bin/python benchmarks/seismic_field.py --choice-only --compare LABEL=MODEL ...   # which model to ship
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ganrecon.adapt import AdaptedModel, AdaptOptions, snr_db
from ganrecon.baselines import run_baseline
from ganrecon.bundles import weight_mean_text
from ganrecon.data import ImageSet
from ganrecon.data.convert import SIGNED_RANGE
from ganrecon.evaluation import degrade_set, evaluate
from ganrecon.guard import GuardedModel, RawModel
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.report import comparison_figure

ROOT = Path(__file__).resolve().parent.parent
# A challenger must beat the shipped model's tuning mean by this much to replace it. Why: on 2026-12-07 the mean of
# stages 21 and 22 won the tuning gathers by 0.04 dB and lost 0.09 dB to stage 21 on the 12.5 m test gather; a
# margin that small is noise between gathers. Set before the next comparison, not fitted to one.
SHIP_MARGIN_DB = 0.1
SPACINGS = (12.5, 25.0, 37.5)
PATTERNS = ("columns:random:0.5", "columns:regular:2")
NT, NX, DT = 1000, 80, 0.004
TUNING_SEED = 10  # FK is tuned on gathers of seeds 10, 11, 12 (test gathers: 0, 1, 2)
FK_GRID = [{"max_dip": dip, "eps": eps} for dip in (None, 1.0, 3.0, 6.0) for eps in (0.01, 0.003)]
# the seismic U-Nets of benchmarks/train_traces.sh and configs/traces-seismic-*.yaml, compared without adaptation
COMPARE = {"gan-unet-v1": "traces-seismic-unet", "gan-clean-ft": "traces-seismic-unet-continued",
           "gan-field-ft": "traces-seismic-field-ft-unet", "gan-mixed-ft": "traces-seismic-mixed-unet",
           "gan-field-scratch": "traces-seismic-field-unet"}
FIGURE_METHODS = ("linear", "fk-tuned", "gan-unet", "gan-unet+adapt", "gan-unet+gather-only")
SEGY_FK = {"max_dip": None, "eps": 0.01}  # SEG-Y files have no tuning twin: no dip cone (steep field dips)


PARTS = ("hyperbolic", "parabolic", "linear")


def pylops_gather(seed: int, dx: float, parts: tuple[str, ...] = PARTS) -> np.ndarray:
    """nt x nx: reflections (hyperbolic, vrms 1600-4500 m/s), a few dipping (parabolic) and slow linear events
    (600-1500 m/s, aliased at coarse spacing), a pylops wavelet that differs per seed, t^-1 decay, white noise
    at 10% of the signal RMS (no method can predict noise: SNR against this truth is capped near 20 dB).
    `parts` keeps some of the event families (every family is still drawn, so a seed's events stay the same):
    what benchmarks/seismic_spacing.py uses to tell which events a method loses."""
    from pylops.utils.seismicevents import hyperbolic2d, linear2d, parabolic2d
    from pylops.utils.wavelets import klauder, ormsby, ricker

    rng = np.random.default_rng(seed)
    t = np.arange(NT) * DT
    x = np.arange(NX) * dx
    tw = np.arange(41) * DT
    wavelets = [lambda: ricker(tw, f0=rng.uniform(15, 30))[0],
                lambda: ormsby(tw, f=(4.0, 8.0, rng.uniform(35, 45), rng.uniform(50, 60)))[0],
                lambda: klauder(tw, f=(5.0, rng.uniform(40, 60)))[0]]
    wav = wavelets[seed % 3]()
    wav = wav / np.abs(wav).max()
    n_refl = int(rng.integers(8, 14))
    _, refl = hyperbolic2d(x, t, tuple(np.sort(rng.uniform(0.1, 3.8, n_refl))),
                           tuple(np.sort(rng.uniform(1600, 4500, n_refl))),
                           tuple(rng.uniform(-1, 1, n_refl)), wav)
    n_par = 3
    _, par = parabolic2d(x - x.mean(), t, tuple(rng.uniform(0.3, 3.5, n_par)),
                         tuple(rng.uniform(-4e-4, 4e-4, n_par)), tuple(rng.uniform(-3e-7, 3e-7, n_par)),
                         tuple(rng.uniform(-0.6, 0.6, n_par)), wav)
    n_lin = 3
    theta = tuple(rng.uniform(40, 70, n_lin) * rng.choice([-1, 1], n_lin))
    _, lin = linear2d(x, t, float(rng.uniform(600, 1500)), tuple(rng.uniform(0.1, 2.5, n_lin)), theta,
                      tuple(rng.uniform(-0.5, 0.5, n_lin)), wav)
    families = {"hyperbolic": refl, "parabolic": par, "linear": lin}
    gather = sum(families[name] for name in parts).T  # time x traces
    gather = gather / (1.0 + t / 0.5)[:, None]
    rms = np.sqrt(np.mean(gather ** 2))  # noise at 10% of the signal's RMS: a 20 dB ceiling on any method's SNR
    gather = gather + 0.1 * rms * rng.standard_normal(gather.shape)
    return (gather / np.abs(gather).max()).astype(np.float32)


class TunedFK:
    """FK sparse inversion with its dip cone and sparsity weight chosen for one trace spacing and decimation on a
    tuning gather (another seed of the same generator, another mask): what a processor tuning FK to a survey
    would do. The library defaults were tuned on unaliased 128 x 64 patches and keep dips <= 1 sample/trace."""

    name, value_range = "fk-tuned", SIGNED_RANGE

    def __init__(self, options: dict, tuning: list[dict]):
        self.options, self.tuning = options, tuning

    def __call__(self, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return run_baseline("fk", observed, mask, value_range=SIGNED_RANGE, **self.options)


def fresh_priors(model) -> None:
    """Turn off a refiner's prior cache, so that each method's seconds include its own consensus, as a user's new
    gather's would (with it on, a method after the first on the same gather reuses tile priors)."""
    if hasattr(model.generator, "cache"):
        model.generator.cache.disable()


def labelled_models(items: list[str]) -> dict:
    """`LABEL=MODEL` arguments -> {label: loaded model named label, its prior cache off (see fresh_priors)}."""
    models = {}
    for item in items:
        label, _, ref = item.partition("=")
        if not label or not ref:
            raise SystemExit(f"expected LABEL=MODEL, got {item!r}")
        models[label] = load_model(ref)
        models[label].name = label
        fresh_priors(models[label])
    return models


def gather_set(gather: np.ndarray, name: str) -> ImageSet:
    return ImageSet(torch.from_numpy(gather)[None, None], SIGNED_RANGE, name, None, {})


def tuning_cases() -> list[dict]:
    """The tuning gathers (two seeds per spacing from TUNING_SEED on, never the test seeds) under each pattern,
    mask seed 1: what FK is tuned on (the first seed of each spacing) and the pretrained models are chosen on."""
    cases = []
    for i, dx in enumerate(SPACINGS):
        for seed in (TUNING_SEED + i, TUNING_SEED + len(SPACINGS) + i):
            images = gather_set(pylops_gather(seed, dx), "tuning")
            cases += [{**decimated(images, f"dx{dx:g}/s{seed}", pattern, 1), "dx": dx, "pattern": pattern,
                       "fk": seed == TUNING_SEED + i} for pattern in PATTERNS]
    return cases


def decimated(images: ImageSet, name: str, pattern: str, mask_seed: int) -> dict:
    """One case for `missing_snr`: a gather under one decimation pattern and mask seed."""
    _, observed, mask = degrade_set(images, pattern, mask_seed)
    return {"name": f"{name}/{pattern.split(':')[1]}", "clean": images.images, "observed": observed, "mask": mask}


def missing_snr(method, case: dict) -> float:
    with torch.no_grad():
        estimate = method(case["observed"], case["mask"])
    missing = case["mask"] == 0
    return snr_db(estimate[missing], case["clean"][missing])


def tune_fk(case: dict) -> TunedFK:
    """The FK_GRID setting with the best missing-trace SNR on one tuning case."""
    scored = [{**options, "snr_missing": missing_snr(TunedFK(options, []), case)} for options in FK_GRID]
    best = max(scored, key=lambda row: row["snr_missing"])
    return TunedFK({k: best[k] for k in FK_GRID[0]}, scored)


def segy_gathers(paths: list[str]) -> list[tuple[str, np.ndarray]]:
    from ganrecon.files import read_file

    out = []
    for path in paths:
        data = read_file(path)
        arr = data.images[0, 0]
        out.append((Path(path).stem, (arr / max(np.abs(arr).max(), 1e-12)).astype(np.float32)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=str(ROOT / "runs"))
    parser.add_argument("--model", default="traces-seismic-unet", help="model to test and adapt [the shipped one]")
    parser.add_argument("--adapt-seconds", type=float, default=60.0)
    parser.add_argument("--segy", nargs="*", default=[])
    parser.add_argument("--compare", nargs="*", default=None, metavar="LABEL=MODEL",
                        help="more pretrained models, without adaptation [the runs of COMPARE that exist]")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--choice-only", action="store_true",
                        help="print the model-choice table (tuning gathers only) and stop; writes nothing")
    parser.add_argument("--out", default=str(ROOT / "docs" / "results"))
    parser.add_argument("--figures", default=str(ROOT / "docs" / "figures"))
    parser.add_argument("--markdown-only", action="store_true", help="re-render the .md from the existing JSON")
    args = parser.parse_args(argv)
    if args.markdown_only:
        path = Path(args.out) / "seismic_field.json"
        write_markdown(json.loads(path.read_text()), path.with_suffix(".md"))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model)
    fresh_priors(model)
    model.name = "gan-unet"
    shipped_from = model.meta.get("source_run", "").split("/")[0]
    compare = args.compare
    if compare is None:  # every seismic U-Net trained in runs/ other than the one under test, without adaptation
        compare = [f"{label}={Path(args.runs) / run}" for label, run in COMPARE.items()
                   if run != shipped_from and (Path(args.runs) / run / "model.safetensors").is_file()]
    others = list(labelled_models(compare).values())
    adapted = AdaptedModel(model, AdaptOptions(seconds=args.adapt_seconds))
    scratch = AdaptedModel(model, AdaptOptions(seconds=args.adapt_seconds, from_scratch=True))
    print(f"model {args.model}; adaptation budget {args.adapt_seconds:g} s per gather; torch threads "
          f"{torch.get_num_threads()}", flush=True)

    cases_for_tuning = tuning_cases()
    choice = {m.name: {c["name"]: missing_snr(m, c) for c in cases_for_tuning} for m in (model, *others)}
    if args.choice_only:  # no test gather is made
        print(choice_table(choice))
        return 0
    cases = [(f"pylops-dx{dx:g}", pylops_gather(seed, dx), dx) for seed, dx in enumerate(SPACINGS)]
    cases += [(name, arr, None) for name, arr in segy_gathers(args.segy)]
    tuning = {(c["dx"], c["pattern"]): tune_fk(c) for c in cases_for_tuning if c["fk"]}
    for (dx, pattern), fk in tuning.items():
        print(f"FK tuned for dx {dx:g} m, {pattern}: {fk.options}", flush=True)
    results, rows = [], []
    out_dir, fig_dir = Path(args.out), Path(args.figures)
    fig_dir.mkdir(parents=True, exist_ok=True)
    for name, gather, dx in cases:
        images = gather_set(gather, name)
        for pattern in PATTERNS:
            start = time.perf_counter()
            fk = tuning[dx, pattern] if dx is not None else TunedFK(SEGY_FK, [])
            # the pretrained model guarded (what users get) and raw; FK and the adapted models as they are (a
            # guard around an adapted model would adapt again for every fold of its check)
            guarded = [GuardedModel(model, pattern), RawModel(model)]
            evaluation = evaluate(images, pattern, models=[fk, *guarded, *others, adapted, scratch], seed=0,
                                  split=None, guard="off")
            res = evaluation.results
            reports = [{"model": m.name, **vars(m.reports[-1])} for m in (adapted, scratch)]
            res.update(gather=name, dx_m=dx, size=list(gather.shape), fk_tuned=fk.options, fk_tuning=fk.tuning,
                       adapt_reports=reports)
            results.append(res)
            slug = f"seismic-field-{name}-{pattern.split(':')[1]}"
            if name == "pylops-dx25":  # the methods that matter, large enough to see the events
                comparison_figure(evaluation.clean, evaluation.observed_at_output_size(),
                                  {k: v for k, v in evaluation.estimates.items() if k in FIGURE_METHODS},
                                  fig_dir / f"{slug}.png", signed=True, rows=1, scores=res["methods"])
            for method, s in res["methods"].items():
                rows.append([name, pattern, method, f"{s['snr']:.2f}", f"{s['snr_missing']:.2f}",
                             f"{s['ms_per_image'] / 1000:.1f}"])
            best_conv = max((s["snr_missing"], m) for m, s in res["methods"].items() if not m.startswith("gan"))
            print(f"{name} {pattern}: best conventional {best_conv[1]} {best_conv[0]:.2f} dB | " + ", ".join(
                f"{m} {s['snr_missing']:.2f}" for m, s in res["methods"].items() if m.startswith("gan"))
                + f" ({time.perf_counter() - start:.0f} s)", flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor() or
           platform.machine(), "threads": torch.get_num_threads(), "adapt_seconds": args.adapt_seconds,
           "model": str(args.model), "argv": sys.argv[1:],
           "models": {m.name: {k: m.meta.get(k) for k in ("data", "steps", "init", "source_run", "averaged_from",
                                                                     "total_steps")}
                      for m in (model, *others)}}
    data = {"environment": env, "results": results, "model_choice": choice}
    atomic_write_json(out_dir / "seismic_field.json", data)
    write_markdown(data, out_dir / "seismic_field.md")
    return 0


def write_markdown(data: dict, path: Path) -> None:
    """docs/results/seismic_field.md from the JSON the run wrote (rerun with --markdown-only to re-render)."""
    env, results = data["environment"], data["results"]
    lines = ["| gather | decimation | method | SNR dB | SNR missing dB | s / gather |", "|---|---|---|---|---|---|"]
    for res in results:
        for method, sc in res["methods"].items():
            lines.append(f"| {res['gather']} | `{res['degrade']}` | {method} | {sc['snr']:.2f} | "
                         f"{sc['snr_missing']:.2f} | {sc['ms_per_image'] / 1000:.1f} |")
    others = "; ".join(f"`{k}`: {provenance(v)}" for k, v in env["models"].items() if k != "gan-unet")
    others = (f"The other seismic U-Nets, without adaptation: {others}." if others else
              "No other seismic U-Net was compared in this run (`--compare` found none of their runs).")
    gathers = sorted({r["gather"] for r in results})
    atomic_write_text(path, f"""## Seismic interpolation on gathers from another generator

`benchmarks/seismic_field.py`: {len(gathers)} gathers of {NT} x {NX} samples at {DT * 1000:g} ms made by pylops
(`hyperbolic2d`, `parabolic2d`, `linear2d`; Ricker, Ormsby and Klauder wavelets; t^-1 decay; white noise at 10%
of the signal RMS, which caps any method's SNR near 20 dB) at trace spacings {', '.join(f'{d:g}' for d in SPACINGS)} m:
a generator no model saw. `gan-unet` is the shipped pretrained model, guarded (`ganrecon.guard`, what users get; `gan-unet:raw` is the network alone) ({provenance(env['models']['gan-unet'])});
`+adapt` fine-tunes it on each gather's own known traces for at most {env['adapt_seconds']:g} s;
`+gather-only` trains the same architecture from scratch on the gather alone for the same time. {others}
Every U-Net averages each output with that of the polarity-flipped input (`ganrecon.inference`).
`fk` is FK sparse inversion with the library defaults (tuned on unaliased 128 x 64 patches by
`benchmarks/tune_fk.py`: a dip cone of 1 sample/trace); `fk-tuned` picks the dip cone (none, 1, 3 or 6 samples/trace) and
the sparsity weight (0.01, 0.003) for each spacing and decimation on a tuning gather of the same generator (seeds
{TUNING_SEED}-{TUNING_SEED + len(SPACINGS) - 1}; the test gathers are seeds 0-{len(SPACINGS) - 1}){fk_line(results)}.
{env['threads']} torch thread(s) on {env['cpu']}, a 2-core machine: the seconds are this run's (each model computes its
own consensus for every tile, as for a user's new gather), and a time-budgeted
adaptation gets fewer steps on a busy machine ({steps_line(results, env)}).

{chr(10).join(lines)}

{summarise_targets(results)}

{choice_table(data.get("model_choice"))}

![dx 25 m, 50% random](../figures/seismic-field-pylops-dx25-random.png)
""")
    print(f"wrote {path}")


def tuning_means(choice: dict) -> dict[str, float]:
    """Model -> its mean missing-trace SNR over the tuning gathers."""
    return {name: float(np.mean(list(row.values()))) for name, row in choice.items()}


def model_to_ship(choice: dict, incumbent: str = "gan-unet") -> str:
    """The challenger with the best tuning mean if it beats the shipped model's (`incumbent`) by SHIP_MARGIN_DB,
    else the shipped model."""
    means = tuning_means(choice)
    best = max(means, key=means.get)
    return best if incumbent not in means or means[best] >= means[incumbent] + SHIP_MARGIN_DB else incumbent


def choice_table(choice: dict | None) -> str:
    if not choice:
        return ""
    cases = list(next(iter(choice.values())))
    lines = ["How the shipped model is chosen: missing-trace SNR (dB) of every seismic U-Net, without adaptation, on "
             f"tuning gathers (seeds {TUNING_SEED}-{TUNING_SEED + 2 * len(SPACINGS) - 1}, never the test seeds above; "
             f"random and regular decimation); a model replaces the shipped one (gan-unet) where its mean beats the "
             f"shipped one's by {SHIP_MARGIN_DB:g} dB or more.", "",
             "| model | " + " | ".join(c.replace("dx", "").replace("/s", " m, seed ").replace("/", ", ") for c in cases)
             + " | mean |", "|---|" + "---|" * (len(cases) + 1)]
    means = tuning_means(choice)
    for name, row in sorted(choice.items(), key=lambda kv: -means[kv[0]]):
        lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in row.values()) + f" | {means[name]:.2f} |")
    return "\n".join([*lines, "", f"To ship: **{model_to_ship(choice)}**."])


def steps_line(results: list[dict], env: dict) -> str:
    steps = [r["steps"] for res in results for r in res["adapt_reports"] if r["model"] == "gan-unet+adapt"]
    return f"{min(steps)}-{max(steps)} adaptation steps per {env['adapt_seconds']:g} s in this run"


def provenance(model: dict) -> str:
    mean = weight_mean_text(model)
    if mean:
        return mean
    data = model["data"] if isinstance(model["data"], str) else " + ".join(model["data"])
    start = f", starting from `{model['init']}`" if model.get("init") else ""
    return f"trained on `{data}` for {model['steps']} steps{start}"


def fk_line(results: list[dict]) -> str:
    chosen = [f"{r['gather']} {r['degrade'].split(':')[1]}: {fk_text(r['fk_tuned'])}" for r in results if "fk_tuned" in r]
    return ": " + "; ".join(chosen) if chosen else ""


def fk_text(options: dict) -> str:
    dip = "no cone" if options["max_dip"] is None else f"cone {options['max_dip']:g}"
    return f"{dip}, eps {options['eps']:g}"


def summarise_targets(results: list[dict]) -> str:
    """The issue's targets against the numbers above (missing-trace SNR, 50% random decimation)."""
    lines = ["Targets at 50% random missing traces (SNR on the missing traces):", ""]
    for res in results:
        if res["degrade"] != "columns:random:0.5":
            continue
        m = res["methods"]
        conv = max((s["snr_missing"], k) for k, s in m.items() if not k.startswith("gan"))
        adapt, base = m["gan-unet+adapt"]["snr_missing"], m["gan-unet"]["snr_missing"]
        lines.append(f"- {res['gather']}: pretrained, guarded, {base:.2f} dB vs best conventional ({conv[1]}) "
                     f"{conv[0]:.2f} dB -> {base - conv[0]:+.2f} dB (target +3)")
        lines.append(f"- {res['gather']}: adapted {adapt:.2f} dB vs best conventional ({conv[1]}) {conv[0]:.2f} dB "
                     f"-> {adapt - conv[0]:+.2f} dB (target +5); vs pretrained {base:.2f} dB -> {adapt - base:+.2f} "
                     f"dB (target +2); {m['gan-unet+adapt']['ms_per_image'] / 1000:.1f} s per gather, the final "
                     "reconstruction included (target <= 60)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
