"""The phase-screen turbulence simulator against the theory it claims (ganrecon.phase_screen)."""

import pytest
import torch
import torch.nn.functional as F

from ganrecon import phase_screen as ps
from ganrecon.degrade import PhaseScreenTurbulence, parse_degradation
from ganrecon.errors import GanreconError


@pytest.fixture(scope="module")
def screens():
    """256 screens of 4 x 4 aperture diameters (16 samples per D), D / r0 = 3."""
    return ps.kolmogorov_screens(256, 64, 3.0, 16, torch.Generator().manual_seed(0))


def test_tilt_variance_matches_kolmogorov_theory_and_its_five_thirds_law(screens):
    theory = ps.Z_TILT_VARIANCE * 3.0 ** (5 / 3)                  # one axis, (lambda / D)^2
    small = ps.tilt_maps(screens, 16).square().mean().item()     # D / r0 = 3
    large = ps.tilt_maps(screens, 32).square().mean().item()     # the same screens, twice the aperture: D / r0 = 6
    assert 0.88 < small / theory < 1.12
    # in lambda / D units the tilt variance grows as (D / r0)^(5/3): a test of the spectrum's shape, not its scale
    assert large / small == pytest.approx(2 ** (5 / 3), rel=0.06)


def test_phase_structure_function_is_kolmogorov(screens):
    r0 = 16 / 3.0  # samples
    for r in (2, 4, 8):
        measured = (screens[:, :, r:] - screens[:, :, :-r]).square().mean().item()
        assert measured / (6.88 * (r / r0) ** (5 / 3)) == pytest.approx(1.0, abs=0.12)


def test_flat_phase_gives_the_airy_pattern():
    psf = ps.short_exposure_psfs(torch.zeros(1, 32, 32), sampling=4, radius=12)[0]
    assert psf.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert int(psf.argmax()) == 12 * 25 + 12                        # centred
    torch.testing.assert_close(psf, psf.flip(0).flip(1), atol=1e-6, rtol=0)
    # first dark ring at 1.22 lambda / D = 4.9 pixels at 4 pixels per lambda / D
    assert psf[12, 12 + 5] < 0.02 * psf[12, 12] < psf[12, 12 + 2]


def test_interpolated_blur_is_a_convolution_for_one_psf_and_keeps_flat_regions_flat():
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(2, 3, 37, 29, generator=gen)
    kernel = torch.rand(7, 7, generator=gen)
    kernel /= kernel.sum()
    na, nb = ps.grid_points(37, 4), ps.grid_points(29, 4)
    out = ps.interpolated_blur(images, kernel.expand(2, na, nb, 7, 7), 4)
    ref = F.conv2d(F.pad(images, (3, 3, 3, 3), mode="replicate").view(6, 1, 43, 35), kernel.flip(0, 1)[None, None])
    torch.testing.assert_close(out, ref.view_as(images), atol=1e-6, rtol=0)
    psfs = torch.rand(2, na, nb, 7, 7, generator=gen)                  # a different PSF at every grid point
    flat = ps.interpolated_blur(torch.full((2, 1, 37, 29), 0.3), psfs / psfs.sum((-2, -1), keepdim=True), 4)
    torch.testing.assert_close(flat, torch.full_like(flat, 0.3))


def test_phase_screen_degradation():
    op = parse_degradation("phase-screen:3:sampling=2,patch=8")
    assert isinstance(op, PhaseScreenTurbulence) and op.families == {"blur"}
    clean = torch.rand(1, 1, 40, 52, generator=torch.Generator().manual_seed(2)).expand(2, 3, 40, 52).contiguous()
    observed, mask = op(clean, generator=3)
    again, _ = op(clean, generator=3)
    assert observed.shape == clean.shape and bool(mask.eq(1).all()) and torch.equal(observed, again)
    assert 0.0 <= float(observed.min()) and float(observed.max()) <= 1.0  # PSFs are non-negative and sum to 1
    torch.testing.assert_close(observed[:, 0], observed[:, 2])            # channels share the screen
    assert not torch.allclose(observed[0], observed[1])                   # each image its own screen
    assert op.psf.shape[0] % 2 == 1 and op.psf.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("spec,message", [
    ("phase-screen:0", "must be positive"),
    ("phase-screen:20", "D / r0 must be in"),
    ("phase-screen:3:sampling=9", "sampling"),
    ("phase-screen:3:patch=1", "patch"),
    ("phase-screen:3:wind=2", "Unknown phase-screen option"),
])
def test_bad_phase_screen_specs_say_what_is_wrong(spec, message):
    with pytest.raises(GanreconError, match=message):
        parse_degradation(spec)
