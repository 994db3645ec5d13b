"""What a self-supervised adaptation did, as a line to print and a record for JSON: the steps it took, the SNR on
the held-out known traces before and after, and which weights it kept. Early stopping may keep the pretrained
weights (no adapted step restored the held-out traces better); a user must be told, since the output is then
exactly the pretrained model's."""

from __future__ import annotations

import math


def _finite(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def adaptation_summary(report, from_scratch: bool = False) -> dict:
    """An AdaptReport (steps, seconds, holdout_snr_start, holdout_snr_best, best_step, unit) as a JSON record."""
    before, after = _finite(report.holdout_snr_start), _finite(report.holdout_snr_best)
    unit, steps, best_step = report.unit, int(report.steps), int(report.best_step)
    if after is None:
        choice, text = "last", f"no {unit} could be held out, so the weights of the last step were kept"
    elif from_scratch:
        choice, text = "gather-only", f"kept the weights of step {best_step}, the best on the held-out {unit}"
    elif best_step == 0:
        choice, text = "pretrained", (f"kept the pretrained weights: no adapted step restored the held-out {unit} "
                                      "better (the output is the pretrained model's)")
    else:
        choice, text = "adapted", f"kept the adapted weights of step {best_step}"
    return {"steps": steps, "seconds": round(float(report.seconds), 2), "held_out": unit,
            "holdout_snr_before": before, "holdout_snr_after": after, "best_step": best_step, "choice": choice,
            "summary": text}


def adaptation_line(name: str, summary: dict, index: int = 0, count: int = 1) -> str:
    """One line for the terminal, e.g. "m+adapt: 300 steps in 60.0 s; held-out traces SNR 9.87 -> 12.26 dB; ..."."""
    image = f" (image {index + 1} of {count})" if count > 1 else ""
    before, after = summary["holdout_snr_before"], summary["holdout_snr_after"]
    if after is None:
        snr = "no held-out score"
    elif before is None:
        snr = f"held-out {summary['held_out']} SNR {after:.2f} dB"
    else:
        snr = f"held-out {summary['held_out']} SNR {before:.2f} dB before, {after:.2f} dB after"
    return f"{name}{image}: {summary['steps']} steps in {summary['seconds']:.1f} s; {snr}; {summary['summary']}."


def adaptation_summaries(model) -> list[dict]:
    """The summaries of every image a model adapted to (an AdaptedModel, possibly inside gain or resampling
    wrappers); empty for a model that does not adapt."""
    reports = getattr(model, "reports", None) or []
    from_scratch = bool(getattr(getattr(model, "options", None), "from_scratch", False))
    return [adaptation_summary(r, from_scratch) for r in reports]
