from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganrecon.baselines import (
    BASELINES,
    Baseline,
    applicable_baselines,
    bm3d_installed,
    gaussian_psf,
    run_baseline,
)
from ganrecon.errors import GanreconError
from ganrecon.metrics import image_metrics


def _column_mask(shape, missing_columns):
    mask = torch.ones(shape)
    mask[..., list(missing_columns)] = 0
    return mask


def _snr(estimate, clean, mask=None, value_range=(-1.0, 1.0)):
    return image_metrics(estimate, clean, mask=mask, value_range=value_range)["snr"]


def test_zero_fill_snr_matches_missing_fraction():
    g = torch.Generator().manual_seed(0)
    clean = torch.randn(2, 1, 128, 256, generator=g) * 0.2
    for p in (0.5, 0.25):
        missing = torch.randperm(256, generator=g)[: int(p * 256)].tolist()
        mask = _column_mask(clean.shape, missing)
        est = run_baseline("zero-fill", clean * mask, mask, value_range=(-1.0, 1.0))
        snr = 10 * torch.log10(clean.pow(2).sum((1, 2, 3)) / (clean - est).pow(2).sum((1, 2, 3)))
        assert torch.allclose(snr, torch.full_like(snr, -10 * math.log10(p)), atol=0.3)


def test_linear_is_exact_on_data_linear_across_traces():
    h, w = torch.meshgrid(torch.arange(20.0), torch.arange(16.0), indexing="ij")
    clean = (0.01 * h - 0.02 * w + 0.3).expand(2, 1, 20, 16).clone()
    mask = _column_mask(clean.shape, [1, 2, 3, 7, 12, 13, 14])
    est = run_baseline("linear", clean * mask, mask, value_range=(-1.0, 1.0))
    torch.testing.assert_close(est, clean, atol=1e-6, rtol=0)
    # scattered missing pixels (not whole columns), interior in every row
    pix = torch.ones_like(clean)
    pix[:, :, torch.arange(20), (torch.arange(20) % 14) + 1] = 0
    est = run_baseline("linear", clean * pix, pix, value_range=(-1.0, 1.0))
    torch.testing.assert_close(est, clean, atol=1e-6, rtol=0)


def test_cubic_is_exact_on_cubic_polynomial_data():
    u = torch.linspace(-1, 1, 24)
    rows = torch.linspace(0.2, 1.0, 10)[:, None]
    clean = (rows * (0.5 * u**3 - 0.3 * u**2 + 0.1 * u) + 0.05)[None, None].double().float()
    mask = _column_mask(clean.shape, [2, 3, 4, 9, 10, 15, 16, 17, 18, 21])
    est = run_baseline("cubic", clean * mask, mask, value_range=(-1.0, 1.0))
    torch.testing.assert_close(est, clean, atol=1e-5, rtol=0)
    lin = run_baseline("linear", clean * mask, mask, value_range=(-1.0, 1.0))
    assert (lin - clean).abs().max() > 1e-3  # the test can tell cubic from linear


def test_nearest_and_constant_extension():
    row = torch.tensor([[[[0.0, 0.1, 0.0, 0.0, 0.4, 0.0, 0.0]]]])
    mask = torch.tensor([[[[0.0, 1, 0, 0, 1, 0, 0]]]])
    near = run_baseline("nearest", row, mask)
    torch.testing.assert_close(near, torch.tensor([[[[0.1, 0.1, 0.1, 0.4, 0.4, 0.4, 0.4]]]]))
    lin = run_baseline("linear", row, mask)
    torch.testing.assert_close(lin, torch.tensor([[[[0.1, 0.1, 0.2, 0.3, 0.4, 0.4, 0.4]]]]))


@pytest.mark.parametrize("name", ["zero-fill", "nearest", "linear", "cubic", "biharmonic", "fk"])
def test_mask_baselines_keep_known_pixels(name):
    g = torch.Generator().manual_seed(3)
    clean = torch.rand(2, 2, 16, 12, generator=g) * 2 - 1
    mask = (torch.rand(2, 1, 1, 12, generator=g) > 0.4).float().expand(2, 2, 16, 12)
    est = run_baseline(name, clean * mask, mask, value_range=(-1.0, 1.0))
    assert est.shape == clean.shape and est.dtype == torch.float32 and est.device == clean.device
    known = mask.bool()
    torch.testing.assert_close(est[known], clean[known])


def _ricker(t, f):
    a = (np.pi * f * t) ** 2
    return (1 - 2 * a) * np.exp(-a)


def test_fk_beats_zero_fill_on_a_synthetic_gather():
    rng = np.random.default_rng(0)
    t = np.arange(64)[:, None] * 0.004
    x = np.arange(32)[None, :]
    d = (_ricker(t - 0.06 - 0.002 * x, 25) - 0.7 * _ricker(t - 0.15 + 0.003 * x, 20)
         + 0.5 * _ricker(t - np.sqrt(0.18**2 + (0.003 * (x - 10)) ** 2), 30))
    clean = torch.tensor(d / np.abs(d).max(), dtype=torch.float32)[None, None]
    missing = rng.permutation(32)[:16]
    mask = _column_mask(clean.shape, missing.tolist())
    zero = _snr(run_baseline("zero-fill", clean * mask, mask, value_range=(-1.0, 1.0)), clean).item()
    fk = _snr(run_baseline("fk", clean * mask, mask, value_range=(-1.0, 1.0)), clean).item()
    assert zero == pytest.approx(3.0, abs=1.5)
    assert fk > zero + 10
    # regular x2 decimation: aliases are as strong as the events; the dip cone is what makes FK work here
    mask = _column_mask(clean.shape, range(1, 32, 2))
    fk = _snr(run_baseline("fk", clean * mask, mask, value_range=(-1.0, 1.0)), clean).item()
    no_cone = _snr(run_baseline("fk", clean * mask, mask, value_range=(-1.0, 1.0), max_dip=None), clean).item()
    assert no_cone == pytest.approx(zero, abs=1.5) and fk > no_cone + 10
    with pytest.raises(GanreconError, match="max_dip"):
        run_baseline("fk", clean * mask, mask, value_range=(-1.0, 1.0), max_dip=-1)


def test_adaptive_median_removes_isolated_impulses_exactly():
    # piecewise-constant stripes (>= 3 px wide), values strictly inside (0, 1)
    widths = [4, 3, 6, 5, 6]
    values = [0.2, 0.7, 0.45, 0.9, 0.3]
    row = np.concatenate([[v] * k for v, k in zip(values, widths)])
    clean = torch.tensor(np.tile(row, (20, 1)), dtype=torch.float32)[None, None]
    noisy = clean.clone()
    rng = np.random.default_rng(1)
    for i in range(1, 20, 4):
        for j in range(1, 24, 4):  # impulses >= 3 px apart
            noisy[0, 0, i + rng.integers(0, 2), j + rng.integers(0, 2)] = float(rng.integers(0, 2))
    assert (noisy != clean).sum() > 20
    est = run_baseline("adaptive-median", noisy, None)
    torch.testing.assert_close(est, clean)
    # pixels that are not impulses are never touched, even where a 3x3 median would change them
    corner = clean.clone()
    corner[..., :2, :2] = 0.55
    torch.testing.assert_close(run_baseline("adaptive-median", corner, None), corner)
    assert not torch.equal(run_baseline("median3", corner, None), corner)


def _smooth(h: int, w: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return (0.2 + 0.3 * yy + 0.2 * xx + 0.1 * torch.sin(6 * xx))[None, None]  # strictly inside (0, 1)


@pytest.mark.parametrize("name", ["switching-median", "impulse-biharmonic"])
def test_impulse_filters_remove_isolated_impulses_where_they_are(name):
    clean = _smooth(24, 30).expand(2, 2, 24, 30).clone()
    noisy = clean.clone()
    g = torch.Generator().manual_seed(3)
    where = torch.rand(clean.shape, generator=g) < 0.05
    noisy[where] = (torch.rand(clean.shape, generator=g) < 0.5).float()[where]
    est = run_baseline(name, noisy, None)
    assert torch.equal(est[~where], clean[~where])  # non-candidates untouched, bit for bit
    err = (est - clean).abs()[where]
    assert err.max() < 0.05 and err.mean() < 0.015  # each impulse replaced by its smooth neighbourhood
    assert (noisy - clean).abs()[where].mean() > 0.3


def test_switching_median_is_the_median_of_the_clean_neighbours():
    img = torch.tensor([[0.1, 0.2, 0.3, 0.4],
                        [0.5, 1.0, 0.6, 0.0],
                        [0.7, 0.8, 0.9, 0.25]])[None, None]
    est = run_baseline("switching-median", img, None)
    # (1, 1): 3x3 neighbours without the candidates 1.0 and 0.0 -> 0.1 0.2 0.3 0.5 0.6 0.7 0.8 0.9 -> (0.5+0.6)/2
    assert est[0, 0, 1, 1].item() == pytest.approx(0.55)
    # (1, 3) at the border: window cut by the image -> 0.3 0.4 0.6 0.9 0.25 -> 0.4
    assert est[0, 0, 1, 3].item() == pytest.approx(0.4)
    others = torch.ones_like(img, dtype=torch.bool)
    others[0, 0, 1, 1] = others[0, 0, 1, 3] = False
    assert torch.equal(est[others], img[others])


def test_switching_median_keeps_saturated_blocks_and_grows_its_window():
    img = _smooth(40, 40).clone()
    img[..., 5:15, 5:15] = 1.0  # a 10 x 10 saturated highlight: larger than 7 x 7
    img[..., 25:30, 25:30] = 0.0  # a 5 x 5 black block: its centre needs the 7 x 7 window
    est = run_baseline("switching-median", img, None)
    assert torch.equal(est[..., 8:12, 8:12], img[..., 8:12, 8:12])  # nothing clean within 3 px: kept
    assert (est[..., 5:15, 5:15] < 1.0).any()  # its rim is replaced (clean entries within reach)
    assert 0.0 < est[0, 0, 27, 27].item() < 1.0
    assert torch.equal(run_baseline("switching-median", torch.ones(1, 1, 9, 9), None), torch.ones(1, 1, 9, 9))
    assert torch.equal(run_baseline("impulse-biharmonic", torch.ones(1, 1, 9, 9), None), torch.ones(1, 1, 9, 9))


def test_median_shapes_and_impulse_removal():
    clean = torch.full((3, 2, 17, 13), 0.5)
    noisy = clean.clone()
    noisy[..., 0::4, 1::4] = 1.0  # isolated impulses, also on the border rows
    noisy[..., 2::4, 3::4] = 0.0
    for name in ("median3", "median5"):
        est = run_baseline(name, noisy, torch.ones_like(noisy))
        assert est.shape == clean.shape and est.dtype == torch.float32
        assert (est - clean).abs().max() < 1e-6


def test_gaussian_denoisers_reduce_error():
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    clean = (0.3 + 0.4 * (xx > 0.5).float() + 0.2 * yy).expand(2, 1, 32, 32).clone()
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=g)
    base = image_metrics(noisy.clamp(0, 1), clean)["mse"]
    for name in ("tv", "nlm"):
        est = run_baseline(name, noisy, None)
        assert torch.all(image_metrics(est, clean)["mse"] < 0.5 * base), name


def test_bicubic_upsamples_by_scale_and_clamps():
    low = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    est = run_baseline("bicubic", low, torch.ones_like(low), scale=4)
    assert est.shape == (2, 1, 32, 32)
    assert est.min() >= 0 and est.max() <= 1


def test_deconvolution_sharpens_a_blurred_image():
    from scipy.ndimage import convolve

    clean = np.zeros((32, 32))
    clean[8:24, 8:24] = 0.8
    clean[12:20, 14:18] = 0.2
    psf = gaussian_psf(1.5)
    blurred = torch.tensor(convolve(clean, psf, mode="reflect"), dtype=torch.float32)[None, None]
    target = torch.tensor(clean, dtype=torch.float32)[None, None]
    base = image_metrics(run_baseline("identity", blurred, None), target)["mse"].item()
    for name in ("wiener", "richardson-lucy"):
        est = run_baseline(name, blurred, None, psf=psf)
        assert est.shape == blurred.shape
        assert image_metrics(est, target)["mse"].item() < 0.8 * base, name


class _Deg:
    def __init__(self, families):
        self.families = set(families)


def test_applicable_baselines():
    def names(deg, vr):
        return [b.name for b in applicable_baselines(deg, vr)]

    assert "fk" not in names(_Deg({"mask"}), (0.0, 1.0))
    assert {"zero-fill", "linear", "cubic", "biharmonic", "fk"} <= set(names(_Deg({"mask"}), (-1.0, 1.0)))
    mixed = names(_Deg({"mask", "noise"}), (0.0, 1.0))  # keep-first:400+gauss:0.05
    assert "zero-fill" in mixed and "biharmonic" in mixed and "median3" not in mixed
    assert names(_Deg({"down", "noise"}), (0.0, 1.0)) == ["bicubic"]
    optional = {"bm3d"} if bm3d_installed() else set()
    assert {"noisy", "median3", "median5", "adaptive-median", "switching-median", "impulse-biharmonic",
                            "tv", "nlm"} | optional == set(
        names(_Deg({"noise"}), (0.0, 1.0)))
    assert {"identity", "wiener", "richardson-lucy"} == set(names({"blur"}, (0.0, 1.0)))
    assert all(isinstance(b, Baseline) for b in BASELINES.values())


def test_unknown_baseline_or_option_is_one_sentence():
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(GanreconError, match="Unknown baseline 'magic'"):
        run_baseline("magic", x, x)
    with pytest.raises(GanreconError, match="option"):
        run_baseline("median3", x, x, psf=np.ones((3, 3)))
    with pytest.raises(GanreconError, match="N x C x H x W"):
        run_baseline("linear", torch.zeros(4, 4), None)
