"""The conventional seismic interpolators tuned on tuning gathers, then measured against trace spacing
-> docs/results/seismic_methods.{md,json} and docs/figures/seismic-methods-*.png

Gathers: the pylops gathers of benchmarks/seismic_field.py (1000 x 80 at 4 ms; hyperbolic, parabolic and
steep linear events, a pylops wavelet per seed, t^-1 decay, white noise at 10% of the signal RMS), at 12.5,
25, 37.5 and 50 m trace spacing, under 50% random missing traces and regular decimation by 2 (every other
trace). TUNING gathers: seed 10 + i at the i-th spacing (seismic_field's FK tuning gathers, and seed 13 at
50 m), mask seed 1. TEST gathers: seed i at the i-th spacing (seismic_field's test gathers, and seed 3 at
50 m), mask seed 0. Nothing is chosen on a test gather.

Tuning: each new method's few candidate settings (SEARCHES) are scored on all 8 tuning cases; the best mean
missing-trace SNR wins and is what `ganrecon.seismic_methods` ships as its defaults (the script says whether
they still match). `fk-tuned` is seismic_field's per-spacing, per-decimation FK tuning on the same tuning
gathers. The deep prior's budget is fixed at DEEP_PRIOR_STEPS Adam steps (seconds, not minutes, per gather);
only its learning rate is tuned, on DEEP_PRIOR_TUNING cases. One gather per spacing and decimation (8 test
cases) and small searches keep the run small: the first one took 25 CPU-minutes on one thread, about 9 of
them the FK tuning (64 FISTA inversions at about 8.5 CPU-s each, the `fk` rows' cost), which a rerun takes
from the previous JSON (same grid; `--retune-fk` to redo it), so a rerun stays near 16. Seconds are CPU seconds (process time) per gather on one thread, so a busy machine inflates them
less than wall-clock time.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/seismic_methods.py [--retune-fk] [--markdown-only]
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

from ganrecon import seismic_methods as sm
from ganrecon.baselines import run_baseline
from ganrecon.data.convert import SIGNED_RANGE
from ganrecon.evaluation import degrade_set
from ganrecon.io_utils import atomic_write_json, atomic_write_text
from ganrecon.metrics import image_metrics
from ganrecon.seismic_deep_prior import deep_prior_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seismic_field import FK_GRID, ROOT, TunedFK, gather_set, pylops_gather, tune_fk  # noqa: E402

SPACINGS = (12.5, 25.0, 37.5, 50.0)
PATTERNS = ("columns:random:0.5", "columns:regular:2")
TUNING_SEED, TEST_SEED = 10, 0
OLD = ("zero-fill", "nearest", "linear", "cubic", "biharmonic", "fk")
NEW = ("pocs", "sliding-fk", "fx", "dip-steered", "deep-prior")
DEFAULTS = {"pocs": sm.POCS_OPTIONS, "sliding-fk": sm.SLIDING_FK_OPTIONS, "fx": sm.FX_OPTIONS,
            "dip-steered": sm.DIP_OPTIONS, "deep-prior": sm.DEEP_PRIOR_OPTIONS}
# Candidate settings: one option changed at a time from a first guess (tried on the first tuning gather).
POCS_BASE = {"niter": 30, "first": 0.99, "last": 0.001, "schedule": "exp", "pad": 2.0, "antialias": 1.0}
FX_BASE = {"overlap": (0.5, 0.5), "length": 4, "damping": 0.01, "fill_damping": 1e-4, "first": "dip"}
SEARCHES = {
    "pocs": [{**POCS_BASE, "window": (256, 4096), "overlap": (0.5, 0.0)},
             {**POCS_BASE, "window": (128, 4096), "overlap": (0.5, 0.0)},
             {**POCS_BASE, "window": (256, 4096), "overlap": (0.5, 0.0), "antialias": 0.0},
             {**POCS_BASE, "window": (256, 4096), "overlap": (0.5, 0.0), "schedule": "linear"}],
    "sliding-fk": [{**POCS_BASE, "window": (64, 16), "overlap": (0.5, 0.5)},
                   {**POCS_BASE, "window": (128, 24), "overlap": (0.5, 0.5)},
                   {**POCS_BASE, "window": (64, 16), "overlap": (0.5, 0.5), "schedule": "linear"},
                   {**POCS_BASE, "window": (64, 16), "overlap": (0.5, 0.5), "last": 0.01}],
    "fx": [{**FX_BASE, "window": (100, 24)}, {**FX_BASE, "window": (200, 32)}, {**FX_BASE, "window": (100, 16)},
           {**FX_BASE, "window": (100, 24), "length": 3}, {**FX_BASE, "window": (100, 24), "length": 5},
           {**FX_BASE, "window": (100, 24), "first": "linear"}],
    "dip-steered": [{"neighbours": 4, "max_slope": 12.0, "slope_step": 0.25, "lowpass": 0.04, "smooth": 8.0,
                     "refine": 1.0, "power": 1.0},
                    {"neighbours": 6, "max_slope": 12.0, "slope_step": 0.25, "lowpass": 0.04, "smooth": 8.0,
                     "refine": 1.0, "power": 1.0},
                    {"neighbours": 4, "max_slope": 12.0, "slope_step": 0.25, "lowpass": 0.03, "smooth": 8.0,
                     "refine": 1.0, "power": 1.0},
                    {"neighbours": 4, "max_slope": 12.0, "slope_step": 0.25, "lowpass": 0.04, "smooth": 12.0,
                     "refine": 1.0, "power": 1.0},
                    {"neighbours": 4, "max_slope": 12.0, "slope_step": 0.25, "lowpass": 0.04, "smooth": 8.0,
                     "refine": 1.0, "power": 2.0}],
}
DEEP_PRIOR_STEPS = 100
DEEP_PRIOR_LRS = (0.005, 0.01, 0.02)
DEEP_PRIOR_TUNING = ("dx12.5/random", "dx37.5/random")  # a fit costs ~25 CPU-s: two tuning cases only
FIGURE_METHODS = ("linear", "fk-tuned", "pocs", "sliding-fk", "fx", "dip-steered", "deep-prior")


def make_case(seed: int, dx: float, pattern: str, mask_seed: int) -> dict:
    images = gather_set(pylops_gather(seed, dx), f"seed{seed}")
    _, observed, mask = degrade_set(images, pattern, mask_seed)
    return {"name": f"dx{dx:g}/{pattern.split(':')[1]}", "seed": seed, "dx": dx, "pattern": pattern,
            "clean": images.images, "observed": observed, "mask": mask}


def cases(first_seed: int, mask_seed: int) -> list[dict]:
    return [make_case(first_seed + i, dx, pattern, mask_seed) for i, dx in enumerate(SPACINGS) for pattern in PATTERNS]


def scores(estimate: torch.Tensor, case: dict) -> dict:
    m = image_metrics(estimate, case["clean"], case["mask"], SIGNED_RANGE)
    return {"snr": float(m["snr"][0]), "snr_missing": float(m["snr_missing"][0])}


def timed(method, case: dict) -> tuple[torch.Tensor, float]:
    start = time.process_time()
    estimate = method(case["observed"], case["mask"])
    return estimate, time.process_time() - start


def baseline(name: str, options: dict | None = None):
    return lambda observed, mask: run_baseline(name, observed, mask, value_range=SIGNED_RANGE, **(options or {}))


def tune(name: str, candidates: list[dict], tuning: list[dict]) -> dict:
    """Every candidate on every tuning case: missing-trace SNR per case, mean, CPU seconds per gather."""
    rows = []
    for options in candidates:
        snrs, seconds = {}, []
        for case in tuning:
            estimate, sec = timed(baseline(name, options), case)
            snrs[case["name"]] = scores(estimate, case)["snr_missing"]
            seconds.append(sec)
        rows.append({"options": options, "snr_missing": snrs, "mean": float(np.mean(list(snrs.values()))),
                     "seconds": float(np.mean(seconds))})
        print(f"  {name} {options}: mean {rows[-1]['mean']:.2f} dB, {rows[-1]['seconds']:.1f} s", flush=True)
    best = max(rows, key=lambda row: row["mean"])
    return {"rows": rows, "best": best["options"], "matches_defaults": same(best["options"], DEFAULTS[name])}


def tune_deep_prior(tuning: list[dict]) -> dict:
    """The deep prior's learning rate at its fixed budget, on a few tuning cases (one fit per rate and case)."""
    rows = []
    for lr in DEEP_PRIOR_LRS:
        snrs = {}
        for case in (c for c in tuning if c["name"] in DEEP_PRIOR_TUNING):
            options = {**sm.DEEP_PRIOR_OPTIONS, "lr": lr}
            options.pop("iterations")
            known = case["mask"][0, 0].numpy() > 0
            path = deep_prior_path(case["observed"][0, 0].double().numpy(), known,
                                   checkpoints=(DEEP_PRIOR_STEPS // 2, DEEP_PRIOR_STEPS), **options)
            for steps, estimate in path.items():
                tensor = torch.from_numpy(np.clip(estimate, -1, 1)).float()[None, None]
                snrs[f"{case['name']}@{steps}"] = scores(tensor, case)["snr_missing"]
        full = [v for k, v in snrs.items() if k.endswith(f"@{DEEP_PRIOR_STEPS}")]
        rows.append({"options": {"lr": lr}, "snr_missing": snrs, "mean": float(np.mean(full))})
        print(f"  deep-prior lr {lr}: {snrs}", flush=True)
    best = max(rows, key=lambda row: row["mean"])
    chosen = {**sm.DEEP_PRIOR_OPTIONS, "iterations": DEEP_PRIOR_STEPS, "lr": best["options"]["lr"]}
    return {"rows": rows, "best": chosen, "matches_defaults": same(chosen, sm.DEEP_PRIOR_OPTIONS)}


def same(a: dict, b: dict) -> bool:
    norm = {k: list(v) if isinstance(v, tuple) else v for k, v in a.items()}
    return norm == {k: list(v) if isinstance(v, tuple) else v for k, v in b.items()}


def measure(test: list[dict], tuned: dict, fk_options: dict) -> list[dict]:
    """Every method (old and new, tuned settings) on every test case."""
    results = []
    for case in test:
        methods = {name: baseline(name) for name in OLD}
        methods["fk-tuned"] = TunedFK(fk_options[case["dx"], case["pattern"]], [])
        methods.update({name: baseline(name, tuned[name]["best"]) for name in NEW})
        row = {"case": case["name"], "seed": case["seed"], "dx_m": case["dx"], "degrade": case["pattern"],
               "methods": {}}
        for name, method in methods.items():
            estimate, seconds = timed(method, case)
            row["methods"][name] = {**scores(estimate, case), "seconds": seconds}
            case.setdefault("estimates", {})[name] = estimate
        best = max(row["methods"].items(), key=lambda kv: kv[1]["snr_missing"])
        print(f"{case['name']}: best {best[0]} {best[1]['snr_missing']:.2f} dB | " + ", ".join(
            f"{k} {v['snr_missing']:.1f}" for k, v in row["methods"].items()), flush=True)
        results.append(row)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "results"))
    parser.add_argument("--figures", default=str(ROOT / "docs" / "figures"))
    parser.add_argument("--markdown-only", action="store_true", help="re-render the .md from the existing JSON")
    parser.add_argument("--retune-fk", action="store_true", help="tune fk-tuned again even if the JSON has it")
    args = parser.parse_args(argv)
    out = Path(args.out) / "seismic_methods.json"
    if args.markdown_only:
        write_markdown(json.loads(out.read_text()), out.with_suffix(".md"))
        return 0
    torch.set_num_threads(1)
    start = time.process_time()
    tuning = cases(TUNING_SEED, 1)
    fk = fk_settings(tuning, out, args.retune_fk)
    fk_seconds = time.process_time() - start
    tuned = {name: tune(name, SEARCHES[name], tuning) for name in SEARCHES}
    tuned["deep-prior"] = tune_deep_prior(tuning)
    tuning_seconds = time.process_time() - start
    test = cases(TEST_SEED, 0)
    results = measure(test, tuned, fk)
    figures(test, results, Path(args.figures))
    data = {"environment": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
                            "cpu": platform.processor() or platform.machine(), "threads": 1,
                            "tuning_cpu_s": tuning_seconds, "fk_tuning_cpu_s": fk_seconds,
                            "total_cpu_s": time.process_time() - start},
            "tuning": {k: {**v, "best": v["best"]} for k, v in tuned.items()},
            "fk_tuned": [{"dx_m": dx, "degrade": p, "options": o} for (dx, p), o in fk.items()],
            "fk_grid": FK_GRID, "results": results}
    atomic_write_json(out, json.loads(json.dumps(data, default=list)))
    write_markdown(json.loads(out.read_text()), out.with_suffix(".md"))
    for name, t in tuned.items():
        if not t["matches_defaults"]:
            print(f"NOTE: {name}'s tuned setting {t['best']} differs from its shipped defaults {DEFAULTS[name]}")
    return 0


def fk_settings(tuning: list[dict], previous: Path, retune: bool) -> dict:
    """seismic_field's FK tuning (the best of FK_GRID on each tuning case). It is deterministic and costs about
    9 CPU-minutes, so a previous run's choice on the same grid is reused unless `retune`."""
    if previous.is_file() and not retune:
        old = json.loads(previous.read_text())
        if old.get("fk_grid") == json.loads(json.dumps(FK_GRID)) and len(old["fk_tuned"]) == len(tuning):
            print(f"fk-tuned settings reused from {previous} (--retune-fk to tune again)", flush=True)
            return {(r["dx_m"], r["degrade"]): r["options"] for r in old["fk_tuned"]}
    fk = {}
    for case in tuning:
        fk[case["dx"], case["pattern"]] = tune_fk({**case}).options
        print(f"fk-tuned {case['name']}: {fk[case['dx'], case['pattern']]}", flush=True)
    return fk


def figures(test: list[dict], results: list[dict], fig_dir: Path) -> None:
    """Missing-trace SNR against trace spacing per method and decimation; one gather's panels at 37.5 m."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganrecon.report import comparison_figure

    fig_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, pattern in zip(axes, PATTERNS):
        rows = [r for r in results if r["degrade"] == pattern]
        for name in ("zero-fill", "cubic", *FIGURE_METHODS):
            style = "-o" if name in NEW else "--."
            ax.plot([r["dx_m"] for r in rows], [r["methods"][name]["snr_missing"] for r in rows], style, label=name)
        ax.set_title(pattern)
        ax.set_xlabel("trace spacing (m)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("SNR on missing traces (dB)")
    axes[1].legend(fontsize=7, loc="upper right", ncol=2)
    fig.tight_layout()
    fig.savefig(fig_dir / "seismic-methods-spacing.png", dpi=110)
    plt.close(fig)
    case = [c for c in test if c["pattern"] == PATTERNS[0] and c["dx"] <= 37.5][-1]
    crop = slice(300, 700)
    row = next(r for r in results if r["case"] == case["name"])
    comparison_figure(case["clean"][..., crop, :], case["observed"][..., crop, :],
                      {k: v[..., crop, :] for k, v in case["estimates"].items() if k in FIGURE_METHODS},
                      fig_dir / f"seismic-methods-dx{case['dx']:g}-random.png", signed=True, rows=1,
                      scores=row["methods"])


def write_markdown(data: dict, path: Path) -> None:
    """docs/results/seismic_methods.md from the JSON the run wrote."""
    results, env = data["results"], data["environment"]
    methods = list(results[0]["methods"])
    lines = []
    for pattern in PATTERNS:
        rows = [r for r in results if r["degrade"] == pattern]
        lines += [f"Missing-trace SNR (dB), `{pattern}`; whole-gather SNR in brackets:", "",
                  "| method | " + " | ".join(f"{r['dx_m']:g} m" for r in rows) + " | CPU s / gather |",
                  "|---|" + "---|" * (len(rows) + 1)]
        for name in methods:
            cells = [f"{r['methods'][name]['snr_missing']:.2f} ({r['methods'][name]['snr']:.1f})" for r in rows]
            secs = np.mean([r["methods"][name]["seconds"] for r in rows])
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {secs:.2f} |")
        lines.append("")
    atomic_write_text(path, f"""## Conventional seismic interpolators against trace spacing

`benchmarks/seismic_methods.py`: the pylops gathers of `benchmarks/seismic_field.py` (1000 x 80 at 4 ms, white noise
at 10% of the signal RMS: no method can pass about 20 dB) at 12.5-50 m spacing. One test gather per spacing (seed
{TEST_SEED} + i, mask seed 0) and per decimation; every setting was chosen on tuning gathers (seed {TUNING_SEED} + i,
mask seed 1), never on these. New methods (`ganrecon.seismic_methods`): `pocs` (POCS, FK thresholding in time
windows, anti-alias mask from the low frequencies), `sliding-fk` (the same in small space-time windows), `fx`
(Spitz f-x prediction; its adaptive form under random decimation), `dip-steered` (semblance slopes, stacking
along them), `deep-prior` (untrained U-Net, {DEEP_PRIOR_STEPS} steps). Old: zero-fill, nearest, linear, cubic,
biharmonic, `fk` (FISTA sparse inversion, library defaults) and `fk-tuned` (dip cone and eps tuned per spacing
and decimation). CPU seconds per gather on one thread ({env['cpu']}); the whole run took
{env['total_cpu_s'] / 60:.1f} CPU-minutes, {env['tuning_cpu_s'] / 60:.1f} of them tuning.

{chr(10).join(lines)}
{tuning_text(data)}

![missing-trace SNR against spacing](../figures/seismic-methods-spacing.png)

![37.5 m, 50% random, samples 300-700](../figures/seismic-methods-dx37.5-random.png)

Samples 300-700 of the 37.5 m test gather, 50% random traces missing; the titles give the whole-gather SNR.
""")
    print(f"wrote {path}")


def tuning_text(data: dict) -> str:
    lines = ["Tuning (mean missing-trace SNR over the 8 tuning cases; the chosen setting is in bold and shipped as "
             "the method's default):", ""]
    for name, t in data["tuning"].items():
        for row in t["rows"]:
            mark = "**" if row["options"] == t["best"] or (name == "deep-prior" and row["options"]["lr"] ==
                                                          t["best"]["lr"]) else ""
            sec = f", {row['seconds']:.2f} s" if "seconds" in row else ""
            lines.append(f"- {name}: {mark}{describe(row['options'])}: {row['mean']:.2f} dB{sec}{mark}")
    lines.append(f"- deep-prior: learning rate at {DEEP_PRIOR_STEPS} steps on {', '.join(DEEP_PRIOR_TUNING)} "
                 "only (the scores after half the steps are in the JSON).")
    differ = [name for name, t in data["tuning"].items() if not same(t["best"], DEFAULTS[name])]
    lines.append("- the defaults in `ganrecon.seismic_methods` are the chosen settings" + (
        f", except for {', '.join(differ)}: rerun or update them." if differ else "."))
    fk = "; ".join(f"{r['dx_m']:g} m {r['degrade'].split(':')[1]}: dip cone {r['options']['max_dip']}, eps "
                   f"{r['options']['eps']:g}" for r in data["fk_tuned"])
    return "\n".join(lines) + f"\n- fk-tuned (best of seismic_field's grid on each tuning case): {fk}"


def describe(options: dict) -> str:
    return ", ".join(f"{k} {tuple(v) if isinstance(v, list) else v}" for k, v in options.items())


if __name__ == "__main__":
    sys.exit(main())
