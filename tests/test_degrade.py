"""Behaviour of the forward operators: exact patterns, seeding, noise statistics, shapes, turbulence, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganrecon.degrade import (
    DEGRADATION_SPECS,
    Degradation,
    parse_degradation,
    turbulence_mean_psf,
)
from ganrecon.errors import GanreconError


def _images(n=4, c=1, h=28, w=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g) * 0.8 + 0.1  # strictly inside (0, 1): no true zeros


def _smooth_images(n=2, c=3, h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, h // 4, w // 4, generator=g)
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


def _one_sentence(msg: str) -> bool:
    return "\n" not in msg and msg.endswith(".") and len(re.findall(r"[.!?]\s+[A-Z]", msg)) == 0


# ------------------------------------------------------------------------------------------------ masks

def test_columns_random_exact_whole_columns_independent_per_image():
    x = _images(n=8, c=2, h=16, w=40)
    obs, mask = parse_degradation("columns:random:0.3")(x, generator=torch.Generator().manual_seed(5))
    assert mask.shape == x.shape and mask.dtype == torch.float32
    # whole columns: identical down each column and across channels
    assert torch.equal(mask, mask[:, :1, :1, :].expand_as(mask))
    missing = (mask[:, 0, 0, :] == 0).sum(1)
    assert missing.tolist() == [round(0.3 * 40)] * 8
    patterns = {tuple(mask[i, 0, 0].int().tolist()) for i in range(8)}
    assert len(patterns) > 1  # drawn independently per image
    assert torch.all(obs[mask == 0] == 0) and torch.equal(obs[mask == 1], x[mask == 1])


def test_columns_regular_keeps_every_kth_column_from_zero():
    x = _images(w=23)
    _, mask = parse_degradation("columns:regular:3")(x)
    kept = torch.nonzero(mask[0, 0, 0]).flatten().tolist()
    assert kept == list(range(0, 23, 3))
    assert torch.equal(mask, mask[:, :, :1, :].expand_as(mask))


def test_columns_gap_is_one_contiguous_run_of_w():
    x = _images(n=16, h=8, w=30)
    _, mask = parse_degradation("columns:gap:7")(x, generator=1)
    starts = set()
    for i in range(16):
        cols = mask[i, 0, 0]
        missing = torch.nonzero(cols == 0).flatten()
        assert len(missing) == 7
        assert torch.equal(missing, torch.arange(missing[0], missing[0] + 7))
        assert 0 < missing[0] and missing[-1] < 29  # an interior gap: observed columns on both sides
        assert torch.all(mask[i] == cols)
        starts.add(int(missing[0]))
    assert len(starts) > 1
    with pytest.raises(GanreconError, match="only 30 wide"):
        parse_degradation("columns:gap:30")(x)


def test_keep_first_matches_numpy_fortran_order():
    h, w, n_keep = 28, 28, 400
    x = _images(n=2, c=3, h=h, w=w)
    obs, mask = parse_degradation(f"keep-first:{n_keep}")(x)
    flat = np.zeros(h * w)
    flat[:n_keep] = 1
    expected = flat.reshape((h, w), order="F")
    for i in range(2):
        for ch in range(3):
            np.testing.assert_array_equal(mask[i, ch].numpy(), expected)
    # the observed entries, read column-major, are exactly the first N of the clean image
    np.testing.assert_array_equal(obs[0, 0].numpy().flatten(order="F")[:n_keep],
                                  x[0, 0].numpy().flatten(order="F")[:n_keep])
    assert torch.all(obs[mask == 0] == 0)
    # non-square: column-major over H x W, not W x H
    _, m2 = parse_degradation("keep-first:11")(_images(h=4, w=6))
    np.testing.assert_array_equal(m2[0, 0].numpy(),
                                  (np.arange(24) < 11).astype(float).reshape((4, 6), order="F"))
    with pytest.raises(GanreconError, match="only 784 pixels"):
        parse_degradation("keep-first:785")(x)


def test_pixels_random_exact_count_same_for_all_channels():
    x = _images(n=5, c=3, h=10, w=12)
    _, mask = parse_degradation("pixels:random:0.25")(x, generator=2)
    assert torch.equal(mask, mask[:, :1].expand_as(mask))
    assert (mask[:, 0] == 0).flatten(1).sum(1).tolist() == [30] * 5


def test_same_seed_same_mask_different_seed_different():
    x = _images(n=3)
    for spec in ("columns:random:0.5", "columns:gap:5", "pixels:random:0.4", "sp:0.2", "gauss:0.1",
                 "turbulence:1.0"):
        op = parse_degradation(spec)
        a = op(x, generator=torch.Generator().manual_seed(7))
        b = op(x, generator=torch.Generator().manual_seed(7))
        c = op(x, generator=torch.Generator().manual_seed(8))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), spec
        assert not torch.equal(a[0], c[0]), spec
        # None means the fixed default seed 0, and an int seed works like a seeded generator
        assert torch.equal(op(x)[0], op(x, generator=0)[0]), spec


# ------------------------------------------------------------------------------------------------ noise

def test_salt_and_pepper_fraction_and_salt_ratio():
    x = _images(n=6, c=2, h=32, w=32)
    obs, mask = parse_degradation("sp:0.15:0.3")(x, generator=3)
    assert torch.all(mask == 1)
    changed = obs != x
    salt, pepper = obs == 1.0, obs == 0.0
    assert torch.equal(changed, salt | pepper)
    per_image = changed.flatten(1).float().mean(1)
    assert torch.allclose(per_image, torch.full((6,), 0.15), atol=1.0 / (2 * 32 * 32))
    ratio = salt.sum() / changed.sum()
    assert abs(float(ratio) - 0.3) < 0.01
    # signed data: salt and pepper are the ends of the value range
    obs_s, _ = parse_degradation("sp:0.5")(x * 2 - 1, value_range=(-1.0, 1.0))
    impulses = obs_s[obs_s != x * 2 - 1]
    assert set(impulses.unique().tolist()) == {-1.0, 1.0}
    assert abs(float((impulses == 1).float().mean()) - 0.5) < 0.01


def test_gauss_std_scales_with_range_and_is_unclipped_by_default():
    x = torch.full((4, 1, 64, 64), 0.02)
    obs, mask = parse_degradation("gauss:0.1")(x, generator=4)
    noise = obs - x
    assert abs(float(noise.std()) - 0.1) < 0.005 and abs(float(noise.mean())) < 0.005
    assert obs.min() < 0  # not clipped: noise stays zero-mean
    assert torch.all(mask == 1)
    signed, _ = parse_degradation("gauss:0.1")(torch.zeros(4, 1, 64, 64), value_range=(-1.0, 1.0))
    assert abs(float(signed.std()) - 0.2) < 0.01  # sigma is relative to the range width
    clipped, _ = parse_degradation("gauss:0.1:clip=1")(x, generator=4)
    assert clipped.min() >= 0 and clipped.max() <= 1


# ------------------------------------------------------------------------------------------------ down

def test_down_shapes_bicubic_and_divisibility_error():
    x = _images(n=2, c=3, h=32, w=16)
    for s in (2, 4, 8):
        op = parse_degradation(f"down:{s}")
        obs, mask = op(x)
        assert obs.shape == (2, 3, 32 // s, 16 // s) and mask.shape == obs.shape
        assert torch.all(mask == 1) and op.scale == s and op.families == {"down"}
        ref = F.interpolate(x, scale_factor=1 / s, mode="bicubic", antialias=True).clamp(0, 1)
        assert torch.allclose(obs, ref, atol=1e-6)
    with pytest.raises(GanreconError, match="divisible by 8"):
        parse_degradation("down:8")(_images(h=28, w=28))


# ------------------------------------------------------------------------------------------------ turbulence

def test_turbulence_changes_image_keeps_mean_deterministic_and_grows_with_strength():
    x = _smooth_images()
    errors = []
    for strength in (0.5, 1.0, 2.0):
        op = parse_degradation(f"turbulence:{strength}")
        obs, mask = op(x, generator=9)
        assert obs.shape == x.shape and torch.all(mask == 1) and op.families == {"blur"}
        assert abs(float(obs.mean() - x.mean())) < 0.01
        assert obs.min() >= 0 and obs.max() <= 1
        assert torch.equal(obs, op(x, generator=9)[0])
        errors.append(float((obs - x).pow(2).mean()))
    assert errors[0] > 1e-4
    assert errors[0] < errors[1] < errors[2]
    # options are honoured: no tilt and no blur leaves the image untouched
    still, _ = parse_degradation("turbulence:1:tilt=0,blur=0")(x)
    assert torch.allclose(still, x, atol=1e-5)


@pytest.mark.parametrize("n, h, w, corr", [(3, 48, 48, 8.0), (2, 20, 33, 2.0), (2, 230, 40, 8.0)])
def test_the_turbulence_fields_banded_products_equal_the_valid_convolution(n, h, w, corr):
    """The smooth field is filtered by matrix products on small canvases and by convolution on large ones (the
    last case): both are the same 'valid' Gaussian filter of the same noise, to float32 round-off."""
    from ganrecon.degrade import _gauss_kernel1d, _smooth_field

    field = _smooth_field(n, h, w, corr, torch.Generator().manual_seed(4), "cpu")
    k = _gauss_kernel1d(corr)
    r = (k.numel() - 1) // 2
    noise = torch.randn((n, 1, h + 2 * r, w + 2 * r), generator=torch.Generator().manual_seed(4))
    expected = F.conv2d(F.conv2d(noise, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))[:, 0] / float(k.square().sum())
    assert field.shape == (n, h, w)
    assert torch.allclose(field, expected, atol=1e-5)


@pytest.mark.parametrize("h, w, corr", [(48, 48, 8.0), (20, 33, 2.0)])
def test_factored_turbulence_fields_have_the_filtered_noises_covariance(h, w, corr):
    """fields=factored draws small fields as S_h Z S_w^T: S S^T is the normalised covariance of the 'valid'-filtered
    noise (to round-off), and the drawn fields show it (unit variance, the filter's autocorrelation)."""
    from ganrecon.degrade import _covariance_root, _gauss_kernel1d, _smooth_field, _valid_filter_matrix

    k = _gauss_kernel1d(corr).double()
    for size in (h, w):
        filt = _valid_filter_matrix(k, size)
        root = _covariance_root(corr, size).double()
        assert torch.allclose(root @ root.T, filt @ filt.T / float(k.square().sum()), atol=1e-5)
    field = _smooth_field(3000, h, w, corr, torch.Generator().manual_seed(4), "cpu", factored=True).double()
    assert field.shape == (3000, h, w)
    assert float(field.var()) == pytest.approx(1.0, abs=0.03)
    for lag in (1, 4, 8):
        expected = float((k[: k.numel() - lag] * k[lag:]).sum() / k.square().sum())
        assert float((field[:, :, :-lag] * field[:, :, lag:]).mean()) == pytest.approx(expected, abs=0.03)
        assert float((field[:, :-lag] * field[:, lag:]).mean()) == pytest.approx(expected, abs=0.03)


def test_factored_turbulence_is_another_draw_of_the_same_degradation():
    x = _ramp_images(False)
    padded = parse_degradation("turbulence:1:frames=3")(x, generator=5)[0]
    factored = parse_degradation("turbulence:1:frames=3,fields=factored")(x, generator=5)[0]
    again = parse_degradation("turbulence:1:fields=factored,frames=3")(x, generator=5)[0]
    assert factored.shape == padded.shape == (3, 6, 16, 16) and torch.equal(factored, again)
    assert not torch.allclose(factored, padded, atol=1e-3)
    assert float(factored.mean()) == pytest.approx(float(padded.mean()), abs=0.01)
    with pytest.raises(GanreconError, match="must be padded or factored"):
        parse_degradation("turbulence:1:fields=fast")


@pytest.mark.parametrize("shape, sigma", [((3, 2, 48, 40), 1.5), ((1, 1, 4, 9), 1.5), ((1, 1, 200, 30), 1.0)])
def test_gaussian_blur_by_matrix_products_equals_the_replicate_padded_convolution(shape, sigma):
    """Small images are blurred by matrix products with the borders folded in (a 4-pixel side is shorter than the
    kernel), large ones (the last case) by convolution: both equal the replicate-padded separable filter."""
    from ganrecon.degrade import _gauss_kernel1d, gaussian_blur

    x = torch.rand(shape, generator=torch.Generator().manual_seed(2))
    k = _gauss_kernel1d(sigma)
    r = (k.numel() - 1) // 2
    y = x.reshape(-1, 1, *shape[-2:])
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    assert torch.allclose(gaussian_blur(x, sigma), y.reshape(shape), atol=1e-6)


def test_turbulence_mean_psf_matches_average_response_to_a_point():
    psf = turbulence_mean_psf(1.0, size=21)
    assert psf.shape == (21, 21) and abs(psf.sum() - 1) < 1e-9
    np.testing.assert_allclose(psf, psf.T, atol=1e-12)
    assert turbulence_mean_psf(2.0, size=21)[10, 10] < psf[10, 10]  # stronger -> wider
    assert turbulence_mean_psf(1.0, include_tilt=False, size=21)[10, 10] > psf[10, 10]
    delta = torch.zeros(200, 1, 21, 21)
    delta[:, :, 10, 10] = 1
    response, _ = parse_degradation("turbulence:1.0")(delta, generator=11)
    mean = response.mean(0)[0].double().numpy()
    mean /= mean.sum()
    assert np.abs(mean - psf).sum() < 0.15


# ------------------------------------------------------------------------------------------------ compose

def test_composition_keep_first_plus_gauss():
    x = _images(n=3, c=1, h=28, w=28)
    op = parse_degradation("keep-first:400+gauss:0.05")
    assert op.families == {"mask", "noise"} and op.family == "mask" and op.scale == 1
    assert op.spec == "keep-first:400+gauss:0.05"
    assert "KeepFirst" in repr(op) and "Gauss" in repr(op)
    obs, mask = op(x, generator=5)
    _, mask_only = parse_degradation("keep-first:400")(x)
    assert torch.equal(mask, mask_only)
    assert torch.all(obs[mask == 0] == 0)  # noise never lands on missing entries
    noise = (obs - x)[mask == 1]
    assert noise.numel() == 3 * 400 and abs(float(noise.std()) - 0.05) < 0.005
    # the same composition built in Python
    assert torch.equal((parse_degradation("keep-first:400") + "gauss:0.05")(x, generator=5)[0], obs)


def test_composition_order_rules():
    x = _images(n=2, h=28, w=28)
    obs, mask = parse_degradation("down:2+columns:random:0.5")(x)
    assert obs.shape == mask.shape == (2, 1, 14, 14)
    assert (mask[:, 0, 0] == 0).sum(1).tolist() == [7, 7]
    assert parse_degradation("down:4+gauss:0.01").scale == 4
    assert parse_degradation("down:4+gauss:0.01").family == "down"
    for bad in ("columns:random:0.5+down:2", "pixels:random:0.2+turbulence:1", "down:2+down:2"):
        with pytest.raises(GanreconError) as err:
            parse_degradation(bad)
        assert _one_sentence(str(err.value)), str(err.value)


# ------------------------------------------------------------------------------------------------ user masks

def test_user_mask_from_npy_and_png(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    m = (rng.random((12, 10)) > 0.4).astype(np.uint8)
    np.save(tmp_path / "m.npy", m * 3)  # any nonzero value means observed
    Image.fromarray(m * 255).save(tmp_path / "m.png")
    x = _images(n=2, c=3, h=12, w=10)
    for name in ("m.npy", "m.png"):
        obs, mask = parse_degradation(f"mask:{tmp_path / name}")(x)
        for i in range(2):
            for ch in range(3):
                np.testing.assert_array_equal(mask[i, ch].numpy(), m)
        assert torch.all(obs[mask == 0] == 0)
    # a path containing "+" stays whole, and composes
    np.save(tmp_path / "a+b.npy", m)
    op = parse_degradation(f"mask:{tmp_path / 'a+b.npy'}+gauss:0.01")
    assert op.families == {"mask", "noise"}
    with pytest.raises(GanreconError, match="12x10 but the images are 28x28"):
        parse_degradation(f"mask:{tmp_path / 'm.npy'}")(_images())


def test_user_mask_refuses_pickles_and_missing_files(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "m.txt").write_text("1 0")
    for spec in (f"mask:{tmp_path / 'obj.npy'}", f"mask:{tmp_path / 'nope.npy'}", f"mask:{tmp_path / 'm.txt'}"):
        with pytest.raises(GanreconError) as err:
            parse_degradation(spec)
        assert _one_sentence(str(err.value)), str(err.value)


# ------------------------------------------------------------------------------------------------ parsing

@pytest.mark.parametrize("spec", [
    "", "   ", "blur:3", "columns", "columns:random", "columns:random:1", "columns:random:-0.1",
    "columns:random:abc", "columns:diagonal:2", "columns:regular:1", "columns:regular:2.5", "columns:gap:0",
    "keep-first:0", "keep-first:x", "pixels:random:1.5", "pixels:all:0.5", "mask:", "gauss", "gauss:-0.1",
    "gauss:nan", "gauss:0.1:clip=maybe", "gauss:0.1:foo=1", "sp:1.5", "sp:0.1:2", "sp:0.1:0.5:9", "down:3",
    "down:two", "turbulence:0", "turbulence:-1", "turbulence:1:corr=0", "turbulence:1:wind=3",
    "turbulence:1:corr", "gauss:0.1+", "+gauss:0.1", "gauss:0.1++sp:0.1", "gauss:0.1+unknown:1",
])
def test_bad_specs_raise_one_sentence(spec):
    with pytest.raises(GanreconError) as err:
        parse_degradation(spec)
    assert _one_sentence(str(err.value)), str(err.value)


def test_spec_table_and_objects():
    for key, help_text in DEGRADATION_SPECS.items():
        assert help_text.startswith(key) and "\n" not in help_text
    op = parse_degradation("columns:random:0.5")
    assert isinstance(op, Degradation) and op.spec == "columns:random:0.5" and op.family == "mask"
    assert repr(op) == "ColumnsRandom(fraction=0.5)"
    with pytest.raises(GanreconError, match="N x C x H x W"):
        op(torch.rand(28, 28))


# --------------------------------------------------------------------------------------------------- device, grid


def _ramp_images(signed: bool) -> torch.Tensor:
    """A deterministic 3 x 2 x 16 x 16 batch made without a random generator."""
    t = torch.arange(3 * 2 * 16 * 16, dtype=torch.float32).reshape(3, 2, 16, 16)
    x = torch.sin(t * 0.37) * torch.cos(t * 0.011)
    return x if signed else (x + 1) / 2


def _digest(t: torch.Tensor) -> str:
    import hashlib

    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]


def _three_draws(spec: str, x: torch.Tensor, value_range, device=None):
    """(observed, mask) for seed 7, for a seeded generator advanced by one call (as in training), and for None."""
    d = parse_degradation(spec)
    first = d(x, value_range=value_range, generator=7)
    g = torch.Generator(device=device or "cpu").manual_seed(11)
    d(x, value_range=value_range, generator=g)
    second = d(x, value_range=value_range, generator=g)
    return [first, second, d(x, value_range=value_range)]


# Digests (sha256, first 16 hex) of observed / mask for seed 7, a generator advanced by one call, and no
# generator, recorded before degradations moved to the input's device; sums for the float-heavy parts.
_BEFORE = {
    ('columns:random:0.5', False): ('57286507c5446d99 58c9a5ca7cc33fa9 9ff43181c96c2864 9670f27c3871b532 d6c16adf42c0a17a 44043e58825a10e5',
        (385.454026818, 384.008290112, 383.403430015)),
    ('columns:random:0.5', True): ('7084630186557811 58c9a5ca7cc33fa9 2048b49159d02d64 9670f27c3871b532 3c2847e67c2444ec 44043e58825a10e5',
        (2.908053908, 0.01658009, -1.193139742)),
    ('columns:regular:2', False): ('8f5670de20347500 391e1c5cb7a1dbc5 8f5670de20347500 391e1c5cb7a1dbc5 8f5670de20347500 391e1c5cb7a1dbc5',
        (384.449820966, 384.449820966, 384.449820966)),
    ('columns:regular:2', True): ('eec9002bf278582d 391e1c5cb7a1dbc5 eec9002bf278582d 391e1c5cb7a1dbc5 eec9002bf278582d 391e1c5cb7a1dbc5',
        (0.899642412, 0.899642412, 0.899642412)),
    ('columns:gap:3', False): ('8cb52f3e413bcff9 62de2b6999558413 efbd2024a2f5d789 0d864c72d7ec9427 a2f9967ee239a63e 0ba6a9c79136ba4b',
        (623.566203445, 626.414031297, 623.308816135)),
    ('columns:gap:3', True): ('c2b8156f04e1dbcd 62de2b6999558413 89ae1670fe8ccce7 0d864c72d7ec9427 3a7c8cb14f58257f 0ba6a9c79136ba4b',
        (-0.867592895, 4.828063102, -1.382367197)),
    ('keep-first:100', False): ('b1a5fc92b709ced5 cd6a55a2f278fb21 b1a5fc92b709ced5 cd6a55a2f278fb21 b1a5fc92b709ced5 cd6a55a2f278fb21',
        (296.725508273, 296.725508273, 296.725508273)),
    ('keep-first:100', True): ('3472f7d482580afb cd6a55a2f278fb21 3472f7d482580afb cd6a55a2f278fb21 3472f7d482580afb cd6a55a2f278fb21',
        (-6.548983987, -6.548983987, -6.548983987)),
    ('pixels:random:0.3', False): ('1dbf3074a8c3da9d 7cd2f6da2c12065b 91ae224791b96cf0 1631d3ac4f52a24e af3511690cd9119f 798091b26311c46a',
        (540.228641957, 536.282394201, 537.493664145)),
    ('pixels:random:0.3', True): ('c95ee581dcb4b53a 7cd2f6da2c12065b c658876e75190024 1631d3ac4f52a24e 6fbd840c88105dd2 798091b26311c46a',
        (6.457284486, -1.435211144, 0.987327914)),
    ('gauss:0.1', False): ('aaacd56520ee0d53 4fcbec4ade9b5fcf d4602ef300fc2b6d 4fcbec4ade9b5fcf 20db38748bd578ce 4fcbec4ade9b5fcf',
        (772.703701054, 765.258998616, 775.420926296)),
    ('gauss:0.1', True): ('8e68156e3a3ff63f 4fcbec4ade9b5fcf e2c663910af2c016 4fcbec4ade9b5fcf cb9091f61b6faa5b 4fcbec4ade9b5fcf',
        (9.407401867, -5.482001226, 14.841853425)),
    ('gauss:0.1:clip=1', False): ('411e56bed1d45a0a 4fcbec4ade9b5fcf 7ad8e2b5dea4581f 4fcbec4ade9b5fcf 0b8a5bddf809685a 4fcbec4ade9b5fcf',
        (772.747604356, 764.107658299, 774.166378877)),
    ('gauss:0.1:clip=1', True): ('718c9402b623ba69 4fcbec4ade9b5fcf a7849824ea760c7a 4fcbec4ade9b5fcf 3f3702f049fe8602 4fcbec4ade9b5fcf',
        (9.495208569, -7.784682553, 12.332758352)),
    ('sp:0.2', False): ('58c859251f274464 4fcbec4ade9b5fcf d97c9bf2831e3786 4fcbec4ade9b5fcf 2d75c1e89cedc1ec 4fcbec4ade9b5fcf',
        (768.520532876, 765.708702534, 769.865663856)),
    ('sp:0.2', True): ('743dcb778547ee9e 4fcbec4ade9b5fcf 7befd76e29b681b0 4fcbec4ade9b5fcf 77026c3a7c710a94 4fcbec4ade9b5fcf',
        (1.041065967, -4.582594738, 3.731327208)),
    ('keep-first:100+gauss:0.05', False): ('9d7765ceb1d110f7 cd6a55a2f278fb21 24b2bb4683b45fe9 cd6a55a2f278fb21 4bb44dbea283b19c cd6a55a2f278fb21',
        (297.634628508, 295.460479835, 297.882374727)),
    ('keep-first:100+gauss:0.05', True): ('ae1c5f08d46126cf cd6a55a2f278fb21 2a323ec82e43080d cd6a55a2f278fb21 2871b7968e9ba65d cd6a55a2f278fb21',
        (-4.730743417, -9.079041773, -4.235251864)),
    ('pixels:random:0.2+sp:0.1', False): ('ee129dd763f6e3d0 a6f141ec0470fb11 37cafdeafb304737 a4ca473bf7aa3e43 4fac68cf174a171b 63f1dae62e09ecd9',
        (617.029565215, 613.176096976, 617.977168024)),
    ('pixels:random:0.2+sp:0.1', True): ('b11e763698f19c25 a6f141ec0470fb11 0614260be2d9a16e a4ca473bf7aa3e43 8817ad70a915d14a 63f1dae62e09ecd9',
        (4.059130243, -3.647806093, 5.954335846)),
    ('down:2', False): ('594b7e980168e3d2 702cc37cfd91cac6 594b7e980168e3d2 702cc37cfd91cac6 594b7e980168e3d2 702cc37cfd91cac6',
        (192.240535956, 192.240535956, 192.240535956)),
    ('down:2', True): ('9a7249d6f73be67c 702cc37cfd91cac6 9a7249d6f73be67c 702cc37cfd91cac6 9a7249d6f73be67c 702cc37cfd91cac6',
        (0.481065547, 0.481065547, 0.481065547)),
    ('turbulence:1.0', False): ('823bfd8fa6ead4ca 4fcbec4ade9b5fcf f0c77297f62e8a33 4fcbec4ade9b5fcf 1614f4f89db214e5 4fcbec4ade9b5fcf',
        (767.465331126, 768.936015803, 767.742020816)),
    ('turbulence:1.0', True): ('9cd113c715ac2a8d 4fcbec4ade9b5fcf 3c1e1122a20c86da 4fcbec4ade9b5fcf c0c2c4ddcc1a03f9 4fcbec4ade9b5fcf',
        (-1.069287777, 1.872074499, -0.515938196)),
    ('down:2+columns:random:0.5', False): ('4b4de0d6f167651b fab0a96349cb3ae2 50eb9dad3c7daf94 f367cd4576f0dd1f 5c587893efcb7190 fee4505c36b20495',
        (95.640492337, 96.497217609, 95.58212634)),
    ('down:2+columns:random:0.5', True): ('a011975a0376fe5f fab0a96349cb3ae2 b3307468208b4304 f367cd4576f0dd1f 563b0d775a205896 fee4505c36b20495',
        (-0.719017178, 0.994433327, -0.835752445)),
    ('turbulence:0.5+pixels:random:0.2', False): ('4e6224fa78f20933 1c7f25b292d1c3f0 19e43e6fcf369892 e44089ac3f0f0b50 49d4b28219ebe969 4e0d1894d7845499',
        (614.788514076, 614.921758391, 614.930236345)),
    ('turbulence:0.5+pixels:random:0.2', True): ('35dde418dbd54e02 1c7f25b292d1c3f0 4b4a4a10ca02c33e e44089ac3f0f0b50 73efa4cc625dd379 4e0d1894d7845499',
        (-0.4229464, -0.156470263, -0.139489716)),
}


@pytest.mark.parametrize("spec, signed", list(_BEFORE))
def test_cpu_degradations_are_bit_identical_to_before_they_followed_the_device(spec, signed):
    """Exact resume relies on the same seed giving the same degradation: the random draws (masks, noise) are
    bit-identical to the recorded ones; resampling and turbulence outputs agree to float32 round-off."""
    digests, sums = _BEFORE[spec, signed]
    digests = digests.split()
    draws = _three_draws(spec, _ramp_images(signed), (-1.0, 1.0) if signed else (0.0, 1.0))
    for k, (observed, mask) in enumerate(draws):
        assert observed.device.type == "cpu" and mask.device.type == "cpu"
        assert _digest(mask) == digests[2 * k + 1], (spec, k)
        if not any(part in spec for part in ("down", "turbulence")):
            assert _digest(observed) == digests[2 * k], (spec, k)
        scale = float(observed.double().abs().sum())  # round-off scales with the magnitudes, not the signed sum
        assert float(observed.double().sum()) == pytest.approx(sums[k], rel=1e-6, abs=1e-7 * scale)


def test_an_int_seed_is_a_generator_on_the_inputs_device():
    x = _ramp_images(True)
    d = parse_degradation("pixels:random:0.3+gauss:0.1")
    a = d(x, value_range=(-1.0, 1.0), generator=5)
    b = d(x, value_range=(-1.0, 1.0), generator=torch.Generator(device=x.device).manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("spec", ["columns:random:0.5", "pixels:random:0.2+sp:0.1", "keep-first:100+gauss:0.05",
                                  "down:2+columns:random:0.5", "turbulence:0.5+pixels:random:0.2"])
def test_degradation_runs_and_draws_on_the_inputs_device(spec):
    x = _ramp_images(True).cuda()
    for observed, mask in _three_draws(spec, x, (-1.0, 1.0), device="cuda"):
        assert observed.device.type == "cuda" and mask.device.type == "cuda" and mask.shape == observed.shape
    d = parse_degradation(spec)
    seeded = d(x, value_range=(-1.0, 1.0), generator=3)
    cuda_gen = d(x, value_range=(-1.0, 1.0), generator=torch.Generator(device="cuda").manual_seed(3))
    assert torch.equal(seeded[1], cuda_gen[1])  # an int seed draws with a generator on the GPU
    on_cpu = d(x.cpu(), value_range=(-1.0, 1.0), generator=3)
    moved = d(x, value_range=(-1.0, 1.0), generator=torch.Generator().manual_seed(3))
    assert torch.equal(moved[1].cpu(), on_cpu[1])  # an explicit CPU generator: the CPU draws, moved


def test_degradations_state_their_parameters():
    turbulence = parse_degradation("turbulence:1.0")
    params = turbulence.parameters
    assert params.scale == 1 and params.mask_grid == "observed"
    assert np.allclose(params.psf, turbulence.mean_psf(include_tilt=False)) and params.psf.sum() == pytest.approx(1)
    assert parse_degradation("turbulence:1.0:blur=0").parameters.psf is None
    down = parse_degradation("down:4+gauss:0.01").parameters
    assert down.scale == 4 and down.psf is None and down.options() == {"scale": 4}
    composed = parse_degradation("turbulence:1.0+pixels:random:0.2").parameters
    assert np.allclose(composed.psf, params.psf) and set(composed.options()) == {"scale", "psf"}


def test_the_mask_of_a_composed_spec_lives_on_the_observed_grid():
    x = _ramp_images(False)
    observed, mask = parse_degradation("down:2+columns:random:0.5")(x, generator=1)
    assert observed.shape == mask.shape == (3, 2, 8, 8)
    assert bool(((mask == 0).all(dim=-2) | (mask == 1).all(dim=-2)).all())  # whole low-resolution columns
    assert bool((observed[mask == 0] == 0).all())
