"""The superres task: SRResNet/SRGAN shapes, tiled inference, 16-bit TIFF stacks, paired folders, the extra
metrics, the missing-VGG message and one tiny two-phase (content, then adversarial) run."""

import csv

import numpy as np
import pytest
import tifffile
import torch
from safetensors.torch import load_file

from ganrecon.checkpoints import save_bundle
from ganrecon.cli import main
from ganrecon.config import load_config
from ganrecon.data import load_dataset
from ganrecon.errors import GanreconError
from ganrecon.evaluation import evaluate
from ganrecon.inference import load_model, tiled_apply
from ganrecon.losses import PerceptualLoss, spectrum_loss
from ganrecon.metrics import extra_metrics, image_metrics, porosity
from ganrecon.models import build_discriminator, build_generator
from ganrecon.reconstruction import reconstruct_array
from ganrecon.training import train


def _bundle(tmp_path, scale: int, name: str = "sr", image_size=(64, 64), seed: int = 0):
    """A small random-weight SRResNet saved as a model bundle (eval mode: BatchNorm uses running stats)."""
    torch.manual_seed(seed)
    g = build_generator("srresnet", channels=1, image_size=image_size, scale=scale, blocks=2, width=8)
    meta = {"task": "superres", "generator": "srresnet", "generator_options": {"scale": scale, "blocks": 2,
            "width": 8}, "channels": 1, "image_size": list(image_size), "value_range": [0.0, 1.0], "scale": scale,
            "data_consistency": False}
    save_bundle(tmp_path / name, g, meta)
    return tmp_path / f"{name}.safetensors"


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("channels", [1, 3])
def test_srresnet_upsamples_any_size_by_its_scale(scale, channels):
    g = build_generator("srresnet", channels=channels, image_size=(64, 64), scale=scale, blocks=1, width=8).eval()
    x = torch.rand(2, channels, 11, 7)
    with torch.no_grad():
        y = g(x)
    assert y.shape == (2, channels, 11 * scale, 7 * scale)
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0


@pytest.mark.parametrize("scale,channels", [(2, 3), (4, 1), (8, 1)])
def test_srresnet_inference_form_equals_the_layers_as_trained(scale, channels):
    """Inference without gradients runs the tail on the grid before the last shuffle and folds BatchNorm into the
    convolutions: the same function, to float rounding, at odd sizes and in channels_last (the tiled path's
    layout)."""
    torch.manual_seed(0)
    g = build_generator("srresnet", channels=channels, image_size=(16, 16), scale=scale, blocks=1, width=8).eval()
    for module in g.modules():  # random slopes, statistics and tail: every sub-pixel phase, sign and fold counts
        if isinstance(module, torch.nn.PReLU):
            module.weight.data.uniform_(-0.5, 0.5)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    torch.nn.init.normal_(g.tail.weight, std=0.05)
    torch.nn.init.normal_(g.tail.bias, std=0.1)
    x = torch.rand(2, channels, 13, 9)
    reference = g(x)  # gradients on: the layers as trained
    with torch.no_grad():
        fast = g(x)
        fast_cl = g.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert reference.requires_grad and not fast.requires_grad
    torch.testing.assert_close(fast, reference.detach(), atol=2e-6, rtol=0)
    torch.testing.assert_close(fast_cl, reference.detach(), atol=2e-6, rtol=0)


def test_srgan_discriminator_scores_pairs_with_a_size_independent_head():
    sizes = {}
    for hw in ((32, 32), (256, 256)):
        d = build_discriminator("srgan", channels=1, image_size=hw, width=16, stages=3, hidden=32)
        logits = d(torch.rand(3, 1, hw[0] // 4, hw[1] // 4), torch.rand(3, 1, *hw))
        assert logits.shape == (3, 1)
        sizes[hw] = sum(p.numel() for p in d.parameters())
    assert sizes[(32, 32)] == sizes[(256, 256)]  # no dense layer over the flattened image (SRGAN's 134 M params)
    with pytest.raises(GanreconError, match="srgan"):
        build_discriminator("srgan", channels=1, image_size=(32, 32), depth=3)


def test_tiled_reconstruction_equals_untiled(tmp_path):
    model = load_model(_bundle(tmp_path, 4, image_size=(32, 32)))  # x4; input tiles of max(32 / 4, 256) = 256
    assert model.tile == (256, 256) and model.default_overlap() == 32 / 256
    x = torch.rand(1, 1, 300, 270)
    with torch.no_grad():
        whole = model.generator(x)
        tiled = model(x)  # 300 x 270 > 256 x 256: overlapping tiles (32 pixels shared), blended
        small_tiles = tiled_apply(lambda o, m: model.generator(o), x, torch.ones_like(x), (40, 40), 4, overlap=0.5)
    assert tiled.shape == whole.shape == (1, 1, 1200, 1080)
    assert float((tiled - whole).abs().max()) < 2e-3
    assert float((small_tiles - whole).abs().max()) < 2e-3
    assert float((tiled - whole).abs().mean()) < 1e-4


def test_16bit_tiff_stack_round_trip_through_reconstruct(tmp_path):
    weights = _bundle(tmp_path, 2)
    rng = np.random.default_rng(0)
    stack = rng.integers(1000, 64000, size=(3, 20, 18), dtype=np.uint16)  # 3 slices: must not become RGB
    tifffile.imwrite(tmp_path / "in.tif", stack, photometric="minisblack")
    # random weights: `--guard choose` would rightly return bicubic; this test is about 16-bit precision through
    # the model's path, so the guard only reports
    assert main(["reconstruct", str(tmp_path / "in.tif"), "--model", str(weights), "-o",
                 str(tmp_path / "out.tif"), "--guard", "report", "--precision", "fp32"]) == 0
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert len(tif.pages) == 3
        out = tif.asarray()
    assert out.dtype == np.uint16 and out.shape == (3, 40, 36)
    # full 16-bit precision in (float32 / 65535) and out (rounded to the nearest of 65536 levels)
    expected = reconstruct_array(stack[:, None].astype(np.float32) / 65535, load_model(weights))[:, 0]
    assert np.abs(out.astype(np.float64) - np.rint(expected * 65535)).max() <= 1
    assert len(np.unique(out)) > 256

    single = stack[0]  # a single 16-bit slice takes the in-memory path; same dtype out
    tifffile.imwrite(tmp_path / "one.tif", single)
    assert main(["reconstruct", str(tmp_path / "one.tif"), "--model", str(weights), "-o",
                 str(tmp_path / "one-out.tif"), "--guard", "report", "--precision", "fp32"]) == 0
    one = tifffile.imread(tmp_path / "one-out.tif")
    assert one.dtype == np.uint16 and one.shape == (40, 36)
    assert np.abs(one.astype(np.int64) - out[0].astype(np.int64)).max() <= 1


def test_tiff_stack_loads_at_16_bit_precision(tmp_path):
    stack = np.arange(4 * 8 * 8, dtype=np.uint16).reshape(4, 8, 8) * 97
    tifffile.imwrite(tmp_path / "s.tif", stack, photometric="minisblack")
    images = load_dataset(f"tiff:{tmp_path / 's.tif'}").images
    assert images.dtype == torch.float32
    assert np.array_equal(np.rint(images[:, 0].numpy().astype(np.float64) * 65535).astype(np.uint16), stack)


def test_missing_vgg_weights_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty hub cache; nothing is downloaded
    with pytest.raises(GanreconError) as info:
        PerceptualLoss()
    message = str(info.value)
    assert "VGG19" in message and "perceptual_weight=0" in message and str(tmp_path / "torch-home") in message
    assert "\n" not in message and message.count(". ") == 0 and message.endswith(".")
    config = load_config(overrides={"task": "superres", "data": "porous:n=8,size=32x32,grain=4",
                                    "perceptual_weight": 0.01, "batch_size": 4, "val_images": 4, "steps": 2})
    with pytest.raises(GanreconError, match="VGG19"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()


def _two_phase_overrides(data: str, **extra) -> dict:
    base = {"task": "superres", "data": data, "degrade": "down:4",
            "generator_options": {"blocks": 1, "width": 8},
            "discriminator_options": {"width": 8, "stages": 2, "hidden": 16},
            "steps": 6, "warmup_steps": 3, "batch_size": 4, "val_images": 4, "eval_every": 3,
            "checkpoint_every": 3, "log_every": 1, "ema": 0.5, "lr": 1e-3, "threads": 1, "seed": 1}
    base.update(extra)
    return base


def test_two_phase_run_keeps_the_content_model_and_the_gan_model(tmp_path):
    config = load_config(overrides=_two_phase_overrides("porous:n=8,size=32x32,grain=4"))
    assert config.discriminator == "srgan" and config.adversarial_weight == pytest.approx(1e-3)
    run = tmp_path / "run"
    train(config, run, progress=False)
    for stem in ("model", "model-content", "model-best"):
        assert (run / f"{stem}.safetensors").is_file() and (run / f"{stem}.json").is_file(), stem
    with open(run / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["d_loss"]) for r in rows[:3]] == [0.0, 0.0, 0.0]  # content-only warmup
    assert all(float(r["d_loss"]) > 0 and float(r["g_adv"]) > 0 for r in rows[3:])  # then the adversarial game
    content, final = load_file(str(run / "model-content.safetensors")), load_file(str(run / "model.safetensors"))
    assert any(not torch.equal(content[k], final[k]) for k in content)
    srresnet = load_model(run / "model-content.safetensors")
    assert srresnet.meta["selected"] == "content-only phase" and srresnet.scale == 4
    assert srresnet(torch.rand(1, 1, 8, 8)).shape == (1, 1, 32, 32)


def test_the_spectrum_loss_asks_a_blurred_estimate_for_its_missing_fine_texture(tmp_path):
    torch.manual_seed(0)
    truth = torch.rand(4, 1, 32, 32)
    blurred = torch.nn.functional.avg_pool2d(truth, 3, 1, 1)
    assert float(spectrum_loss(truth, truth)) == 0.0 and float(spectrum_loss(blurred, truth)) > 1.0
    estimate = blurred.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([estimate], lr=0.01)
    for _ in range(30):
        optimiser.zero_grad()
        spectrum_loss(estimate, truth).backward()
        optimiser.step()
    ratio = extra_metrics(estimate.detach(), truth, ("hf_ratio",))["hf_ratio"].mean()
    assert ratio > 10 * extra_metrics(blurred, truth, ("hf_ratio",))["hf_ratio"].mean()
    config = load_config(overrides=_two_phase_overrides("porous:n=8,size=32x32,grain=4", spectral_weight=0.1))
    train(config, tmp_path / "run", progress=False)  # the training step takes it
    with open(tmp_path / "run" / "log.csv") as fh:
        assert all(np.isfinite(float(r["g_content"])) for r in csv.DictReader(fh))


def _write_pairs(root, names, scale=2, hr=(16, 16), seed=0):
    rng = np.random.default_rng(seed)
    (root / "low").mkdir()
    (root / "high").mkdir()
    pairs = {}
    for name in names:
        high = rng.integers(0, 65535, size=hr, dtype=np.uint16)
        low = high[::scale, ::scale].copy()  # any LR is fine: the loader must keep it exactly, aligned
        tifffile.imwrite(root / "high" / f"{name}.tif", high)
        tifffile.imwrite(root / "low" / f"{name}.tif", low)
        pairs[name] = (high, low)
    return pairs


def test_paired_folders_give_aligned_patches_and_train(tmp_path):
    pairs = _write_pairs(tmp_path, [f"s{i:02d}" for i in range(10)])
    spec = f"paired:{tmp_path / 'low'}:{tmp_path / 'high'}"
    data = load_dataset(spec, patch=(8, 8))
    observed = data.meta["observed"]
    assert data.images.shape == (40, 1, 8, 8) and observed.shape == (40, 1, 4, 4)
    for k in (0, 7, 39):
        name, (_, top, left) = data.meta["files"][k], data.meta["pair_origin"][k].tolist()
        high, low = pairs[name]
        assert np.array_equal(np.rint(data.images[k, 0].numpy().astype(np.float64) * 65535), high[top:top + 8,
                                                                                                  left:left + 8])
        assert np.array_equal(np.rint(observed[k, 0].numpy().astype(np.float64) * 65535),
                              low[top // 2:top // 2 + 4, left // 2:left // 2 + 4])
    config = load_config(overrides=_two_phase_overrides(spec, degrade="down:2", patch="8x8", steps=2,
                                                        warmup_steps=1, val_images=2, batch_size=2))
    assert train(config, tmp_path / "run", progress=False).step == 2
    with pytest.raises(GanreconError, match="down:2"):
        train(load_config(overrides=_two_phase_overrides(spec, patch="8x8", steps=1, batch_size=2)),
              tmp_path / "run4", progress=False)
    evaluation = evaluate(spec, "down:2", split=None, limit=3)  # `ganrecon eval` uses the given LR images
    assert torch.equal(evaluation.observed, load_dataset(spec, limit=3).meta["observed"])
    assert evaluation.results["methods"]["bicubic"]["psnr"] > 0
    with pytest.raises(GanreconError, match="down:2"):
        evaluate(spec, "down:4", split=None, limit=3)
    (tmp_path / "high" / "extra.tif").write_bytes((tmp_path / "high" / "s00.tif").read_bytes())
    with pytest.raises(GanreconError, match="no partner"):
        load_dataset(spec)


def test_porosity_and_high_frequency_metrics():
    rng = np.random.default_rng(0)
    truth = np.full((1, 1, 64, 64), 0.7, np.float32)
    truth[0, 0, :16] = 0.1  # exactly 25% dark "pore" pixels
    assert float(porosity(torch.from_numpy(truth))[0]) == 0.25  # a two-level (segmented) image too
    truth = truth + 0.02 * rng.standard_normal(truth.shape).astype(np.float32)
    truth_t = torch.from_numpy(truth)
    assert float(porosity(truth_t)[0]) == pytest.approx(0.25, abs=1e-3)  # Otsu's 256 bins: a pixel or so
    blurred = torch.nn.functional.avg_pool2d(truth_t, 3, stride=1, padding=1, count_include_pad=False)
    noisy = truth_t + 0.05 * torch.from_numpy(rng.standard_normal(truth.shape).astype(np.float32))
    same = extra_metrics(truth_t, truth_t)
    assert float(same["porosity_error"][0]) == 0.0 and float(same["hf_ratio"][0]) == pytest.approx(1.0)
    assert float(extra_metrics(blurred, truth_t)["hf_ratio"][0]) < 0.5
    assert float(extra_metrics(noisy, truth_t)["hf_ratio"][0]) > 2.0
    widened = truth_t.clone()
    widened[0, 0, 16:24] = 0.1  # 37.5% pores
    assert float(extra_metrics(widened, truth_t)["porosity_error"][0]) == pytest.approx(0.125, abs=1e-3)
    default = image_metrics(truth_t, truth_t)
    assert "hf_ratio" not in default  # extra metrics only when asked for
    assert set(image_metrics(truth_t, truth_t, extra=("hf_ratio",))) == set(default) | {"hf_ratio"}
    with pytest.raises(GanreconError, match="Unknown metric"):
        extra_metrics(truth_t, truth_t, ("sharpness",))


def test_bf16_is_opt_in_close_to_fp32_and_the_weights_keep_their_layout(tmp_path):
    from ganrecon.reconstruction import set_precision

    model = load_model(_bundle(tmp_path, 4, image_size=(32, 32)))
    x = torch.rand(2, 1, 24, 20)
    strides = [p.stride() for p in model.generator.parameters()]
    fp32 = model(x)
    assert [p.stride() for p in model.generator.parameters()] == strides  # channels_last only during the call
    torch.testing.assert_close(fp32, model.generator(x).detach())
    set_precision(model, "bf16")
    bf16 = model(x)
    assert bf16.dtype == torch.float32 and float((bf16 - fp32).abs().max()) < 2e-2
    with pytest.raises(GanreconError, match="precision"):
        set_precision(model, "fp8")


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(False, False, "fp32"), (True, False, "bf16"),
                                                         (False, True, "bf16")])
def test_auto_precision_takes_bf16_only_where_the_cpu_has_it(tmp_path, monkeypatch, avx512_bf16, amx, expected):
    from ganrecon.reconstruction import set_precision
    from ganrecon.reconstructor import resolve_precision

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert resolve_precision("auto") == expected
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"  # as asked, anywhere
    model = load_model(_bundle(tmp_path, 4, image_size=(32, 32)))
    set_precision(model, "auto")
    assert model.precision == expected


@pytest.mark.parametrize("native", [False, True])
def test_explicit_bf16_is_warned_on_stderr_where_the_cpu_would_emulate_it(tmp_path, monkeypatch, capsys, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    weights = _bundle(tmp_path, 2)
    np.save(tmp_path / "in.npy", np.random.default_rng(0).random((12, 10), dtype=np.float32))
    for precision in ("bf16", "fp32", "auto"):
        assert main(["reconstruct", str(tmp_path / "in.npy"), "--model", str(weights), "-o",
                     str(tmp_path / f"out-{precision}.npy"), "--guard", "off", "--precision", precision]) == 0
        err = capsys.readouterr().err
        warned = precision == "bf16" and not native
        assert ("without bf16 units" in err) == warned, (precision, err)
    assert (tmp_path / "out-bf16.npy").is_file()  # the user's choice still runs


def test_auto_precision_keeps_fp32_for_a_model_whose_bundle_says_bf16_costs_it_too_much(tmp_path, monkeypatch):
    from ganrecon.reconstruction import set_precision

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    model = load_model(_bundle(tmp_path, 4, image_size=(32, 32)))
    model.meta["auto_precision"] = "fp32"
    set_precision(model, "auto")
    assert model.precision == "fp32"
    set_precision(model, "bf16")  # asked for by name: as asked
    assert model.precision == "bf16"
