from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganrecon.errors import GanreconError
from ganrecon.metrics import MAX_DB, METRIC_NAMES, image_metrics, summarise


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_identical_images_are_perfect_and_finite():
    clean = _rand(3, 1, 28, 28)
    m = image_metrics(clean.clone(), clean)
    assert set(m) == set(METRIC_NAMES)
    assert all(v.shape == (3,) for v in m.values())
    assert torch.all(m["mse"] == 0)
    assert torch.all(m["psnr"] == MAX_DB)
    assert torch.all(m["snr"] == MAX_DB)
    assert torch.allclose(m["ssim"], torch.ones(3, dtype=torch.float64))
    s = summarise(m)
    assert s["psnr"] == MAX_DB and math.isfinite(s["snr"])


def test_snr_and_psnr_match_hand_computation():
    g = torch.Generator().manual_seed(1)
    clean = torch.randn(4, 2, 16, 12, generator=g).clamp(-1, 1)
    estimate = clean + 0.1 * torch.randn(clean.shape, generator=g)
    m = image_metrics(estimate, clean, value_range=(-1.0, 1.0))
    x = clean.double().numpy().reshape(4, -1)
    e = estimate.double().numpy().reshape(4, -1) - x
    snr = 10 * np.log10((x**2).sum(1) / (e**2).sum(1))
    mse = (e**2).mean(1)
    psnr = 10 * np.log10(2.0**2 / mse)  # data range of (-1, 1) is 2
    np.testing.assert_allclose(m["snr"].numpy(), snr, rtol=1e-6)
    np.testing.assert_allclose(m["mse"].numpy(), mse, rtol=1e-6)
    np.testing.assert_allclose(m["psnr"].numpy(), psnr, rtol=1e-5)


def test_missing_region_metrics_count_only_missing_pixels():
    clean = torch.zeros(2, 1, 8, 10) + 0.5
    mask = torch.ones(2, 1, 8, 10)
    mask[0, :, :, 3:5] = 0  # 2 of 10 columns missing in image 0; image 1 complete
    estimate = clean + 1.0  # error 1 on known pixels...
    estimate[mask == 0] = clean[mask == 0] + 0.25  # ...and 0.25 on missing ones
    m = image_metrics(estimate, clean, mask=mask, value_range=(0.0, 1.0))
    assert m["mse_missing"][0].item() == pytest.approx(0.0625)
    assert math.isnan(m["mse_missing"][1].item())
    assert m["snr_missing"][0].item() == pytest.approx(10 * math.log10(0.25 / 0.0625))
    assert m["psnr_missing"][0].item() == pytest.approx(10 * math.log10(1 / 0.0625))
    expected_mse0 = (0.0625 * 16 + 1.0 * 64) / 80
    assert m["mse"][0].item() == pytest.approx(expected_mse0)
    s = summarise(m)
    assert s["mse_missing"] == pytest.approx(0.0625)  # the NaN of image 1 is ignored
    assert isinstance(s["mse"], float)


def test_mask_broadcast_over_channels_and_low_res_mask_means_nothing_missing():
    clean = _rand(1, 3, 12, 12)
    estimate = clean * 0.9
    mask = torch.ones(1, 1, 12, 12)
    mask[..., 0] = 0
    m = image_metrics(estimate, clean, mask=mask)
    expected = ((estimate - clean)[..., 0] ** 2).double().mean().item()
    assert m["mse_missing"].item() == pytest.approx(expected)
    m = image_metrics(estimate, clean, mask=torch.ones(1, 3, 3, 3))  # down:4 mask of ones
    assert math.isnan(m["mse_missing"].item())


def test_ssim_is_defined_for_small_images():
    clean = _rand(2, 1, 8, 8)
    assert torch.allclose(image_metrics(clean, clean)["ssim"], torch.ones(2, dtype=torch.float64))
    worse = image_metrics(clean.flip(-1), clean)["ssim"]
    assert torch.all(worse < 0.9)
    assert torch.isnan(image_metrics(clean[..., :2, :2], clean[..., :2, :2])["ssim"]).all()


def test_zero_error_on_zero_signal_is_perfect_not_nan():
    zeros = torch.zeros(1, 1, 16, 16)
    assert image_metrics(zeros, zeros, value_range=(-1.0, 1.0))["snr"].item() == MAX_DB


def test_bad_input_is_one_sentence():
    with pytest.raises(GanreconError, match="shape"):
        image_metrics(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9))
    with pytest.raises(GanreconError, match="N x C x H x W"):
        image_metrics(torch.zeros(8, 8), torch.zeros(8, 8))
    with pytest.raises(GanreconError, match="NaN"):
        image_metrics(torch.full((1, 1, 8, 8), float("nan")), torch.zeros(1, 1, 8, 8))


def test_a_mask_on_the_observed_grid_of_down_s_is_scored_on_the_clean_grid():
    clean = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    estimate = clean.clone()
    estimate[..., 2:4] += 0.5            # the clean columns under low-resolution column 1
    low = torch.ones(2, 1, 4, 4)
    low[..., 1] = 0                      # down:2 then column 1 missing
    m = image_metrics(estimate, clean, low)
    assert torch.allclose(m["mse_missing"], torch.full((2,), 0.25, dtype=torch.float64))
    assert torch.allclose(m["mse"], torch.full((2,), 0.25 * 2 / 8, dtype=torch.float64))
    assert torch.isnan(image_metrics(estimate, clean, torch.ones(2, 1, 4, 4))["mse_missing"]).all()
    with pytest.raises(GanreconError, match="not a whole multiple"):
        image_metrics(estimate, clean, torch.ones(2, 1, 3, 3))


def test_ssim_in_float32_agrees_with_float64_far_below_reported_precision():
    from torchmetrics.functional.image import structural_similarity_index_measure

    torch.manual_seed(0)
    clean = torch.nn.functional.avg_pool2d(torch.rand(8, 1, 64, 64, dtype=torch.float64), 5, 1, 2)
    noisy = (clean + 0.02 * torch.randn_like(clean)).clamp(0, 1)
    exact = structural_similarity_index_measure(noisy, clean, gaussian_kernel=True, sigma=1.5, kernel_size=11,
                                                data_range=1.0, reduction="none")
    ssim = image_metrics(noisy, clean)["ssim"]
    assert ssim.dtype == torch.float64 and (ssim - exact).abs().max() < 1e-5
