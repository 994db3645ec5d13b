"""Batched torch biharmonic inpainting of scattered missing pixels.

Why: biharmonic inpainting of the impulse candidates is the best classical salt & pepper filter on photographs
here (45.0 dB against 39.2 for the switching median at 15% noise), but scikit-image solves one sparse system per
image on the CPU, too slow to be a training prior computed on every batch. This module solves the same problem
for a whole batch at once with conjugate gradients on convolutions, on any device.

The problem: fill the unknown entries u of each image so that the discrete Laplacian of the image (5-point
stencil, replicate padding) has the least energy, known entries fixed: minimise ||L(x_known + u)||^2, whose
normal equations P L^T L P u = -P L^T L x_known (P keeps the unknowns) are symmetric positive semi-definite and
are solved by CG, one step size per image. The start is the same problem solved at half the resolution
(recursively: a cascadic multigrid), so large holes (a saturated block, a black background) need few iterations;
scattered impulses converge in a few dozen. It matches scikit-image's `inpaint_biharmonic` to 0.01 dB on
photographs with salt & pepper 0.15 and 0.5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
ITERATIONS = 300    # scattered impulses stop early (relative residual 1e-6) after a few dozen; a large
                    # all-candidate region (a digit's black background) is still settling at 300
COARSEST = 4        # the coarse-to-fine start stops halving below this many pixels a side


def _pad_adjoint(z: torch.Tensor) -> torch.Tensor:
    """Adjoint of a one-pixel replicate padding: the border rows and columns are added back onto the edges."""
    z = z.clone()
    z[..., 1, :] += z[..., 0, :]
    z[..., -2, :] += z[..., -1, :]
    z[..., :, 1] += z[..., :, 0]
    z[..., :, -2] += z[..., :, -1]
    return z[..., 1:-1, 1:-1]


def _normal_operator(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """L^T L x for a batch of single-channel images, L the Laplacian at every pixel with replicate padding (a
    zero normal derivative at the border, as scikit-image's inpainting assumes). The adjoint of the valid
    convolution is a full one, written as a convolution of the zero-padded map with the flipped kernel: the same
    numbers (to rounding) as `conv_transpose2d`, 2.4 x faster on 48 x 48 batches here (2-core EPYC;
    `benchmarks/guard_impulse_time.py`), and this
    operator is most of the salt & pepper guard's time (the impulse-biharmonic baseline's CG solve)."""
    lap = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel)
    return _pad_adjoint(F.conv2d(F.pad(lap, (2, 2, 2, 2)), kernel.flip(-2, -1)))


def pyramid_fill(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Each unknown pixel gets the mean of the known pixels in its 2^k block at the finest level k that has one:
    the start at the coarsest level of `coarse_start`."""
    weight = known.float()
    out = values * weight
    filled = torch.zeros_like(values)
    done = known.clone()
    level_values, level_weight = out, weight
    while True:
        mean = level_values / level_weight.clamp_min(1e-12)
        up = F.interpolate(mean, size=values.shape[-2:], mode="nearest")
        has = F.interpolate((level_weight > 0).float(), size=values.shape[-2:], mode="nearest") > 0
        take = has & ~done
        filled = torch.where(take, up, filled)
        done |= take
        if bool(done.all()) or min(level_values.shape[-2:]) <= 1:
            break
        level_values = F.avg_pool2d(level_values, 2, ceil_mode=True) * 4
        level_weight = F.avg_pool2d(level_weight, 2, ceil_mode=True) * 4
    return torch.where(known, values, filled)


def coarse_start(x: torch.Tensor, known: torch.Tensor, iterations: int) -> torch.Tensor:
    """The start of the CG solve (N x 1 x H x W): the same problem solved at half the resolution (a block is
    known when any of its pixels is, with their mean), upsampled; `pyramid_fill` below COARSEST pixels a side.
    Why: CG needs about as many iterations as a hole is wide squared, and a coarse solution is most of the
    answer in a large hole (a saturated block, a digit's black background)."""
    if min(x.shape[-2:]) < 2 * COARSEST:
        return pyramid_fill(x, known)
    weight = F.avg_pool2d(known.float(), 2, ceil_mode=True)
    mean = F.avg_pool2d(x * known, 2, ceil_mode=True) / weight.clamp_min(1e-12)
    coarse = biharmonic_fill(mean, weight > 0, iterations)
    up = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)[..., :x.shape[-2], :x.shape[-1]]
    return torch.where(known, x, up)


def biharmonic_fill(observed: torch.Tensor, known: torch.Tensor, iterations: int = ITERATIONS,
                    tolerance: float = 1e-6) -> torch.Tensor:
    """Inpaint the entries where `known` is False (N x C x H x W, any channels, each treated alone); known
    entries are returned exactly. An image with no known entry comes back as it is; one smaller than 3x3 gets
    the coarse fill only."""
    shape = observed.shape
    x = observed.detach().float().reshape(-1, 1, *shape[-2:])
    k = known.expand(shape).reshape(-1, 1, *shape[-2:])
    none_known = ~k.flatten(1).any(1)
    start = coarse_start(x, k, iterations)
    if min(shape[-2:]) < 3:
        return torch.where(none_known.view(-1, 1, 1, 1), x, start).reshape(shape)
    kernel = LAPLACIAN.to(x)[None, None]
    unknown = (~k).float()
    u = start * unknown
    base = x * k

    def apply(v):
        return _normal_operator(v, kernel) * unknown

    r = -apply(base + u)  # residual of A u = -A x_known, with A = P L^T L P
    p = r.clone()
    rr = r.flatten(1).square().sum(1)
    stop = tolerance * (rr.clamp_min(1e-30))
    for _ in range(iterations):
        ap = apply(p)
        alpha = rr / (p.flatten(1) * ap.flatten(1)).sum(1).clamp_min(1e-30)
        u = u + alpha.view(-1, 1, 1, 1) * p
        r = r - alpha.view(-1, 1, 1, 1) * ap
        rr_new = r.flatten(1).square().sum(1)
        if bool((rr_new <= stop).all()):
            break
        p = r + (rr_new / rr.clamp_min(1e-30)).view(-1, 1, 1, 1) * p
        rr = rr_new
    out = base + u * unknown
    return torch.where(none_known.view(-1, 1, 1, 1), x, out).reshape(shape).to(observed.dtype)
