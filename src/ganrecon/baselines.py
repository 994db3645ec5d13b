"""Conventional reconstruction methods: the bar every GAN in ganrecon has to clear.

All baselines share one call shape, ``fn(observed, mask, *, value_range, scale, **options) -> estimate``:
`observed` and `mask` are N x C x H x W tensors as returned by a degradation (mask 1 = known, 0 = missing;
``None`` means everything known), and the estimate is a float32 tensor of the clean shape on the input's device
(``H*scale x W*scale`` for super-resolution). Work is done per 2-D slice (every image and channel) in numpy,
with the library the field trusts: scipy, scikit-image, pylops.

Families and decisions:

* mask -- ``zero-fill`` (the observation itself), ``nearest`` / ``linear`` / ``cubic`` interpolation along
  each row (across traces) over that row's known pixels, so missing columns and scattered missing pixels are
  both handled. Outside the first/last known pixel of a row the edge value is repeated (constant extension:
  extrapolating a slope or a cubic into a gap at the border diverges). Cubic is a not-a-knot cubic spline
  (exact on cubic polynomials) and falls back to linear with fewer than 4 known pixels in a row. A row with
  no known pixel stays zero. Interpolation keeps the known pixels exactly. ``biharmonic`` is
  scikit-image's biharmonic inpainting. ``fk`` is FK-domain sparse inversion (seismic only, below). ``pocs``,
  ``sliding-fk``, ``fx``, ``dip-steered`` and ``deep-prior`` (on request only) are in ganrecon.seismic_methods.
* noise -- ``noisy`` (identity), ``median3`` / ``median5`` (scipy median filter with mirror borders, so an
  impulse in a corner is not counted four times), ``adaptive-median`` (the classical adaptive median filter for
  salt & pepper: the window grows 3 -> 5 -> 7 until its median is not an impulse, the 7x7 median otherwise;
  only pixels equal to the value-range ends are replaced, so clean pixels are untouched), ``switching-median``
  (the same candidates, each replaced by the median of the *non-candidate* entries of the smallest window,
  3x3 up to 7x7, that has some; torch, vectorised over the candidates), ``impulse-biharmonic`` (the candidates
  treated as missing pixels and inpainted biharmonically; batched torch CG, `ganrecon.inpaint`), ``tv`` (Chambolle TV
  with weight = TV_WEIGHT x sigma^2 / range width, sigma the image's noise estimate) and ``nlm`` (non-local means, fast mode, 5x5 patches,
  h = NLM_H x the noise estimate, as in scikit-image's example). The noise estimate is Donoho's median
  absolute finest-scale (Haar) wavelet coefficient / 0.6745.
* down -- ``bicubic`` (torch bicubic upsampling by `scale`).
* blur -- ``identity``, ``wiener`` and ``richardson-lucy`` (scikit-image). Both take a ``psf`` option (2-D
  array, default a Gaussian of sigma 1 pixel); evaluation passes the degradation's own PSF
  (``degradation.parameters.psf``, via ``ganrecon.scoring``); both work on the image reflect-padded by the PSF
  size, which avoids the wrap-around ringing of FFT deconvolution.
* burst -- ``burst-mean`` and ``burst-median`` (the temporal mean or median of the frames, stacked frame-major
  along the channels: ``frames`` option), each also followed by Wiener or Richardson-Lucy with the burst's
  long-exposure PSF (``burst-mean-wiener``, ``burst-mean-rl``, ``burst-median-wiener``, ``burst-median-rl``);
  ``burst-register`` (every frame warped onto the temporal mean by dense Lucas-Kanade,
  ``ganrecon.burst_registration``, then averaged) and ``burst-register-wiener`` / ``burst-register-rl`` (that
  mean deconvolved with the short-exposure PSF, ``short_psf``, widened by a Gaussian of ``residual`` px for the
  registration error left; without ``short_psf``, a Gaussian of sigma 1 px).

Estimates of methods that create new values are clamped to `value_range` (the clean data lives there, so
this can only reduce error); interpolation clamps only the filled pixels.

FK sparse inversion (``fk``)
----------------------------
Each gather d (time x traces) is written d = F^H W x with F the orthonormal 2-D FFT (pylops ``FFT2D``, padded to
`nfft_factor` x the size) and W a dip cone (below), and ``min_x 1/2 ||y - R F^H W x||^2 + eps' ||x||_1`` is
solved with pylops' FISTA, where R (pylops ``Restriction``) keeps the known pixels (any mask, not only whole
traces). R F^H has orthonormal rows and 0 <= W <= 1, so the FISTA step is 1 and no eigenvalue estimate is
needed. eps' = `eps` x max|W F R^H y| makes the sparsity weight independent of the data amplitude; the
threshold decays geometrically from eps' to `decay_end` x eps' over the iterations (continuation: strong
events first, weak ones later). The known pixels are put back in the result (noise-free observations).

The dip cone: an event of slope p samples/trace lives on |k| = p |f| (k in cycles/trace, f in
cycles/sample). W is 1 for |k| <= max_dip |f| and tapers to 0 over FK_DIP_TAPER cycles/trace. Without it,
regular decimation (every other trace) is hopeless for FK inversion: the aliases have the same amplitude as
the events, thresholding cannot tell them apart, and the result is the zero-fill (3 dB). The cone is a
prior: data with steeper dips than `max_dip` lose them -- pass ``max_dip=None`` (or larger) for such data.

Tuning (``benchmarks/tune_fk.py``): 128 x 64 synthetic gathers made by a small generator in that script
(3-8 linear, parabolic and hyperbolic events, Ricker wavelets of 10-35 Hz, dt 4 ms, dips up to 1.25 samples
per trace like ganrecon.data's ``seismic`` defaults), with 50% of the traces missing at random ("random50")
and every other trace missing ("regular2"), 8 tuning gathers each. Stage 1: eps in {0.3, 0.1, 0.03, 0.01,
0.003} x decay_end in {1, 0.1, 0.01} x max_dip in {off, 2, 1.5, 1.25, 1} at niter 100, 2x padding (75
settings). Stage 2: niter in {50, 100, 200} x nfft_factor in {1, 2} for the 3 best. Defaults = the best mean
SNR over both masks; then scored on held-out data. Mean SNR in dB (random50 / regular2):

    tuning gathers                                    random50  regular2
    eps 0.003, decay 0.01, dip 1,    200 it, pad 2      32.5      41.4    <- defaults, 0.36 s per gather
    eps 0.01,  decay 0.01, dip 1,    200 it, pad 2      31.5      40.4
    eps 0.003, decay 0.01, dip 1,    100 it, pad 2      30.7      40.1
    eps 0.01,  decay 0.01, dip 1.25, 100 it, pad 2      28.6      36.8
    eps 0.01,  decay 0.01, dip 1,    200 it, pad 1      15.5      21.0    (no padding: leakage)
    eps 0.03,  decay 1,    dip off,  100 it, pad 2      19.4       3.0    (no dip cone, no decay)
    best without the dip cone (eps 0.03, decay 0.1)     21.4       3.0

    held-out                     zero-fill  linear  cubic  biharmonic  fk   fk(dip off)  fk(dip 2)
    own generator, random50         3.0      14.8    18.5     13.3     25.3     12.4        19.3
    own generator, regular2         3.0      23.9    27.9     24.2     37.4      3.0        21.9
    ganrecon 'seismic', random50    3.0      14.9    20.1     14.7     29.6     15.4        22.2
    ganrecon 'seismic', regular2    3.0      23.8    28.6     25.2     39.3      3.0        22.8
    steep (2.5 smp/tr), random50    3.0       6.5     4.9      7.0     -0.4      9.5        10.8
    steep (2.5 smp/tr), regular2    3.0      12.6    13.8     13.8      9.4      3.0        15.1

So with the defaults FK is the strongest baseline by 7-11 dB on data within its dip prior, and worse than
zero-fill on randomly decimated data with dips well beyond it (the last rows): there, use a larger max_dip.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ganrecon.burst_registration import register_burst
from ganrecon.errors import GanreconError
from ganrecon.seismic_methods import consensus, deep_prior, dip_steered, fx, pocs, sliding_fk

# FK defaults from benchmarks/tune_fk.py (search and results in the module docstring).
FK_EPS = 0.003
FK_NITER = 200
FK_NFFT_FACTOR = 2
FK_DECAY_END = 0.01
FK_MAX_DIP: float | None = 1.0
FK_DIP_TAPER = 0.05

# Checked on 16 64x64 crops of scikit-image photographs (Gaussian sigma 0.05/0.1/0.2; Gaussian blur sigma 1
# plus noise 0.01): a TV weight proportional to sigma (as often used) is best at one noise level only, while
# 10 sigma^2 is within 0.3 dB of the best weight tried at each level; NLM h = 0.6 sigma beat 0.8 and 1.2 sigma at all
# three (by 0.1-0.3 dB); Wiener balance 0.01 and 10 Richardson-Lucy iterations were best (+2.0 dB over
# the blurred image, each).
TV_WEIGHT = 10.0
NLM_H = 0.6
WIENER_BALANCE = 0.01
RL_ITERATIONS = 10
REGISTER_RESIDUAL = 0.5     # px: registration error left after burst-register (validation photographs, turbulence:1)
REGISTER_BALANCE = 0.003    # Wiener balance after registration (the same validation photographs)


@dataclass(frozen=True)
class Baseline:
    name: str                 # "zero-fill", "linear", "cubic", "nearest", "fk", "bicubic", "median3", ...
    families: frozenset[str]  # degradation families it applies to
    fn: Callable              # fn(observed, mask, *, value_range, scale) -> estimate (clean-shaped tensor)
    signed_only: bool = False  # e.g. FK sparse inversion: seismic only
    help: str = ""
    slow: bool = False         # left out where scores are needed often (validation of a large batch)
    on_request: bool = False   # only when named (run_baseline): a per-gather network fit takes seconds per image
    odd: bool = False          # f(-d) = -f(d) on signed data (tested): a polarity average computes it once
    row_reach: int | None = None  # input rows either side that an output row depends on (None: any, e.g. FK)


# --------------------------------------------------------------------------------------------- plumbing

def _prepare(observed, mask) -> tuple[np.ndarray, np.ndarray]:
    """-> (observed as float64 N x C x H x W, known as bool of the same shape)."""
    if not isinstance(observed, torch.Tensor):
        observed = torch.as_tensor(np.asarray(observed))
    if observed.ndim != 4:
        raise GanreconError(f"The observed images must be a batch N x C x H x W, got shape {tuple(observed.shape)}.")
    obs = observed.detach().to("cpu", torch.float64).numpy()
    if mask is None:
        return obs, np.ones(obs.shape, dtype=bool)
    mask = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    try:
        known = np.broadcast_to(mask != 0, obs.shape)
    except ValueError:
        raise GanreconError(
            f"The mask shape {tuple(mask.shape)} does not fit the observed images {tuple(obs.shape)}.") from None
    return obs, known


def _device(observed) -> torch.device:
    return observed.device if isinstance(observed, torch.Tensor) else torch.device("cpu")


def _finish(estimate: np.ndarray, observed, value_range=None) -> torch.Tensor:
    if value_range is not None:
        estimate = np.clip(estimate, value_range[0], value_range[1])
    return torch.from_numpy(np.ascontiguousarray(estimate, dtype=np.float32)).to(_device(observed))


def _per_slice(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], obs: np.ndarray, known: np.ndarray):
    out = np.empty_like(obs)
    for n in range(obs.shape[0]):
        for c in range(obs.shape[1]):
            out[n, c] = fn(obs[n, c], known[n, c])
    return out


# --------------------------------------------------------------------------------------------- mask family

def _fill_rows(values: np.ndarray, known: np.ndarray, kind: str) -> np.ndarray:
    """Fill the unknown columns of rows `values` (R x W) sharing the known pattern `known` (W,)."""
    out = values.copy()
    xs = np.flatnonzero(known)
    miss = np.flatnonzero(~known)
    if miss.size == 0:
        return out
    if xs.size == 0:
        out[:, miss] = 0.0
        return out
    yk = values[:, xs]
    pos = np.searchsorted(xs, miss)
    left = np.clip(pos - 1, 0, xs.size - 1)
    right = np.clip(pos, 0, xs.size - 1)
    if kind == "nearest":
        nearest = np.where(miss - xs[left] <= xs[right] - miss, left, right)
        out[:, miss] = yk[:, nearest]
        return out
    span = (xs[right] - xs[left]).astype(np.float64)
    t = np.divide(miss - xs[left], span, out=np.zeros_like(span), where=span > 0)
    out[:, miss] = yk[:, left] * (1.0 - t) + yk[:, right] * t  # constant outside [xs[0], xs[-1]]
    if kind == "cubic" and xs.size >= 4:
        from scipy.interpolate import CubicSpline

        inside = (miss > xs[0]) & (miss < xs[-1])
        if inside.any():
            out[:, miss[inside]] = CubicSpline(xs, yk, axis=1, bc_type="not-a-knot")(miss[inside])
    return out


def _interpolate_slice(image: np.ndarray, known: np.ndarray, kind: str) -> np.ndarray:
    """Row-wise interpolation; rows with the same known pattern (e.g. missing traces) are done together."""
    if known.all():
        return image.copy()
    patterns, which = np.unique(known, axis=0, return_inverse=True)
    which = np.asarray(which).reshape(-1)
    out = np.empty_like(image)
    for p, pattern in enumerate(patterns):
        rows = which == p
        out[rows] = _fill_rows(image[rows], pattern, kind)
    return out


def _interpolator(kind: str) -> Callable:
    def fn(observed, mask, *, value_range=(0.0, 1.0), scale=1):
        obs, known = _prepare(observed, mask)
        est = _per_slice(lambda im, kn: _interpolate_slice(im, kn, kind), obs, known)
        est = np.where(known, obs, np.clip(est, value_range[0], value_range[1]))
        return _finish(est, observed)

    fn.__name__ = f"{kind}_interpolation"
    fn.__doc__ = f"{kind.capitalize()} interpolation along rows over each row's known pixels."
    return fn


def zero_fill(observed, mask, *, value_range=(0.0, 1.0), scale=1):
    """The observation itself, missing pixels set to 0: the "no reconstruction" reference."""
    obs, known = _prepare(observed, mask)
    return _finish(np.where(known, obs, 0.0), observed)


def biharmonic(observed, mask, *, value_range=(0.0, 1.0), scale=1):
    """scikit-image biharmonic inpainting of the missing pixels (smooth, keeps known pixels)."""
    from skimage.restoration import inpaint_biharmonic

    obs, known = _prepare(observed, mask)

    def one(image, kn):
        if kn.all():
            return image
        if not kn.any():
            return np.zeros_like(image)
        return inpaint_biharmonic(image, ~kn)

    est = _per_slice(one, obs, known)
    return _finish(np.where(known, obs, np.clip(est, value_range[0], value_range[1])), observed)


def fk_interpolate(data: np.ndarray, known: np.ndarray, *, eps: float = FK_EPS, niter: int = FK_NITER,
                   nfft_factor: float = FK_NFFT_FACTOR, decay_end: float = FK_DECAY_END,
                   max_dip: float | None = FK_MAX_DIP) -> np.ndarray:
    """FK-domain sparse inversion of one gather (H time samples x W traces); see the module docstring."""
    import pylops
    from pylops.optimization.sparsity import fista
    from pylops.signalprocessing import FFT2D
    from scipy.fft import next_fast_len

    data = np.asarray(data, dtype=np.float64)
    known = np.asarray(known, dtype=bool)
    if known.all():
        return data.copy()
    if not known.any():
        return np.zeros_like(data)
    h, w = data.shape
    nffts = (next_fast_len(int(np.ceil(h * nfft_factor))), next_fast_len(int(np.ceil(w * nfft_factor))))
    fft = FFT2D(dims=(h, w), nffts=nffts, real=True, dtype=np.complex128)
    restrict = pylops.Restriction(h * w, np.flatnonzero(known.ravel()), dtype=np.complex128)
    op = restrict @ fft.H
    if max_dip is not None:
        # Dip cone: an event of slope p samples/trace lives at |k| = p |f|; outside |k| <= max_dip |f| (plus a
        # taper of FK_DIP_TAPER cycles/trace) only aliases of decimated traces live, so those are switched off.
        f = np.abs(np.fft.fftfreq(nffts[0]))[:, None]
        k = np.abs(np.fft.rfftfreq(nffts[1]))[None, :]
        weights = np.clip(1.0 - (k - max_dip * f) / FK_DIP_TAPER, 0.0, 1.0)
        cone = pylops.Diagonal(weights.ravel().astype(np.complex128))
        op = op @ cone
    y = data[known].astype(np.complex128)
    reference = float(np.abs(op.H @ y).max())
    if reference == 0.0:
        return np.where(known, data, 0.0)
    decay = np.geomspace(1.0, decay_end, niter) if decay_end < 1 else None
    coeffs, _, _ = fista(op, y, niter=niter, eps=eps * reference, alpha=1.0, decay=decay, tol=0.0)
    if max_dip is not None:
        coeffs = cone @ coeffs
    estimate = np.real(fft.H @ coeffs).reshape(h, w)
    return np.where(known, data, estimate)


def fk(observed, mask, *, value_range=(-1.0, 1.0), scale=1, eps: float = FK_EPS, niter: int = FK_NITER,
       nfft_factor: float = FK_NFFT_FACTOR, decay_end: float = FK_DECAY_END, max_dip: float | None = FK_MAX_DIP):
    """FK-domain sparse inversion (pylops FFT2D + FISTA) per gather: the seismic industry's baseline."""
    if not (eps > 0 and int(niter) >= 1 and nfft_factor >= 1 and 0 < decay_end <= 1):
        raise GanreconError("FK options need eps > 0, niter >= 1, nfft_factor >= 1 and 0 < decay_end <= 1.")
    if max_dip is not None and not max_dip > 0:
        raise GanreconError(f"FK max_dip must be a positive number of samples per trace (or None), got {max_dip}.")
    niter = int(niter)
    obs, known = _prepare(observed, mask)
    est = _per_slice(lambda im, kn: fk_interpolate(im, kn, eps=eps, niter=niter, nfft_factor=nfft_factor,
                                                   decay_end=decay_end, max_dip=max_dip), obs, known)
    return _finish(np.where(known, obs, np.clip(est, value_range[0], value_range[1])), observed)


# --------------------------------------------------------------------------------------------- noise family

def noisy(observed, mask, *, value_range=(0.0, 1.0), scale=1):
    """The noisy observation itself: what you get by doing nothing."""
    obs, _ = _prepare(observed, mask)
    return _finish(obs, observed)


def _median(size: int) -> Callable:
    def fn(observed, mask, *, value_range=(0.0, 1.0), scale=1):
        from scipy.ndimage import median_filter

        obs, _ = _prepare(observed, mask)
        return _finish(median_filter(obs, size=(1, 1, size, size), mode="mirror"), observed, value_range)

    fn.__name__ = f"median{size}"
    fn.__doc__ = f"{size}x{size} median filter per image and channel."
    return fn


def adaptive_median_filter(image: np.ndarray, value_range=(0.0, 1.0), max_window: int = 7) -> np.ndarray:
    """Adaptive median filter for salt & pepper on an N x C x H x W (or H x W) array, vectorised by window size.

    A pixel equal to either end of `value_range` is an impulse candidate; it is replaced by the median of the
    smallest window (3, 5, ..., max_window) whose median is not itself an impulse (strictly inside the value
    range), or by the largest window's median. Other pixels are kept. Gonzalez & Woods' stage A test
    (min < median < max) is not used: next to a brighter region the median of a dark pixel's 3x3 window
    equals the window max, the window grows, and the 7x7 median then comes from the wrong region.
    """
    from scipy.ndimage import median_filter

    image = np.asarray(image, dtype=np.float64)
    lo, hi = float(value_range[0]), float(value_range[1])
    tol = 1e-6 * (hi - lo)

    def is_impulse(v: np.ndarray) -> np.ndarray:
        return (v <= lo + tol) | (v >= hi - tol)

    undecided = is_impulse(image)
    out = image.copy()
    lead = (1,) * (image.ndim - 2)
    for k in range(3, max_window + 1, 2):
        if not undecided.any():
            break
        med = median_filter(image, size=lead + (k, k), mode="mirror")
        take = undecided & (~is_impulse(med) | (k + 2 > max_window))
        out[take] = med[take]
        undecided &= ~take
    return out


def adaptive_median(observed, mask, *, value_range=(0.0, 1.0), scale=1, max_window: int = 7):
    """Classical adaptive median filter for salt & pepper noise (windows 3 -> 5 -> 7)."""
    obs, _ = _prepare(observed, mask)
    return _finish(adaptive_median_filter(obs, value_range, max_window), observed, value_range)


def impulse_candidates(images: torch.Tensor, value_range=(0.0, 1.0)) -> torch.Tensor:
    """Boolean map of the entries at either end of the value range (to 1e-6 of its width): where salt & pepper
    noise can be. Real pixels may be there too (saturated highlights, a digit's black background)."""
    lo, hi = float(value_range[0]), float(value_range[1])
    tol = 1e-6 * (hi - lo)
    return (images <= lo + tol) | (images >= hi - tol)


def _window_median(padded: torch.Tensor, where: torch.Tensor, radius: int, chunk: int = 1 << 18):
    """Median of the non-NaN entries of the (2r+1)^2 windows of `padded` (N x C x H+2r x W+2r, NaN = absent)
    centred on the entries `where` (K x 4 indices of the unpadded grid), averaging the two middle values for an
    even count as numpy does; -> (medians, has_any). Only the K windows are gathered, in chunks (bounded memory)."""
    offsets = torch.arange(2 * radius + 1, device=padded.device)
    dy, dx = (g.reshape(1, -1) for g in torch.meshgrid(offsets, offsets, indexing="ij"))
    medians = torch.empty(len(where), dtype=padded.dtype, device=padded.device)
    has_any = torch.empty(len(where), dtype=torch.bool, device=padded.device)
    for start in range(0, len(where), chunk):
        n, c, y, x = where[start:start + chunk].unbind(1)
        values = padded[n[:, None], c[:, None], y[:, None] + dy, x[:, None] + dx]  # K x (2r+1)^2
        count = (~values.isnan()).sum(1)
        ordered = values.sort(dim=1).values  # NaN sorts last
        low = ordered.gather(1, ((count - 1).clamp_min(0) // 2)[:, None])[:, 0]
        high = ordered.gather(1, (count // 2).clamp_max(values.shape[1] - 1)[:, None])[:, 0]
        medians[start:start + chunk] = (low + high) / 2
        has_any[start:start + chunk] = count > 0
    return medians, has_any


def switching_median_filter(images: torch.Tensor, value_range=(0.0, 1.0), max_window: int = 7) -> torch.Tensor:
    """Switching median filter on N x C x H x W: only impulse candidates (`impulse_candidates`) change, each to
    the median of the non-candidate entries of the smallest window (3x3, 5x5, ... max_window, cut at the image
    border) that holds some; a candidate with none (inside a saturated block) is kept. Clean entries are never
    touched, so the filter cannot blur; vectorised over the candidates, window by window."""
    images = images.detach()
    candidates = impulse_candidates(images, value_range)
    out = images.clone()
    undecided = candidates.nonzero()
    clean_only = images.masked_fill(candidates, float("nan"))
    for k in range(3, max_window + 1, 2):
        if len(undecided) == 0:
            break
        r = k // 2
        medians, has_any = _window_median(F.pad(clean_only, (r, r, r, r), value=float("nan")), undecided, r)
        done = undecided[has_any]
        out[done[:, 0], done[:, 1], done[:, 2], done[:, 3]] = medians[has_any]
        undecided = undecided[~has_any]
    return out


def switching_median(observed, mask, *, value_range=(0.0, 1.0), scale=1, max_window: int = 7):
    """Switching median for salt & pepper: only range-end entries are replaced (median of clean neighbours)."""
    if not isinstance(observed, torch.Tensor):
        observed = torch.as_tensor(np.asarray(observed))
    if observed.ndim != 4:
        raise GanreconError(f"The observed images must be a batch N x C x H x W, got shape {tuple(observed.shape)}.")
    return switching_median_filter(observed.float(), value_range, max_window)


def impulse_biharmonic(observed, mask, *, value_range=(0.0, 1.0), scale=1, iterations: int | None = None):
    """Impulse detection (range-end entries) followed by biharmonic inpainting of the candidates: batched torch
    CG (`ganrecon.inpaint`), scikit-image's answer at a fraction of its time, fast enough to be a training prior.
    `iterations` caps the CG iterations (default `inpaint.ITERATIONS`): a prior may take fewer, which changes
    scattered impulses by under 0.02 dB but leaves large all-candidate regions (a digit's background) unsettled."""
    from ganrecon.inpaint import ITERATIONS, biharmonic_fill

    if not isinstance(observed, torch.Tensor):
        observed = torch.as_tensor(np.asarray(observed))
    observed = observed.float()
    known = ~impulse_candidates(observed, value_range)
    est = biharmonic_fill(observed, known, iterations or ITERATIONS, tolerance=1e-3 if iterations else 1e-6)
    est = est.clamp(float(value_range[0]), float(value_range[1]))
    return torch.where(known, observed, est)  # a slice with no clean entry comes back as it is


def _noise_sigma(image: np.ndarray) -> float:
    """Donoho's robust noise estimate: median |finest diagonal Haar coefficient| / 0.6745.

    Same idea as skimage.restoration.estimate_sigma, without needing PyWavelets (not a dependency).
    """
    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    if h == 0 or w == 0:
        return 0.0
    x = image[:h, :w]
    hh = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2.0
    return float(np.median(np.abs(hh)) / 0.6745)


def tv(observed, mask, *, value_range=(0.0, 1.0), scale=1, weight: float | None = None):
    """Chambolle TV denoising; weight = TV_WEIGHT x sigma^2 / range width (sigma estimated) unless given."""
    from skimage.restoration import denoise_tv_chambolle

    obs, known = _prepare(observed, mask)
    width = float(value_range[1]) - float(value_range[0])

    def one(image, _kn):
        w = weight if weight is not None else TV_WEIGHT * _noise_sigma(image) ** 2 / width
        return denoise_tv_chambolle(image, weight=w) if w > 0 else image

    return _finish(_per_slice(one, obs, known), observed, value_range)


def nlm(observed, mask, *, value_range=(0.0, 1.0), scale=1):
    """Non-local means (fast mode, 5x5 patches, distance 6, h = NLM_H x estimated sigma)."""
    from skimage.restoration import denoise_nl_means

    obs, known = _prepare(observed, mask)

    def one(image, _kn):
        sigma = _noise_sigma(image)
        if sigma <= 0:
            return image
        return denoise_nl_means(image, patch_size=5, patch_distance=6, h=NLM_H * sigma, sigma=sigma,
                                fast_mode=True, preserve_range=True)

    return _finish(_per_slice(one, obs, known), observed, value_range)


# --------------------------------------------------------------------------------------------- down family

def bicubic(observed, mask, *, value_range=(0.0, 1.0), scale=1):
    """Bicubic upsampling by `scale` (torch), clamped to the value range."""
    if not isinstance(observed, torch.Tensor):
        observed = torch.as_tensor(np.asarray(observed))
    if observed.ndim != 4:
        raise GanreconError(f"The observed images must be a batch N x C x H x W, got shape {tuple(observed.shape)}.")
    scale = int(scale)
    if scale < 1:
        raise GanreconError(f"The upsampling scale must be a positive whole number, got {scale}.")
    x = observed.detach().float()
    if scale > 1:
        x = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    return x.clamp(value_range[0], value_range[1])


# --------------------------------------------------------------------------------------------- blur family

def gaussian_psf(sigma: float = 1.0) -> np.ndarray:
    """Normalised 2-D Gaussian PSF of size 2*ceil(3 sigma)+1."""
    r = max(1, int(np.ceil(3 * sigma)))
    ax = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def _psf(psf) -> np.ndarray:
    if psf is None:
        return gaussian_psf(1.0)
    psf = psf.detach().cpu().numpy() if isinstance(psf, torch.Tensor) else np.asarray(psf)
    psf = np.asarray(psf, dtype=np.float64).squeeze()
    if psf.ndim != 2 or psf.sum() <= 0:
        raise GanreconError(f"The PSF must be a 2-D array with a positive sum, got shape {psf.shape}.")
    return psf / psf.sum()


def _padded(fn: Callable[[np.ndarray], np.ndarray], image: np.ndarray, pad: int) -> np.ndarray:
    big = np.pad(image, pad, mode="reflect" if min(image.shape) > pad else "edge")
    return fn(big)[pad:pad + image.shape[0], pad:pad + image.shape[1]]


def identity(observed, mask, *, value_range=(0.0, 1.0), scale=1, psf=None):
    """Do nothing: the distorted image itself."""
    obs, _ = _prepare(observed, mask)
    return _finish(obs, observed)


def wiener(observed, mask, *, value_range=(0.0, 1.0), scale=1, psf=None, balance: float = WIENER_BALANCE):
    """Wiener-Hunt deconvolution (scikit-image) with `psf` (default Gaussian, sigma 1)."""
    from skimage.restoration import wiener as sk_wiener

    kernel = _psf(psf)
    pad = max(kernel.shape)
    obs, known = _prepare(observed, mask)
    est = _per_slice(lambda im, _kn: _padded(lambda b: sk_wiener(b, kernel, balance, clip=False), im, pad),
                     obs, known)
    return _finish(est, observed, value_range)


def richardson_lucy(observed, mask, *, value_range=(0.0, 1.0), scale=1, psf=None,
                    num_iter: int = RL_ITERATIONS):
    """Richardson-Lucy deconvolution (scikit-image), run on the image shifted to be non-negative."""
    from skimage.restoration import richardson_lucy as sk_rl

    kernel = _psf(psf)
    pad = max(kernel.shape)
    lo = float(value_range[0])
    obs, known = _prepare(observed, mask)

    def one(im, _kn):
        shifted = np.clip(im - lo, 0.0, None)
        return _padded(lambda b: sk_rl(b, kernel, num_iter=num_iter, clip=False), shifted, pad) + lo

    return _finish(_per_slice(one, obs, known), observed, value_range)


# --------------------------------------------------------------------------------------------- registry

# --------------------------------------------------------------------------------------------- burst family

def _frames(observed, frames: int) -> torch.Tensor:
    """A burst N x F*C x H x W (frame-major) as N x F x C x H x W, or one sentence when it cannot be split."""
    if not isinstance(observed, torch.Tensor):
        observed = torch.as_tensor(np.asarray(observed))
    if observed.ndim != 4:
        raise GanreconError(f"The observed images must be a batch N x C x H x W, got shape {tuple(observed.shape)}.")
    n, fc, h, w = observed.shape
    if frames < 1 or fc % frames:
        raise GanreconError(f"A burst of {frames} frames needs a multiple of {frames} channels, got {fc}.")
    return observed.detach().float().view(n, frames, fc // frames, h, w)


def _fuse(observed, frames: int, reduce: str, value_range) -> torch.Tensor:
    stack = _frames(observed, frames)
    fused = stack.mean(1) if reduce == "mean" else stack.median(1).values
    return fused.clamp(value_range[0], value_range[1])


def _burst(reduce: str, deconvolve: str | None = None) -> Callable:
    """Temporal `reduce` (mean or median) of a burst's frames, then optionally a deconvolution ("wiener" or "rl",
    with its own option: balance or num_iter) of the result by the burst's long-exposure PSF (the blur of the
    frames' average: the short-exposure blur and the tilts)."""
    if deconvolve is None:
        def fn(observed, mask, *, value_range=(0.0, 1.0), scale=1, psf=None, frames: int = 1):
            return _fuse(observed, frames, reduce, value_range)
    elif deconvolve == "wiener":
        def fn(observed, mask, *, value_range=(0.0, 1.0), scale=1, psf=None, frames: int = 1,
               balance: float = WIENER_BALANCE):
            return wiener(_fuse(observed, frames, reduce, value_range), None, value_range=value_range, psf=psf,
                          balance=balance)
    else:
        def fn(observed, mask, *, value_range=(0.0, 1.0), scale=1, psf=None, frames: int = 1,
               num_iter: int = RL_ITERATIONS):
            return richardson_lucy(_fuse(observed, frames, reduce, value_range), None, value_range=value_range,
                                   psf=psf, num_iter=num_iter)

    fn.__name__ = f"burst_{reduce}" + (f"_{deconvolve}" if deconvolve else "")
    fn.__doc__ = f"Temporal {reduce} of the burst's frames" + (f", then {deconvolve}." if deconvolve else ".")
    return fn


def _registered_mean(observed, frames: int, value_range) -> torch.Tensor:
    registered, _ = register_burst(_frames(observed, frames))
    return registered.mean(1).clamp(value_range[0], value_range[1])


def _registered_psf(short_psf, residual: float) -> np.ndarray:
    """The blur of a registered mean: the short-exposure PSF convolved with the registration error's spread."""
    from scipy.signal import convolve2d

    kernel = _psf(short_psf)
    return convolve2d(kernel, gaussian_psf(residual)) if residual > 0 else kernel


def _burst_registered(deconvolve: str | None = None) -> Callable:
    """burst-register (frames registered onto their mean, then averaged), optionally followed by Wiener or
    Richardson-Lucy with the registered mean's PSF (`_registered_psf`)."""
    if deconvolve is None:
        def fn(observed, mask, *, value_range=(0.0, 1.0), scale=1, frames: int = 1):
            return _registered_mean(observed, frames, value_range)
    elif deconvolve == "wiener":
        def fn(observed, mask, *, value_range=(0.0, 1.0), scale=1, short_psf=None, frames: int = 1,
               residual: float = REGISTER_RESIDUAL, balance: float = REGISTER_BALANCE):
            return wiener(_registered_mean(observed, frames, value_range), None, value_range=value_range,
                          psf=_registered_psf(short_psf, residual), balance=balance)
    else:
        def fn(observed, mask, *, value_range=(0.0, 1.0), scale=1, short_psf=None, frames: int = 1,
               residual: float = REGISTER_RESIDUAL, num_iter: int = RL_ITERATIONS):
            return richardson_lucy(_registered_mean(observed, frames, value_range), None, value_range=value_range,
                                   psf=_registered_psf(short_psf, residual), num_iter=num_iter)

    fn.__name__ = "burst_register" + (f"_{deconvolve}" if deconvolve else "")
    fn.__doc__ = "Frames registered onto their mean, averaged" + (f", then {deconvolve}." if deconvolve else ".")
    return fn


def _b(name, families, fn, signed_only=False, help="", slow=False, on_request=False, odd=False, row_reach=None):
    return Baseline(name, frozenset(families), fn, signed_only, help, slow, on_request, odd, row_reach)


BASELINES: dict[str, Baseline] = {b.name: b for b in [
    _b("zero-fill", {"mask"}, zero_fill, help="observation with missing pixels at 0", odd=True, row_reach=0),
    _b("nearest", {"mask"}, _interpolator("nearest"), help="nearest known pixel along the row", odd=True,
       row_reach=0),
    _b("linear", {"mask"}, _interpolator("linear"), help="linear interpolation across traces/columns", odd=True,
       row_reach=0),
    _b("cubic", {"mask"}, _interpolator("cubic"), help="cubic-spline interpolation across traces/columns", odd=True,
       row_reach=0),
    _b("biharmonic", {"mask"}, biharmonic, help="scikit-image biharmonic inpainting"),
    _b("fk", {"mask"}, fk, signed_only=True, help="FK-domain sparse inversion (pylops FISTA)", slow=True, odd=True),
    _b("pocs", {"mask"}, pocs, signed_only=True, help="POCS with FK thresholding in time windows (Abma & Kabir)",
       odd=True),
    _b("sliding-fk", {"mask"}, sliding_fk, signed_only=True, help="POCS FK interpolation in space-time windows",
       odd=True),
    _b("fx", {"mask"}, fx, signed_only=True, help="Spitz f-x prediction (regular decimation; adaptive otherwise)",
       odd=True),
    _b("dip-steered", {"mask"}, dip_steered, signed_only=True, help="interpolation along semblance-picked slopes",
       odd=True),
    _b("consensus", {"mask"}, consensus, signed_only=True, help="mean of fx, dip-steered and sliding-fk", odd=True),
    _b("deep-prior", {"mask"}, deep_prior, signed_only=True, help="untrained U-Net fitted to the known traces",
       on_request=True),
    _b("noisy", {"noise"}, noisy, help="the noisy observation", row_reach=0),
    _b("median3", {"noise"}, _median(3), help="3x3 median filter", row_reach=1),
    _b("median5", {"noise"}, _median(5), help="5x5 median filter", row_reach=2),
    _b("adaptive-median", {"noise"}, adaptive_median, help="adaptive median filter for salt & pepper", row_reach=3),
    _b("switching-median", {"noise"}, switching_median,
       help="switching median: only range-end entries replaced, by the median of clean neighbours", row_reach=3),
    _b("impulse-biharmonic", {"noise"}, impulse_biharmonic,
       help="range-end entries treated as missing and inpainted (biharmonic)"),
    _b("tv", {"noise"}, tv, help="total-variation denoising (Chambolle)"),
    _b("nlm", {"noise"}, nlm, help="non-local means denoising"),
    _b("bicubic", {"down"}, bicubic, help="bicubic upsampling", row_reach=3),
    _b("identity", {"blur"}, identity, help="the distorted image", row_reach=0),
    _b("burst-mean", {"burst"}, _burst("mean"), help="temporal mean of a burst's frames"),
    _b("burst-median", {"burst"}, _burst("median"), help="temporal median of a burst's frames"),
    _b("burst-mean-wiener", {"burst"}, _burst("mean", "wiener"), help="temporal mean, then Wiener deconvolution"),
    _b("burst-mean-rl", {"burst"}, _burst("mean", "rl"),
       help="temporal mean, then Richardson-Lucy deconvolution"),
    _b("burst-median-wiener", {"burst"}, _burst("median", "wiener"), help="temporal median, then Wiener"),
    _b("burst-median-rl", {"burst"}, _burst("median", "rl"), help="temporal median, then Richardson-Lucy"),
    _b("burst-register", {"burst"}, _burst_registered(), help="frames registered onto their mean, then averaged"),
    _b("burst-register-wiener", {"burst"}, _burst_registered("wiener"),
       help="registered mean, then Wiener with the short-exposure PSF"),
    _b("burst-register-rl", {"burst"}, _burst_registered("rl"),
       help="registered mean, then Richardson-Lucy with the short-exposure PSF"),
    _b("wiener", {"blur"}, wiener, help="Wiener deconvolution with a known PSF"),
    _b("richardson-lucy", {"blur"}, richardson_lucy, help="Richardson-Lucy deconvolution with a known PSF"),
]}

# Families that change which pixels exist (missing ones, a coarser grid): a baseline must handle these to give
# a clean-shaped estimate at all. Noise and blur only perturb values.
STRUCTURAL_FAMILIES = frozenset({"mask", "down", "burst"})


def _families(degradation) -> set[str]:
    if isinstance(degradation, str):
        from ganrecon.degrade import parse_degradation

        degradation = parse_degradation(degradation)
    families = getattr(degradation, "families", degradation)
    if isinstance(families, str):
        return {families}
    if not isinstance(families, Iterable):
        raise GanreconError(f"Cannot tell the degradation families of {degradation!r}.")
    return set(families)


def applicable_baselines(degradation, value_range, on_request: bool = False) -> list[Baseline]:
    """Baselines for a degradation (object with `.families`, a spec string, or a set of family names).

    A baseline applies when its families meet the degradation's, it covers every structural family present
    (so `keep-first:400+gauss:0.05` gets the mask baselines, not denoisers that would leave the hole at 0 and
    `down:4+gauss:0.1` gets bicubic, not a low-resolution median), and it is not seismic-only on unsigned data.
    Baselines that run only on request (the deep prior: seconds per image) are left out unless `on_request`.
    """
    families = _families(degradation)
    signed = float(value_range[0]) < 0
    chosen = []
    for b in BASELINES.values():
        if not (b.families & families) or not (families & STRUCTURAL_FAMILIES) <= b.families:
            continue
        if (b.signed_only and not signed) or (b.on_request and not on_request):
            continue
        chosen.append(b)
    return chosen


def run_baseline(name, observed, mask, *, value_range=(0.0, 1.0), scale=1, **options) -> torch.Tensor:
    """Run the baseline called `name`; `options` go to its function (e.g. ``psf=`` for wiener, ``eps=`` for fk)."""
    baseline = BASELINES.get(str(name).strip().lower())
    if baseline is None:
        raise GanreconError(f"Unknown baseline {name!r}; known baselines: {', '.join(BASELINES)}.")
    accepted = inspect.signature(baseline.fn).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise GanreconError(f"The {baseline.name} baseline does not take the option(s) {', '.join(unknown)}.")
    return baseline.fn(observed, mask, value_range=tuple(value_range), scale=scale, **options)


# --------------------------------------------------------------------------------------------- bm3d (optional)

BM3D_EXTRA = "pip install 'ganrecon[bench]'"


def bm3d_installed() -> bool:
    """True when the optional `bm3d` package can be imported (checked without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("bm3d") is not None
    except (ImportError, ValueError):
        return False


def bm3d_denoise(observed, mask, *, value_range=(0.0, 1.0), scale=1, sigma: float | None = None):
    """BM3D (the `bm3d` package, the reference Gaussian denoiser) per image and channel.

    sigma: the noise std as a fraction of the value-range width, as in ``gauss:SIGMA`` (pass the degradation's
    parameter when it is known); None estimates it per slice with skimage.restoration.estimate_sigma.
    """
    try:
        import bm3d
        from skimage.restoration import estimate_sigma
    except ImportError:
        raise GanreconError(f"The bm3d baseline needs the optional bm3d package: {BM3D_EXTRA}.") from None
    obs, known = _prepare(observed, mask)
    lo, width = float(value_range[0]), float(value_range[1]) - float(value_range[0])

    def one(image, _kn):
        unit = (image - lo) / width
        s = float(sigma) if sigma is not None else float(estimate_sigma(unit))
        return image if s <= 0 else np.asarray(bm3d.bm3d(unit, sigma_psd=s), dtype=np.float64) * width + lo

    return _finish(_per_slice(one, obs, known), observed, value_range)


BASELINES["bm3d"] = _b("bm3d", {"noise"} if bm3d_installed() else (), bm3d_denoise,
                       help=f"BM3D for Gaussian noise (optional: {BM3D_EXTRA})",
                       slow=True)  # ~0.9 CPU-s per image: left out of training validation on large batches
