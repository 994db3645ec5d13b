"""Does the guard's check for a regular decimation rank the methods as the truth does? (issue 17)

On synthetic 128 x 64 gathers with every 2nd trace missing, each method's error on the missing traces (the
truth) is set beside its error in two self-checks that use only the known traces:

- `compact` (what `ganrecon.guard.regular_check` does): the known traces alone, as a gather of twice the trace
  spacing, decimated again by 2 and scored on the traces it lost; FK is also run with its dip cone scaled by the
  spacing, since dips in samples per trace double in the compacted gather;
- `original grid`: on the input's own grid, 1 trace in 4 kept, scored on the known traces in between;
- `compact, half band`: the compact check on the known traces low-passed to half their bandwidth and resampled
  to half as many time samples. Aliasing depends on frequency x dip x spacing: halving the band offsets the
  doubled spacing, so this poses the input's aliasing, not a worse one.

Errors are pooled over the gathers and printed in dB relative to cubic interpolation (positive = better).

`--per-gather` instead runs the evaluation `benchmarks/traces.py` runs (the same 100 test gathers, guarded and
raw model) and sets each gather's SNR beside the guard's choice for it: where the guarded model loses to the
best baseline's mean SNR, and what a per-gather choice between the model and that baseline could reach.

    .venv/bin/python benchmarks/guard_regular_check.py [--n 24] [--per-gather]
"""

from __future__ import annotations

import argparse

import torch

from ganrecon.baselines import FK_MAX_DIP, run_baseline
from ganrecon.data import load_dataset
from ganrecon.degrade import parse_degradation
from ganrecon.evaluation import evaluate
from ganrecon.inference import load_model
from ganrecon.metrics import image_metrics

METHODS = ("cubic", "fk", "pocs", "sliding-fk", "fx", "consensus")
SIGNED = (-1.0, 1.0)


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


def half_band(gather: torch.Tensor) -> torch.Tensor:
    """The lower half of the temporal spectrum, as half as many samples (band-limited resampling), rescaled to a
    peak amplitude of 1 per gather as the data sets are."""
    n = gather.shape[-2]
    low = torch.fft.irfft(torch.fft.rfft(gather, dim=-2)[..., :n // 4 + 1, :], n=n // 2, dim=-2)
    return low / low.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(1e-8)


def per_gather(n: int) -> None:
    """Each gather's SNR by method beside the guard's choice; the oracle choice between the model and the baseline
    with the best mean SNR bounds what a better check could give."""
    model = load_model("traces-seismic-unet")
    ev = evaluate(f"seismic:n={n}", "columns:regular:2", models=[model], limit=n, seed=0, split="test")
    snr = {k: image_metrics(v, ev.clean, ev.mask, SIGNED)["snr"] for k, v in ev.estimates.items()}
    name = model.name
    baselines = [k for k in snr if k not in (name, name + ":raw")]
    best = max(baselines, key=lambda k: float(snr[k].mean()))
    chosen = [f"{image['method']} ({image['margin_db']})" for image in ev.results["guard"][name]["images"]]
    print("mean SNR:", {k: round(float(v.mean()), 2) for k, v in snr.items()})
    raw, base = snr[name + ":raw"], snr[best]
    print(f"oracle per gather, model or {best}: {float(torch.maximum(raw, base).mean()):.2f}; "
          f"{best} better on {int((base > raw).sum())} of {n} gathers, by {float((base - raw).clamp_min(0).sum() / n):.2f} "
          f"dB of the mean; the model better on the rest by {float((raw - base).clamp_min(0).sum() / n):.2f}")
    print("gather | " + " | ".join(["model", best, "pocs", "consensus", "guarded", "guard chose"]))
    for i in torch.argsort(base - raw, descending=True).tolist():
        print(f"{i} | {raw[i]:.2f} | {base[i]:.2f} | {snr['pocs'][i]:.2f} | {snr['consensus'][i]:.2f} | "
              f"{snr[name][i]:.2f} | {chosen[i]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="test gathers")
    parser.add_argument("--per-gather", action="store_true", help="per-gather SNR beside the guard's choice")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.per_gather:
        per_gather(args.n)
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
