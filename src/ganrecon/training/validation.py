"""Scoring on the held-out validation data: the conventional baselines (computed once per run, in one place)
and the one-line summaries printed above the progress bar."""

from __future__ import annotations

import torch


def score_baselines(degradation, val_obs: torch.Tensor, val_mask: torch.Tensor, val_clean: torch.Tensor,
                    value_range, names=None, scale: int = 1) -> dict[str, dict[str, float]]:
    """Every baseline that applies to `degradation` (only those in `names`, when given) on the validation batch,
    scored like the model: method -> summarised metrics."""
    from ganrecon.baselines import applicable_baselines, run_baseline
    from ganrecon.metrics import image_metrics, summarise

    scores = {}
    for b in applicable_baselines(degradation, value_range):
        if names is not None and b.name not in names:
            continue
        if b.name == "fk" and len(val_clean) > 64:
            continue  # FK inversion is slow; the benchmark scripts evaluate it on their own test sets
        est = run_baseline(b.name, val_obs, val_mask, value_range=value_range, scale=scale)
        scores[b.name] = summarise(image_metrics(est, val_clean, val_mask, value_range))
    return scores


def psnr_line(step: int, scores: dict, own: str = "model") -> str:
    """The model's PSNR and SNR next to the best baseline's PSNR."""
    model = scores.get(own, {})
    best = max(((k, v) for k, v in scores.items() if k != own), key=lambda kv: kv[1].get("psnr", -1e9),
               default=(None, {}))
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
