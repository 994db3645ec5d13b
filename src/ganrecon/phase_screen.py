"""Kolmogorov phase screens, and the anisoplanatic short-exposure image a telescope forms through one.

Why: the `turbulence:STRENGTH` simulator draws its warp and blur from smoothed noise. Its statistics are set by
hand, so nothing ties them to an optical system. This module derives both effects from one random phase screen,
with the parameters an optician states: the aperture over Fried's parameter, D / r0, and how finely the image
samples the diffraction limit.

The physics, in the order the simulator applies it:

1. **Screen.** Kolmogorov turbulence has the phase power spectrum 0.023 r0^(-5/3) f^(-11/3) (rad^2 per
   (cycles/m)^2). White complex noise shaped by its square root and inverse-FFT'd gives two independent screens
   (the real and imaginary parts; McGlamery's method). An FFT grid misses the scales larger than itself, and
   those carry most of the tilt, so three levels of 3 x 3 subharmonics are added (Lane, Glindemann & Dainty
   1992). Lengths are in aperture diameters: D = 1, the screen is sampled `aperture` times across D.
2. **Tilt.** The Z-tilt is the least-squares plane through the phase over the circular aperture. In units of
   lambda / D its one-axis variance is 0.182 (D / r0)^(5/3) (Tyler 1994; twice Noll's tilt coefficient variance
   0.448 (D / r0)^(5/3), times 4 / pi^2). The tests check the simulator against both the constant and the
   5/3 law.
3. **Anisoplanatism.** A single thin screen at distance z from the aperture: a field point at angle theta looks
   through the aperture's footprint shifted by z theta. `patch` is the number of image pixels that moves the
   footprint by one aperture diameter, so tilts decorrelate over about `patch` pixels (the isoplanatic patch).
   Each image pixel gets the Z-tilt of its own footprint; the image is warped by it.
4. **Blur.** The short-exposure PSF of a footprint is |FFT(aperture x exp(i (phase - tilt plane)))|^2 on a grid
   padded to `sampling` x the aperture, so a PSF pixel is lambda / (sampling D); sampling 2 is Nyquist. PSFs
   are computed on a grid of field points every `patch / 2` pixels; each pixel takes the bilinear blend of the
   blurs by its four nearest points' PSFs (PSF interpolation, as in Chimitt & Chan's simulator).

Chimitt & Chan's phase-to-space simulator draws the Zernike coefficients of step 2-4 directly, with the same
correlations; propagating a screen is slower but needs no fitted tables, and is exact for one thin layer.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from ganrecon.errors import GanreconError

KOLMOGOROV = 0.023      # phase PSD constant: 0.023 r0^(-5/3) f^(-11/3)
Z_TILT_VARIANCE = 0.182  # one-axis Z-tilt variance, (lambda / D)^2 per (D / r0)^(5/3)
SUBHARMONIC_LEVELS = 3


def aperture_samples(d_r0: float) -> int:
    """Samples across the aperture: at least 16, and four per r0 so that the PSF's field (as many lambda / D as
    there are samples) holds the seeing halo of width about D / r0 lambda / D."""
    return int(min(64, max(16, 4 * math.ceil(d_r0))))


def _psd(fx: torch.Tensor, fy: torch.Tensor, r0: float) -> torch.Tensor:
    f2 = fx.square() + fy.square()
    return torch.where(f2 > 0, KOLMOGOROV * r0 ** (-5 / 3) * f2.clamp_min(1e-30) ** (-11 / 6), 0.0)


def _cell_power(fx: torch.Tensor, fy: torch.Tensor, width: float, r0: float, sub: int = 8) -> torch.Tensor:
    """The phase power in square frequency cells of side `width` centred on (fx, fy): the PSD averaged over
    sub x sub points of each cell, times its area. Lane's subharmonics take the PSD at the cell centre; next to
    the f^(-11/3) singularity that misses much of a cell's power: the screens' structure function came out
    15-20% low at every separation, and with cell averages it is 0.96-0.97 of 6.88 (r / r0)^(5/3), which is the
    rounding of the two constants."""
    o = (torch.arange(sub, dtype=torch.float64) + 0.5) / sub - 0.5
    sx = fx[..., None, None] + o[None, :] * width
    sy = fy[..., None, None] + o[:, None] * width
    return _psd(sx, sy, r0).mean(dim=(-2, -1)) * width * width


def kolmogorov_screens(count: int, n: int, d_r0: float, aperture: int, generator: torch.Generator,
                       subharmonics: bool = True) -> torch.Tensor:
    """`count` independent n x n phase screens (radians) of Kolmogorov turbulence with D / r0 = `d_r0`, sampled
    `aperture` times per aperture diameter D (see the module docstring, step 1)."""
    dx = 1.0 / aperture                      # metres per sample with D = 1
    r0 = 1.0 / d_r0
    pairs = (count + 1) // 2                 # each complex draw gives two screens
    f = torch.fft.fftfreq(n, d=dx, dtype=torch.float64)
    fx, fy = f[None, :], f[:, None]
    df = 1.0 / (n * dx)
    noise = torch.complex(torch.randn(pairs, n, n, generator=generator, dtype=torch.float64),
                          torch.randn(pairs, n, n, generator=generator, dtype=torch.float64))
    screens = torch.fft.ifft2(noise * _psd(fx, fy, r0).sqrt() * df) * (n * n)
    if subharmonics:
        x = torch.arange(n, dtype=torch.float64) * dx
        low = torch.zeros(pairs, n, n, dtype=torch.complex128)
        for level in range(1, SUBHARMONIC_LEVELS + 1):
            dfp = df / 3 ** level
            k = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64) * dfp
            amp = _cell_power(k[None, :].expand(3, 3), k[:, None].expand(3, 3), dfp, r0).sqrt()  # 3 (ky) x 3 (kx)
            amp[1, 1] = 0.0                                                       # the next level's cells
            c = torch.complex(torch.randn(pairs, 3, 3, generator=generator, dtype=torch.float64),
                              torch.randn(pairs, 3, 3, generator=generator, dtype=torch.float64)) * amp
            wave = torch.exp(2j * math.pi * k[:, None] * x[None, :])                # 3 x n, separable in x, y
            low = low + torch.einsum("pab,ay,bx->pyx", c, wave, wave)
        screens = screens + (low - low.mean(dim=(-2, -1), keepdim=True))
    return torch.cat([screens.real, screens.imag])[:count].float()


def pupil(aperture: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(circular aperture mask, x, y) on an aperture x aperture grid, coordinates in aperture diameters from the
    centre."""
    c = (torch.arange(aperture, dtype=torch.float32) + 0.5) / aperture - 0.5
    x, y = c[None, :].expand(aperture, aperture), c[:, None].expand(aperture, aperture)
    return ((x.square() + y.square()) <= 0.25).float(), x, y


def tilt_maps(screens: torch.Tensor, aperture: int) -> torch.Tensor:
    """Z-tilt (x, y) in lambda / D of the aperture's footprint at every position of each screen: count x 2 x
    (n - aperture + 1)^2, index (i, j) = footprint with its top-left sample at (i, j). The plane's slope is a
    linear function of the phase, sum(P x phi) / sum(P x^2), so all footprints come from one correlation."""
    mask, x, y = pupil(aperture)
    kernels = torch.stack([mask * x / (mask * x.square()).sum(), mask * y / (mask * y.square()).sum()])
    slopes = F.conv2d(screens[:, None], kernels[:, None])   # rad per aperture diameter
    return slopes / (2 * math.pi)                            # slope (rad / D) x D / (2 pi) = angle in lambda / D


def short_exposure_psfs(footprints: torch.Tensor, sampling: int, radius: int, keep_tilt: bool = False
                        ) -> torch.Tensor:
    """PSFs (K x (2 radius + 1)^2, each summing to 1) of K aperture-sized phase footprints (K x a x a, radians),
    their Z-tilt removed (kept with `keep_tilt`: their mean is then the long-exposure PSF), sampled at
    `sampling` pixels per lambda / D (see the module docstring, step 4)."""
    k, a, _ = footprints.shape
    mask, x, y = pupil(a)
    phase = footprints
    if not keep_tilt:
        tilt = tilt_maps(footprints, a).reshape(k, 2, 1, 1) * (2 * math.pi)
        phase = footprints - tilt[:, 0] * x - tilt[:, 1] * y
    field = torch.zeros(k, a * sampling, a * sampling, dtype=torch.complex64)
    field[:, :a, :a] = mask * torch.exp(1j * phase)
    psf = torch.fft.fftshift(torch.fft.fft2(field).abs().square(), dim=(-2, -1))
    c = a * sampling // 2
    psf = psf[:, c - radius:c + radius + 1, c - radius:c + radius + 1]
    return psf / psf.sum(dim=(-2, -1), keepdim=True)


def psf_radius(d_r0: float, sampling: int, aperture: int) -> int:
    """PSF half-width in pixels: three seeing widths (D / r0 lambda / D, or the diffraction limit), within the
    FFT's field."""
    return int(min(aperture * sampling // 2 - 1, math.ceil(3 * sampling * max(1.0, d_r0))))


def interpolated_blur(images: torch.Tensor, psfs: torch.Tensor, cell: int) -> torch.Tensor:
    """Spatially varying blur: PSF (N x A x B x k x k) at grid point (a, b) = pixel (a cell, b cell) of each image
    (N x C x H x W, grid points every `cell` pixels covering it). Each output pixel is the bilinear blend of the
    blurs by its four nearest grid points' PSFs, computed window by window (F.unfold / F.fold); beyond the
    border the image continues as its edge. This gather form keeps a uniform region uniform: the scatter form
    (each grid point's share of the image spread by its PSF) left bright and dark blotches wherever the PSFs
    changed within their own width."""
    n, c, h, w = images.shape
    _, na, nb, k, _ = psfs.shape
    r = k // 2
    padded = F.pad(images, (cell + r, nb * cell + r - w, cell + r, na * cell + r - h), mode="replicate")
    side = 2 * cell + 2 * r
    windows = F.unfold(padded, side, stride=cell)                           # N x C side^2 x A B
    windows = windows.view(n, c, side, side, na * nb).permute(0, 4, 1, 2, 3).reshape(1, -1, side, side)
    kernels = psfs.reshape(n, na * nb, 1, k, k).expand(n, na * nb, c, k, k).reshape(-1, 1, k, k)
    blurred = F.conv2d(windows, kernels.flip(-2, -1), groups=n * na * nb * c)  # each 2 cell x 2 cell
    hat = 1 - (torch.arange(-cell, cell, dtype=images.dtype, device=images.device).abs() / cell)
    blurred = blurred.view(n, na * nb, c, 2 * cell, 2 * cell) * (hat[:, None] * hat[None, :])
    cols = blurred.reshape(n, na * nb, c * 4 * cell * cell).permute(0, 2, 1)
    out = F.fold(cols, ((na + 1) * cell, (nb + 1) * cell), 2 * cell, stride=cell)
    return out[..., cell:cell + h, cell:cell + w]


def grid_points(length: int, cell: int) -> int:
    """Grid points every `cell` pixels from 0 that cover [0, length - 1]."""
    return -(-(length - 1) // cell) + 1


def check_screen_options(d_r0: float, sampling: int, patch: float) -> None:
    if not 0 < d_r0 <= 16:
        raise GanreconError(f"D / r0 must be in (0, 16], got {d_r0:g}.")
    if not 1 <= sampling <= 8:
        raise GanreconError(f"The sampling (pixels per lambda / D) must be 1 to 8, got {sampling}.")
    if not 2 <= patch <= 256:
        raise GanreconError(f"The isoplanatic patch must be 2 to 256 pixels, got {patch:g}.")


def simulate(images: torch.Tensor, d_r0: float, generator: torch.Generator, *, sampling: int = 2,
             patch: float = 16.0) -> torch.Tensor:
    """Each image (N x C x H x W) seen through its own screen: warped by the footprints' Z-tilts, then blurred by
    their tilt-free short-exposure PSFs (module docstring, steps 1-4). All channels share the screen."""
    check_screen_options(d_r0, sampling, patch)
    n, _, h, w = images.shape
    a = aperture_samples(d_r0)
    step = a / patch                                           # screen samples per image pixel
    size = 1 << math.ceil(math.log2(math.ceil(max(h, w) * step) + 2 * a))
    screens = kolmogorov_screens(n, size, d_r0, a, generator).to(images.device)
    tilts = tilt_maps(screens, a)                              # n x 2 x m x m, footprint at each sample
    m = tilts.shape[-1]                                        # bilinear between samples (a wide patch moves the
    py = torch.arange(h, device=images.device) * step * (2.0 / (m - 1)) - 1.0  # footprint by under one per pixel)
    px = torch.arange(w, device=images.device) * step * (2.0 / (m - 1)) - 1.0
    at = torch.stack(torch.broadcast_tensors(px[None, :], py[:, None]), -1).expand(n, h, w, 2)
    shift = F.grid_sample(tilts, at.to(tilts.dtype), mode="bilinear", align_corners=True) * sampling  # pixels
    ys = (torch.arange(h, device=images.device, dtype=torch.float32) + 0.5) * (2.0 / h) - 1.0
    xs = (torch.arange(w, device=images.device, dtype=torch.float32) + 0.5) * (2.0 / w) - 1.0
    grid = torch.stack((xs.view(1, 1, w) + shift[:, 0] * (2.0 / w), ys.view(1, h, 1) + shift[:, 1] * (2.0 / h)), -1)
    warped = F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="reflection",
                           align_corners=False)
    cell = max(1, int(patch // 2))
    na, nb = grid_points(h, cell), grid_points(w, cell)
    gy = (torch.arange(na) * cell * step).round().long().clamp_max(size - a)
    gx = (torch.arange(nb) * cell * step).round().long().clamp_max(size - a)
    idx = torch.arange(a)
    foot = screens[:, (gy[:, None] + idx)[:, None, :, None], (gx[:, None] + idx)[None, :, None, :]]
    radius = psf_radius(d_r0, sampling, a)
    psfs = short_exposure_psfs(foot.reshape(-1, a, a), sampling, radius)
    return interpolated_blur(warped, psfs.view(n, na, nb, 2 * radius + 1, 2 * radius + 1).to(images.dtype), cell)


@functools.lru_cache(maxsize=32)
def mean_short_exposure_psf(d_r0: float, sampling: int, screens: int = 64, seed: int = 0,
                            keep_tilt: bool = False) -> torch.Tensor:
    """The expected tilt-free short-exposure PSF ((2 radius + 1)^2, sums to 1): the average over `screens`
    footprints of a fixed seed, for Wiener and Richardson-Lucy (a random tilt cannot be deconvolved). With
    `keep_tilt`, the long-exposure PSF. Cached (each operator's `psf` asks for it); do not modify the result."""
    a = aperture_samples(d_r0)
    foot = kolmogorov_screens(screens, 4 * a, d_r0, a, torch.Generator().manual_seed(seed))[:, :a, :a]
    return short_exposure_psfs(foot, sampling, psf_radius(d_r0, sampling, a), keep_tilt).mean(0)
