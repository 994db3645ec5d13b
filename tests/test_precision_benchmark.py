"""benchmarks/precision.py's decision: a model runs in bf16 under `auto` only if every held-out set it was measured
on stays within the tolerance, and `--record` writes that into the bundle's description alone."""

import json

from conftest import load_benchmark

bench = load_benchmark("precision")


def test_one_set_beyond_the_tolerance_keeps_the_model_in_fp32():
    rows = [{"model": "a", "change_db": 0.01}, {"model": "a", "change_db": -0.08}, {"model": "a", "change_db": 0.0},
            {"model": "b", "change_db": -0.05}, {"model": "b", "change_db": 0.02}]
    assert bench.auto_choices(rows, 0.05) == {"a": "fp32", "b": "bf16"}


def test_recording_sets_and_clears_the_flag_and_keeps_the_rest_of_the_description(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"task": "denoise", "auto_precision": "fp32"}))
    bench.record_choices({"a": "fp32", "b": "bf16"}, tmp_path)
    assert json.loads((tmp_path / "a.json").read_text()) == {"task": "denoise", "auto_precision": "fp32"}
    assert json.loads((tmp_path / "b.json").read_text()) == {"task": "denoise"}


def test_a_newly_shipped_conditional_model_runs_fp32_under_auto_until_measured(tmp_path):
    import torch
    from safetensors.torch import save_file

    ship_models = load_benchmark("ship_models", "ship_models")
    for name, kind in (("denoise-blind", "conditional"), ("latent-mnist-mlp", "unconditional")):
        run, stem = ship_models.SOURCES[name]
        (tmp_path / "runs" / run).mkdir(parents=True)
        save_file({"w": torch.ones(2, 2)}, str(tmp_path / "runs" / run / f"{stem}.safetensors"))
        (tmp_path / "runs" / run / f"{stem}.json").write_text(json.dumps({"kind": kind}))
        ship_models.ship(name, tmp_path / "runs", tmp_path / "shipped")
    assert json.loads((tmp_path / "shipped" / "denoise-blind.json").read_text())["auto_precision"] == "fp32"
    assert "auto_precision" not in json.loads((tmp_path / "shipped" / "latent-mnist-mlp.json").read_text())
    bench.record_choices({"denoise-blind": "bf16"}, tmp_path / "shipped")  # measured within the tolerance: cleared
    assert "auto_precision" not in json.loads((tmp_path / "shipped" / "denoise-blind.json").read_text())
