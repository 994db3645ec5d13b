"""The prior refiner: an untrained model is the conventional method; training needs no wiring."""

from __future__ import annotations

import pytest
import torch

from ganrecon.baselines import BASELINES, run_baseline
from ganrecon.degrade import parse_degradation
from ganrecon.errors import GanreconError
from ganrecon.models import build_generator
from ganrecon.models.refine import PriorCache, PriorRefiner, interpolate_rows

CASES = [  # generator, options, prior, degradation, value range
    ("unet", {"depth": 2, "width": 4}, "linear", "columns:random:0.5", (0.0, 1.0)),
    ("unet", {"depth": 2, "width": 4}, "cubic", "columns:regular:3", (0.0, 1.0)),
    ("unet", {"depth": "auto", "width": 4, "output": "clamp"}, "fk", "columns:random:0.4", (-1.0, 1.0)),
    ("lenet", {}, "nearest", "pixels:random:0.3", (0.0, 1.0)),
    ("linear", {}, "biharmonic", "pixels:random:0.3", (0.0, 1.0)),
    ("unet-shallow", {"widths": [4, 8]}, "switching-median", "sp:0.2", (0.0, 1.0)),
    ("unet", {"depth": 2, "width": 4}, "adaptive-median", "sp:0.3", (0.0, 1.0)),
    ("unet", {"depth": 2, "width": 4}, "nlm", "gauss:0.1", (0.0, 1.0)),
    ("srresnet", {"scale": 4, "blocks": 1, "width": 8}, "bicubic", "down:4", (0.0, 1.0)),
]


def _data(spec, value_range, n=3, size=(24, 28), seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.nn.functional.avg_pool2d(torch.rand(n, 1, size[0] + 4, size[1] + 4, generator=g), 5, 1)
    clean = clean * 2 - 1 if value_range[0] < 0 else clean
    observed, mask = parse_degradation(spec)(clean, value_range=value_range, generator=seed)
    return clean, observed, mask


@pytest.mark.parametrize("name,options,prior,spec,value_range", CASES)
def test_an_untrained_refiner_is_its_prior(name, options, prior, spec, value_range):
    _, observed, mask = _data(spec, value_range)
    gen = build_generator(name, channels=1, image_size=(24, 28), value_range=value_range, prior=prior, **options)
    assert isinstance(gen, PriorRefiner)
    expected = run_baseline(prior, observed, mask, value_range=value_range, scale=gen.scale)
    with torch.no_grad():
        out = gen.eval()(observed, mask)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    # also in training mode (BatchNorm on batch statistics), channels_last and under bf16 autocast
    gen.train().to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = gen(observed.contiguous(memory_format=torch.channels_last), mask)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    out.sub(1).square().mean().backward()  # the zeroed head learns from the first step
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.parameters())


def test_one_step_moves_the_refiner_away_from_its_prior_and_the_range_holds():
    clean, observed, mask = _data("columns:random:0.5", (0.0, 1.0))
    gen = build_generator("unet", channels=1, image_size=(24, 28), prior="linear", depth=2, width=4)
    prior = gen.prior(observed, mask)
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        (gen(observed, mask) - clean).abs().mean().backward()
        opt.step()
    with torch.no_grad():
        out = gen(observed, mask)
    assert (out - prior).abs().max() > 1e-4 and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("kind", ["linear", "nearest"])
@pytest.mark.parametrize("spec", ["columns:random:0.5", "pixels:random:0.6", "columns:gap:9", "keep-first:100"])
def test_batched_row_interpolation_is_the_baseline(kind, spec):
    _, observed, mask = _data(spec, (-1.0, 1.0), n=4)
    mask[0, :, 3] = 0  # a row with nothing known
    observed = observed * mask
    ours = interpolate_rows(observed, mask > 0, kind, (-1.0, 1.0))
    torch.testing.assert_close(ours, run_baseline(kind, observed, mask, value_range=(-1.0, 1.0)), atol=1e-6, rtol=0)


def test_missing_entries_are_never_read_and_impulse_priors_guide_with_candidates():
    _, observed, mask = _data("columns:random:0.5", (0.0, 1.0))
    gen = build_generator("unet", channels=1, image_size=(24, 28), prior="cubic", depth=2, width=4).eval()
    with torch.no_grad():
        poisoned = torch.where(mask > 0, observed, torch.full_like(observed, float("nan")))
        assert torch.equal(gen(observed, mask), gen(poisoned, mask))
    img = torch.full((1, 1, 8, 8), 0.5)
    img[0, 0, 2, 3], img[0, 0, 5, 5] = 1.0, 0.0
    denoiser = build_generator("unet", channels=1, image_size=(8, 8), prior="switching-median", depth=1, width=4)
    guide = denoiser.guide(img, torch.ones_like(img))
    assert guide.sum() == 62 and guide[0, 0, 2, 3] == 0 and guide[0, 0, 5, 5] == 0


def counted_prior(calls: list):
    """A stand-in costly prior (twice the input) that records how many images each call computed."""
    def slow(o, m):
        calls.append(len(o))
        return o * 2
    return slow


def test_costly_priors_are_cached_per_image():
    calls = []
    slow = counted_prior(calls)
    cache = PriorCache(size=3)
    x = torch.rand(2, 1, 4, 4)
    m = torch.ones_like(x)
    torch.testing.assert_close(cache(slow, x, m), x * 2)
    y = torch.cat([x[1:], torch.rand(1, 1, 4, 4)])
    torch.testing.assert_close(cache(slow, y, torch.ones_like(y)), y * 2)
    assert calls == [2, 1] and len(cache.entries) == 3
    cache(slow, x, m * 0)  # another mask is another key
    assert calls == [2, 1, 2] and len(cache.entries) == 3
    cache.disable()
    cache(slow, x, m * 0)  # computed again, nothing kept
    assert calls == [2, 1, 2, 2] and not cache.entries


def test_a_saved_prior_cache_is_read_back_only_for_the_same_prior(tmp_path):
    calls = []
    slow = counted_prior(calls)
    cache = PriorCache(size=4)
    x = torch.rand(3, 1, 4, 4)
    m = torch.ones_like(x)
    cache(slow, x, m)
    cache.save(tmp_path / "priors.pt", "cubic")
    again = PriorCache(size=2)  # smaller: keeps the most recently used
    assert again.load(tmp_path / "priors.pt", "cubic") == 2
    torch.testing.assert_close(again(slow, x[1:], m[1:]), x[1:] * 2)
    assert calls == [3]  # nothing computed again
    assert PriorCache(size=4).load(tmp_path / "priors.pt", "linear") == 0  # another prior's values
    (tmp_path / "broken.pt").write_bytes(b"not a cache")
    assert PriorCache(size=4).load(tmp_path / "broken.pt", "cubic") == 0
    assert PriorCache(size=4).load(tmp_path / "absent.pt", "cubic") == 0


def test_a_refiner_caches_its_costly_prior_only_for_validation_and_inference():
    """Training batches are new at every step: in training mode or with gradients on the cache is bypassed, so it
    keeps the fixed validation batch that validation (eval mode, no gradients) reuses."""
    gen = build_generator("unet", channels=1, image_size=(16, 16), prior="biharmonic", depth=1, width=4)
    x = torch.rand(3, 1, 16, 16)
    m = (torch.rand(1, 1, 1, 16) > 0.5).float().expand_as(x).contiguous()
    gen.eval()(x, m)  # with gradients: a fine-tuning step, which keeps eval mode
    assert not gen.cache.entries
    with torch.no_grad():
        trained = gen.train()(x, m)
        assert not gen.cache.entries
        evaluated = gen.eval()(x, m)
        assert len(gen.cache.entries) == 3
        torch.testing.assert_close(gen(x, m), evaluated)
    torch.testing.assert_close(trained, evaluated)


@pytest.mark.parametrize("kwargs,message", [
    (dict(name="unet", prior="median-ish"), "Unknown prior"),
    (dict(name="unet", prior="bicubic"), "does not fit a generator of scale 1"),
    (dict(name="srresnet", prior="linear", scale=2), "use bicubic"),
    (dict(name="unet", prior="fk"), "signed"),
    (dict(name="unet", prior="linear", residual=True), "residual"),
    (dict(name="unet", prior="cubic", prior_options={"epsilon": 1}), "epsilon"),
])
def test_bad_priors_are_one_sentence(kwargs, message):
    with pytest.raises(GanreconError, match=message):
        build_generator(channels=1, image_size=(16, 16), **kwargs)


def test_a_run_with_a_prior_trains_saves_and_loads_without_wiring(tmp_path, tiny_npz, monkeypatch):
    from conftest import tiny_overrides

    from ganrecon.config import load_config
    from ganrecon.inference import load_model
    from ganrecon.training import train

    monkeypatch.setattr("ganrecon.training.conditional.bf16_native", lambda device: True)  # bf16 units or not
    options = {"depth": 2, "width": 8, "prior": "linear"}
    train(load_config(overrides=tiny_overrides(tiny_npz, steps=4, amp=True, generator_options=options)),
          tmp_path / "run", progress=False)
    model = load_model(tmp_path / "run")
    assert isinstance(model.generator, PriorRefiner) and model.meta["generator_options"]["prior"] == "linear"
    assert model.meta["amp"] == "bfloat16"  # the bundle says what a step ran in
    _, observed, mask = _data("columns:random:0.5", (0.0, 1.0), size=(16, 16))
    out = model(observed, mask)
    assert out.shape == observed.shape and torch.equal(out[mask > 0], observed[mask > 0])


@pytest.mark.parametrize("name,prior,size,scale", [("traces-seismic-unet-prior", "cubic", (128, 64), 1),
                                                   ("denoise-blind-prior", "switching-median", (48, 48), 1),
                                                   ("superres-porous-x4-prior", "bicubic", (128, 128), 4)])
def test_prior_configs_build_refiners(name, prior, size, scale):
    from pathlib import Path

    from ganrecon.config import load_config

    config = load_config(Path(__file__).resolve().parent.parent / "configs" / f"{name}.yaml")
    assert config.generator_options["prior"] == prior
    options = dict(config.generator_options, **({"scale": scale} if scale > 1 else {}))
    gen = build_generator(config.generator, channels=1, image_size=size, **options)
    assert isinstance(gen, PriorRefiner) and gen.prior_name == prior and gen.scale == scale


ODD = sorted(name for name, b in BASELINES.items() if b.odd)


@pytest.mark.parametrize("prior", ODD)
def test_priors_marked_odd_flip_with_the_polarity(prior):
    """`odd` lets a polarity average compute the prior once, so it must hold: prior(-d) = -prior(d)."""
    clean, observed, mask = _data("columns:random:0.4", (-1.0, 1.0), n=2, size=(32, 16))
    plus = run_baseline(prior, observed, mask, value_range=(-1.0, 1.0))
    minus = run_baseline(prior, -observed, mask, value_range=(-1.0, 1.0))
    torch.testing.assert_close(minus, -plus, atol=1e-5, rtol=0)
    assert plus.abs().max() > 0


@pytest.mark.parametrize("prior", ["pocs", "biharmonic"])  # odd: prior once; not marked odd: the general path
def test_the_polarity_average_of_a_refiner_is_its_two_passes_in_one(prior):
    _, observed, mask = _data("columns:random:0.5", (-1.0, 1.0), size=(32, 16))
    gen = build_generator("unet", channels=1, image_size=(32, 16), value_range=(-1.0, 1.0), prior=prior,
                          depth=2, width=4).eval()
    torch.manual_seed(0)
    for p in gen.network.parameters():  # a trained-looking network: the zeroed head would hide the correction
        p.data.normal_(0, 0.3)
    with torch.no_grad():
        expected = (gen(observed, mask) - gen(-observed, mask)) / 2
        out = gen.polarity_average(observed, mask)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    assert (out - gen.prior(observed, mask)).abs().max() > 1e-3


@pytest.mark.parametrize("prior", [None, "pocs"])
def test_a_tiled_polarity_average_in_one_pass_is_the_two_passes(prior):
    """The reconstructor sends both polarities of each tile through together (a refiner computes its odd prior
    once); the blend is linear, so this must equal the average of two whole tiled passes."""
    from ganrecon.reconstructor import ReconstructionModel
    from ganrecon.tiling import tiled_apply

    torch.manual_seed(0)
    options = {"prior": prior} if prior else {}
    gen = build_generator("unet", channels=1, image_size=(32, 16), value_range=(-1.0, 1.0), depth=2, width=4,
                          **options).eval()
    for p in gen.parameters():
        p.data.normal_(0, 0.3)
    meta = {"generator": "unet", "channels": 1, "image_size": [32, 16], "value_range": [-1.0, 1.0], "scale": 1}
    model = ReconstructionModel(gen, meta, "signed")
    _, observed, mask = _data("columns:random:0.5", (-1.0, 1.0), n=2, size=(80, 40))
    observed = observed * 7.0  # any amplitude: normalised per tile
    with torch.no_grad():
        out = model(observed, mask)
        passes = [tiled_apply(model.apply_tiles, o * mask, mask, model.tile, overlap=0.25) for o in (observed, -observed)]
    torch.testing.assert_close(out, (passes[0] - passes[1]) / 2, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("prior,value_range", [("biharmonic", (0.0, 1.0)), ("pocs", (-1.0, 1.0))])
def test_a_self_ensemble_computes_a_costly_prior_once_per_tile(prior, value_range):
    """A mirror ensemble of a refiner turns the prior it computed with the tile instead of computing it again:
    half the prior's time. For a prior that is its own mirror (biharmonic inpainting) the output is the
    ensemble's that computes it twice; an odd prior (POCS) is also shared by the polarity average."""
    from ganrecon.reconstructor import ReconstructionModel

    torch.manual_seed(0)
    gen = build_generator("unet", channels=1, image_size=(32, 16), value_range=value_range, prior=prior, depth=2,
                          width=4).eval()
    for p in gen.network.parameters():
        p.data.normal_(0, 0.3)
    gen.cache.disable()
    tiles, compute = [], gen.prior
    gen.prior = lambda o, m: tiles.append(len(o)) or compute(o, m)
    meta = {"generator": "unet", "channels": 1, "image_size": [32, 16], "value_range": list(value_range), "scale": 1}
    model = ReconstructionModel(gen, meta, "signed" if value_range[0] < 0 else "image", ensemble="mirror")
    _, observed, mask = _data("columns:random:0.5", value_range, n=2, size=(32, 16))
    with torch.no_grad():
        shared = model(observed, mask)
        once = sum(tiles)
        gen.shares_prior = lambda polarity: False  # the general self-ensemble: the prior of each orientation
        general = model(observed, mask)
    assert sum(tiles) - once == 2 * once > 0
    if prior == "biharmonic":
        torch.testing.assert_close(shared, general, atol=1e-4, rtol=0)
        assert (shared - compute(observed, mask)).abs().max() > 1e-2  # the network's corrections count
