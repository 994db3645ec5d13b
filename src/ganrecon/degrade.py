"""Forward operators: clean images -> (observed, mask), parsed from degradation spec strings.

Why one module of small objects: every task (missing traces, super-resolution, turbulence, latent inpainting,
denoising) is "a forward operator plus a model", so the operators must be seeded, batched, run on the model's
device and compose the same way everywhere (`keep-first:400+gauss:0.05`).

Conventions for every operator (see the contract):
- input `clean` is N x C x H x W; `value_range` says what the data means ((0, 1) images, (-1, 1) seismic);
- output `(observed, mask)`: mask is float32 of observed's shape, 1 = observed, 0 = missing, the same for
  every channel of a pixel; missing entries of `observed` are 0 (zero-fill);
- the operator runs on the input's device, and so do its random draws: randomness comes only from `generator`;
  an int seed (or `None`, meaning seed 0, so a call without a generator is reproducible) seeds a generator on
  the input's device (on the CPU the numbers are those of `torch.Generator().manual_seed(seed)`). An explicit
  `torch.Generator` is used where it lives and its draws are moved to the input's device, so a CPU generator
  gives the same degradation on CPU and GPU;
- the mask lives on the observed grid: after a `down:S` part it is H/S x W/S like `observed` (each observed
  pixel stands for an S x S block of the clean image; `ganrecon.metrics` maps it back for the missing region);
- `parameters` says what the methods that undo the operator need to know (OperatorParameters: scale, PSF,
  mask grid); the baselines take the fields they accept from it.

Composition (`a+b+c`): parts apply left to right, masks multiply, and observed is zero-filled at the end, so a
noise part never leaves a value in a missing entry. The rule that keeps shapes and physics consistent is the
order of image formation: optics first, then sampling. `down` and `turbulence` act on a full image, so they
may not follow a part that removes pixels (`columns:...+down:2` is an error; write `down:2+columns:...`, which
removes columns of the low-resolution image). At most one `down` part is allowed (write `down:4`, not
`down:2+down:2`).

Gaussian noise is NOT clipped by default: the measurement model `y = A x + n` with zero-mean `n` is what the
latent inversion cost, TV/non-local-means and Wiener filters assume, and clipping would bias dark and bright
regions. Add `:clip=1` to mimic noise baked into a saved 8-bit image (scikit-image's `random_noise` clips).

Turbulence model (`turbulence:STRENGTH[:corr=8,tilt=1,blur=1]`)
---------------------------------------------------------------
Light crossing a turbulent atmosphere meets refractive-index fluctuations with a Kolmogorov spectrum. Their
effect on a short exposure splits into two parts: the low-order phase (tilt) shifts each point of the scene,
and because the air path differs across the field of view (anisoplanatism) the shift varies smoothly across
the image, giving a wobbly geometric distortion; the higher-order phase spreads each point into a
short-exposure PSF whose width also varies across the field. Phase-screen simulators propagate light through
Kolmogorov screens; Chimitt & Chan's phase-to-space (P2S) simulator draws spatially correlated Zernike
coefficients directly and turns them into tilts and blur kernels. We implement the simpler model many
restoration papers train on, keeping the two effects and their spatial correlation:
1. tilt: a displacement field (dx, dy) of white Gaussian noise smoothed by a Gaussian of standard deviation
   `corr` pixels (the correlation length, roughly the isoplanatic patch), scaled exactly to a per-axis
   standard deviation of `tilt * strength` pixels, applied with `grid_sample` (bilinear, reflected at the
   borders);
2. spatially varying blur: three Gaussian blurs of standard deviation (0.5, 1, 1.5) x `blur * strength` pixels
   blended by a smooth random map (another correlated field, passed through the normal CDF so it is uniform
   on [0, 1]); the expected blend weights are 1/4, 1/2, 1/4, so the mean blur width is `blur * strength`.
The same field is used for all channels (turbulence is nearly achromatic). Lengths are in pixels of the input,
so tiles of a large image get the same statistics as the whole image. `turbulence_mean_psf` returns the
operator's expected PSF (blur mixture convolved with the tilt distribution: the long-exposure PSF) or, without
the tilt, the expected short-exposure blur. The operator's `parameters.psf` is the short-exposure one: a random
displacement cannot be deconvolved, and on the validation band of the turbulence benchmark (docs/RESULTS.md)
Wiener and Richardson-Lucy score better with it at every strength tried (0.5, 1, 1.5).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganrecon.errors import GanreconError
from ganrecon.specs import parse_float, parse_int, parse_options, split_kind

__all__ = [
    "DEGRADATION_SPECS",
    "Burst",
    "ColumnsGap",
    "ColumnsRandom",
    "ColumnsRegular",
    "Compose",
    "Degradation",
    "Down",
    "Gauss",
    "KeepFirst",
    "OperatorParameters",
    "PhaseScreenTurbulence",
    "PixelsRandom",
    "SaltPepper",
    "Turbulence",
    "UserMask",
    "gaussian_blur",
    "parse_degradation",
    "turbulence_mean_psf",
    "warp_by",
]

DEGRADATION_SPECS: dict[str, str] = {
    "columns:random": "columns:random:F -- a fraction F in [0, 1) of columns missing (round(F*W) per image, "
                      "chosen independently per image).",
    "columns:regular": "columns:regular:K -- keep every K-th column (0, K, 2K, ...), K >= 2.",
    "columns:gap": "columns:gap:W -- one contiguous gap of W missing columns per image at a random position.",
    "keep-first": "keep-first:N -- keep the first N entries of the column-major (Fortran-order) flattened "
                  "image.",
    "pixels:random": "pixels:random:F -- a fraction F in [0, 1) of pixels missing (exact count per image).",
    "mask": "mask:PATH -- a user mask from .npy or PNG, nonzero = observed, same H x W as the images.",
    "gauss": "gauss:SIGMA[:clip=0|1] -- additive Gaussian noise, std SIGMA x value-range width, unclipped "
             "by default.",
    "sp": "sp:AMOUNT[:SALT_RATIO] -- salt & pepper: a fraction AMOUNT of entries set to the range max "
          "(share SALT_RATIO, default 0.5) or min.",
    "down": "down:S -- antialiased bicubic downsampling by S in {2, 4, 8} (H and W divisible by S).",
    "turbulence": "turbulence:STRENGTH[:corr=8,tilt=1,blur=1,frames=1,fields=padded] -- atmospheric turbulence: "
                  "smooth random warp plus spatially varying blur; frames=N: a burst of N frames (stacked "
                  "channels); fields=factored: the same distribution from fewer random numbers (faster, other "
                  "draws).",
    "phase-screen": "phase-screen:D_R0[:sampling=2,patch=16,frames=1] -- turbulence through a Kolmogorov phase "
                    "screen: aperture over Fried's parameter D_R0 (0-16], pixels per lambda/D, isoplanatic patch "
                    "in pixels; frames=N: a burst.",
}

# Split on "+" only where a word that could be a kind follows ("+gauss:", "+foo"), so a mask path such as
# "mask:a+b.npy" stays whole while unknown kinds are still reported by name.
_SPLIT_RE = re.compile(r"\+(?=\s*[A-Za-z][A-Za-z-]*\s*(?::|$))")

_FAMILY_PRIORITY = ("down", "burst", "blur", "mask", "noise")
_MAX_TURBULENCE_PX = 256  # longest turbulence length (corr, strength x tilt, strength x blur) in pixels


# ----------------------------------------------------------------------------------------------- helpers

def _generator(generator: torch.Generator | int | None, device: torch.device) -> torch.Generator:
    """A seed-0 generator on `device` for None (reproducible default), a seeded one for an int, else as given."""
    if generator is None:
        generator = 0
    if isinstance(generator, bool) or not isinstance(generator, (int, torch.Generator)):
        raise GanreconError(
            f"generator must be a torch.Generator or an int seed, got {type(generator).__name__}.")
    if isinstance(generator, int):
        return torch.Generator(device=device).manual_seed(generator)
    return generator


def _rand(shape: tuple[int, ...], gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(shape, generator=gen, device=gen.device).to(device)


def _randn(shape: tuple[int, ...], gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(shape, generator=gen, device=gen.device).to(device)


def _choose(n: int, m: int, k: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Indices (n x k) of exactly k distinct positions out of m per row, in random order."""
    return _rand((n, m), gen, device).argsort(dim=1)[:, :k]


def _check_images(clean: torch.Tensor, value_range) -> tuple[float, float]:
    if not isinstance(clean, torch.Tensor) or clean.ndim != 4:
        shape = tuple(clean.shape) if isinstance(clean, torch.Tensor) else type(clean).__name__
        raise GanreconError(f"Degradations expect an N x C x H x W tensor, got {shape}.")
    if not clean.is_floating_point():
        raise GanreconError(f"Degradations expect a floating-point tensor, got {clean.dtype}.")
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise GanreconError(f"value_range must be a pair (low, high), got {value_range!r}.") from None
    if not hi > lo:
        raise GanreconError(f"value_range must have low < high, got {value_range!r}.")
    return lo, hi


def _gauss_kernel1d(sigma: float, device=None) -> torch.Tensor:
    """Sampled, normalised 1-D Gaussian with radius ceil(3 sigma); sigma ~ 0 gives the identity [1]."""
    if sigma < 1e-3:
        return torch.ones(1, device=device)
    radius = max(1, math.ceil(3.0 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(device=device, dtype=torch.float32)


_MATRIX_MAX = 192  # the longest side (of a padded canvas) filtered by matrix products rather than convolution


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of N x C x H x W with replicated borders (works for any image size). Images up to
    _MATRIX_MAX a side are filtered by two matrix products (the blur as an H x H and a W x W matrix with the
    borders folded in): there a one-channel convolution is several times slower; on larger ones it is faster."""
    k = _gauss_kernel1d(sigma, x.device).to(x.dtype)
    r = (k.numel() - 1) // 2
    if r == 0:
        return x
    n, c, h, w = x.shape
    if max(h, w) <= _MATRIX_MAX:
        rows = _blur_matrix(k, h)
        return rows @ x @ (rows if w == h else _blur_matrix(k, w)).T
    y = x.reshape(n * c, 1, h, w)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return y.reshape(n, c, h, w)


def _blur_matrix(k: torch.Tensor, size: int) -> torch.Tensor:
    """size x size matrix of the 1-D correlation with the odd kernel k and replicated borders: the 'valid'
    correlation of the edge-padded vector, the padding folded in (taps that fall off an edge add to its sample)."""
    r = (k.numel() - 1) // 2
    padded = torch.arange(-r, size + r, device=k.device).clamp(0, size - 1)  # the sample each padded entry copies
    pad = torch.zeros(size + 2 * r, size, device=k.device, dtype=k.dtype)
    pad[torch.arange(size + 2 * r, device=k.device), padded] = 1
    return _valid_filter_matrix(k, size) @ pad


def warp_by(x: torch.Tensor, disp: torch.Tensor) -> torch.Tensor:
    """x (N x C x H x W) sampled at each pixel + disp (N x 2 x H x W: dx, dy in pixels), bilinear, reflected at
    the borders: the output at p is x(p + disp(p))."""
    n, _, h, w = x.shape
    xs = (torch.arange(w, device=x.device, dtype=torch.float32) + 0.5) * (2.0 / w) - 1.0
    ys = (torch.arange(h, device=x.device, dtype=torch.float32) + 0.5) * (2.0 / h) - 1.0
    gx = xs.view(1, 1, w) + disp[:, 0] * (2.0 / w)
    gy = ys.view(1, h, 1) + disp[:, 1] * (2.0 / h)
    grid = torch.stack((gx, gy), dim=-1).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _smooth_field(n: int, h: int, w: int, corr: float, gen: torch.Generator, device,
                  factored: bool = False) -> torch.Tensor:
    """n x h x w stationary Gaussian field with unit variance and Gaussian correlation of scale `corr` px.

    White noise is drawn on a padded canvas and filtered with a 'valid' convolution, so there is no border
    effect, and divided by the exact std of the filtered noise (sum of squared taps), not an empirical one:
    small images with long correlation keep the right amplitude statistics. The separable filter runs as two
    matrix products (a banded matrix per axis) on canvases up to _MATRIX_MAX a side, where a one-channel
    convolution with a kernel this long is slower; larger ones are convolved.

    `factored` draws such small fields as S_h Z S_w^T from h x w normals Z, S the square roots of the filtered
    noise's row and column covariances: the same distribution from several times fewer random numbers (at
    48 px a quarter; drawing them was most of a turbulent burst's cost), but other realisations than the
    padded canvas, which therefore stays the default (test sets drawn before stay as they were).
    """
    k = _gauss_kernel1d(corr, device)
    r = (k.numel() - 1) // 2
    small = max(h, w) + 2 * r <= _MATRIX_MAX
    if r and small and factored:
        rows = _covariance_root(corr, h).to(device)
        columns = rows if w == h else _covariance_root(corr, w).to(device)
        return rows @ _randn((n, h, w), gen, device) @ columns.T
    noise = _randn((n, 1, h + 2 * r, w + 2 * r), gen, device)
    if not r:
        return noise[:, 0]
    if small:
        rows = _valid_filter_matrix(k, h)
        noise = rows @ noise[:, 0] @ (rows if w == h else _valid_filter_matrix(k, w)).T
    else:
        noise = F.conv2d(F.conv2d(noise, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))[:, 0]
    return noise / float(k.square().sum())


@functools.lru_cache(maxsize=32)
def _covariance_root(corr: float, size: int) -> torch.Tensor:
    """Symmetric square root S (S S^T = C) of the covariance C of `size` consecutive samples of white noise
    filtered by the 'valid' Gaussian of scale corr, normalised to unit variance. Computed in float64 through
    the eigendecomposition: C's smallest eigenvalues are round-off (the filter removes high frequencies), which
    a Cholesky factorisation would refuse."""
    k = _gauss_kernel1d(corr).double()
    filt = _valid_filter_matrix(k, size)
    lam, vectors = torch.linalg.eigh(filt @ filt.T / float(k.square().sum()))
    return ((vectors * lam.clamp(min=0).sqrt()) @ vectors.T).float()


def _valid_filter_matrix(k: torch.Tensor, size: int) -> torch.Tensor:
    """size x (size + len(k) - 1) matrix M with (M v)[i] = sum_t k[t] v[i + t]: a 'valid' correlation as a product."""
    taps = k.numel()
    rows = torch.arange(size, device=k.device)[:, None]
    matrix = torch.zeros(size, size + taps - 1, device=k.device, dtype=k.dtype)
    matrix[rows, rows + torch.arange(taps, device=k.device)] = k
    return matrix


def _parse_bool(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise GanreconError(f"{name} must be 0 or 1 (or true/false), got {text!r}.")


# ----------------------------------------------------------------------------------------------- base

@dataclass(frozen=True, eq=False)
class OperatorParameters:
    """What a degradation tells the methods that undo it; a baseline takes the fields its function accepts
    (`scale` for bicubic, `psf` for Wiener and Richardson-Lucy)."""

    scale: int = 1                    # clean size / observed size (a down:S part)
    psf: np.ndarray | None = None     # blur kernel to deconvolve (2-D, sums to 1); None without a blur part
    mask_grid: str = "observed"       # the mask has the observed image's shape (H/scale x W/scale)
    frames: int = 1                   # a burst: frames of the scene stacked along the channels (frame-major)
    short_psf: np.ndarray | None = None  # a burst: one frame's short-exposure blur (what is left once registered)

    def options(self) -> dict:
        """The parameters a baseline function may take, by keyword (absent ones left out)."""
        return {"scale": self.scale, **({"psf": self.psf} if self.psf is not None else {}),
                **({"frames": self.frames} if self.frames > 1 else {}),
                **({"short_psf": self.short_psf} if self.short_psf is not None else {})}


class Degradation:
    """A forward operator: `op(clean, value_range=..., generator=...) -> (observed, mask)`; `a + b` composes.

    `generator` may be a torch.Generator (advanced by the call, like any torch sampler), an int seed, or None
    (seed 0, so repeated calls give the same result).
    """

    family: str = ""
    spec: str = ""

    def __call__(self, clean: torch.Tensor, *, value_range=(0.0, 1.0),
                 generator: torch.Generator | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = _check_images(clean, value_range)
        gen = _generator(generator, clean.device)
        mask = torch.ones_like(clean, dtype=torch.float32)
        observed, mask = self._apply(clean, mask, lo, hi, gen)
        return observed * mask.to(observed.dtype), mask

    def _apply(self, x, mask, lo, hi, gen):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def parts(self) -> tuple[Degradation, ...]:
        return (self,)

    @property
    def families(self) -> set[str]:
        return {p.family for p in self.parts}

    @property
    def scale(self) -> int:
        return 1

    @property
    def psf(self) -> np.ndarray | None:
        return None

    @property
    def frames(self) -> int:
        """Frames of the scene the observation stacks along its channels (a burst), else 1."""
        return 1

    @property
    def short_psf(self) -> np.ndarray | None:
        """A burst's per-frame short-exposure blur (what registration leaves to deconvolve), else None."""
        return None

    @property
    def parameters(self) -> OperatorParameters:
        return OperatorParameters(scale=self.scale, psf=self.psf, frames=self.frames, short_psf=self.short_psf)

    def _params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def __add__(self, other: Degradation | str) -> Compose:
        if isinstance(other, str):
            other = parse_degradation(other)
        if not isinstance(other, Degradation):
            return NotImplemented
        return Compose([*self.parts, *other.parts])

    def __radd__(self, other: str) -> Compose:
        if isinstance(other, str):
            return parse_degradation(other) + self
        return NotImplemented


class _MaskOp(Degradation):
    """Removes pixels: builds an N x H x W 0/1 pattern, shared by all channels of a pixel."""

    family = "mask"

    def _pattern(self, n: int, h: int, w: int, gen: torch.Generator, device) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def _apply(self, x, mask, lo, hi, gen):
        n, c, h, w = x.shape
        pattern = self._pattern(n, h, w, gen, x.device).to(torch.float32)
        return x, mask * pattern[:, None].expand(n, c, h, w)


# ----------------------------------------------------------------------------------------------- masks

class ColumnsRandom(_MaskOp):
    """Exactly round(F * W) whole columns missing, drawn independently per image (random missing traces)."""

    def __init__(self, fraction: float, spec: str | None = None):
        self.fraction = float(fraction)
        self.spec = spec or f"columns:random:{fraction:g}"

    def _params(self):
        return {"fraction": self.fraction}

    def _pattern(self, n, h, w, gen, device):
        k = round(self.fraction * w)
        cols = torch.ones(n, w, device=device)
        if k:
            cols.scatter_(1, _choose(n, w, k, gen, device), 0.0)
        return cols[:, None, :].expand(n, h, w)


class ColumnsRegular(_MaskOp):
    """Keep columns 0, K, 2K, ... (regular decimation of traces); deterministic."""

    def __init__(self, every: int, spec: str | None = None):
        self.every = int(every)
        self.spec = spec or f"columns:regular:{every}"

    def _params(self):
        return {"every": self.every}

    def _pattern(self, n, h, w, gen, device):
        cols = (torch.arange(w, device=device) % self.every == 0).float()
        return cols.view(1, 1, w).expand(n, h, w)


class ColumnsGap(_MaskOp):
    """One contiguous run of `width` missing columns per image.

    The start is uniform over positions that leave at least one observed column on each side (when the image
    is at least width + 2 wide), so the gap is an interpolation problem, as for an obstacle inside a survey,
    not an extrapolation off the edge.
    """

    def __init__(self, width: int, spec: str | None = None):
        self.width = int(width)
        self.spec = spec or f"columns:gap:{width}"

    def _params(self):
        return {"width": self.width}

    def _pattern(self, n, h, w, gen, device):
        if self.width >= w:
            raise GanreconError(
                f"The gap in {self.spec!r} is {self.width} columns wide but the images are only {w} wide.")
        first, last = (1, w - self.width - 1) if w - self.width >= 2 else (0, w - self.width)
        start = first + (_rand((n,), gen, device) * (last - first + 1)).long().clamp(max=last - first)
        cols = torch.arange(w, device=device)[None, :]
        missing = (cols >= start[:, None]) & (cols < start[:, None] + self.width)
        return (~missing).float()[:, None, :].expand(n, h, w)


class KeepFirst(_MaskOp):
    """Keep the first N entries of the image flattened column-major (Fortran order: column 0 top to bottom,
    then column 1, ...): the measurement T = [I 0] of the reference latent-inversion exercise."""

    def __init__(self, n: int, spec: str | None = None):
        self.n = int(n)
        self.spec = spec or f"keep-first:{n}"

    def _params(self):
        return {"n": self.n}

    def _pattern(self, n, h, w, gen, device):
        if self.n > h * w:
            raise GanreconError(
                f"{self.spec!r} keeps {self.n} entries but the images have only {h * w} pixels.")
        rows = torch.arange(h, device=device)[:, None]
        cols = torch.arange(w, device=device)[None, :]
        keep = (cols * h + rows) < self.n
        return keep.float()[None].expand(n, h, w)


class PixelsRandom(_MaskOp):
    """Exactly round(F * H * W) missing pixels (all channels) per image, drawn independently per image."""

    def __init__(self, fraction: float, spec: str | None = None):
        self.fraction = float(fraction)
        self.spec = spec or f"pixels:random:{fraction:g}"

    def _params(self):
        return {"fraction": self.fraction}

    def _pattern(self, n, h, w, gen, device):
        k = round(self.fraction * h * w)
        flat = torch.ones(n, h * w, device=device)
        if k:
            flat.scatter_(1, _choose(n, h * w, k, gen, device), 0.0)
        return flat.view(n, h, w)


class UserMask(_MaskOp):
    """A fixed mask from a file (nonzero = observed), loaded once when the spec is parsed."""

    def __init__(self, path: str | Path, spec: str | None = None):
        self.path = str(path)
        self.spec = spec or f"mask:{path}"
        self.array = _load_mask(Path(path).expanduser())

    def _params(self):
        return {"path": self.path, "shape": tuple(self.array.shape)}

    def _pattern(self, n, h, w, gen, device):
        if tuple(self.array.shape) != (h, w):
            mh, mw = self.array.shape
            raise GanreconError(
                f"The mask from {self.path!r} is {mh}x{mw} but the images are {h}x{w}.")
        return torch.from_numpy(self.array).to(device=device, dtype=torch.float32)[None].expand(n, h, w)


def _load_mask(path: Path) -> np.ndarray:
    """.npy (never unpickled) or an image file (PNG, TIFF, BMP) -> H x W bool, nonzero = observed."""
    if not path.is_file():
        raise GanreconError(f"Mask file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable file becomes one sentence
            raise GanreconError(
                f"Could not read mask file {str(path)!r} as a plain NumPy array "
                f"({type(exc).__name__}).") from None
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 2 or arr.dtype.kind not in "biuf":
            raise GanreconError(
                f"Mask file {str(path)!r} must hold a numeric H x W array, got shape {arr.shape} "
                f"and dtype {arr.dtype}.")
        return arr != 0
    if suffix in (".png", ".tif", ".tiff", ".bmp"):
        from PIL import Image

        try:
            with Image.open(path) as img:
                if img.mode in ("P", "PA"):
                    img = img.convert("RGBA")
                arr = np.asarray(img)
        except Exception as exc:  # noqa: BLE001
            raise GanreconError(
                f"Could not read mask file {str(path)!r} as an image ({type(exc).__name__}).") from None
        if arr.ndim == 3:  # colour: ignore alpha, observed where any colour channel is nonzero
            arr = arr[..., :3] if arr.shape[-1] >= 3 else arr[..., :1]
            return (arr != 0).any(axis=-1)
        return arr != 0
    raise GanreconError(
        f"Mask file {str(path)!r} must be .npy or .png (or .tif/.bmp), not {suffix or 'extensionless'}.")


# ----------------------------------------------------------------------------------------------- noise

class Gauss(Degradation):
    """Additive white Gaussian noise, std = sigma x (value-range width), unclipped unless clip=True.

    Relative to the range width so one spec means the same on [0, 1] images and (-1, 1) seismic; unclipped so
    the noise stays zero-mean (the measurement model of inversion and classical denoisers); `clip` mimics
    noise stored in an image file.
    """

    family = "noise"

    def __init__(self, sigma: float, clip: bool = False, spec: str | None = None):
        self.sigma = float(sigma)
        self.clip = bool(clip)
        self.spec = spec or (f"gauss:{sigma:g}" + (":clip=1" if clip else ""))

    def _params(self):
        return {"sigma": self.sigma, "clip": self.clip}

    def _apply(self, x, mask, lo, hi, gen):
        y = x + self.sigma * (hi - lo) * _randn(tuple(x.shape), gen, x.device).to(x.dtype)
        if self.clip:
            y = y.clamp(lo, hi)
        return y, mask


class SaltPepper(Degradation):
    """Impulse noise: exactly round(AMOUNT x C x H x W) entries per image replaced, round(SALT_RATIO x that)
    of them by the range max (salt), the rest by the range min (pepper).

    Per entry (each channel independently), like scikit-image's `random_noise(mode="s&p")` that the reference
    denoising experiment used, but with exact counts so a given amount means the same on every image.
    """

    family = "noise"

    def __init__(self, amount: float, salt_ratio: float = 0.5, spec: str | None = None):
        self.amount = float(amount)
        self.salt_ratio = float(salt_ratio)
        self.spec = spec or f"sp:{amount:g}:{salt_ratio:g}"

    def _params(self):
        return {"amount": self.amount, "salt_ratio": self.salt_ratio}

    def _apply(self, x, mask, lo, hi, gen):
        n = x.shape[0]
        m = x[0].numel()
        k = round(self.amount * m)
        if k == 0:
            return x, mask
        ks = round(self.salt_ratio * k)
        idx = _choose(n, m, k, gen, x.device)
        values = torch.full((n, k), lo, dtype=x.dtype, device=x.device)
        values[:, :ks] = hi
        y = x.reshape(n, m).clone()
        y.scatter_(1, idx, values)
        return y.view_as(x), mask


# ----------------------------------------------------------------------------------------------- optics

class Down(Degradation):
    """Antialiased bicubic downsampling by S (the usual super-resolution degradation), clamped to the value
    range because bicubic overshoot is a resampling artefact, not signal a stored low-res image would hold."""

    family = "down"

    def __init__(self, factor: int, spec: str | None = None):
        self.factor = int(factor)
        self.spec = spec or f"down:{factor}"

    def _params(self):
        return {"factor": self.factor}

    @property
    def scale(self) -> int:
        return self.factor

    def _apply(self, x, mask, lo, hi, gen):
        h, w = x.shape[-2:]
        s = self.factor
        if h % s or w % s:
            raise GanreconError(f"{self.spec!r} needs H and W divisible by {s}, but the images are {h}x{w}.")
        y = F.interpolate(x, size=(h // s, w // s), mode="bicubic", antialias=True, align_corners=False)
        y = y.clamp(lo, hi)
        return y, torch.ones_like(y, dtype=torch.float32)


_BLUR_LEVELS = (0.5, 1.0, 1.5)  # blur std of each level, in units of the mean blur
_BLUR_WEIGHTS = (0.25, 0.5, 0.25)  # expected blend weights when the blend map is uniform on [0, 1]


class Turbulence(Degradation):
    """Atmospheric turbulence: smooth random tilt field (grid_sample warp) + spatially varying Gaussian blur.

    strength scales both effects; corr = correlation length of the tilt and blur maps (px), tilt = per-axis
    displacement std per unit strength (px), blur = mean blur std per unit strength (px). See the module
    docstring for the physics.
    """

    family = "blur"

    def __init__(self, strength: float, corr: float = 8.0, tilt: float = 1.0, blur: float = 1.0,
                 fields: str = "padded", spec: str | None = None):
        self.strength = float(strength)
        self.corr = float(corr)
        self.tilt = float(tilt)
        self.blur = float(blur)
        self.fields = fields  # how the smooth fields are drawn: "padded" or "factored" (see _smooth_field)
        self.spec = spec or f"turbulence:{strength:g}:corr={corr:g},tilt={tilt:g},blur={blur:g},fields={fields}"

    def _params(self):
        return {"strength": self.strength, "corr": self.corr, "tilt": self.tilt, "blur": self.blur,
                "fields": self.fields}

    def mean_psf(self, include_tilt: bool = True, size: int | None = None) -> np.ndarray:
        return turbulence_mean_psf(self.strength, tilt=self.tilt, blur=self.blur,
                                   include_tilt=include_tilt, size=size)

    @property
    def psf(self) -> np.ndarray | None:
        """The expected short-exposure blur (see the module docstring); None when there is no blur."""
        if self.blur * self.strength <= 0:
            return None
        return self.mean_psf(include_tilt=False)

    def _apply(self, x, mask, lo, hi, gen):
        n, _, h, w = x.shape
        device = x.device
        # 1. tilt: correlated displacement field in pixels -> normalised grid_sample coordinates
        amp = self.tilt * self.strength
        factored = self.fields == "factored"
        disp = _smooth_field(2 * n, h, w, self.corr, gen, device, factored).view(n, 2, h, w) * amp
        warped = warp_by(x, disp)
        # 2. spatially varying blur: blend blur levels with triangular weights of a uniform smooth map
        t = torch.special.ndtr(_smooth_field(n, h, w, self.corr, gen, device, factored)) * (len(_BLUR_LEVELS) - 1)
        mean_sigma = self.blur * self.strength
        out = torch.zeros_like(warped)
        for i, f in enumerate(_BLUR_LEVELS):
            weight = (1.0 - (t - i).abs()).clamp(min=0.0)[:, None].to(x.dtype)
            out = out + weight * gaussian_blur(warped, f * mean_sigma)
        return out, mask


class PhaseScreenTurbulence(Degradation):
    """Turbulence derived from one Kolmogorov phase screen per image (ganrecon.phase_screen): each pixel warped by
    its aperture footprint's Z-tilt, then blurred by that footprint's tilt-free short-exposure PSF.

    d_r0 = aperture diameter / Fried's parameter (the turbulence strength an optician states), sampling =
    pixels per lambda / D (2 = Nyquist), patch = image pixels over which the footprint moves by one aperture
    (about the isoplanatic patch)."""

    family = "blur"

    def __init__(self, d_r0: float, sampling: int = 2, patch: float = 16.0, spec: str | None = None):
        from ganrecon.phase_screen import check_screen_options

        check_screen_options(float(d_r0), int(sampling), float(patch))
        self.d_r0, self.sampling, self.patch = float(d_r0), int(sampling), float(patch)
        self.spec = spec or f"phase-screen:{self.d_r0:g}:sampling={self.sampling},patch={self.patch:g}"

    def _params(self):
        return {"d_r0": self.d_r0, "sampling": self.sampling, "patch": self.patch}

    @property
    def psf(self) -> np.ndarray:
        """The expected short-exposure PSF (tilt removed), averaged over 64 screens of a fixed seed."""
        from ganrecon.phase_screen import mean_short_exposure_psf

        return mean_short_exposure_psf(self.d_r0, self.sampling).double().numpy()

    def _apply(self, x, mask, lo, hi, gen):
        from ganrecon.phase_screen import simulate

        if gen.device.type != "cpu":  # screens are drawn on the CPU, from this generator's stream
            seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
            gen = torch.Generator().manual_seed(seed)
        return simulate(x, self.d_r0, gen, sampling=self.sampling, patch=self.patch), mask


class Burst(Degradation):
    """A burst: `frames` independent draws of a turbulence part, stacked along the channels (frame-major, N x
    frames*C x H x W), as a camera records a scene through turbulence that changes from frame to frame. Long-range
    imaging records video, and the random tilt that one frame cannot reveal averages out over several.
    `parameters.psf` is the long-exposure PSF (the part's blur with its tilt distribution): the blur of the
    frames' mean, which the burst baselines deconvolve."""

    family = "burst"

    def __init__(self, part: Degradation, frames: int, spec: str | None = None):
        if not 2 <= int(frames) <= 64:
            raise GanreconError(f"A burst needs 2 to 64 frames, got {frames}.")
        self.part, self._frames = part, int(frames)
        self.spec = spec or f"{part.spec}:frames={self._frames}"

    @property
    def frames(self) -> int:
        return self._frames

    def _params(self):
        return {"part": self.part, "frames": self.frames}

    @property
    def psf(self) -> np.ndarray | None:
        if isinstance(self.part, Turbulence):
            return self.part.mean_psf(include_tilt=True)
        from ganrecon.phase_screen import mean_short_exposure_psf

        return mean_short_exposure_psf(self.part.d_r0, self.part.sampling, keep_tilt=True).double().numpy()

    @property
    def short_psf(self) -> np.ndarray | None:
        return self.part.psf

    def _apply(self, x, mask, lo, hi, gen):
        frames = torch.cat([self.part._apply(x, mask, lo, hi, gen)[0] for _ in range(self.frames)], dim=1)
        return frames, torch.ones_like(frames, dtype=torch.float32)


def turbulence_mean_psf(strength: float, *, tilt: float = 1.0, blur: float = 1.0, include_tilt: bool = True,
                        size: int | None = None) -> np.ndarray:
    """The turbulence simulator's expected PSF (2-D, odd size, sums to 1), for Wiener / Richardson-Lucy.

    The blur part is the expected mixture 1/4 G(0.5 s) + 1/2 G(s) + 1/4 G(1.5 s), s = blur * strength, built
    from the same discrete kernels the simulator uses. With `include_tilt` (default) it is convolved with the
    expected bilinear-resampling kernel of a displacement of std tilt * strength per axis: the long-exposure
    PSF, i.e. the mean of the whole operator over random draws. Without it, only the short-exposure blur.
    `size` defaults to cover 3 std of the widest part.
    """
    strength = float(strength)
    if not strength > 0:
        raise GanreconError(f"Turbulence strength must be positive, got {strength}.")
    s = blur * strength
    sigma_t = tilt * strength if include_tilt else 0.0
    if size is None:
        radius = max(1, math.ceil(3.0 * math.hypot(max(_BLUR_LEVELS) * s, sigma_t)) + 1)
    else:
        size = int(size)
        if size < 1 or size % 2 == 0:
            raise GanreconError(f"The PSF size must be a positive odd number, got {size}.")
        radius = size // 2
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    if sigma_t > 0:
        # E[max(0, 1 - |k + d|)], d ~ N(0, sigma_t^2): bilinear sampling at a random sub-pixel shift.
        d = np.linspace(-6 * sigma_t, 6 * sigma_t, 4001)
        p = np.exp(-0.5 * (d / sigma_t) ** 2)
        tilt_1d = (np.clip(1 - np.abs(offsets[:, None] + d[None, :]), 0, None) * p).sum(1) / p.sum()
    else:
        tilt_1d = (offsets == 0).astype(np.float64)
    psf = np.zeros((offsets.size, offsets.size))
    for wt, f in zip(_BLUR_WEIGHTS, _BLUR_LEVELS):
        g = _gauss_kernel1d(f * s).double().numpy()
        a = np.convolve(tilt_1d, g, mode="same") if g.size <= tilt_1d.size else np.convolve(
            tilt_1d, g, mode="full")[(g.size - 1) // 2:(g.size - 1) // 2 + tilt_1d.size]
        psf += wt * np.outer(a, a)
    return psf / psf.sum()


# ----------------------------------------------------------------------------------------------- compose

class Compose(Degradation):
    """Parts applied left to right; masks multiply; observed zero-filled once at the end."""

    def __init__(self, parts: list[Degradation]):
        flat: list[Degradation] = []
        for p in parts:
            flat.extend(p.parts)
        if not flat:
            raise GanreconError("A composed degradation needs at least one part.")
        self._parts = tuple(flat)
        self.spec = "+".join(p.spec for p in flat)
        _check_order(self._parts, self.spec)
        fams = {p.family for p in flat}
        self.family = next(f for f in _FAMILY_PRIORITY if f in fams)

    @property
    def parts(self) -> tuple[Degradation, ...]:
        return self._parts

    @property
    def scale(self) -> int:
        return math.prod(p.scale for p in self._parts)

    @property
    def frames(self) -> int:
        return math.prod(p.frames for p in self._parts)  # at most one burst (_check_order)

    @property
    def psf(self) -> np.ndarray | None:
        """The blur parts' kernels convolved (blurs in a row blur by their convolution)."""
        from scipy.signal import convolve2d

        kernels = [k for k in (p.psf for p in self._parts) if k is not None]
        if not kernels:
            return None
        psf = kernels[0]
        for k in kernels[1:]:
            psf = convolve2d(psf, k)
        return psf / psf.sum()

    @property
    def short_psf(self) -> np.ndarray | None:
        return next((k for k in (p.short_psf for p in self._parts) if k is not None), None)

    def _apply(self, x, mask, lo, hi, gen):
        for part in self._parts:
            x, mask = part._apply(x, mask, lo, hi, gen)
        return x, mask

    def __repr__(self) -> str:
        return " + ".join(repr(p) for p in self._parts)


def _check_order(parts: tuple[Degradation, ...], spec: str) -> None:
    """Optics (down, turbulence) must come before any part that removes pixels; at most one down."""
    downs = [p for p in parts if p.family == "down"]
    if len(downs) > 1:
        total = math.prod(p.scale for p in downs)
        raise GanreconError(f"{spec!r} has more than one down part; use a single down:{total} instead.")
    bursts = [p for p in parts if p.family == "burst"]
    if len(bursts) > 1 or (bursts and any(p.family in ("mask", "blur") for p in parts)):
        raise GanreconError(f"In {spec!r}, a burst (frames=N) goes with at most down and noise parts; it cannot "
                            f"be combined with missing pixels, another burst or a single-frame blur.")
    seen_mask = None
    for p in parts:
        if p.family == "mask":
            seen_mask = seen_mask or p
        elif p.family in ("down", "blur", "burst") and seen_mask is not None:
            raise GanreconError(
                f"In {spec!r}, {p.spec} cannot act on an image that {seen_mask.spec} has already made "
                f"incomplete; put down/turbulence parts before mask parts.")


# ----------------------------------------------------------------------------------------------- parsing

def _parse_nonneg(text: str, name: str, positive: bool = False) -> float:
    value = parse_float(text, name)
    if value < 0 or (positive and value == 0):
        raise GanreconError(f"{name} must be {'positive' if positive else 'at least 0'}, got {text}.")
    return value


def _need_args(spec: str, args: list[str], lo: int, hi: int, example: str) -> None:
    if len(args) < lo or len(args) > hi or any(not a.strip() for a in args[:lo]):
        raise GanreconError(f"Degradation {spec!r} is malformed; expected e.g. {example}.")


def _parse_one(spec: str) -> Degradation:
    kind, rest = split_kind(spec, "degradation")
    if kind == "mask":
        if not rest:
            raise GanreconError("Degradation 'mask' needs a file path, e.g. mask:holes.npy.")
        return UserMask(rest, spec=spec)
    args = rest.split(":") if rest else []
    if kind in ("columns", "pixels"):
        sub = args[0].strip().lower() if args else ""
        key = f"{kind}:{sub}"
        if key not in DEGRADATION_SPECS:
            choices = ", ".join(k for k in DEGRADATION_SPECS if k.startswith(kind + ":"))
            raise GanreconError(f"Unknown degradation {spec!r}; choose one of {choices}.")
        kind, args = key, args[1:]
    if kind == "columns:random":
        _need_args(spec, args, 1, 1, "columns:random:0.5")
        f = parse_float(args[0], f"The missing-column fraction in {spec!r}", 0.0, 1.0, hi_open=True)
        return ColumnsRandom(f, spec=spec)
    if kind == "columns:regular":
        _need_args(spec, args, 1, 1, "columns:regular:2")
        return ColumnsRegular(parse_int(args[0], f"The column spacing K in {spec!r}", lo=2, hi=1_000_000), spec=spec)
    if kind == "columns:gap":
        _need_args(spec, args, 1, 1, "columns:gap:8")
        return ColumnsGap(parse_int(args[0], f"The gap width in {spec!r}", lo=1), spec=spec)
    if kind == "pixels:random":
        _need_args(spec, args, 1, 1, "pixels:random:0.5")
        f = parse_float(args[0], f"The missing-pixel fraction in {spec!r}", 0.0, 1.0, hi_open=True)
        return PixelsRandom(f, spec=spec)
    if kind == "keep-first":
        _need_args(spec, args, 1, 1, "keep-first:400")
        return KeepFirst(parse_int(args[0], f"The number of kept entries in {spec!r}", lo=1), spec=spec)
    if kind == "gauss":
        _need_args(spec, args, 1, 2, "gauss:0.05 or gauss:0.05:clip=1")
        sigma = _parse_nonneg(args[0], f"The noise level SIGMA in {spec!r}")
        opts = parse_options(args[1] if len(args) > 1 else "", "gauss", {"clip": bool})
        clip = _parse_bool(opts["clip"], f"The clip option in {spec!r}") if "clip" in opts else False
        return Gauss(sigma, clip=clip, spec=spec)
    if kind == "sp":
        _need_args(spec, args, 1, 2, "sp:0.15 or sp:0.15:0.5")
        amount = parse_float(args[0], f"The salt & pepper amount in {spec!r}", 0.0, 1.0)
        ratio = 0.5
        if len(args) > 1:
            ratio = parse_float(args[1], f"The salt ratio in {spec!r}", 0.0, 1.0)
        return SaltPepper(amount, ratio, spec=spec)
    if kind == "down":
        _need_args(spec, args, 1, 1, "down:4")
        s = parse_int(args[0], f"The downsampling factor in {spec!r}")
        if s not in (2, 4, 8):
            raise GanreconError(f"The downsampling factor in {spec!r} must be 2, 4 or 8, got {s}.")
        return Down(s, spec=spec)
    if kind == "turbulence":
        return _parse_turbulence(spec, args)
    if kind == "phase-screen":
        _need_args(spec, args, 1, 2, "phase-screen:3 or phase-screen:3:sampling=2,patch=16")
        d_r0 = _parse_nonneg(args[0], f"D / r0 in {spec!r}", positive=True)
        opts = parse_options(args[1] if len(args) > 1 else "", "phase-screen",
                             {"sampling": int, "patch": float, "frames": int})
        kw = {}
        if "sampling" in opts:
            kw["sampling"] = parse_int(opts["sampling"], f"The sampling in {spec!r}", lo=1, hi=8)
        if "patch" in opts:
            kw["patch"] = parse_float(opts["patch"], f"The patch in {spec!r}", 2.0, 256.0)
        return _maybe_burst(PhaseScreenTurbulence(d_r0, **kw), opts, spec)
    known = ", ".join(DEGRADATION_SPECS)
    raise GanreconError(f"Unknown degradation {kind!r} in {spec!r}; known kinds: {known}.")


def _parse_turbulence(spec: str, args: list[str]) -> Degradation:
    """turbulence:STRENGTH[:corr=..,tilt=..,blur=..,frames=..,fields=..] (a burst with frames >= 2)."""
    _need_args(spec, args, 1, 2, "turbulence:1.0 or turbulence:1.0:corr=8,tilt=1,blur=1")
    strength = _parse_nonneg(args[0], f"The turbulence strength in {spec!r}", positive=True)
    opts = parse_options(args[1] if len(args) > 1 else "", "turbulence",
                         {"corr": float, "tilt": float, "blur": float, "frames": int, "fields": str})
    kw = {}
    if "fields" in opts:
        if opts["fields"] not in ("padded", "factored"):
            raise GanreconError(f"The turbulence option fields in {spec!r} must be padded or factored, got "
                                f"{opts['fields']!r}.")
        kw["fields"] = opts["fields"]
    for key, positive in (("corr", True), ("tilt", False), ("blur", False)):
        if key in opts:
            kw[key] = _parse_nonneg(opts[key], f"The turbulence option {key} in {spec!r}", positive)
    # kernels and padded canvases grow with these lengths (px): bound them so a typo cannot exhaust memory
    longest = max(kw.get("corr", 8.0), strength * kw.get("tilt", 1.0), strength * kw.get("blur", 1.0))
    if longest > _MAX_TURBULENCE_PX:
        raise GanreconError(f"{spec!r} asks for a correlation, tilt or blur of {longest:g} pixels; the "
                            f"simulator allows at most {_MAX_TURBULENCE_PX} (corr, strength x tilt, strength x blur).")
    return _maybe_burst(Turbulence(strength, **kw), opts, spec)


def _maybe_burst(part: Degradation, opts: dict, spec: str) -> Degradation:
    """The part under `spec`, or a burst of it when the spec asks for `frames=N` (N >= 2)."""
    frames = parse_int(opts.get("frames", "1"), f"The frames in {spec!r}", lo=1, hi=64)
    if frames == 1:
        part.spec = spec
        return part
    return Burst(part, frames, spec=spec)


def parse_degradation(spec: str) -> Degradation:
    """Parse "part[+part...]" (e.g. "keep-first:400+gauss:0.05") into a Degradation.

    Bad specs raise GanreconError with one sentence; `mask:PATH` files are read here so they fail early.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise GanreconError("The degradation spec is empty.")
    pieces = [p.strip() for p in _SPLIT_RE.split(spec.strip())]
    if len(pieces) > 1 and any(not p for p in pieces):
        raise GanreconError(f"The degradation spec {spec!r} has an empty part around a '+'.")
    # A trailing or leading "+" is not matched by the split (no kind follows), so catch it here.
    if spec.strip().endswith("+") or spec.strip().startswith("+"):
        raise GanreconError(f"The degradation spec {spec!r} has an empty part around a '+'.")
    parts = [_parse_one(p) for p in pieces]
    if len(parts) == 1:
        return parts[0]
    return Compose(parts)
