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
