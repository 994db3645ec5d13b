"""Registration of a burst's frames onto their temporal mean: the classical front end of burst restoration.

Why: turbulence moves each frame's patches by a random tilt. The temporal mean puts every patch at its average
position (tilts have zero mean), but it is blurred by the spread of the tilts (the long-exposure PSF). Warping
each frame onto the mean before averaging removes most of that spread; what is left is close to the
short-exposure blur, which deconvolution undoes far better than the long-exposure one. This is the
register-then-fuse pipeline of turbulence mitigation (e.g. Zhu & Milanfar, IEEE TPAMI 2013), here with dense
Lucas-Kanade registration, batched in torch so it is cheap enough to be a model's prior during training.

Method: frames and reference are smoothed by a Gaussian of `smooth` px. Per frame, `iters` Lucas-Kanade
updates solve the 2 x 2 system of the Gaussian-windowed (`window` px) structure tensor, regularised by `reg`,
for a dense displacement field. After each update the frames' mean displacement is removed (the mean keeps the
scene's geometry) and displacements are clipped to `clip` px. After each of the `passes`, the reference becomes
the mean of the registered frames, which is sharper, so the next pass registers better. Defaults were chosen on
validation photographs (benchmarks/burst.py tunes the deconvolution that follows).
"""

from __future__ import annotations

import torch

from ganrecon.degrade import gaussian_blur, warp_by

PASSES, ITERS, WINDOW, SMOOTH, REG, CLIP = 2, 3, 4.0, 0.7, 1e-5, 3.0


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences of B x 1 x H x W (zero on the border rows and columns)."""
    gx, gy = torch.zeros_like(x), torch.zeros_like(x)
    gx[..., 1:-1] = (x[..., 2:] - x[..., :-2]) * 0.5
    gy[..., 1:-1, :] = (x[..., 2:, :] - x[..., :-2, :]) * 0.5
    return gx, gy


def _lucas_kanade_step(warped: torch.Tensor, ref: torch.Tensor, window: float, reg: float) -> torch.Tensor:
    """The displacement update (B x 2 x H x W) that moves `warped` towards `ref` (both B x 1 x H x W)."""
    gx, gy = _gradients(warped)
    diff = warped - ref
    moments = gaussian_blur(torch.cat((gx * gx, gx * gy, gy * gy, gx * diff, gy * diff), 1), window)
    a, b, d, ex, ey = (moments[:, k:k + 1] for k in range(5))
    a, d = a + reg, d + reg
    det = a * d - b * b
    return torch.cat((-(d * ex - b * ey) / det, -(a * ey - b * ex) / det), 1)


def register_burst(stack: torch.Tensor, *, passes: int = PASSES, iters: int = ITERS, window: float = WINDOW,
                   smooth: float = SMOOTH, reg: float = REG, clip: float = CLIP) -> tuple[torch.Tensor, torch.Tensor]:
    """A burst N x F x C x H x W -> (the frames warped onto their mean, same shape; displacements N x F x 2 x H x W
    in pixels). Registration uses the frames' channel mean; every channel is warped by the same field."""
    n, f, c, h, w = stack.shape
    stack = stack.float()
    grey = gaussian_blur(stack.mean(2).reshape(n * f, 1, h, w), smooth)
    disp = torch.zeros(n * f, 2, h, w, dtype=stack.dtype, device=stack.device)
    ref = grey.view(n, f, 1, h, w).mean(1, keepdim=True)
    for _ in range(passes):
        for _ in range(iters):
            target = ref.expand(n, f, 1, h, w).reshape(n * f, 1, h, w)
            disp = disp + _lucas_kanade_step(warp_by(grey, disp), target, window, reg)
            per_frame = disp.view(n, f, 2, h, w)
            disp = (per_frame - per_frame.mean(1, keepdim=True)).clamp(-clip, clip).reshape(n * f, 2, h, w)
        ref = warp_by(grey, disp).view(n, f, 1, h, w).mean(1, keepdim=True)
    registered = warp_by(stack.reshape(n * f, c, h, w), disp).view(n, f, c, h, w)
    return registered, disp.view(n, f, 2, h, w)
