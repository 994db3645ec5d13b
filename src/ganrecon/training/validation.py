"""Scoring on the held-out validation data: the conventional baselines (computed once per run, in one place)
and the one-line summaries printed above the progress bar."""

from __future__ import annotations

import torch

# metrics beyond PSNR/SSIM that a task's validation also tracks: super-resolution's SRGAN twin is chosen on
# texture (high-frequency power) and porosity, which PSNR alone cannot see
VAL_EXTRA = {"superres": ("porosity_error", "hf_ratio")}


def score_baselines(degradation, val_obs: torch.Tensor, val_mask: torch.Tensor, val_clean: torch.Tensor,
                    value_range, task: str | None = None) -> dict[str, dict[str, float]]:
    """The task's baselines that apply to `degradation`, on the validation batch, scored like the model and by the
    same scorer as `evaluate` (method -> summarised metrics). FK inversion is skipped on large batches: it is slow,
    and the benchmark scripts score it on their own test sets."""
    from ganrecon.scoring import baseline_methods, score_methods

    methods = baseline_methods(degradation, value_range, task=task, skip_slow=len(val_clean) > 64)
    scores = score_methods(methods, val_clean, val_obs, val_mask, value_range, extra=VAL_EXTRA.get(task, ()))
    for s in scores.values():
        s.pop("ms_per_image", None)  # validation.csv keeps quality columns only
    return scores


PER_SPEC = "@"  # "model@sp:0.15": one degradation's score in a validation over several (`per_spec_scores`)
BEST_CLASSICAL = "best-classical"


def mean_summary(summaries: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each metric the summaries share."""
    keys = set.intersection(*(set(s) for s in summaries))
    return {k: sum(s[k] for s in summaries) / len(summaries) for k in sorted(keys)}


def per_spec_scores(scores: dict[str, dict[str, dict[str, float]]], own: str = "model") -> dict:
    """Validation over several degradations (spec -> method -> summary) as one row per method: `own` is the
    mean over the degradations (what checkpoints are chosen by), `best-classical` the mean of each degradation's
    best baseline by PSNR (what the model is compared with), and every method's own score as NAME@SPEC."""
    rows = {f"{name}{PER_SPEC}{spec}": summary for spec, methods in scores.items() for name, summary in methods.items()}
    rows[own] = mean_summary([methods[own] for methods in scores.values()])
    best = [max((v for k, v in methods.items() if k != own), key=lambda v: v.get("psnr", -1e9))
            for methods in scores.values() if len(methods) > 1]
    if len(best) == len(scores):
        rows[BEST_CLASSICAL] = mean_summary(best)
    return rows


def psnr_line(step: int, scores: dict, own: str = "model") -> str:
    """The model's PSNR and SNR next to the best baseline's PSNR (per-degradation rows aside)."""
    model = scores.get(own, {})
    best = max(((k, v) for k, v in scores.items() if k != own and PER_SPEC not in k),
               key=lambda kv: kv[1].get("psnr", -1e9), default=(None, {}))
    text = (f"step {step}: {own} PSNR {model.get('psnr', float('nan')):.2f} dB, "
            f"SNR {model.get('snr', float('nan')):.2f} dB")
    if best[0]:
        text += f" | best baseline {best[0]} PSNR {best[1].get('psnr', float('nan')):.2f} dB"
    return text


def missing_mse_line(step: int, scores: dict, own: str) -> str:
    """The missing-region MSE of `own` next to the best baseline's (latent inversion, where PSNR of the kept
    pixels says little)."""
    mine = scores.get(own, {})
    text = f"step {step}: {own} missing-region MSE {mine.get('mse_missing', float('nan')):.5f}"
    others = [(k, v.get("mse_missing", float("nan"))) for k, v in scores.items() if k != own]
    if others:
        name, value = min(others, key=lambda kv: kv[1])
        text += f" | best baseline {name} {value:.5f}"
    return text
