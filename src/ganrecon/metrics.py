"""Per-image reconstruction metrics, the same for every model and baseline so their numbers can share a table.

Every metric is computed per image (a tensor of shape [N]) so that a results table can show spread, not only a
mean; `summarise` turns them into nan-aware means.

Decisions worth knowing:

* PSNR and SSIM come from torchmetrics (the implementation the field trusts) with an explicit
  ``data_range = value_range[1] - value_range[0]`` (1 for images, 2 for signed seismic gathers). A float data
  range is passed, never the tuple: torchmetrics would silently clamp the estimate to the range with a tuple,
  which would hide overshoot.
* SNR is the geophysicists' measure, ``10 log10(sum x^2 / sum (x - x_hat)^2)`` per image, in dB.
* Perfect reconstructions would give +inf dB (PSNR and SNR). All dB values are clipped to
  ``[-MAX_DB, MAX_DB]`` (100 dB): anything above is float32 round-off, and finite numbers keep means and JSON
  valid. A clean image of zeros with a non-zero error gives -100 dB SNR.
* "Missing region" metrics (``mse_missing``, ``psnr_missing``, ``snr_missing``) use the pixels where
  ``mask == 0``; they are NaN for an image with nothing missing (noise, blur, super-resolution), and
  `summarise` ignores NaNs. A mask on the observed grid of a ``down:S`` degradation (H/S x W/S, e.g.
  ``down:2+columns:random:0.5``) is mapped to the clean grid: each missing observed pixel leaves its S x S block
  missing.
* SSIM uses the standard 11-pixel Gaussian window (sigma 1.5). Images smaller than 11 pixels on a side get
  the largest odd window that fits, with sigma scaled by window/11; SSIM is NaN below 3 pixels.
* Arithmetic is float64 on the CPU (metrics are cheap, and a 60 dB SNR needs more than float32 to be exact).
"""

from __future__ import annotations

import math

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from ganrecon.errors import GanreconError

MAX_DB = 100.0
METRIC_NAMES = ("mse", "mse_missing", "psnr", "psnr_missing", "ssim", "snr", "snr_missing")


def _as_batch(x, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError):
            raise GanreconError(f"The {what} must be an array of numbers.") from None
    if x.ndim != 4:
        raise GanreconError(f"The {what} must be a batch N x C x H x W, got shape {tuple(x.shape)}.")
    return x.detach().to("cpu", torch.float64)


def _missing_region(mask, clean: torch.Tensor) -> torch.Tensor | None:
    """Boolean N x C x H x W map of missing pixels, or None when nothing is missing anywhere."""
    if mask is None:
        return None
    mask = _as_batch(mask, "mask")
    if mask.shape[-2:] != clean.shape[-2:]:
        mask = _on_clean_grid(mask, clean)
    c = clean.shape[1]
    if mask.shape[1] > c and mask.shape[1] % c == 0:  # a burst's mask (frames x channels): missing in every frame
        mask = mask.view(mask.shape[0], -1, c, *mask.shape[-2:]).amax(1)
    try:
        missing = (mask == 0).expand_as(clean)
    except RuntimeError:
        raise GanreconError(
            f"The mask shape {tuple(mask.shape)} does not fit the images {tuple(clean.shape)}.") from None
    return missing if bool(missing.any()) else None


def _on_clean_grid(mask: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """A mask on the observed grid of a down:S degradation (H/S x W/S) -> the clean grid: each observed pixel
    stands for the S x S block it was computed from, so a missing one leaves that block missing."""
    (mh, mw), (h, w) = mask.shape[-2:], clean.shape[-2:]
    scale = h // mh if mh else 0
    if not (scale >= 1 and mh * scale == h and mw * scale == w):
        raise GanreconError(f"The mask is {mh}x{mw} pixels but the images are {h}x{w}, not a whole multiple.")
    return mask.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)


def _db(ratio: torch.Tensor) -> torch.Tensor:
    """10 log10(ratio) clipped to +-MAX_DB; NaN stays NaN."""
    return (10.0 * torch.log10(ratio)).clamp(-MAX_DB, MAX_DB)


def _ssim(estimate: torch.Tensor, clean: torch.Tensor, width: float) -> torch.Tensor:
    """SSIM per image, computed in float32: its windowed convolutions run much faster than in float64 on a CPU
    (a training run's validation spent most of its time here) and stay within 1e-5 of the float64 values
    (tests/test_metrics.py), far below the precision any table reports."""
    h, w = clean.shape[-2:]
    size = min(11, h, w)
    size -= 1 - size % 2  # largest odd window that fits
    if size < 3:
        return torch.full((clean.shape[0],), math.nan, dtype=torch.float64)
    sigma = 1.5 * size / 11
    return structural_similarity_index_measure(
        estimate.float(), clean.float(), gaussian_kernel=True, sigma=sigma, kernel_size=size, data_range=width,
        reduction="none").double()


def image_metrics(estimate, clean, mask=None, value_range=(0.0, 1.0), *, extra: tuple[str, ...] = ()
                  ) -> dict[str, torch.Tensor]:
    """Per-image metrics of `estimate` against `clean` (both N x C x H x W); keys are METRIC_NAMES, plus the
    `extra` ones requested from EXTRA_METRICS (e.g. ("porosity_error", "hf_ratio") for super-resolution).

    `mask` (1 = observed, 0 = missing; N x C x H x W or N x 1 x H x W) defines the missing region.
    Returns float64 CPU tensors of shape [N].
    """
    estimate = _as_batch(estimate, "estimate")
    clean = _as_batch(clean, "clean image batch")
    if estimate.shape != clean.shape:
        raise GanreconError(
            f"The estimate has shape {tuple(estimate.shape)} but the clean images have {tuple(clean.shape)}.")
    lo, hi = (float(v) for v in value_range)
    width = hi - lo
    if not width > 0:
        raise GanreconError(f"The value range must have its low end below its high end, got {value_range}.")
    if not bool(torch.isfinite(estimate).all()):
        raise GanreconError("The estimate contains NaN or infinite values.")

    n = clean.shape[0]
    err2 = (estimate - clean).pow(2).reshape(n, -1)
    sig2 = clean.pow(2).reshape(n, -1)
    mse = err2.mean(1)
    out = {
        "mse": mse,
        "psnr": peak_signal_noise_ratio(estimate, clean, data_range=width, reduction="none",
                                        dim=(1, 2, 3)).clamp(-MAX_DB, MAX_DB),
        "ssim": _ssim(estimate, clean, width),
        "snr": _snr(sig2.sum(1), err2.sum(1)),
    }

    missing = _missing_region(mask, clean)
    if missing is None:
        nan = torch.full((n,), math.nan, dtype=torch.float64)
        out.update(mse_missing=nan, psnr_missing=nan.clone(), snr_missing=nan.clone())
    else:
        miss = missing.reshape(n, -1).to(torch.float64)
        count = miss.sum(1)
        err_miss = (err2 * miss).sum(1)
        mse_missing = torch.where(count > 0, err_miss / count.clamp_min(1), math.nan)
        out["mse_missing"] = mse_missing
        out["psnr_missing"] = _db(width**2 / mse_missing)
        snr_missing = _snr((sig2 * miss).sum(1), err_miss)
        out["snr_missing"] = torch.where(count > 0, snr_missing, math.nan)
    result = {name: out[name] for name in METRIC_NAMES}
    if extra:
        result.update(extra_metrics(estimate, clean, extra, value_range))
    return result


def _snr(signal_energy: torch.Tensor, error_energy: torch.Tensor) -> torch.Tensor:
    """SNR in dB; a zero error is a perfect reconstruction (+MAX_DB) even when the signal is zero too."""
    snr = _db(signal_energy / error_energy)
    return torch.where(error_energy == 0, MAX_DB, snr)


def summarise(per_image: dict[str, torch.Tensor]) -> dict[str, float]:
    """Nan-aware mean of each per-image metric, as plain floats (NaN when every image is NaN)."""
    summary = {}
    for name, values in per_image.items():
        values = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
        finite = values[~torch.isnan(values)]
        summary[name] = float(finite.mean()) if finite.numel() else math.nan
    return summary


# ------------------------------------------------------------------------------------------ extra metrics
# Computed only when asked for (Otsu and FFTs per image are cheap, but not free for every validation step).
# GAN outputs trade PSNR for texture, so super-resolution is also judged by what PSNR does not see:

EXTRA_METRICS = {
    "porosity_error": "|porosity(estimate) - porosity(truth)|, each segmented by its own Otsu threshold (fraction)",
    "hf_ratio": "power above half-Nyquist, estimate / truth (1 = as sharp as the truth, < 1 blurrier)",
}


def porosity(images) -> torch.Tensor:
    """Pore fraction per image: pixels at or below the image's own Otsu threshold (pores are dark in micro-CT), as a
    rock physicist would segment each scan. Colour images are averaged to grey first."""
    from skimage.filters import threshold_otsu

    x = _as_batch(images, "image batch").mean(dim=1).numpy()
    out = []
    for img in x:
        out.append(math.nan if img.max() == img.min() else float((img <= threshold_otsu(img)).mean()))
    return torch.tensor(out, dtype=torch.float64)


def hf_gap(ratio: float) -> float:
    """How far an `hf_ratio` is from the truth's 1, as |log ratio|: twice too sharp and half as sharp are equally
    far, so a GAN's texture and a blurred estimate are compared on one scale."""
    return abs(math.log(ratio))


def hf_power(images, cutoff: float = 0.5) -> torch.Tensor:
    """Spectral power per image above `cutoff` x Nyquist (radial frequency > cutoff * 0.5 cycles/pixel), of the
    mean-removed image under a 2-D Hann window (so the image border's discontinuity does not leak into the band)."""
    x = _as_batch(images, "image batch")
    x = x - x.mean(dim=(2, 3), keepdim=True)
    h, w = x.shape[-2:]
    window = torch.hann_window(h, periodic=False, dtype=torch.float64)[:, None] * \
        torch.hann_window(w, periodic=False, dtype=torch.float64)[None, :]
    power = torch.fft.rfft2(x * window).abs().pow(2)
    fy, fx = torch.fft.fftfreq(h, dtype=torch.float64), torch.fft.rfftfreq(w, dtype=torch.float64)
    band = (fy[:, None] ** 2 + fx[None, :] ** 2).sqrt() > cutoff * 0.5
    weight = torch.ones_like(fx)
    weight[1:] = 2.0  # rfft keeps half the spectrum: count the mirrored columns twice (not DC, not Nyquist)
    if w % 2 == 0:
        weight[-1] = 1.0
    return (power * band * weight).sum(dim=(1, 2, 3))


def extra_metrics(estimate, clean, names=("porosity_error", "hf_ratio"), value_range=(0.0, 1.0)
                  ) -> dict[str, torch.Tensor]:
    """Per-image EXTRA_METRICS (tensors of shape [N]); NaN where undefined (flat truth image)."""
    unknown = [n for n in names if n not in EXTRA_METRICS]
    if unknown:
        raise GanreconError(f"Unknown metric {unknown[0]!r}; extra metrics: {', '.join(EXTRA_METRICS)}.")
    estimate = _as_batch(estimate, "estimate")
    clean = _as_batch(clean, "clean image batch")
    if estimate.shape != clean.shape:
        raise GanreconError(
            f"The estimate has shape {tuple(estimate.shape)} but the clean images have {tuple(clean.shape)}.")
    out = {}
    if "porosity_error" in names:
        out["porosity_error"] = (porosity(estimate) - porosity(clean)).abs()
    if "hf_ratio" in names:
        truth = hf_power(clean)
        out["hf_ratio"] = torch.where(truth > 0, hf_power(estimate) / truth.clamp_min(1e-300), math.nan)
    return {n: out[n] for n in names}
