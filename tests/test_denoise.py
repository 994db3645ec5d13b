"""The denoise task: the reference's shallow U-Net, the denoise configs, blind noise mixing, and one tiny run.

Salt & pepper counts and ratio (test_degrade), the FER2013 CSV split (test_data) and the adaptive median on
isolated impulses (test_baselines) are tested where those modules are.
"""

import csv
from pathlib import Path

import pytest
import torch
from conftest import load_benchmark, tiny_overrides
from torch import nn

from ganrecon.baselines import applicable_baselines, bm3d_installed
from ganrecon.config import load_config
from ganrecon.errors import GanreconError
from ganrecon.evaluation import evaluate
from ganrecon.inference import load_model
from ganrecon.models import build_generator
from ganrecon.models.layers import RangeActivation
from ganrecon.training import DegradationMix, build_models, step_generator, train

ROOT = Path(__file__).resolve().parent.parent
DENOISE_BASELINES = {"noisy", "median3", "median5", "adaptive-median", "switching-median", "impulse-biharmonic",
                     "tv", "nlm"} | ({"bm3d"} if bm3d_installed() else set())


def test_unet_shallow_is_the_reference_architecture_at_48x48():
    gen = build_generator("unet-shallow", channels=1, image_size=(48, 48))
    convs = [m for m in gen.modules() if type(m) is nn.Conv2d]
    assert [c.out_channels for c in convs[:6]] == [64, 64, 128, 128, 256, 256]  # encoder + bottleneck
    ups = [m for m in gen.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.in_channels, u.out_channels, u.stride) for u in ups] == [(256, 128, (2, 2)), (128, 64, (2, 2))]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gen.modules())
    x = torch.rand(2, 1, 48, 48)
    with torch.no_grad():
        y = gen(x, torch.ones_like(x))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1  # sigmoid head


@pytest.mark.parametrize("size", [(37, 23), (28, 28), (5, 9)])
def test_unet_shallow_any_size_and_gradients(size):
    gen = build_generator("unet-shallow", channels=1, image_size=(48, 48), widths=[4, 8, 16], batchnorm=True)
    x = torch.rand(2, 1, *size)
    y = gen(x, None)
    assert y.shape == x.shape
    y.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gen.parameters())


def test_unet_shallow_bad_options_are_one_sentence():
    with pytest.raises(GanreconError, match="two positive widths"):
        build_generator("unet-shallow", channels=1, image_size=(48, 48), widths=[64])
    with pytest.raises(GanreconError, match="Bad option"):
        build_generator("unet-shallow", channels=1, image_size=(48, 48), depth=3)


def test_clamp_output_reaches_the_range_ends_and_passes_gradients_straight_through():
    head = RangeActivation((0.0, 1.0), "clamp")
    x = torch.tensor([-0.5, 0.0, 0.3, 1.0, 1.7], requires_grad=True)
    y = head(x)
    assert y.tolist() == pytest.approx([0.0, 0.0, 0.3, 1.0, 1.0])
    ((y - 0.5) ** 2).sum().backward()  # outside the range the loss still pulls the output back
    assert x.grad.tolist() == pytest.approx([-1.0, -1.0, -0.4, 1.0, 1.0])
    assert torch.equal(RangeActivation((-1.0, 1.0), "clamp")(x), x)  # signed amplitudes are never clipped
    with pytest.raises(GanreconError, match="output activation"):
        RangeActivation((0.0, 1.0), "tanh")


def test_residual_clamp_unet_starts_as_the_exact_identity():
    gen = build_generator("unet", channels=1, image_size=(28, 28), depth=2, width=4, output="clamp", residual=True)
    x = torch.rand(2, 1, 28, 28)
    x[0, 0, :4] = 0.0  # exact range ends pass through too (a sigmoid residual would move them by its eps)
    with torch.no_grad():
        assert torch.equal(gen(x, torch.ones_like(x)), x)


@pytest.mark.parametrize("options", [{"output": "clamp"}, {"output": "clamp", "residual": True}])
def test_denoiser_returns_a_black_background_to_exact_black(options):
    """Regression (issue 7): with the sigmoid head a U-Net trained on digits left a grey floor of ~0.04 on their
    black background (the sigmoid's gradient vanishes near 0), which cost ~8 dB and capped SSIM near 0.5. Here a
    small U-Net fits digit-like strokes on black with 15% salt & pepper; the sigmoid head ends with a floor of ~0.08
    after these steps, the clamp heads below 1e-4."""
    torch.manual_seed(0)
    clean = torch.zeros(16, 1, 16, 16)
    clean[:, :, 4:12, 7:9] = 1.0  # a stroke on black, as on MNIST
    noisy, _ = DegradationMix(["sp:0.15"])(clean, value_range=(0.0, 1.0), generator=0)
    gen = build_generator("unet", channels=1, image_size=(16, 16), depth=2, width=8, **options)
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        ((gen(noisy, None) - clean) ** 2).mean().backward()
        opt.step()
    with torch.no_grad():
        out = gen.eval()(noisy, None)
    background = clean == 0
    assert float(out[background].mean()) < 2e-3


def test_degradation_mix_draws_every_noise_level():
    """Blind training: each batch draws one spec, so over a few steps every level is seen."""
    mix = DegradationMix(["sp:0.05", "sp:0.5", "gauss:0.1"])
    clean = torch.full((2, 1, 20, 20), 0.5)
    seen = set()
    for step in range(30):
        observed, mask = mix(clean, value_range=(0.0, 1.0), generator=step_generator(0, step))
        assert torch.all(mask == 1)
        changed = float((observed != clean).float().mean())
        impulses = bool(torch.all((observed == clean) | (observed == 0) | (observed == 1)))
        seen.add("gauss" if not impulses else f"sp{changed:.2f}")
    assert seen == {"sp0.05", "sp0.50", "gauss"}


def test_degradation_mix_per_image_mixes_levels_within_a_batch_reproducibly():
    """Blind training with BatchNorm: every batch holds every level, so batch statistics match the running ones."""
    mix = DegradationMix(["sp:0.05", "sp:0.5", "gauss:0.1"], per_image=True)
    clean = torch.full((24, 1, 20, 20), 0.5)
    observed, mask = mix(clean, value_range=(0.0, 1.0), generator=step_generator(0, 3))
    again, _ = mix(clean, value_range=(0.0, 1.0), generator=step_generator(0, 3))
    assert torch.equal(observed, again) and torch.all(mask == 1) and observed.shape == clean.shape
    changed = (observed != clean).float().mean(dim=(1, 2, 3))
    impulses = ((observed == clean) | (observed == 0) | (observed == 1)).all(dim=3).all(dim=2).all(dim=1)
    kinds = {"gauss" if not imp else f"sp{c:.2f}" for c, imp in zip(changed.tolist(), impulses.tolist())}
    assert kinds == {"sp0.05", "sp0.50", "gauss"}


def _config(name: str):
    return load_config(ROOT / "configs" / f"{name}.yaml")


@pytest.mark.parametrize("name,size,generator", [("denoise-fer2013-reference", (48, 48), "unet-shallow"),
                                                 ("denoise-mnist-sp015", (28, 28), "unet"),
                                                 ("denoise-blind", (48, 48), "unet")])
def test_denoise_configs_build_and_get_the_denoising_baselines(name, size, generator):
    config = _config(name)
    assert config.task == "denoise" and config.content == "mse" and config.content_weight == 100.0
    assert not config.data_consistency  # every pixel may be noisy: nothing to keep
    g, d = build_models(config, 1, size, (0.0, 1.0))
    assert config.generator == generator and config.discriminator == "conv"
    if generator == "unet":  # issue 7: a sigmoid head keeps a grey floor; per-batch levels upset BatchNorm
        assert config.generator_options["output"] == "clamp" and config.generator_options["residual"]
        assert config.mix_per_image or len(config.degrade_list()) == 1
    with torch.no_grad():
        x = torch.rand(2, 1, *size)
        assert g(x, torch.ones_like(x)).shape == x.shape and d(x, x).shape == (2, 1)
    for spec in config.degrade_list():
        assert {b.name for b in applicable_baselines(spec, (0.0, 1.0))} == DENOISE_BASELINES


def test_reference_config_matches_the_reference_recipe():
    c = _config("denoise-fer2013-reference")
    recipe = (c.data, c.degrade, c.batch_size, c.lr, c.beta1, c.beta2, c.adversarial, c.ema)
    assert recipe == ("fer2013", "sp:0.15", 64, 2e-4, 0.5, 0.999, "vanilla", 0.0)
    assert c.generator_options == {"widths": [64, 128, 256]} and c.discriminator_options["dropout"] > 0
    assert c.steps == 10 * (28709 // 64)  # ten epochs of the official Training set


def test_blind_model_never_sees_the_benchmark_photographs():
    from ganrecon.data.photos import HELDOUT

    bench = load_benchmark("denoise")
    config = _config(bench.TRAIN_CONFIG)
    assert {s.partition(":")[0] for s in config.data} == {"photos", "digits-text"}  # their train splits only
    source = (ROOT / "benchmarks" / "denoise.py").read_text()
    assert 'load_dataset(f"photos:n={n},size=48x48", split="test"' in source  # the held-out photographs
    assert all(HELDOUT[k]["test"] and not set(HELDOUT[k]["test"]) & set(HELDOUT[k]["val"]) for k in HELDOUT)
    assert set(config.degrade_list()) >= set(bench.LEVELS)


def test_tiny_denoise_run_lowers_the_loss_and_is_evaluated_next_to_median3(tmp_path, tiny_npz):
    overrides = tiny_overrides(tiny_npz, task="denoise", degrade="sp:0.15", generator="unet-shallow",
                               generator_options={"widths": [8, 16, 32]}, steps=40, eval_every=20,
                               checkpoint_every=20, lr=1e-3, ema=0.0)  # 40 steps: no weight averaging
    config = load_config(overrides=overrides)
    assert (config.discriminator, config.content, config.data_consistency) == ("conv", "mse", False)
    result = train(config, tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "log.csv") as fh:
        content = [float(r["g_content"]) for r in csv.DictReader(fh)]
    assert sum(content[-5:]) / 5 < 0.5 * sum(content[:5]) / 5
    assert {"model", "median3", "adaptive-median"} <= set(result.last_validation)

    model = load_model(tmp_path / "run")
    methods = evaluate(tiny_npz, "sp:0.15", models=[model], split="test", seed=1).results["methods"]
    assert {"run", "noisy", "median3", "adaptive-median"} <= set(methods)
    assert methods["run"]["psnr"] > methods["noisy"]["psnr"] + 1.0  # it learned to remove impulses at all
