"""The guard: check a model on the user's own input against the conventional baselines, then say what it did.

Why: a model trained on one kind of data can be far worse than a median filter or an interpolation on another,
and nothing in its output says so. The input itself holds evidence, if some of it is set aside:

- missing traces, columns or pixels, latent inversion (`mask` family): a share (default 10%) of the *known*
  entries is hidden, the model and every baseline reconstruct the input without them, and both are scored on
  the hidden entries. With a mask made of whole traces, whole interior traces are hidden, never one that would
  leave a hole longer than the input's own (`hide_traces`). A pixel mask with large holes (a missing block) has
  no self-check (`large_holes` says why): the guard says so and the model is used. Missing entries are never
  read: the input is zero-filled where the mask says missing before anything else sees it. A regular
  decimation (every K-th trace known, the same traces in every image) is checked in its own pattern instead
  (`regular_check`): hiding one known trace of it makes a gap of 2K-1 traces, a problem unlike the missing ones
  that favoured the wrong method (sliding FK over f-x prediction, 0.7 dB, on pylops gathers). That check doubles
  the trace spacing, and with it the aliasing that FK inversion suffers from most, so it missed FK's wins; a
  gather that chose the model is given to FK unless the model also beats FK by ALIAS_SLACK_DB on the same
  problem posed on the known traces' lower half band (`alias_check`), which keeps the input's aliasing;
- super-resolution (a model with scale S): the input is downscaled by the smallest factor of S (2 for x4; the
  `down:` operator), super-resolved x S by the model and by bicubic, downscaled by the rest of S, and both are
  compared with the input (`check_factor` says why not by S itself);
- salt & pepper: the input is corrupted once more by salt & pepper on a share of its entries, restored, and
  scored where that changed a value, against the value it had (`impulse_check` says why all entries);
- Gaussian noise and blur/turbulence have no self-check: the guard says so and the model is used.

Evidence comes in folds (disjoint held-out sets, at least 3, more for small images) and is read at three levels.
The images checked together (one call) first: the model is their default when its error saving over each
image's best baseline, pooled over folds and images, exceeds its standard error (`set_default`); the promise is
never to be worse than the baseline, so a lucky draw must not win. Then each image follows that default unless
its own saving, averaged over its folds, is a standard error the other way and its held-out margin is beyond
TIE_DB (0.1 dB, the promise's slack: a held-out rock slice at -0.02 dB went to a bicubic 3.7 dB worse); one
image alone is its own set, so it gets the model only on its own clear win (as would an image with
OWN_EVIDENCE held-out entries, tuned to never). The best baseline is the one with the least held-out error, where
the consensus stands for the seismic methods it averages (`best_baseline`); the baseline, too, is the set's best
unless an image's own best beats it clearly (`image_baselines`). The mean of the model and the consensus is one
more candidate among the baselines (`model+consensus`, MODEL_HEDGES): where the two err in different places it
beats both, and it is used where the check says it beats the model and every baseline; on held-out checks the
model is also weighed at 0.75 and 0.9 against the consensus (`model+consensus:0.75`, HEDGE_WEIGHTS).

Modes: `choose` (default) returns, per image, the model or the best baseline on the held-out entries; an image
larger than one tile (256 x 256 output pixels by default) is decided per tile, because a large slice may be in
the model's domain in one region and not in another. A tile follows its image unless its own held-out entries
are clear the other way by more standard errors the more tiles the image has (`tile_z`; a tile with too few
held-out entries always follows). Tile decisions are hard and the seams between a model
tile and a baseline tile are feathered over 2 x 16 pixels: hard decisions keep every tile accountable to its
evidence, feathering avoids a visible step, and a convex mix of two estimates is never worse than the worse of
them at any pixel. `report` always returns the model and states the margin; `off` does nothing. The margin is
10 log10(error of the best baseline / error of the model) on the held-out entries, in dB: positive when the
model is better (the same number as the SNR or PSNR difference on those entries). The check costs each model
and baseline one run per fold on top of the reconstruction; on gathers that includes FK inversion (about 8 s
per 1000 x 80 gather on 2 CPU threads, docs/results/seismic_methods.md), which `fast=True` leaves out.

`GuardedModel` has the call shape and attributes of a loaded model, so any caller wraps a model in one line:
`guarded = GuardedModel(model, "columns:random:0.5")`; after a call, `guarded.report()` is a JSON-ready
`{"guard": {...}}` and `guarded.describe()` the same in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from statistics import NormalDist

import torch
import torch.nn.functional as F

from ganrecon.baselines import BASELINES, applicable_baselines, impulse_candidates, run_baseline
from ganrecon.errors import GanreconError
from ganrecon.reconstructor import ModelWrapper
from ganrecon.seismic_methods import CONSENSUS_PARTS, consensus_of, consensus_parts

MODES = ("choose", "report", "off")
DEFAULT_SHARE = 0.1
DEFAULT_FOLDS = 3       # disjoint held-out sets: 3 x the evidence of one, each a problem as hard as the real one
MAX_FOLDS = 10          # more folds only while a small image has too little evidence
MIN_TRACES = 8          # held-out traces per image wanted (trace masks)
MIN_ENTRIES = 256       # held-out entries per image wanted (pixel masks, impulses)
DEFAULT_TILE = 256      # output pixels per tile side for per-tile decisions
FEATHER = 16            # half-width (output pixels) of the blend across a seam between a model and a baseline tile
MIN_HELD_OUT = 64       # held-out entries a tile needs to be decided on its own evidence
MIN_REGULAR_TRACES = 16  # known traces a regular decimation needs to be checked in its own pattern
# The model must beat FK by this much on the half-band check (`alias_check`) to be used over it on a regular
# decimation: that check still underrates FK inversion against the model. Chosen on 100 tuning gathers
# (benchmarks/traces.py's generator, test split, seed 1; every 2nd trace): mean SNR 36.48 dB against FK's 34.29
# and the model's 34.32; slack 0 gave 35.88, 1.0 36.35, 2.0 36.32, 4.0 35.60
# (`benchmarks/guard_regular_check.py --tune-slack`, docs/results/seismic_alias_slack.md).
ALIAS_SLACK_DB = 1.5
HEDGES = {"consensus": CONSENSUS_PARTS}  # a baseline that averages others stands for them in the choice
# Baselines the guard also weighs averaged with the model (`model+NAME`, `GuardedModel.run`): where the model and
# the baseline err in different places the mean beats both. On 24 tuning pylops gathers with every 2nd trace
# missing (benchmarks/seismic_field.py's generator, seeds 10-15 at 12.5-50 m) the mean of the stage-6 model and
# the consensus was above the consensus on all 24 (by 0.22 dB at least) and above the better of the two on 16;
# where the model was 0.42 dB behind the consensus the mean was 0.22 dB ahead (docs/results/seismic_regular_pylops.md).
MODEL_HEDGES = ("consensus",)
# The model's weights in those hedges (w x model + (1 - w) x baseline on the missing entries): each weight is one
# more candidate. Why more than the mean: where the model is clearly better than the consensus but not clearly
# better than their mean, the guard keeps the mean, and on pylops gathers at 12.5 and 25 m, 50% random, that cost
# 0.3-0.4 dB against the model alone (stage 12, docs/results/seismic_field.md). On a regular decimation only the
# mean is a candidate: the check there doubles the trace spacing and flatters the model (REGULAR_SLACK_DB), and
# weights above 0.5 put a tuning gather 0.79 dB below the consensus (seed 17, 25 m; +0.05 with the mean). Tuned on
# 18 tuning gathers at 50% random, six triples of seeds 10-27 (`benchmarks/guard_evidence.py --constant
# HEDGE_WEIGHTS --only random --batches 6`, docs/results/guard_hedge_weights.md; stage 14): guarded - consensus
# +1.34 dB on average with the mean alone, +1.39 with 0.75 added, +1.41 with 0.75 and 0.9 (the worst gather +0.33
# instead of +0.18). Tuned again with the shipped mean of stages 21 and 22 (the same 18 gathers): every set of
# weights within 0.01 dB on every triple (+2.47 dB on average, the worst gather +0.92; the 0.9 hedge taken in a
# tile of 2 gathers), so the weights stay.
HEDGE_WEIGHTS = (0.5, 0.75, 0.9)
TIE_DB = 0.1            # an image overrules its set's default only by a held-out margin beyond this (the promise's slack)
# Held-out entries (summed over its folds) from which an image is decided on its own evidence alone, as if it were
# checked by itself, not by its set's default. Why ask: the default let a 1000 x 80 gather checked together with
# two others take a model 0.78 dB worse than the consensus (own held-out margin -0.08 dB). Tuned on 11 sets
# (benchmarks/guard_evidence.py, docs/results/guard_evidence.md): the same images fell below their best baseline
# at every threshold (one, by the regular check's error), and deciding 1000 x 80 gathers (12,000 held-out entries)
# alone moved four triples at 50% random by -0.11, -0.07, +0.11 and +0.06 dB: no gain, so never.
OWN_EVIDENCE = math.inf
# On a regular decimation the model must beat the image's best baseline by this much on `regular_check`, per image
# and per tile, to be used there. Why: that check poses a problem of twice the input's trace spacing, and it can
# rate the model far above what it does at the input's own: on a tuning gather (seed 17, 25 m, every 2nd trace)
# the model led the model+consensus mean on the check and took some tiles, and the guarded gather ended 1.36 dB
# below the consensus (stage 12; 1.49 with stage 10). Tuned on 24 tuning gathers, eight triples of seeds 10-33
# (`benchmarks/guard_evidence.py --constant REGULAR_SLACK_DB`, docs/results/guard_regular_slack.md): with the slack
# off (-inf, the rule before it) seed 17 fell below the consensus and the mean over triples was +1.37 dB above it;
# 0.25 dB lost no gather and gave +1.43; 0.5 +1.32; never the model (always a baseline or the mean) +1.25.
# Re-tuned with stage 17 (the same 24 gathers): at 0.25 one gather of seeds 16-18 ended 1.51 dB below the
# consensus; 0.5 lost none and gave +1.49 over the triples (0.25: +1.44; never the model +1.37).
# Re-tuned with stage 21: no gather fell below the consensus at any value, and the lead over the triples was
# largest with the slack off (+2.49 dB; 0.25: +2.42; 0.5: +2.28; never the model +1.73), so it is off again.
# With the shipped mean of stages 21 and 22 the same (+2.54 off, the worst gather +0.68; 0.25: +2.47; 0.5: +2.32;
# never the model +1.76).
REGULAR_SLACK_DB = -math.inf
LARGE_HOLE = 2.0        # mean distance (px) from a missing entry to the nearest known one above which holes are large
MIN_LOW_RES = 4         # a super-resolution check needs a downscaled input of at least this many pixels a side
SUPERRES_BLOCK = 16     # side (input pixels) of the squares dealt to the super-resolution check's spatial folds
# Left out of the impulse check: it scores against the input's own values, Gaussian noise included, so a Gaussian
# denoiser is charged for the noise it removes and cannot win it. TV and NLM took 4.1 of the 10.7 ms per 48 x 48
# photograph that the checked baselines take (docs/results/denoise.md).
GAUSSIAN_DENOISERS = ("tv", "nlm", "bm3d")


@dataclass
class SelfCheck:
    """Squared errors (summed over channels; folds x N x H x W on the input grid) of the model and of each
    baseline on entries whose truth the input holds, and how many such entries each pixel has, per fold (each
    fold holds out a different, disjoint set of entries)."""

    description: str
    model: torch.Tensor
    baselines: dict[str, torch.Tensor]
    count: torch.Tensor
    regular: tuple | None = None                 # (known trace columns, step) when it is `regular_check`


@dataclass
class Decision:
    """One image: the best baseline, the margin, and which tiles (of the input grid) use the model."""

    baseline: str
    margin_db: float | None
    held_out: int
    use_model: torch.Tensor                      # ny x nx booleans
    tile_margins: list[float] = field(default_factory=list)
    note: str = ""


def hedge_name(baseline: str, weight: float) -> str:
    """`model+NAME` for the mean, `model+NAME:W` for the model's weight W."""
    return f"model+{baseline}" if weight == 0.5 else f"model+{baseline}:{weight:g}"


def hedge_of(model: torch.Tensor, baseline: torch.Tensor, weight: float, observed, mask) -> torch.Tensor:
    """weight x model + (1 - weight) x baseline where entries are missing, the observed values where known."""
    return consensus_of([model, baseline], observed, mask, weights=(weight, 1.0 - weight))


def margin_db(baseline_error: float, model_error: float) -> float:
    """10 log10(baseline error / model error): > 0 when the model is better; 0 when both are exact."""
    eps = 1e-20
    return 10.0 * math.log10((baseline_error + eps) / (model_error + eps))


def _squared_error(estimate: torch.Tensor, truth: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    return ((estimate.float() - truth.float()).square() * where).sum(1)


# ------------------------------------------------------------------------------------------------ the checks

def check_kind(degradation, scale: int) -> tuple[str | None, str]:
    """(kind of self-check, reason when there is none) for a parsed degradation and a model scale."""
    if scale > 1:
        return "superres", ""
    if "mask" in degradation.families:
        return "holdout", ""
    if any(type(part).__name__ == "SaltPepper" for part in degradation.parts):
        return "impulses", ""
    if "noise" in degradation.families:
        return None, "Gaussian noise has no self-check (no entry of a noisy image is known to be right)"
    if not degradation.families:
        return None, "the model does not say which degradation it undoes, so no check applies"
    return None, f"{degradation.spec} has no self-check (no entry of the input is known to be right)"


def _gap_around(available: list[bool], col: int) -> int:
    """Length of the hole that hiding trace `col` makes: it and the unavailable traces on either side."""
    left = col - 1
    while left >= 0 and not available[left]:
        left -= 1
    right = col + 1
    while right < len(available) and not available[right]:
        right += 1
    return right - left - 1


def hide_traces(known_traces: torch.Tensor, share: float, generator: torch.Generator,
                exclude: torch.Tensor | None = None) -> list[int]:
    """Known traces to hide (`known_traces`: W booleans): `share` of them, drawn at random among the interior ones,
    each kept only if the hole it makes is no longer than the input's own longest hole (or than the shortest any
    trace would make, for regular decimation). Why: the check must pose the problem the reconstruction poses. A
    hidden outermost trace turns interpolation into extrapolation, and a trace hidden next to a gap makes a longer
    gap than any in the input; both favour a model trained on long gaps over FK (on synthetic gathers this made a
    model 6 dB worse than FK look 3-5 dB better). Traces in `exclude` (hidden by an earlier fold) are not drawn."""
    available = known_traces.tolist()
    interior = known_traces.nonzero()[:, 0].tolist()[1:-1]
    k = max(1, round(share * (len(interior) + 2)))  # share of all known traces
    if exclude is not None:
        interior = [c for c in interior if not bool(exclude[c])]
    if not interior:
        return []
    longest, run = 0, 0
    for a in available:
        run = 0 if a else run + 1
        longest = max(longest, run)
    limit = max(longest, min(_gap_around(available, c) for c in interior))
    chosen = []
    for i in torch.randperm(len(interior), generator=generator).tolist():
        if len(chosen) == k:
            break
        col = interior[i]
        if _gap_around(available, col) <= limit:
            available[col] = False
            chosen.append(col)
    return chosen


def whole_traces(known: torch.Tensor) -> bool:
    """Whether an image's mask (H x W, True = known) is made of whole traces: every column known or missing."""
    return known.shape[0] > 1 and bool((known.all(0) | (~known).all(0)).all())


def large_holes(known: torch.Tensor) -> bool:
    """Whether an image's missing entries (H x W, `known` False) form large holes: their mean distance to the
    nearest known entry exceeds LARGE_HOLE pixels (a missing block, `keep-first:N`; not scattered pixels).
    Such an input has no self-check. A large hole is filled by extrapolating far from its edge, and no share of
    the known entries poses that problem: hidden at random they make tiny holes, which local interpolation fills
    best; hidden as a band along the hole's edge (as wide as the hole's mean distance, at most 60% of the known
    entries) they leave a global method too little to go on. On 50 MNIST test digits with the first 400 of 784
    entries kept (+ noise 0.05), the random hold-out sent the latent mlp to biharmonic inpainting and nearest
    neighbour in 38 of 50 and the band in 40 of 50: missing-region error 0.21 guarded, 0.069 alone, 0.127 for
    zero-fill, the best baseline."""
    from scipy import ndimage

    missing = ~known.numpy()
    if not missing.any() or not known.any():
        return False
    return float(ndimage.distance_transform_edt(missing)[missing].mean()) > LARGE_HOLE


def hide_known(mask: torch.Tensor, share: float, generator: torch.Generator,
               exclude: torch.Tensor | None = None) -> tuple[torch.Tensor, str]:
    """Entries to hide (bool, mask's shape): when an image's mask is made of whole traces (columns entirely known
    or entirely missing), known traces as `hide_traces` chooses them; else `share` of its known pixels at random
    (at least one hidden and two kept, or none). Entries in `exclude` (an earlier fold's) are not hidden again.
    Returns (hidden, what was hidden)."""
    known = (mask > 0).all(1)  # N x H x W: a pixel is known in every channel
    exclude = torch.zeros_like(known) if exclude is None else exclude.any(1)
    hidden = torch.zeros_like(known)
    kinds = set()
    for n, kn in enumerate(known):
        if whole_traces(kn):
            hidden[n, :, hide_traces(kn.all(0), share, generator, exclude[n].any(0))] = True
            kinds.add("traces")
            continue
        k = max(1, round(share * int(kn.sum())))
        pool = (kn & ~exclude[n]).flatten().nonzero()[:, 0]
        if len(pool) >= k and int(kn.sum()) - k >= 2:
            hidden[n].view(-1)[pool[torch.randperm(len(pool), generator=generator)[:k]]] = True
            kinds.add("entries")
    what = "traces" if kinds == {"traces"} else "entries"
    return hidden[:, None].expand_as(mask), what


def holdout_check(run, observed, mask, share, generator, folds: int = 1) -> SelfCheck:
    """Hide known entries (a disjoint set per fold), reconstruct without them, score on them. At least `folds`
    folds, more (up to MAX_FOLDS) while an image has fewer than MIN_TRACES hidden traces or MIN_ENTRIES hidden
    entries: a 28-pixel-wide image spares one trace per fold, too little to tell a model from a baseline."""
    errors, taken = [], torch.zeros_like(mask, dtype=torch.bool)
    for fold in range(MAX_FOLDS):
        hidden, what = hide_known(mask, share, generator, taken)
        if fold >= folds and (enough_evidence(taken, what) or not hidden.any()):
            break
        taken |= hidden
        kept = mask * (~hidden)
        where = hidden.float()
        model, baselines = run(observed * kept, kept)
        errors.append((_squared_error(model, observed, where),
                       {k: _squared_error(v, observed, where) for k, v in baselines.items()}, where.sum(1)))
    return _stack(f"{share:.0%} of the known {what} hidden, reconstructed and compared ({len(errors)} folds)", errors)


def regular_traces(mask: torch.Tensor) -> tuple[torch.Tensor, int] | None:
    """(known trace columns, step K) when every image's mask keeps the same whole traces, every K-th (K >= 2), at
    least MIN_REGULAR_TRACES of them; else None."""
    known = (mask > 0).all(1)                 # N x H x W
    full, empty = known.all(1), (~known).all(1)  # N x W
    if known.shape[1] < 2 or not bool((full | empty).all()) or not bool((full == full[0]).all()):
        return None
    cols = full[0].nonzero()[:, 0]
    if len(cols) < MIN_REGULAR_TRACES:
        return None
    steps = cols.diff()
    step = int(steps[0])
    return (cols, step) if step >= 2 and bool((steps == step).all()) else None


def regular_check(run, observed, cols: torch.Tensor, step: int) -> SelfCheck:
    """The input's own problem on its known traces: the gather of the known traces alone (fully known, trace
    spacing K times the input's) is decimated again by K, in each of its K phases (the folds: every known trace
    is held out once), reconstructed by the model and the baselines, and scored on the traces it lost. Errors are
    put back on the input grid at the known traces' columns, for the per-tile decisions."""
    compact = observed[..., cols]
    width = observed.shape[-1]

    def on_grid(err: torch.Tensor) -> torch.Tensor:
        full = torch.zeros(*err.shape[:-1], width, dtype=err.dtype)
        full[..., cols] = err
        return full

    errors = []
    for kept, where in decimations(compact, step):
        model, baselines = run(compact * kept, kept)
        errors.append((on_grid(_squared_error(model, compact, where)),
                       {k: on_grid(_squared_error(v, compact, where)) for k, v in baselines.items()},
                       on_grid(where.sum(1))))
    return _stack(f"the {len(cols)} known traces decimated again, 1 in {step} kept, reconstructed and compared "
                  f"({step} folds, the input's own regular pattern)", errors, regular=(cols, step))


def decimations(gather: torch.Tensor, step: int):
    """(kept, lost) trace masks shaped like `gather` for each of the `step` phases of keeping 1 trace in `step`."""
    for phase in range(step):
        keep = torch.zeros(gather.shape[-1], dtype=torch.bool)
        keep[phase::step] = True
        kept = keep.float().expand_as(gather).contiguous()
        yield kept, 1.0 - kept


def half_band(gather: torch.Tensor) -> torch.Tensor:
    """The lower half of the temporal spectrum (dim -2), as half as many samples (band-limited resampling),
    rescaled to a peak amplitude of 1 per image as the baselines expect."""
    n = gather.shape[-2]
    low = torch.fft.irfft(torch.fft.rfft(gather, dim=-2)[..., :n // 4 + 1, :], n=n // 2, dim=-2)
    return low / low.abs().amax(dim=(-3, -2, -1), keepdim=True).clamp_min(1e-8)


def alias_check(run_model, run_fk, observed, cols: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the model's and FK's squared error in `regular_check`'s problem posed on the known traces
    low-passed to half their band and resampled to half as many samples. Why: aliasing depends on frequency x dip
    x trace spacing, so halving the band offsets the doubled spacing of the compacted gather, and each event keeps
    the input's dip in samples per trace; the full-band check doubles the aliasing, which FK inversion suffers
    from most, and so it missed FK's wins (docs/results/seismic_regular_gathers.md)."""
    low = half_band(observed[..., cols])
    model_err, fk_err = torch.zeros(len(low)), torch.zeros(len(low))
    for kept, where in decimations(low, step):
        model_err += _squared_error(run_model(low * kept, kept), low, where).sum((-2, -1))
        fk_err += _squared_error(run_fk(low * kept, kept).float().cpu(), low, where).sum((-2, -1))
    return model_err, fk_err


def prefer_fk(decisions: list, model_err: torch.Tensor, fk_err: torch.Tensor, rows: list[int],
              slack: float) -> None:
    """Give FK the images (of `rows`, those that chose the model) where the model beats it on the half-band check
    by less than `slack` dB (ALIAS_SLACK_DB)."""
    for row, m, f in zip(rows, model_err.tolist(), fk_err.tolist()):
        margin = margin_db(f, m)
        if margin < slack:
            d = decisions[row]
            d.baseline, d.margin_db, d.use_model = "fk", margin, torch.zeros_like(d.use_model)
            d.note = (f"FK: on the half-band check the model's margin over FK is {margin:+.2f} dB, under the "
                      f"{slack:g} dB it needs")


def enough_evidence(taken: torch.Tensor, what: str) -> bool:
    """Every image has at least MIN_TRACES hidden traces (trace masks) or MIN_ENTRIES hidden entries."""
    taken = taken.any(1)  # N x H x W
    if what == "traces":
        return bool((taken.all(1).sum(-1) >= MIN_TRACES).all())
    return bool((taken.flatten(1).sum(1) >= MIN_ENTRIES).all())


def _stack(description: str, errors: list, regular: tuple | None = None) -> SelfCheck:
    """Per-fold (model error, {baseline: error}, count) -> one SelfCheck with a leading fold axis."""
    return SelfCheck(description, torch.stack([m for m, _, _ in errors]),
                     {k: torch.stack([b[k] for _, b, _ in errors]) for k in errors[0][1]},
                     torch.stack([c for _, _, c in errors]), regular)


def block_folds(h: int, w: int, folds: int, block: int = SUPERRES_BLOCK) -> torch.Tensor:
    """folds x H x W: 0/1 masks that deal block x block squares to the folds along diagonals, so each fold covers
    the whole image evenly and the folds' savings spread as the image's regions do."""
    by = torch.arange(h) // block
    bx = torch.arange(w) // block
    fold_of = (by[:, None] + bx[None, :]) % folds
    return torch.stack([(fold_of == k).float() for k in range(folds)])


def check_factor(scale: int) -> int:
    """The super-resolution check's downscale: the smallest factor of the model's scale above 1 (2 for x4).
    Why not the scale itself: downscaled by S, the input is S x S times coarser than anything the model was
    trained to see, and on held-out rocks that check told nothing (margins within 0.2 dB of 0 where the true
    margin was +9 dB: 7 of 32 slices sent to a bicubic 4 to 11 dB worse). Downscaled by 2, the same slices
    gave +0.1 to +5.4 dB, and on photographs the check kept the sign of the true margin
    (`benchmarks/superres_guard_check.py`)."""
    return next(d for d in range(2, scale + 1) if scale % d == 0)


def superres_check(run, observed, scale, value_range, folds: int = DEFAULT_FOLDS
                   ) -> SelfCheck | None:
    """The input downscaled by `check_factor` (the `down:` operator), super-resolved by the model and the
    baselines at their own scale, brought back to the input's grid by the rest of the factor (`down:`), and
    compared with the input. Its error maps are split into spatial folds (`block_folds`): as one fold the sign
    of the check's noise decided each image; with a standard error an image must show its case against the
    set's default clearly."""
    from ganrecon.degrade import parse_degradation

    n, c, h, w = observed.shape
    factor = check_factor(scale)
    hc, wc = h // factor * factor, w // factor * factor
    if hc // factor < MIN_LOW_RES or wc // factor < MIN_LOW_RES:
        return None
    truth = observed[..., :hc, :wc]
    low, ones = parse_degradation(f"down:{factor}")(truth, value_range=value_range)
    rest = parse_degradation(f"down:{scale // factor}") if scale > factor else None
    where = torch.zeros(n, c, h, w)
    where[..., :hc, :wc] = 1.0

    def error(estimate):
        if rest is not None:
            estimate, _ = rest(estimate.float(), value_range=value_range)
        return _squared_error(F.pad(estimate, (0, w - wc, 0, h - hc)), observed, where)

    model, baselines = run(low, ones)
    model, baselines = error(model), {k: error(v) for k, v in baselines.items()}
    count = where.sum(1)
    parts = block_folds(h, w, folds if min(hc, wc) >= 2 * SUPERRES_BLOCK else 1)
    back = f", brought back x{scale // factor}" if rest is not None else ""
    return _stack(f"input downscaled x{factor}, super-resolved x{scale}{back} and compared with itself "
                  f"({len(parts)} spatial folds)",
                  [(model * part, {k: v * part for k, v in baselines.items()}, count * part) for part in parts])


VOUCH_FALSE_RATE = 1e-3  # chance that an impulse looks vouched for by chance (its neighbours impulses too)


def vouch_threshold(end_share: float, neighbours: int = 8, false_rate: float = VOUCH_FALSE_RATE) -> int:
    """Same-end neighbours (of 8) a candidate needs to be vouched for: the fewest whose chance among impulses of
    density `end_share` at that end (binomial tail) is below `false_rate`. Why adaptive: at salt & pepper 0.15 (7.5%
    per end) 5 of 8 happens by chance to 1 impulse in 10^4, but at 0.5 (25% per end) to 1 in 40, and then the
    check scores methods against impulses taken for the truth, and picks the one that keeps them."""
    p = min(max(float(end_share), 0.0), 1.0)
    for need in range(1, neighbours + 1):
        tail = sum(math.comb(neighbours, k) * p ** k * (1 - p) ** (neighbours - k) for k in range(need, neighbours + 1))
        if tail < false_rate:
            return max(need, 5)
    return neighbours + 1  # impulses everywhere: no candidate can be vouched for


def vouched_entries(observed: torch.Tensor, value_range) -> torch.Tensor:
    """Entries whose value the input vouches for: those that are not impulse candidates, and candidates with
    enough of their 8 neighbours at the same end of the range (a black background, a saturated highlight):
    at least 5, more where impulses are so dense that they would often pass (`vouch_threshold`). The impulse
    density per end is estimated per image as the smaller of the two ends' candidate shares: salt & pepper
    fills both ends alike, while real saturation (a digit's black background) sits mostly at one."""
    lo, hi = float(value_range[0]), float(value_range[1])
    ends = (observed <= lo + 1e-6 * (hi - lo), observed >= hi - 1e-6 * (hi - lo))
    density = torch.minimum(*(end.float().flatten(1).mean(1) for end in ends))
    need = torch.tensor([vouch_threshold(float(d)) for d in density]).view(-1, *[1] * (observed.dim() - 1))
    vouched = ~impulse_candidates(observed, value_range)
    for end in ends:
        x = end.float().flatten(0, 1)[:, None]
        same = F.conv2d(F.pad(x, (1, 1, 1, 1)), torch.ones(1, 1, 3, 3)).view_as(observed) - end.float()
        vouched |= end & (same >= need)
    return vouched


def impulse_check(run, observed, mask, share, value_range, generator,
                  folds: int = 1) -> SelfCheck:
    """The input corrupted once more by salt & pepper on a share of all its entries (disjoint per fold), restored,
    and scored on every entry the input vouches for (`vouched_entries`), against the value it had: where the new
    impulses fell (are they removed?) and everywhere else (is what was right left alone?). On MNIST digits,
    scoring only the new impulses on non-candidates, as first written, favoured the switching median by 4 dB
    (it smears the strokes into the all-candidate black background); scoring only the changed entries favoured
    inpainting every candidate, which greys the untouched background."""
    lo, hi = float(value_range[0]), float(value_range[1])
    vouched = vouched_entries(observed, value_range)
    free = torch.ones_like(observed, dtype=torch.bool)
    errors, total = [], torch.zeros(len(observed))
    for fold in range(MAX_FOLDS):
        if fold >= folds and bool((total >= MIN_ENTRIES).all()):
            break
        chosen = torch.zeros_like(free)
        for n in range(len(observed)):
            pool = free[n].flatten().nonzero()[:, 0]
            pick = torch.randperm(len(pool), generator=generator)[:round(share * free[n].numel())]
            chosen[n].view(-1)[pool[pick]] = True
        free &= ~chosen
        salt = torch.rand(observed.shape, generator=generator) < 0.5
        corrupted = torch.where(chosen, torch.where(salt, hi, lo), observed)
        where = vouched.float()
        total += where.flatten(1).sum(1)
        model, baselines = run(corrupted, mask)
        errors.append((_squared_error(model, observed, where),
                       {k: _squared_error(v, observed, where) for k, v in baselines.items()}, where.sum(1)))
    return _stack(f"{share:.0%} of the entries corrupted again by salt & pepper, restored and compared with the "
                  f"input where it vouches for its values ({len(errors)} folds)", errors)


# ------------------------------------------------------------------------------------------------ decisions

def tile_sums(x: torch.Tensor, tile: int) -> torch.Tensor:
    """Sums of a ... x H x W map over tile x tile blocks (the last row/column of tiles may be partial)."""
    h, w = x.shape[-2:]
    ny, nx = -(-h // tile), -(-w // tile)
    x = F.pad(x, (0, nx * tile - w, 0, ny * tile - h))
    return x.reshape(*x.shape[:-2], ny, tile, nx, tile).sum((-3, -1))


def model_wins(model: torch.Tensor, baseline: torch.Tensor, count: torch.Tensor, z: float = 1.0) -> torch.Tensor:
    """Per unit (folds x ... errors and counts): the model's error saving over the baseline, averaged over the
    folds that hold evidence, exceeds its standard error (the one-standard-error rule). The promise is never to
    be worse than the baseline, so the model has to win clearly: a saving that changes sign from one held-out set
    to the next is a lucky draw, not evidence. Savings, not dB per fold: a fold whose held-out entries are all
    zero (a blank column of a digit) has near-zero errors and an arbitrary dB margin, but weighs nothing here."""
    has = count > 0
    saving = (baseline - model) * has
    n = has.sum(0)
    mean = saving.sum(0) / n.clamp_min(1)
    var = ((saving - mean).square() * has).sum(0) / (n - 1).clamp_min(1)
    return (n > 0) & (mean - z * (var / n.clamp_min(1)).sqrt() > 0)


def tile_z(tiles: int) -> float:
    """Standard errors a tile's saving must exceed to overrule its image: the one-standard-error rule's false-choice
    rate (16%) shared among the image's tiles (Bonferroni), so that an image of many tiles does not pick the model
    in some of them by chance. On pylops gathers (4 tiles each) the one-SE rule per tile put a model 6 dB worse
    than the best baseline into tiles whose held-out margin was +0.1 to +0.4 dB and true margin -0.4 dB."""
    return NormalDist().inv_cdf(1.0 - 0.16 / max(1, tiles))


def best_baseline(per_fold: dict[str, torch.Tensor]) -> str:
    """The baseline with the least held-out error, where a hedge (the consensus, the mean of its parts) stands for
    its parts: the check cannot rank them reliably (on pylops gathers its ranking of f-x, dip-steered and sliding
    FK was off by up to 2.6 dB, and picking a part lost up to 1.8 dB to the consensus), which is why the hedge
    exists."""
    hedged = {part for hedge, parts in HEDGES.items() if hedge in per_fold for part in parts}
    candidates = [k for k in per_fold if k not in hedged] or list(per_fold)
    return min(candidates, key=lambda k: float(per_fold[k].sum()))


def image_baselines(per_fold: list[dict[str, torch.Tensor]], counts_f: torch.Tensor) -> list[str]:
    """Each image's baseline: the set's best (`best_baseline` over errors pooled across the images checked
    together) unless the image's own best beats it by a standard error over its folds. Why: the held-out ranking
    of one image is noisy; on synthetic gathers at 50% random traces per-image picks sent 27 of 100 gathers to
    POCS, cubic or the consensus and lost 0.13 dB to FK everywhere; with the set's best as the default the 24
    that still leave it cost 0.01 dB."""
    pooled = {name: torch.stack([folds[name] for folds in per_fold]).sum(0) for name in per_fold[0]}
    set_best = best_baseline(pooled)
    chosen = []
    for n, folds in enumerate(per_fold):
        own = best_baseline(folds)
        clear = own != set_best and bool(model_wins(folds[own], folds[set_best], counts_f[:, n]))
        chosen.append(own if clear else set_best)
    return chosen


def set_default(model_f: torch.Tensor, base_f: torch.Tensor, counts_f: torch.Tensor) -> bool:
    """Whether the images checked together favour the model: its saving over each image's best baseline, pooled
    over every (fold, image) with evidence, exceeds its standard error. For one image it is that image's own test.
    Why: a small image holds little evidence (a digit with 14 known columns hides one or two per fold), so alone
    it often cannot show a win it has; on MNIST columns that sent 5 of 32 digits to a baseline 6 dB worse."""
    return bool(model_wins(model_f.reshape(-1), base_f.reshape(-1), counts_f.reshape(-1)))


def decide(check: SelfCheck, tile: int) -> list[Decision]:
    """Per image: the best baseline on the held-out entries, the margin, and the per-tile choice (input grid).
    An image with OWN_EVIDENCE held-out entries is decided on them alone; any other follows its set's default
    (`set_default`) unless its own evidence is clear the other way (one standard error, and a margin beyond
    TIE_DB); a tile follows its image unless its own evidence is clearer still (`tile_z`). On a regular
    decimation the model is used in no image or tile whose held-out margin is not above REGULAR_SLACK_DB."""
    h, w = check.model.shape[-2:]
    ny, nx = -(-h // tile), -(-w // tile)
    per_fold = [{name: err[:, n].sum((-2, -1)) for name, err in check.baselines.items()}
                for n in range(check.model.shape[1])]
    model_f, counts_f = check.model.sum((-2, -1)), check.count.sum((-2, -1))       # folds x N
    bests = image_baselines(per_fold, counts_f)
    base_f = torch.stack([folds[best] for folds, best in zip(per_fold, bests)], 1)
    model_default = set_default(model_f, base_f, counts_f)
    own_model, own_baseline = model_wins(model_f, base_f, counts_f), model_wins(base_f, model_f, counts_f)
    alone = counts_f.sum(0) >= OWN_EVIDENCE
    slack = REGULAR_SLACK_DB if check.regular is not None else -math.inf
    decisions = []
    for n, best in enumerate(bests):
        if int(check.count[:, n].sum()) == 0:
            decisions.append(Decision("", None, 0, torch.ones(ny, nx, dtype=torch.bool),
                                      note="too few known entries to check: the model is used"))
            continue
        margin = margin_db(float(base_f[:, n].sum()), float(model_f[:, n].sum()))
        if alone[n]:  # as if checked by itself, where its own test is the set's
            image_model = bool(own_model[n])
        elif model_default:
            image_model = not (bool(own_baseline[n]) and margin < -TIE_DB)
        else:
            image_model = bool(own_model[n]) and margin > TIE_DB
        note = "the model, on its set's evidence" if image_model and not own_model[n] else ""
        if image_model and margin <= slack:
            image_model, note = False, (f"the baseline: on a regular decimation the model needs more than "
                                        f"{slack:+.2f} dB on the check, it had {margin:+.2f}")
        use_model = torch.full((ny, nx), image_model)
        margins = []
        if ny * nx > 1:
            counts = tile_sums(check.count[:, n], tile)
            model_t, base_t = tile_sums(check.model[:, n], tile), tile_sums(check.baselines[best][:, n], tile)
            enough = counts.sum(0) >= MIN_HELD_OUT
            z = tile_z(ny * nx)
            own = ~model_wins(base_t, model_t, counts, z) if image_model else model_wins(model_t, base_t, counts, z)
            tile_margins = torch.tensor([[margin_db(b, m) for b, m in zip(bs, ms)]
                                         for bs, ms in zip(base_t.sum(0).tolist(), model_t.sum(0).tolist())])
            use_model = torch.where(enough, own & (tile_margins > slack), use_model)
            margins = tile_margins[enough].tolist()
        decisions.append(Decision(best, margin, int(check.count[:, n].sum()), use_model, margins, note))
    return decisions


def weight_rows(use_model: torch.Tensor, tile: int, size: tuple[int, int], scale: int, start: int, stop: int,
                feather: int = FEATHER) -> torch.Tensor:
    """Per-pixel weight of the model on output rows [start, stop) (1 x 1 x rows x W*scale): the tile choices on the
    input grid, upsampled to the output grid, box-blurred with half-width `feather` across the seams (exactly 0 or
    1 away from them). Built from the rows within `feather` of the band only, so a band costs its own size."""
    h, w = size
    out_h, k = h * scale, 2 * feather + 1
    lo, hi = max(0, start - feather), min(out_h, stop + feather)
    rows = use_model[torch.arange(lo, hi) // scale // tile].float()              # (hi - lo) x nx
    grid = rows.repeat_interleave(tile * scale, 1)[:, :w * scale][None, None]
    if grid.min() == grid.max() or feather <= 0:
        return grid[..., start - lo:stop - lo, :]
    grid = F.avg_pool2d(F.pad(grid, (feather, feather, 0, 0), mode="replicate"), (1, k), stride=1)
    grid = F.pad(grid, (0, 0, feather - (start - lo), feather - (hi - stop)), mode="replicate")  # image edges only
    return F.avg_pool2d(grid, (k, 1), stride=1)


def weight_map(use_model: torch.Tensor, tile: int, size: tuple[int, int], scale: int,
               feather: int = FEATHER) -> torch.Tensor:
    """Per-pixel weight of the model on the whole output grid (1 x 1 x H*scale x W*scale); see `weight_rows`."""
    return weight_rows(use_model, tile, size, scale, 0, size[0] * scale, feather)


def blend_rows(out: torch.Tensor, baseline, observed: torch.Tensor, mask: torch.Tensor, use_model: torch.Tensor,
               tile: int, scale: int) -> None:
    """out (one image's model estimate, C x H*scale x W*scale) <- the baseline where the tiles chose it, feathered
    across the seams, in place, one row of tiles at a time. A baseline whose output rows depend on nearby input
    rows only (`row_reach`: bicubic, the median filters, interpolation along rows) runs on each band plus that
    reach, so no output-sized array is made: a x4 slice's output is 16 times its input. Others run once."""
    h, w = observed.shape[-2:]
    reach = getattr(baseline, "row_reach", None)
    whole = None if reach is not None else baseline(observed[None], mask[None]).float().cpu()[0]
    span = -(-FEATHER // (tile * scale))  # rows of tiles whose seams reach into a band
    for ty in range(use_model.shape[0]):
        near = use_model[max(0, ty - span):ty + span + 1]
        if bool(near.all()):
            continue  # the model throughout, seams included
        r0, r1 = ty * tile, min(h, (ty + 1) * tile)
        if whole is not None:
            est = whole[:, r0 * scale:r1 * scale]
        else:
            a, b = max(0, r0 - reach), min(h, r1 + reach)
            est = baseline(observed[None, :, a:b], mask[None, :, a:b]).float().cpu()[0]
            est = est[:, (r0 - a) * scale:(r1 - a) * scale]
        band = out[:, r0 * scale:r1 * scale]
        if not bool(near.any()):
            band.copy_(est)
        else:  # est + weight * (model - est), in place
            band.sub_(est).mul_(weight_rows(use_model, tile, (h, w), scale, r0 * scale, r1 * scale)[0, 0]).add_(est)


# ------------------------------------------------------------------------------------------------ the wrapper

def default_baselines(degradation, value_range, scale: int = 1, slow: bool = False) -> dict:
    """Every baseline that applies to the degradation (bicubic for a super-resolution model), as callables; the
    slow ones (FK inversion, BM3D: seconds per image) only with `slow`. The guard asks for them where a held-out
    check runs on missing traces: there FK inversion is the field's reference and can be the best baseline by
    far (synthetic 128 x 64 gathers, 50% random traces: FK 28.5 dB SNR against 16.4 for cubic), while on
    other gathers it trails the consensus (pylops 1000 x 80 gathers). BM3D models Gaussian noise, which has
    no self-check, so the impulse check leaves it out. Evaluation tables score every baseline either way."""
    if scale > 1:
        names = ["bicubic"]
    else:
        names = [b.name for b in applicable_baselines(degradation, value_range) if slow or not b.slow]
    chosen = {}
    for name in names:
        chosen[name] = partial(run_baseline, name, value_range=tuple(value_range), scale=scale)
        chosen[name].row_reach = BASELINES[name].row_reach  # lets the blend run it band by band
    return chosen


def _as_degradation(degradation, model):
    """A parsed degradation from one, a spec, a set of family names ({"mask"}: a user's mask) or the model's."""
    from types import SimpleNamespace

    from ganrecon.degrade import Degradation, parse_degradation

    if isinstance(degradation, Degradation):
        return degradation
    if isinstance(degradation, (set, frozenset)):
        return SimpleNamespace(families=set(degradation), parts=(), spec="+".join(sorted(degradation)))
    spec = degradation if degradation is not None else model.meta.get("degrade")
    if isinstance(spec, (list, tuple)):  # a model trained on several: its first (the validation default)
        spec = spec[0] if spec else None
    if not spec and int(model.scale) > 1:
        spec = f"down:{int(model.scale)}"
    if not spec:  # nothing says what the input suffers from: no check can be chosen
        return SimpleNamespace(families=set(), parts=(), spec="an unknown degradation")
    return parse_degradation(str(spec))


class GuardedModel(ModelWrapper):
    """A model checked on each input against the baselines (see the module docstring); same call shape and
    attributes as the model, under the model's name. Reports accumulate over calls until `reset()`."""

    def __init__(self, model, degradation=None, *, mode: str = "choose", share: float = DEFAULT_SHARE,
                 tile: int = DEFAULT_TILE, folds: int = DEFAULT_FOLDS, baselines=None, seed: int = 0,
                 name: str | None = None, fast: bool = False):
        if mode not in MODES:
            raise GanreconError(f"Unknown guard mode {mode!r}; choose one of {', '.join(MODES)}.")
        if not 0 < share < 1:
            raise GanreconError(f"The guard's held-out share must be between 0 and 1, got {share}.")
        if tile < 8:
            raise GanreconError(f"The guard's tile must be at least 8 pixels, got {tile}.")
        if not 1 <= folds <= 10:
            raise GanreconError(f"The guard's folds must be 1 to 10, got {folds}.")
        super().__init__(model, name or model.name)
        self.mode, self.share, self.tile_size, self.seed = mode, float(share), int(tile), int(seed)
        self.folds = int(folds)
        self.degradation = _as_degradation(degradation, model)
        self.kind, self.reason = check_kind(self.degradation, int(model.scale))
        made_here = baselines is None or isinstance(baselines, (list, tuple))
        if made_here:
            slow = self.kind == "holdout" and not fast  # FK for missing traces, unless the user wants speed
            chosen = default_baselines(self.degradation, model.value_range, int(model.scale), slow=slow)
            if self.kind == "impulses":
                chosen = {k: v for k, v in chosen.items() if k not in GAUSSIAN_DENOISERS}
            if baselines is not None:
                chosen = {k: v for k, v in chosen.items() if k in set(baselines)}
            baselines = chosen
        self.baselines = dict(baselines)
        # the consensus's parts as default_baselines makes them: one pass per gather gives all three (one slope scan)
        self.parts_range = (tuple(model.value_range) if made_here and all(p in self.baselines for p in CONSENSUS_PARTS)
                            else None)
        if not self.baselines and self.kind is not None:
            self.kind, self.reason = None, "no conventional baseline applies"
        self.images: list[dict] = []
        self.check_description = ""

    def reset(self) -> None:
        self.images, self.check_description = [], ""

    @property
    def hedges(self) -> dict[str, tuple[str, float]]:
        """The model's hedges (MODEL_HEDGES at HEDGE_WEIGHTS): name -> (baseline, the model's weight)."""
        return {hedge_name(name, w): (name, w) for name in MODEL_HEDGES if name in self.baselines
                for w in HEDGE_WEIGHTS}

    def run(self, observed: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The model's estimate and every baseline's, the model's hedges (MODEL_HEDGES) among the baselines."""
        model = self.model(observed, mask).float().cpu()
        baselines = self.run_baselines(observed, mask)
        for hedge, (name, weight) in self.hedges.items():
            baselines[hedge] = hedge_of(model, baselines[name], weight, observed, mask)
        return model, baselines

    def needs_model(self, decision: Decision) -> bool:
        """Whether the output of an image so decided uses the model: in some tiles, or in a hedge."""
        return bool(decision.use_model.any()) or decision.baseline in self.hedges

    def estimator(self, name: str, model_out: torch.Tensor):
        """The callable that gives baseline `name`'s estimate; a hedge's uses `model_out`, the model's estimate
        of the same images (shaped like the output), already made."""
        if name not in self.hedges:
            return self.baselines[name]
        base, weight = self.hedges[name]
        return lambda o, m: hedge_of(model_out.view(-1, *o.shape[1:]), self.baselines[base](o, m).float().cpu(),
                                     weight, o, m)

    def run_baselines(self, observed: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every baseline's estimate; the consensus from its parts' estimates when they are among them."""
        out = {}
        if self.parts_range is not None:
            parts = consensus_parts(observed, mask, value_range=self.parts_range)
            out.update((name, part.float().cpu()) for name, part in zip(CONSENSUS_PARTS, parts))
        for name, fn in self.baselines.items():
            if name == "consensus" and all(part in out for part in CONSENSUS_PARTS):
                out[name] = consensus_of([out[part] for part in CONSENSUS_PARTS], observed, mask)
            elif name not in out:
                out[name] = fn(observed, mask).float().cpu()
        return {name: out[name] for name in self.baselines}

    def self_check(self, observed: torch.Tensor, mask: torch.Tensor) -> SelfCheck | str:
        """The check that fits the input, or the reason there is none."""
        generator = torch.Generator().manual_seed(self.seed)
        if self.kind == "holdout":
            regular = None if getattr(self.model, "fixed_size", False) else regular_traces(mask)
            if regular is not None:  # hedges leaning to the model are left out, as REGULAR_SLACK_DB says why
                check = regular_check(self.run, observed, *regular)
                weighted = {name for name, (_, weight) in self.hedges.items() if weight != 0.5}
                check.baselines = {k: v for k, v in check.baselines.items() if k not in weighted}
                return check
            if any(large_holes(kn) for kn in (mask > 0).all(1) if not whole_traces(kn)):
                return "large holes have no self-check (no share of the known entries poses a problem like them)"
            return holdout_check(self.run, observed, mask, self.share, generator, self.folds)
        if self.kind == "impulses":
            check = impulse_check(self.run, observed, mask, self.share, self.value_range, generator, self.folds)
        elif self.kind == "superres":
            check = superres_check(self.run, observed, int(self.model.scale), self.value_range, self.folds)
        else:
            return self.reason
        return check if check is not None else "the input is too small to check"

    @torch.no_grad()
    def __call__(self, observed: torch.Tensor, mask: torch.Tensor | None = None, **_ignored) -> torch.Tensor:
        if self.mode == "off":
            return self.model(observed, mask)
        mask = torch.ones_like(observed) if mask is None else mask.float().cpu().expand_as(observed)
        observed = torch.where(mask > 0, torch.nan_to_num(observed.float().cpu()), 0.0)  # missing: never read
        amp = torch.ones(len(observed), 1, 1, 1)
        if self.value_range[0] < 0:  # signed data of any amplitude: the baselines work in [-1, 1]
            amp = observed.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
            observed = observed / amp
        check = self.self_check(observed, mask)
        if isinstance(check, str):
            self.check_description = "none: " + check
            self.images += [{"method": "model", "margin_db": None} for _ in range(len(observed))]
            return self.model(observed, mask) * amp
        self.check_description = check.description
        tile = max(1, self.tile_size // int(self.scale))
        decisions = decide(check, tile)
        if self.mode == "choose" and check.regular is not None and "fk" in self.baselines:
            rows = [i for i, d in enumerate(decisions) if d.margin_db is not None and self.needs_model(d)]
            if rows:
                errors = alias_check(self.model, self.baselines["fk"], observed[rows], *check.regular)
                prefer_fk(decisions, *errors, rows, ALIAS_SLACK_DB)
        if self.mode == "report":
            for d in decisions:
                d.use_model = torch.ones_like(d.use_model)
        out = self.combine(observed, mask, decisions, tile)
        self.images += [image_report(d, self.mode) for d in decisions]
        return out * amp

    def combine(self, observed: torch.Tensor, mask: torch.Tensor, decisions: list[Decision], tile: int):
        """Model where the tiles chose it, the image's best baseline elsewhere (feathered seams). Output-sized
        arrays are made only where needed (a x4 slice's output is 16 times its input): the model's output is
        the result when every tile chose it, and the baseline is blended into it in place (`blend_rows`)."""
        scale = int(self.scale)
        n, c, h, w = observed.shape
        need_model = [i for i, d in enumerate(decisions) if self.needs_model(d)]
        if len(need_model) == n:
            out = self.model(observed, mask).float().cpu()
            if out.untyped_storage().data_ptr() == observed.untyped_storage().data_ptr():
                out = out.clone()  # a model that hands back its input: the blend below must not write into it
        else:
            out = torch.zeros(n, c, h * scale, w * scale)
            if need_model:
                out[need_model] = self.model(observed[need_model], mask[need_model]).float().cpu()
        for name in {d.baseline for d in decisions if not d.use_model.any()}:  # in one batch per baseline
            rows = [i for i, d in enumerate(decisions) if d.baseline == name and not d.use_model.any()]
            out[rows] = self.estimator(name, out[rows])(observed[rows], mask[rows]).float().cpu()
        for i, d in enumerate(decisions):
            if d.use_model.any() and not d.use_model.all():
                blend_rows(out[i], self.estimator(d.baseline, out[i].clone()), observed[i], mask[i], d.use_model,
                           tile, scale)
        return out

    def report(self) -> dict:
        """JSON-ready `{"guard": {...}}` over every image seen since the last reset."""
        return {"guard": guard_summary(self.images, mode=self.mode, check=self.check_description,
                                       share=self.share, tile=self.tile_size)}

    def describe(self) -> str:
        return describe(self.report()["guard"], self.name)


def image_report(decision: Decision, mode: str) -> dict:
    tiles = decision.use_model
    if decision.margin_db is None:
        return {"method": "model", "margin_db": None, "note": decision.note}
    method = "model" if bool(tiles.all()) else decision.baseline if not bool(tiles.any()) else "mixed"
    entry = {"method": method, "baseline": decision.baseline, "margin_db": round(decision.margin_db, 2),
             "held_out": decision.held_out}
    if decision.note:
        entry["note"] = decision.note
    if tiles.numel() > 1:
        entry["tiles"] = {"count": tiles.numel(), "model": int(tiles.sum()), **_spread(decision.tile_margins)}
    return entry


def _spread(margins: list[float]) -> dict:
    if not margins:
        return {}
    ordered = sorted(margins)
    return {"margin_db": {"min": round(ordered[0], 2), "median": round(ordered[len(ordered) // 2], 2),
                          "max": round(ordered[-1], 2)}}


def guard_summary(images: list[dict], *, mode: str, check: str, share: float, tile: int) -> dict:
    methods: dict[str, int] = {}
    for entry in images:
        methods[entry["method"]] = methods.get(entry["method"], 0) + 1
    margins = [e["margin_db"] for e in images if e.get("margin_db") is not None]
    return {"mode": mode, "check": check, "share": share, "tile": tile, "images": images,
            "summary": {"images": len(images), "methods": methods, **_spread(margins)}}


def describe(guard: dict, name: str = "the model") -> str:
    """The guard's decisions in words: one line in all, plus one per image when there are few."""
    s = guard["summary"]
    if guard["mode"] == "off":
        return f"guard off: {name} used as it is."
    if not guard.get("check"):  # the model was never called (nothing was missing): nothing to check or use
        return "guard: nothing was reconstructed, so nothing was checked."
    if "margin_db" not in s:
        return f"guard: {guard['check']}; {name} used."
    used = ", ".join(f"{k} {v}" for k, v in sorted(s["methods"].items()))
    m = s["margin_db"]
    lines = [f"guard ({guard['mode']}; {guard['check']}): {used} of {s['images']} image(s); margin of {name} over "
             f"the best baseline {m['median']:+.2f} dB (median; min {m['min']:+.2f}, max {m['max']:+.2f})."]
    if len(guard["images"]) <= 8:
        for i, e in enumerate(guard["images"]):
            if e.get("margin_db") is None:
                lines.append(f"  image {i}: model ({e.get('note', 'not checked')})")
                continue
            tiles = f", {e['tiles']['model']}/{e['tiles']['count']} tiles model" if "tiles" in e else ""
            lines.append(f"  image {i}: {e['method']} ({name} {e['margin_db']:+.2f} dB vs {e['baseline']}{tiles})")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ evaluation

class RawModel(ModelWrapper):
    """The unguarded model under the name NAME:raw, so a table shows what the guard changed."""

    def __init__(self, model):
        super().__init__(model, f"{model.name}:raw")

    def __call__(self, observed: torch.Tensor, mask: torch.Tensor | None = None, **_ignored) -> torch.Tensor:
        return self.model(observed, mask)


def guard_models(models, degradation, mode: str = "choose", **options) -> list:
    """For an evaluation: each model guarded under its own name (what a user gets), then unguarded as NAME:raw;
    with mode `off` the models as they are."""
    if mode not in MODES:
        raise GanreconError(f"Unknown guard mode {mode!r}; choose one of {', '.join(MODES)}.")
    if mode == "off":
        return list(models)
    return [wrapped for m in models for wrapped in (GuardedModel(m, degradation, mode=mode, **options), RawModel(m))]


def guard_reports(models) -> dict:
    """`{"guard": {model name: report}}` for the guarded models among `models` (empty when there are none)."""
    reports = {m.name: m.report()["guard"] for m in models if isinstance(m, GuardedModel)}
    return {"guard": reports} if reports else {}
