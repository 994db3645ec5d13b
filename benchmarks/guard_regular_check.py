"""Does the guard's check for a regular decimation rank the methods as the truth does? (issue 17)

On synthetic 128 x 64 gathers with every 2nd trace missing, each method's error on the missing traces (the
truth) is set beside its error in three self-checks that use only the known traces:

- `compact` (what `ganrecon.guard.regular_check` does): the known traces alone, as a gather of twice the trace
  spacing, decimated again by 2 and scored on the traces it lost; FK is also run
  with its dip cone scaled by the spacing, since dips in samples per trace double in the compacted gather;
- `original grid`: on the input's own grid, 1 trace in 4 kept, scored on the known traces in between;
- `compact, half band`: the compact check on the known traces low-passed to half their bandwidth and resampled
  to half as many time samples (`ganrecon.guard.half_band`). Aliasing depends on frequency x dip x spacing:
  halving the band offsets the doubled spacing, so this poses the input's aliasing, not a worse one. It tells
  FK's wins from the model's, but it ranks POCS and the consensus above FK, so it is no ranking of the
  baselines: as the guard's only check (2026-12-04, ad hoc) it sent 61 of 100 gathers to them (32.5 dB mean SNR
  against 34.9 with the full band). The guard uses it as a second opinion between the model and FK alone
  (`ganrecon.guard.alias_check`), with a slack chosen by `--tune-slack`.

Errors are pooled over the gathers and printed in dB relative to cubic interpolation (positive = better).

`--per-gather` instead runs the evaluation `benchmarks/traces.py` runs (the same test gathers, guarded and raw
model) and writes docs/results/seismic_regular_gathers.{md,json}: where the guarded model loses to FK, grouped
by how easy the gather is for FK, and what an oracle choice between the model and FK per gather would reach.
traces.md averages SNR in dB over gathers, so a gather FK restores to 45 dB and the model to 38 dB (both far
below anything visible) weighs as much as a 7 dB loss on a hard one; the pooled SNR is what a stack of gathers
is left with.

`--tune-slack` chooses the guard's ALIAS_SLACK_DB on tuning gathers (another seed) and writes
docs/results/seismic_alias_slack.{md,json}.

    .venv/bin/python benchmarks/guard_regular_check.py [--n 24] [--per-gather --n 100] [--tune-slack --n 100]
"""

from __future__ import annotations

import argparse
import platform
from functools import partial
from pathlib import Path

import torch

from ganrecon.baselines import FK_MAX_DIP, run_baseline
from ganrecon.data import load_dataset
from ganrecon.degrade import parse_degradation
from ganrecon.evaluation import evaluate
from ganrecon.guard import alias_check, half_band, margin_db
from ganrecon.inference import load_model
from ganrecon.io_utils import atomic_write_json, atomic_write_text

METHODS = ("cubic", "fk", "pocs", "sliding-fk", "fx", "consensus")
SIGNED = (-1.0, 1.0)
OUT = Path(__file__).resolve().parent.parent / "docs" / "results"
GATHER_METHODS = ("fk", "consensus", "gan-unet:raw", "gan-unet")
BANDS = ((None, 30.0), (30.0, 40.0), (40.0, 50.0), (50.0, None))   # gathers by FK's own SNR, dB


def estimates(model, observed, mask, fk_dip_scale: float | None = None) -> dict[str, torch.Tensor]:
    out = {name: run_baseline(name, observed, mask, value_range=SIGNED) for name in METHODS}
    if fk_dip_scale:
        out["fk (dip cone x2)"] = run_baseline("fk", observed, mask, value_range=SIGNED,
                                               max_dip=FK_MAX_DIP * fk_dip_scale)
    with torch.no_grad():
        out["model"] = model(observed, mask)
    return out


def relative_db(errors: dict[str, float]) -> dict[str, float]:
    return {k: round(10 * torch.log10(torch.tensor(errors["cubic"] / v)).item(), 2) for k, v in errors.items()}


def check_errors(model, gather: torch.Tensor, step: int, phases, scored,
                 fk_dip_scale: float | None = None) -> dict[str, float]:
    """Sum over phases of each method's squared error on `scored(phase)` traces, with 1 in `step` traces kept."""
    total: dict[str, float] = {}
    for phase in phases:
        keep = torch.zeros(gather.shape[-1], dtype=torch.bool)
        keep[phase::step] = True
        kept = keep.float().expand_as(gather).contiguous()
        where = scored(phase, kept)
        for name, est in estimates(model, gather * kept, kept, fk_dip_scale).items():
            total[name] = total.get(name, 0.0) + float(((est - gather) ** 2 * where).sum())
    return total


def per_gather(n: int) -> dict:
    """The evaluation benchmarks/traces.py runs (the same test gathers, guarded and raw model), gather by gather:
    each method's mean, median and pooled SNR, the oracle choice between the model and FK (what a better check
    could give), and the guarded model against FK with the gathers grouped by FK's own SNR."""
    model = load_model("traces-seismic-unet")
    model.name = "gan-unet"
    ev = evaluate(f"seismic:n={n}", "columns:regular:2", models=[model], limit=n, seed=0, split="test")
    clean = ev.clean.double()
    signal = clean.square().flatten(1).sum(1)
    errors = {m: (ev.estimates[m].double() - clean).square().flatten(1).sum(1) for m in GATHER_METHODS}
    snr = {m: snr_db(signal, e) for m, e in errors.items()}
    oracle = torch.maximum(snr["gan-unet:raw"], snr["fk"])
    out = {"n": n, "hardware": f"{platform.machine()}, {torch.get_num_threads()} threads",
           "methods": {m: {"mean_snr": float(snr[m].mean()), "median_snr": float(snr[m].median()),
                           "pooled_snr": float(snr_db(signal.sum(), errors[m].sum()))} for m in GATHER_METHODS},
           "oracle_mean_snr": float(oracle.mean()), "bands": []}
    diff = snr["gan-unet"] - snr["fk"]
    for lo, hi in BANDS:
        sel = torch.ones_like(diff, dtype=torch.bool)
        sel &= snr["fk"] >= lo if lo is not None else sel
        sel &= snr["fk"] < hi if hi is not None else sel
        count = int(sel.sum())
        pooled = float(snr_db(signal[sel].sum(), errors["gan-unet"][sel].sum())
                       - snr_db(signal[sel].sum(), errors["fk"][sel].sum())) if count else None
        out["bands"].append({"fk_snr": band_label(lo, hi), "gathers": count,
                             "guarded_below_fk": int((diff[sel] < -0.1).sum()),
                             "mean_diff": float(diff[sel].mean()) if count else None,
                             "share_of_mean_gap": float(diff[sel].sum() / n), "pooled_diff": pooled})
    return out


SLACKS = (-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def tune_slack(n: int, seed: int = 1) -> dict:
    """The guard's ALIAS_SLACK_DB chosen on tuning gathers (test split, `seed` 1: neither trained on nor in
    traces.py's seed-0 test set): per gather the model's and FK's truth SNR and the model's margin over FK on the
    half-band check (`ganrecon.guard.alias_check`); for each slack the mean SNR of the rule "FK where the margin is
    under the slack, else the model", applied to every gather (the guard applies it to the gathers whose first
    check chose the model, nearly all of these)."""
    model = load_model("traces-seismic-unet")
    clean = load_dataset(f"seismic:n={n}", split="test", seed=seed).images[:n]
    observed, mask = parse_degradation("columns:regular:2")(clean, value_range=SIGNED, generator=0)
    signal = clean.double().square().flatten(1).sum(1)
    fk = partial(run_baseline, "fk", value_range=SIGNED)
    with torch.no_grad():
        estimates = {"gan-unet:raw": model(observed, mask), "fk": fk(observed, mask)}
        model_err, fk_err = alias_check(model, fk, observed, (mask[0, 0, 0] > 0).nonzero()[:, 0], 2)
    snr = {k: snr_db(signal, (v.double() - clean).square().flatten(1).sum(1)) for k, v in estimates.items()}
    margin = torch.tensor([margin_db(f, m) for m, f in zip(model_err.tolist(), fk_err.tolist())])
    rows = []
    for slack in SLACKS:
        use_fk = margin < slack
        rows.append({"slack_db": slack, "fk_gathers": int(use_fk.sum()),
                     "mean_snr": float(torch.where(use_fk, snr["fk"], snr["gan-unet:raw"]).mean())})
    return {"n": n, "seed": seed, "hardware": f"{platform.machine()}, {torch.get_num_threads()} threads",
            "fk_mean_snr": float(snr["fk"].mean()), "model_mean_snr": float(snr["gan-unet:raw"].mean()),
            "oracle_mean_snr": float(torch.maximum(snr["fk"], snr["gan-unet:raw"]).mean()), "rows": rows}


def slack_markdown(r: dict) -> str:
    best = max(r["rows"], key=lambda row: row["mean_snr"])
    lines = ["## Seismic, every 2nd trace: the guard's slack for FK, chosen on tuning gathers", "",
             f"Produced by `benchmarks/guard_regular_check.py --tune-slack` on {r['hardware']}: {r['n']} tuning gathers "
             f"(benchmarks/traces.py's generator, test split, seed {r['seed']}; the reported test set is seed 0), "
             "`columns:regular:2`. Per gather the model's margin over FK on the guard's half-band check; the rule "
             "gives FK every gather where that margin is under the slack, the model the others. Mean SNR in dB "
             f"over the gathers. FK alone {r['fk_mean_snr']:.2f}, the model alone {r['model_mean_snr']:.2f}, the "
             f"better of the two per gather (an oracle) {r['oracle_mean_snr']:.2f}.", "",
             "| slack, dB | gathers to FK | mean SNR |", "|---|---|---|"]
    lines += [f"| {row['slack_db']:+.1f} | {row['fk_gathers']} | {row['mean_snr']:.2f} |" for row in r["rows"]]
    lines += ["", f"Best: {best['slack_db']:+.1f} dB (`ganrecon.guard.ALIAS_SLACK_DB`)."]
    return "\n".join(lines) + "\n"


def snr_db(signal: torch.Tensor, error: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(signal / error.clamp_min(1e-30))


def band_label(lo, hi) -> str:
    return f"< {hi:.0f}" if lo is None else (f">= {lo:.0f}" if hi is None else f"{lo:.0f}-{hi:.0f}")


def gathers_markdown(r: dict) -> str:
    def fmt(v):
        return "-" if v is None else f"{v:+.2f}"

    lines = ["## Seismic, every 2nd trace: the guarded model against FK, gather by gather", "",
             f"Produced by `benchmarks/guard_regular_check.py --per-gather` on {r['hardware']}: "
             f"benchmarks/traces.py's {r['n']} synthetic test gathers (128 x 64, seed 0), `columns:regular:2`. SNR "
             "in dB over each whole gather. *mean* is traces.md's figure (SNR averaged over gathers), *pooled* "
             "the total signal energy over the total error energy of the set.", "",
             "| method | mean SNR | median SNR | pooled SNR |", "|---|---|---|---|"]
    lines += [f"| {m} | {v['mean_snr']:.2f} | {v['median_snr']:.2f} | {v['pooled_snr']:.2f} |"
              for m, v in r["methods"].items()]
    lines += ["", f"Oracle choice per gather between the model alone and FK (knows the truth; a bound for the "
              f"check): mean SNR {r['oracle_mean_snr']:.2f} dB.", "",
              "Gathers grouped by FK's own SNR (how easy the gather is for FK); *diff* is guarded minus FK, *share "
              "of the mean gap* each group's part of the difference in mean SNR.", "",
              "| FK SNR, dB | gathers | guarded below FK (> 0.1 dB) | mean diff | share of the mean gap | "
              "pooled diff |", "|---|---|---|---|---|---|"]
    lines += [f"| {b['fk_snr']} | {b['gathers']} | {b['guarded_below_fk']} | {fmt(b['mean_diff'])} | "
              f"{b['share_of_mean_gap']:+.2f} | {fmt(b['pooled_diff'])} |" for b in r["bands"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="test gathers")
    parser.add_argument("--per-gather", action="store_true",
                        help="per-gather SNR of the guarded model against FK -> docs/results/seismic_regular_gathers.md "
                             "(use --n 100, traces.py's set)")
    parser.add_argument("--tune-slack", action="store_true",
                        help="choose the guard's ALIAS_SLACK_DB on tuning gathers -> docs/results/seismic_alias_slack.md "
                             "(use --n 100)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    for wanted, run, markdown, stem in ((args.tune_slack, tune_slack, slack_markdown, "seismic_alias_slack"),
                                        (args.per_gather, per_gather, gathers_markdown, "seismic_regular_gathers")):
        if wanted:
            result = run(args.n)
            atomic_write_json(OUT / f"{stem}.json", result)
            text = markdown(result)
            atomic_write_text(OUT / f"{stem}.md", text)
            print(text)
            return
    clean = load_dataset("seismic:n=100", split="test", seed=0).images[:args.n]
    observed, mask = parse_degradation("columns:regular:2")(clean, value_range=SIGNED, generator=0)
    model = load_model("traces-seismic-unet")
    truth = {k: float(((v - clean) ** 2 * (1 - mask)).sum()) for k, v in estimates(model, observed, mask).items()}
    print("truth (every 2nd trace missing):", relative_db(truth))
    compact = clean[..., mask[0, 0, 0] > 0]

    def lost(_phase, kept):
        return 1 - kept

    compact_errors = check_errors(model, compact, 2, (0, 1), lost, fk_dip_scale=2.0)  # dips double when compacted
    print("check, compact (as the guard):", relative_db(compact_errors))
    print("check, compact, half band:", relative_db(check_errors(model, half_band(compact), 2, (0, 1), lost)))

    def known_between(phase, kept):
        where = torch.zeros_like(kept)
        where[..., (phase + 2) % 4::4] = 1
        return where

    known_phase = int(mask[0, 0, 0].nonzero()[0])
    print("check, original grid (1 in 4 kept):",
          relative_db(check_errors(model, clean, 4, (known_phase, known_phase + 2), known_between)))


if __name__ == "__main__":
    main()
