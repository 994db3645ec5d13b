"""A bundle's `tile_overlap` (ganrecon.reconstructor) and benchmarks/tile_overlap.py's choice and record."""

import json

import pytest
import torch
from conftest import load_benchmark

from ganrecon.checkpoints import save_bundle
from ganrecon.inference import load_model
from ganrecon.models import build_generator
from ganrecon.tiling import tiled_apply

bench = load_benchmark("tile_overlap")


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


def scores(gains: dict[float, list[float]]) -> dict:
    """Fake per-overlap scores: the default scores 10 dB on every case, the others 10 + their gains."""
    cases = [f"c{i}" for i in range(len(gains[0.25]))]
    return {str(k): {"snr_missing": {c: 10.0 + g for c, g in zip(cases, v)}, "seconds": 1.0}
            for k, v in gains.items()}


def test_the_smallest_overlap_near_the_best_gain_is_chosen():
    assert bench.choose(scores({0.25: [0, 0], 0.5: [0.12, 0.10], 0.75: [0.15, 0.14]})) == 0.5
    assert bench.choose(scores({0.25: [0, 0], 0.5: [0.02, 0.02], 0.75: [0.30, 0.20]})) == 0.75
    assert bench.choose(scores({0.25: [0, 0], 0.5: [0.05, 0.06], 0.75: [0.08, 0.07]})) == 0.25  # under MIN_GAIN_DB
    assert bench.choose(scores({0.25: [0, 0], 0.5: [0.40, -0.2], 0.75: [0.0, 0.0]})) == 0.25  # a case lost too much


def test_record_writes_and_removes_the_key(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"task": "traces", "tile_overlap": 0.75}))
    bench.record("m", 0.5, tmp_path)
    assert json.loads(path.read_text())["tile_overlap"] == 0.5
    bench.record("m", 0.25, tmp_path)
    assert "tile_overlap" not in json.loads(path.read_text())


def test_record_refuses_a_model_that_is_not_shipped(tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--model", str(tmp_path / "run" / "model-best"), "--record", "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir())  # refused before measuring: nothing written


def test_markdown_from_scores(tmp_path):
    fake = scores({0.25: [0, 0], 0.5: [0.12, 0.10], 0.75: [0.15, 0.14]})
    data = {"environment": {"model": "m", "steps": 5, "self_ensemble": "none", "threads": 2, "cpu": "test",
                            "torch": "x"}, "tuning": fake, "test": fake, "chosen": 0.5, "recorded": True}
    bench.write_markdown(data, tmp_path / "t.md")
    text = (tmp_path / "t.md").read_text()
    assert "Chosen: **0.5** (recorded in the bundle)" in text
    assert "| 0.5 | 10.11 | +0.11 | +0.10 | 1.0 |" in text


@pytest.mark.parametrize("overlap", [0.25, 0.5, 0.75])
def test_tiles_cover_every_pixel_at_each_overlap(overlap):
    x = torch.rand(1, 1, 100, 80)
    out = tiled_apply(lambda o, m: o, x, torch.ones_like(x), (32, 24), overlap=overlap)
    assert torch.allclose(out, x, atol=1e-5)  # identity tiles blend back to the image: weights sum to one
