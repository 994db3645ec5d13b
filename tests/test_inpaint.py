"""The batched torch biharmonic inpainting gives scikit-image's answer, keeps known entries, fills large holes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import smooth_images
from skimage.restoration import inpaint_biharmonic

from ganrecon.inpaint import biharmonic_fill

pytestmark = pytest.mark.usefixtures("one_thread")


def _case(missing: np.ndarray, seed: int = 0):
    clean = torch.from_numpy(smooth_images(2, 40, 48, seed))[:, None]
    known = torch.from_numpy(~missing).expand_as(clean)
    return clean, known


def test_scattered_pixels_match_scikit_image():
    rng = np.random.default_rng(1)
    clean, known = _case(rng.random((40, 48)) < 0.3)
    out = biharmonic_fill(torch.where(known, clean, 0.0), known)
    assert torch.equal(out[known], clean[known])
    for image, kn, est in zip(clean[:, 0].numpy(), known[:, 0].numpy(), out[:, 0].numpy()):
        np.testing.assert_allclose(est, inpaint_biharmonic(image, ~kn), atol=2e-3)


def test_a_large_hole_is_filled_smoothly_and_an_image_with_nothing_known_is_kept():
    hole = np.zeros((40, 48), bool)
    hole[8:32, 10:40] = True
    clean, known = _case(hole, seed=2)
    out = biharmonic_fill(torch.where(known, clean, 0.0), known)
    reference = inpaint_biharmonic(clean[0, 0].numpy(), hole)
    assert np.abs(out[0, 0].numpy() - reference).max() < 1e-2
    blank = torch.rand(1, 1, 8, 8)
    assert torch.equal(biharmonic_fill(blank, torch.zeros_like(blank, dtype=torch.bool)), blank)


def test_the_normal_operator_is_the_laplacian_and_its_adjoint():
    import torch.nn.functional as F

    from ganrecon.inpaint import LAPLACIAN, _normal_operator, _pad_adjoint

    x = torch.randn(3, 1, 17, 23, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    kernel = LAPLACIAN[None, None].double()
    lap = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel)
    torch.testing.assert_close(_normal_operator(x, kernel), _pad_adjoint(F.conv_transpose2d(lap, kernel)))
    y = torch.randn_like(x)
    # <L x, L y> = <x, L^T L y>: the operator is the normal operator of L, whatever form computes it
    ly = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), kernel)
    torch.testing.assert_close((lap * ly).sum(), (x * _normal_operator(y, kernel)).sum())
