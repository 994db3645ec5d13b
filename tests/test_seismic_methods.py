"""The strong conventional seismic interpolators (ganrecon.seismic_methods) on tiny gathers made here."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from ganrecon.baselines import applicable_baselines, run_baseline
from ganrecon.errors import GanreconError
from ganrecon.seismic_fx import regular_step
from ganrecon.seismic_windows import in_windows, ramp

NEW = ["pocs", "sliding-fk", "fx", "dip-steered", "consensus", "deep-prior"]


def ricker(tau: np.ndarray, f: float) -> np.ndarray:
    a = (np.pi * f * tau) ** 2
    return (1 - 2 * a) * np.exp(-a)


def gather(events, h: int = 96, w: int = 24) -> torch.Tensor:
    """1 x 1 x h x w sum of linear events (t0 samples, slope samples/trace, peak cycles/sample, amplitude)."""
    t = np.arange(h)[:, None].astype(float)
    x = np.arange(w)[None, :].astype(float)
    d = sum(a * ricker(t - (t0 + p * (x - w / 2)), f) for t0, p, f, a in events)
    return torch.from_numpy(d / np.abs(d).max()).float()[None, None]


def trace_mask(w: int, missing, h: int = 96) -> torch.Tensor:
    mask = torch.ones(1, 1, h, w)
    mask[..., list(missing)] = 0
    return mask


def missing_snr(estimate, clean, mask) -> float:
    miss = mask == 0
    return float(10 * torch.log10(clean[miss].pow(2).sum() / (estimate[miss] - clean[miss]).pow(2).sum()))


def run(name, clean, mask, **options):
    return run_baseline(name, clean * mask, mask, value_range=(-1.0, 1.0), **options)


def test_windows_blend_is_a_partition_of_unity():
    data = np.random.default_rng(0).standard_normal((70, 23))
    known = np.ones_like(data, dtype=bool)
    out = in_windows(lambda d, k: d, data, known, (16, 8), (0.5, 0.5))
    np.testing.assert_allclose(out, data, atol=1e-12)
    assert ramp(8, 0.5)[0] > 0 and ramp(8, 0.5)[3] == 1.0


@pytest.mark.parametrize("name", ["pocs", "sliding-fk"])
def test_pocs_restores_a_missing_trace_of_a_linear_event(name):
    clean = gather([(48, 0.6, 0.08, 1.0)])
    mask = trace_mask(24, [11])
    est = run(name, clean, mask)
    assert missing_snr(est, clean, mask) > 20
    assert missing_snr(run("zero-fill", clean, mask), clean, mask) < 1


def test_fx_restores_regular_decimation_including_an_event_aliased_on_the_coarse_grid():
    # slope 2.2 samples/trace: 4.4 samples per recorded (every other) trace, more than half the period of the
    # 0.1 cycles/sample wavelet's upper frequencies, so the recorded traces alone alias it
    clean = gather([(30, 2.2, 0.1, 1.0), (60, -0.5, 0.07, 0.7)], h=128, w=32)
    mask = trace_mask(32, range(1, 32, 2), h=128)
    assert regular_step(mask[0, 0, 0].numpy() > 0) == 2
    est = run("fx", clean, mask)
    assert missing_snr(est, clean, mask) > 15
    assert missing_snr(run("cubic", clean, mask), clean, mask) < 8  # the aliased event defeats interpolation


def test_dip_steered_follows_a_dipping_event():
    clean = gather([(48, 1.5, 0.1, 1.0)])
    mask = trace_mask(24, [5, 6, 12, 17])
    est = run("dip-steered", clean, mask)
    assert missing_snr(est, clean, mask) > 15
    assert missing_snr(run("linear", clean, mask), clean, mask) < 5  # a 2-trace gap of a steep event


@pytest.fixture
def one_thread():
    """The deep prior's tiny convolutions gain nothing from threads, and spin-waiting threads on a busy machine
    cost seconds per step."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_deep_prior_beats_zero_fill_within_seconds(one_thread):
    clean = gather([(30, 0.3, 0.06, 1.0), (60, -0.2, 0.05, -0.6)], h=64, w=16)
    mask = trace_mask(16, [3, 8, 12], h=64)
    start = time.process_time()
    est = run("deep-prior", clean, mask, iterations=60)
    assert time.process_time() - start < 10  # CPU seconds (about 1.5 on an idle core)
    assert missing_snr(est, clean, mask) > missing_snr(run("zero-fill", clean, mask), clean, mask) + 6
    again = run("deep-prior", clean, mask, iterations=60)
    torch.testing.assert_close(est, again)  # seeded


@pytest.mark.parametrize("name", NEW)
def test_known_traces_exact_and_missing_never_read(name, one_thread):
    g = torch.Generator().manual_seed(1)
    clean = torch.cat([gather([(40, 0.8, 0.08, 1.0), (20, -0.4, 0.1, 0.5)], h=64, w=16),
                       torch.rand(1, 1, 64, 16, generator=g) * 2 - 1])  # a coherent and a random gather
    mask = (torch.rand(2, 1, 1, 16, generator=g) > 0.4).float().expand(2, 1, 64, 16).clone()
    options = {"iterations": 20} if name == "deep-prior" else {}
    est = run_baseline(name, clean * mask, mask, value_range=(-1.0, 1.0), **options)
    assert est.shape == clean.shape and est.dtype == torch.float32
    known = mask.bool()
    torch.testing.assert_close(est[known], clean[known], rtol=0, atol=0)
    assert bool(est.isfinite().all()) and float(est.abs().max()) <= 1.0
    poisoned = torch.where(known, clean, torch.full_like(clean, float("nan")))
    torch.testing.assert_close(run_baseline(name, poisoned, mask, value_range=(-1.0, 1.0), **options), est,
                               rtol=0, atol=0, equal_nan=False)


def test_registered_for_signed_trace_masks_only():
    signed = {b.name for b in applicable_baselines({"mask"}, (-1.0, 1.0))}
    asked = {b.name for b in applicable_baselines({"mask"}, (-1.0, 1.0), on_request=True)}
    unsigned = {b.name for b in applicable_baselines({"mask"}, (0.0, 1.0), on_request=True)}
    assert set(NEW) - {"deep-prior"} <= signed and "deep-prior" not in signed  # seconds per gather: when named
    assert set(NEW) <= asked and not set(NEW) & unsigned


@pytest.mark.parametrize("name, options", [("pocs", {"schedule": "cosine"}), ("sliding-fk", {"window": (1, 8)}),
                                            ("fx", {"length": 0}), ("dip-steered", {"neighbours": 1}),
                                            ("deep-prior", {"iterations": 0})])
def test_bad_options_are_one_sentence(name, options):
    clean = gather([(40, 0.5, 0.08, 1.0)], h=32, w=8)
    with pytest.raises(GanreconError):
        run(name, clean, trace_mask(8, [3], h=32), **options)


@pytest.mark.parametrize("name", ["consensus", "deep-prior"])
def test_gathers_in_parallel_give_what_one_at_a_time_gives(name):
    """per_gather runs the gathers of a batch in torch's thread count of threads: the same numbers as one thread
    (the deep prior, seeded through torch's global generator, stays serial)."""
    events = [[(30, 0.6, 0.08, 1.0)], [(50, -1.5, 0.1, 1.0)], [(20, 0.2, 0.06, 1.0), (60, 1.0, 0.1, 0.5)]]
    clean = torch.cat([gather(e, h=64, w=16) for e in events])
    mask = trace_mask(16, [2, 5, 6, 11], h=64).expand_as(clean)
    options = {"iterations": 10} if name == "deep-prior" else {}
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = run_baseline(name, clean * mask, mask, value_range=(-1.0, 1.0), **options)
        torch.set_num_threads(2)
        parallel = run_baseline(name, clean * mask, mask, value_range=(-1.0, 1.0), **options)
    finally:
        torch.set_num_threads(previous)
    torch.testing.assert_close(parallel, serial, rtol=0, atol=1e-6 if name == "deep-prior" else 0)


def test_consensus_scans_the_slopes_once_and_gives_the_mean_of_its_parts(monkeypatch):
    """The consensus shares one slope scan between its dip-steered part and f-x prediction's first estimate: it
    must still be exactly the mean of fx, dip-steered and sliding-fk run on their own (with a fully known
    batch member, which none of them touches)."""
    from ganrecon import seismic_fx, seismic_methods
    from ganrecon.seismic_methods import CONSENSUS_PARTS, consensus_of

    clean = torch.cat([gather([(30, 2.5, 0.1, 1.0), (60, -0.7, 0.08, 0.6)], h=64, w=20),
                       gather([(40, 0.4, 0.08, 1.0)], h=64, w=20)])
    mask = torch.stack([trace_mask(20, [1, 4, 5, 9, 13, 14, 18], h=64)[0], trace_mask(20, [], h=64)[0]])
    parts = [run(name, clean, mask) for name in CONSENSUS_PARTS]
    scans = []
    monkeypatch.setattr(seismic_fx, "dip_interpolate", lambda *a, **k: scans.append(1))  # f-x's own scan
    shared = seismic_methods.consensus_parts(clean * mask, mask)
    assert not scans and len(shared) == len(CONSENSUS_PARTS)
    for alone, together in zip(parts, shared):
        torch.testing.assert_close(together, alone, rtol=0, atol=0)
    torch.testing.assert_close(run("consensus", clean, mask), consensus_of(parts, clean * mask, mask), rtol=0, atol=0)


def test_a_consensus_whose_fx_starts_from_linear_scans_one_power_only(monkeypatch):
    """With f-x's first estimate set to linear, the consensus asks the slope scan for the dip-steered part's
    stack alone, and its f-x part is f-x prediction with that first estimate."""
    from ganrecon import seismic_methods
    from ganrecon.seismic_methods import DIP_OPTIONS

    clean = gather([(30, 2.5, 0.1, 1.0), (60, -0.7, 0.08, 0.6)], h=64, w=20)
    mask = trace_mask(20, [1, 4, 5, 9, 13, 14, 18], h=64)
    monkeypatch.setitem(seismic_methods.FX_OPTIONS, "first", "linear")
    powers = []
    stacks = seismic_methods.dip_stacks
    monkeypatch.setattr(seismic_methods, "dip_stacks", lambda *a, **k: powers.append(k["powers"]) or stacks(*a, **k))
    fx, dip, sliding = seismic_methods.consensus_parts(clean * mask, mask)
    assert powers == [(DIP_OPTIONS["power"],)]
    torch.testing.assert_close(fx, run("fx", clean, mask, first="linear"), rtol=0, atol=0)
    torch.testing.assert_close(dip, run("dip-steered", clean, mask), rtol=0, atol=0)
    torch.testing.assert_close(sliding, run("sliding-fk", clean, mask), rtol=0, atol=0)
