"""The translate task: aligned A|B and two-folder paired loaders on files written here, direction switching,
PatchGAN sizes (70x70 receptive field at >= 128 px), the U-Net sized to its input, and the turbulence recipe in
miniature (clean -> turbulent, synthesise, restore on the synthesised pairs)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganrecon.cli import main
from ganrecon.config import load_config
from ganrecon.data import load_dataset
from ganrecon.errors import GanreconError
from ganrecon.inference import load_model
from ganrecon.models import build_discriminator, build_generator
from ganrecon.models.generators import unet_depth_for
from ganrecon.training import orient, train
from ganrecon.translate import dropout_as_noise, synthesise_pairs


def _grey(path, pixels: np.ndarray) -> None:
    Image.fromarray(pixels.astype(np.uint8)).save(path)


def test_aligned_files_split_into_a_left_and_b_right(tmp_path):
    rng = np.random.default_rng(0)
    written = {}
    for name in ("p0", "p1", "p2"):
        a, b = rng.integers(0, 256, (12, 10)), rng.integers(0, 256, (12, 10))
        _grey(tmp_path / f"{name}.png", np.concatenate([a, b], axis=1))
        written[name] = (a, b)
    data = load_dataset(f"aligned:{tmp_path}")
    assert data.images.shape == (3, 1, 12, 10) and data.meta["observed"].shape == (3, 1, 12, 10)
    for k, name in enumerate(data.meta["files"]):
        a, b = written[name]
        assert np.array_equal(np.rint(data.meta["observed"][k, 0].numpy() * 255), a)
        assert np.array_equal(np.rint(data.images[k, 0].numpy() * 255), b)
    patches = load_dataset(f"aligned:{tmp_path}", patch=(6, 5))
    assert patches.images.shape == (12, 1, 6, 5) and patches.meta["observed"].shape == (12, 1, 6, 5)
    _grey(tmp_path / "odd.png", np.zeros((12, 21)))
    with pytest.raises(GanreconError, match="halves"):
        load_dataset(f"aligned:{tmp_path}")


def test_two_folders_of_same_size_pairs(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    for i in range(4):
        _grey(tmp_path / "A" / f"f{i}.png", rng.integers(0, 256, (8, 8)))
        _grey(tmp_path / "B" / f"f{i}.png", np.full((8, 8), 10 * i))
    data = load_dataset(f"paired:{tmp_path / 'A'}:{tmp_path / 'B'}")
    assert data.meta["scale"] == 1 and data.meta["observed"].shape == data.images.shape == (4, 1, 8, 8)
    assert [round(float(data.images[k].mean()) * 255) for k in range(4)] == [0, 10, 20, 30]
    _grey(tmp_path / "A" / "f9.png", np.zeros((8, 8)))
    with pytest.raises(GanreconError, match="no partner"):
        load_dataset(f"paired:{tmp_path / 'A'}:{tmp_path / 'B'}")


def test_direction_swaps_input_and_target():
    observed, clean, mask = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    assert orient(observed, clean, mask, "AtoB") == (observed, clean, mask)
    x, y, m = orient(observed, clean, mask, "BtoA")
    assert x is clean and y is observed and bool((m == 1).all())
    with pytest.raises(GanreconError, match="same size"):
        orient(torch.rand(1, 1, 2, 2), clean[:1], mask[:1], "BtoA")
    with pytest.raises(GanreconError, match="AtoB or BtoA"):
        train(load_config(overrides={"task": "translate", "direction": "sideways"}), "unused", progress=False)


@pytest.mark.parametrize("side,layers,out", [(28, 2, 5), (64, 3, 6), (256, 3, 30)])
def test_patchgan_depth_and_map_size(side, layers, out):
    d = build_discriminator("patch", channels=1, image_size=(side, side), width=8)
    assert d.layers == layers
    assert d(torch.rand(2, 1, side, side), torch.rand(2, 1, side, side)).shape == (2, 1, out, out)


def test_patchgan_at_256_px_sees_70x70_patches():
    d = build_discriminator("patch", channels=1, image_size=(256, 256), width=4).eval()
    x = torch.rand(1, 1, 256, 256, requires_grad=True)
    d(x, torch.rand(1, 1, 256, 256))[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    assert int(rows.max() - rows.min() + 1) == 70


def test_unet_depth_is_sized_to_the_input():
    assert [unet_depth_for((s, s)) for s in (28, 48, 64, 256)] == [2, 3, 4, 6]
    g = build_generator("unet", channels=1, image_size=(28, 28), depth="auto", width=4, dropout=0.5)
    assert g.depth == 2 and g(torch.rand(1, 1, 28, 28)).shape == (1, 1, 28, 28)
    with dropout_as_noise(g.eval()):  # pix2pix's noise: dropout on, BatchNorm still in eval mode
        assert g.dropout.training and not g.inc[1].training
    assert not g.dropout.training


def test_residual_unet_starts_as_the_identity():
    g = build_generator("unet", channels=1, image_size=(48, 48), depth="auto", width=4, residual=True).eval()
    x = torch.rand(2, 1, 45, 47) * 0.9 + 0.05
    assert torch.allclose(g(x), x, atol=1e-5)


def _tiny(**extra) -> dict:
    base = {"task": "translate", "data": "natural:n=48,size=16x16,images=camera+coins", "degrade": "turbulence:1.0",
            "generator_options": {"depth": "auto", "width": 4, "dropout": 0.5}, "discriminator_options": {"width": 4},
            "steps": 3, "warmup_steps": 1, "batch_size": 4, "val_images": 4, "eval_every": 3,
            "checkpoint_every": 3, "log_every": 1, "threads": 1}
    return {**base, **extra}


def test_turbulence_recipe_in_miniature(tmp_path):
    # 1. clean -> turbulent on simulator pairs
    assert main(["train", "--out", str(tmp_path / "synth"), "--no-progress", "--direction", "BtoA",
                 *[f"--set={k}={json.dumps(v)}" for k, v in _tiny().items()]]) == 0
    synth = load_model(tmp_path / "synth")
    assert synth.meta["direction"] == "BtoA"
    # 2. synthesise pairs from clean crops
    assert main(["synthesise", "--model", str(tmp_path / "synth"), "--data", "natural:n=10,size=16x16",
                 "--out", str(tmp_path / "pairs"), "--seed", "1"]) == 0
    pairs = load_dataset(f"paired:{tmp_path / 'pairs' / 'A'}:{tmp_path / 'pairs' / 'B'}")
    clean = load_dataset("natural:n=10,size=16x16", split="train", seed=1).images
    assert torch.allclose(pairs.images, clean, atol=1e-4)  # B = the clean crops (16-bit PNG)
    assert not torch.allclose(pairs.meta["observed"], clean, atol=1e-2)  # A = the model's distortion
    # several draws of each clean image: names 0-0, 0-1, 1-0, ...; B repeats each clean crop
    synthesise_pairs(synth, "natural:n=3,size=16x16", tmp_path / "draws", seed=1, draws=2)
    twice = load_dataset(f"paired:{tmp_path / 'draws' / 'A'}:{tmp_path / 'draws' / 'B'}")
    assert len(twice.images) == 6 and torch.allclose(twice.images[0], twice.images[1], atol=1e-4)
    with pytest.raises(GanreconError, match="draws"):
        synthesise_pairs(synth, "natural:n=3,size=16x16", tmp_path / "none", draws=0)
    # 3. restoration turbulent -> clean on the synthesised pairs, validated on simulator pairs
    pairs_spec = f"paired:{tmp_path / 'pairs' / 'A'}:{tmp_path / 'pairs' / 'B'}"
    config = load_config(overrides=_tiny(data=pairs_spec, val_data="natural:n=48,size=16x16"))
    result = train(config, tmp_path / "restore", progress=False)
    assert result.step == 3 and set(result.last_validation) >= {"model", "identity", "wiener", "richardson-lucy"}


def test_noise_maps_make_the_unet_a_smooth_sampler():
    g = build_generator("unet", channels=1, image_size=(48, 48), depth="auto", width=4, noise_channels=2).eval()
    x = torch.rand(2, 1, 45, 47)
    torch.manual_seed(0)
    first, second = g(x), g(x)
    torch.manual_seed(0)
    assert not torch.allclose(first, second) and torch.equal(g(x), first)  # draws differ; a seed repeats them
    maps = g.noise_maps(torch.zeros(1, 1, 64, 64))
    assert maps.shape == (1, 2, 64, 64) and 0.5 < float(maps.std()) < 1.2
    # smooth: neighbours differ by about an eighth of independent draws' difference (white noise: 1.4x the mean)
    step = float((maps[..., 1:] - maps[..., :-1]).abs().mean())
    assert step < 0.35 * float(maps.abs().mean())
    with pytest.raises(GanreconError, match="noise_channels"):
        build_generator("unet", channels=1, image_size=(16, 16), noise_channels=-1)


def test_diversity_term_trains_a_sampler_and_logs_both_spreads(tmp_path):
    noise = {"generator_options": {"depth": "auto", "width": 4, "noise_channels": 2, "noise_scale": 4},
             "diversity_weight": 1.0, "direction": "BtoA"}
    result = train(load_config(overrides=_tiny(**noise)), tmp_path / "sampler", progress=False)
    assert result.step == 3
    header, *rows = (tmp_path / "sampler" / "log.csv").read_text().splitlines()
    assert {"spread", "spread_ref"} <= set(header.split(","))
    last = dict(zip(header.split(","), rows[-1].split(",")))
    assert float(last["spread"]) > 0 and float(last["spread_ref"]) > 0.005  # two turbulence draws differ
    # a sampler is needed, and paired data has no second draw to compare with
    with pytest.raises(GanreconError, match="noise_channels"):
        train(load_config(overrides=_tiny(diversity_weight=1.0, direction="BtoA")), tmp_path / "x", progress=False)
    assert not (tmp_path / "x" / "model.safetensors").exists()


def test_warp_head_starts_as_the_identity_and_moves_the_image_along_its_field():
    g = build_generator("unet", channels=1, image_size=(48, 48), depth="auto", width=4, warp=True).eval()
    x = torch.rand(1, 1, 32, 32) * 0.9 + 0.05
    assert torch.allclose(g(x), x, atol=1e-5)
    with torch.no_grad():
        g.head.bias[0] = 1.0  # dx = 1 px everywhere: output(p) = input(p + 1 px to the right)
    assert torch.allclose(g(x)[..., :, :-1], x[..., :, 1:], atol=1e-4)
    for bad in ({"residual": True}, {"prior": "bicubic"}):
        with pytest.raises(GanreconError, match="warp"):
            build_generator("unet", channels=1, image_size=(16, 16), warp=True, **bad)
