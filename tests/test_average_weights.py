"""benchmarks/average_weights.py: the mean of bundles of one architecture, loadable like any bundle."""

import pytest
import torch
from conftest import load_benchmark

from ganrecon.checkpoints import read_bundle, save_bundle
from ganrecon.inference import load_model
from ganrecon.models import build_generator

bench = load_benchmark("average_weights")


def bundle(tmp_path, name: str, seed: int, width: int = 8):
    torch.manual_seed(seed)
    options = {"depth": 2, "width": width}
    net = build_generator("unet", channels=1, image_size=(16, 16), value_range=(0.0, 1.0), **options)
    stem = tmp_path / name
    save_bundle(stem, net, {"task": "traces", "generator": "unet", "generator_options": options, "channels": 1,
                            "image_size": [16, 16], "value_range": [0.0, 1.0], "scale": 1, "steps": seed,
                            "data_consistency": False})
    return stem


def test_the_mean_is_weighted_per_tensor_and_loads_as_a_model(tmp_path):
    a, b = bundle(tmp_path, "a", 1), bundle(tmp_path, "b", 2)
    assert bench.main([str(a), str(b), "--out", str(tmp_path / "soup" / "m"), "--weights", "3", "1"]) == 0
    soup, meta = read_bundle(tmp_path / "soup" / "m.safetensors")
    (ta, _), (tb, _) = read_bundle(a.with_suffix(".safetensors")), read_bundle(b.with_suffix(".safetensors"))
    key = next(k for k, v in ta.items() if v.is_floating_point() and v.numel() > 1 and not torch.equal(v, tb[k]))
    assert torch.allclose(soup[key], 0.75 * ta[key] + 0.25 * tb[key])
    assert [s["steps"] for s in meta["averaged_from"]] == [1, 2] and meta["steps"] == 2
    model = load_model(tmp_path / "soup" / "m.safetensors")
    with torch.no_grad():
        assert torch.isfinite(model(torch.rand(1, 1, 16, 16), torch.ones(1, 1, 16, 16))).all()


def test_bundles_of_two_architectures_are_one_sentence_and_nothing_is_written(tmp_path, capsys):
    a, b = bundle(tmp_path, "a", 1), bundle(tmp_path, "b", 2, width=4)
    with pytest.raises(SystemExit) as stop:
        bench.main([str(a), str(b), "--out", str(tmp_path / "soup")])
    assert stop.value.code == 1 and "generator_options" in capsys.readouterr().err
    assert not (tmp_path / "soup.safetensors").exists()
