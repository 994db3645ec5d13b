"""A bundle's `tile_overlap` and `self_ensemble` (ganrecon.reconstructor) and benchmarks/gather_inference.py's
choice and record."""

import json

import pytest
import torch
from conftest import load_benchmark

from ganrecon.checkpoints import save_bundle
from ganrecon.inference import load_model
from ganrecon.models import build_generator
from ganrecon.tiling import tiled_apply

bench = load_benchmark("gather_inference")


def tiny_bundle(tmp_path, **extra):
    torch.manual_seed(0)
    options = {"depth": 2, "width": 8}
    net = build_generator("unet", channels=1, image_size=(16, 16), value_range=(0.0, 1.0), **options)
    stem = tmp_path / "m"
    save_bundle(stem, net, {"task": "traces", "generator": "unet", "generator_options": options, "channels": 1,
                            "image_size": [16, 16], "value_range": [0.0, 1.0], "scale": 1,
                            "data_consistency": False, **extra})
    return stem.with_suffix(".safetensors")


def test_a_bundle_names_its_tile_overlap_and_the_tiles_follow(tmp_path):
    assert load_model(tiny_bundle(tmp_path)).default_overlap() == 0.25
    model = load_model(tiny_bundle(tmp_path, tile_overlap=0.5))
    assert model.default_overlap() == 0.5
    x, mask = torch.rand(1, 1, 40, 36), torch.ones(1, 1, 40, 36)
    with torch.no_grad():
        by_default, half, quarter = model(x, mask), model(x, mask, overlap=0.5), model(x, mask, overlap=0.25)
    assert torch.equal(by_default, half)
    assert not torch.allclose(by_default, quarter, atol=1e-4)  # the overlap changed what the tiles averaged


def scores(gains: dict[str, list[float]], seconds: dict[str, float] | None = None) -> dict:
    """Fake per-setting scores: the default scores 10 dB on every case, the others 10 + their gains."""
    cases = [f"c{i}" for i in range(len(gains["none@0.25"]))]
    return {k: {"snr_missing": {c: 10.0 + g for c, g in zip(cases, v)}, "seconds": (seconds or {}).get(k, 1.0)}
            for k, v in gains.items()}


def test_the_fastest_setting_near_the_best_gain_is_chosen():
    fast = {"none@0.25": 1.0, "none@0.5": 1.3, "mirror@0.25": 2.0, "mirror@0.5": 2.6}
    near = scores({"none@0.25": [0, 0], "none@0.5": [0.12, 0.10], "mirror@0.25": [0.14, 0.13],
                   "mirror@0.5": [0.15, 0.14]}, fast)
    assert bench.choose(near) == ("none", 0.5)
    far = scores({"none@0.25": [0, 0], "none@0.5": [0.12, 0.10], "mirror@0.25": [0.14, 0.13],
                  "mirror@0.5": [0.30, 0.25]}, fast)
    assert bench.choose(far) == ("mirror", 0.5)
    small = scores({"none@0.25": [0, 0], "none@0.5": [0.05, 0.06], "mirror@0.5": [0.08, 0.07]}, fast)
    assert bench.choose(small) == ("none", 0.25)  # under MIN_GAIN_DB
    veto = scores({"none@0.25": [0, 0], "none@0.5": [0.40, -0.2], "mirror@0.5": [0.0, 0.0]}, fast)
    assert bench.choose(veto) == ("none", 0.25)  # a case lost too much


def test_record_writes_and_removes_the_keys(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"task": "traces", "tile_overlap": 0.75}))
    bench.record("m", ("mirror", 0.5), tmp_path)
    meta = json.loads(path.read_text())
    assert (meta["tile_overlap"], meta["self_ensemble"]) == (0.5, "mirror")
    bench.record("m", ("none", 0.25), tmp_path)
    assert not {"tile_overlap", "self_ensemble"} & set(json.loads(path.read_text()))


def test_record_refuses_a_model_that_is_not_shipped(tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--model", str(tmp_path / "run" / "model-best"), "--record", "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir())  # refused before measuring: nothing written


def test_markdown_from_scores(tmp_path):
    fake = scores({"none@0.25": [0, 0], "none@0.5": [0.12, 0.10], "mirror@0.5": [0.15, 0.14]})
    data = {"environment": {"model": "m", "steps": 5, "threads": 2, "cpu": "test", "torch": "x"},
            "tuning": fake, "test": fake, "chosen": "mirror@0.5", "recorded": True}
    bench.write_markdown(data, tmp_path / "t.md")
    text = " ".join((tmp_path / "t.md").read_text().split())
    assert "Chosen: **mirror, overlap 0.5** (recorded in the bundle)" in text
    assert "| none | 0.5 | 10.11 | +0.11 | +0.10 | 1.0 |" in text


def test_a_bundle_names_its_self_ensemble_and_the_model_follows(tmp_path):
    model = load_model(tiny_bundle(tmp_path, self_ensemble="mirror"))
    x, mask = torch.rand(1, 1, 40, 36), torch.ones(1, 1, 40, 36)
    with torch.no_grad():
        by_default, mirrored = model(x, mask), model(x, mask, ensemble="mirror")
        plain = model(x, mask, ensemble="none")
    assert torch.equal(by_default, mirrored)
    assert not torch.allclose(by_default, plain, atol=1e-4)


@pytest.mark.parametrize("overlap", [0.25, 0.5, 0.75])
def test_tiles_cover_every_pixel_at_each_overlap(overlap):
    x = torch.rand(1, 1, 100, 80)
    out = tiled_apply(lambda o, m: o, x, torch.ones_like(x), (32, 24), overlap=overlap)
    assert torch.allclose(out, x, atol=1e-5)  # identity tiles blend back to the image: weights sum to one
