"""Defects a new user met, run as the user runs them: through the `ganrecon` command on their own files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import smooth_images

from ganrecon.cli import main
from ganrecon.data import load_dataset

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny models run faster on one thread


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One field-like gather (time x traces, any amplitude) and a file of two gathers, as a user saves them."""
    folder = tmp_path_factory.mktemp("user")
    shot = load_dataset("seismic:n=1,size=128x32", seed=3).images[0, 0].numpy() * 37.0
    np.save(folder / "shot.npy", shot.astype(np.float32))
    two = load_dataset("seismic:n=2,size=64x32", seed=4).images[:, 0].numpy() * 5.0
    np.save(folder / "two.npy", two.astype(np.float32))
    return folder


def _one_sentence(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_eval_on_one_gather_uses_the_whole_file(files, tmp_path):
    out = tmp_path / "e.json"
    assert main(["eval", "--model", "traces-seismic-unet", "--data", f"npy:{files / 'shot.npy'}",
                 "--degrade", "columns:random:0.5", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["n_images"] == 1 and results["value_range"] == [-1.0, 1.0]
    methods = results["methods"]
    assert {"traces-seismic-unet", "fk", "linear"} <= set(methods)
    assert methods["traces-seismic-unet"]["snr_missing"] > methods["zero-fill"]["snr_missing"]


def test_eval_adapt_on_one_gather(files, tmp_path):
    out = tmp_path / "a.json"
    assert main(["eval", "--model", "traces-seismic-unet", "--data", f"npy:{files / 'shot.npy'}",
                 "--degrade", "columns:random:0.5", "--adapt", "--adapt-seconds", "2", "--json", str(out)]) == 0
    methods = json.loads(out.read_text())["methods"]
    assert {"traces-seismic-unet", "traces-seismic-unet+adapt"} <= set(methods)
    assert all(np.isfinite(s["snr"]) for s in methods.values())


def test_a_two_image_file_in_eval_and_baseline(files, tmp_path):
    spec = f"npy:{files / 'two.npy'}"
    for command in (["baseline"], ["eval", "--model", "traces-seismic-unet"]):
        out = tmp_path / f"{command[0]}.json"
        assert main([*command, "--data", spec, "--degrade", "columns:regular:2", "--json", str(out)]) == 0
        assert json.loads(out.read_text())["n_images"] == 2


def test_an_empty_split_is_one_sentence_and_writes_nothing(files, tmp_path, capsys):
    spec = f"npy:{files / 'two.npy'}"
    out = tmp_path / "never.json"
    assert main(["eval", "--model", "traces-seismic-unet", "--data", spec, "--degrade", "columns:regular:2",
                 "--split", "test", "--json", str(out)]) == 2
    line = _one_sentence(capsys.readouterr().err)
    assert "test split" in line and "is empty" in line and "--split all" in line and not out.exists()
    run = tmp_path / "run"
    assert main(["train", "--set", f"data={spec}", "--set", "steps=2", "--out", str(run), "--no-progress"]) == 2
    line = _one_sentence(capsys.readouterr().err)
    assert "val split" in line and "is empty" in line and not run.exists()


def test_a_composed_down_and_columns_spec_is_scored_on_the_clean_grid(tmp_path):
    data = tmp_path / "images.npz"
    np.savez(data, images=(smooth_images(4, 32, 32, seed=2) * 255).astype(np.uint8))
    out, figure = tmp_path / "b.json", tmp_path / "b.png"
    assert main(["baseline", "--data", f"npz:{data}", "--degrade", "down:2+columns:random:0.5", "--json", str(out),
                 "--figure", str(figure)]) == 0
    methods = json.loads(out.read_text())["methods"]
    assert "linear+bicubic" in methods and figure.stat().st_size > 1000
    for scores in methods.values():
        assert np.isfinite(scores["mse_missing"]) and scores["mse_missing"] > scores["mse"]
    out = tmp_path / "e.json"
    assert main(["eval", "--model", "superres-porous-x4", "--data", "porous:n=1,size=64x64", "--degrade",
                 "down:4+columns:random:0.25", "--json", str(out)]) == 0
    model = json.loads(out.read_text())["methods"]["superres-porous-x4"]
    assert np.isfinite(model["mse_missing"]) and model["mse_missing"] >= 0


def _black_share(png, left: float, right: float) -> float:
    """Share of black pixels in a vertical band of a figure: a signed image drawn in [0, 1] is black wherever
    it is negative, in its own range only where it reaches its minimum."""
    from PIL import Image

    grey = np.asarray(Image.open(png).convert("L"), dtype=np.float64) / 255
    band = grey[:, int(left * grey.shape[1]):int(right * grey.shape[1])]
    return float((band < 0.05).mean())


def test_invert_draws_signed_data_in_its_own_range(tmp_path):
    from ganrecon.config import load_config
    from ganrecon.invert import inversion_figure, invert_dataset
    from ganrecon.training import train

    spec = "seismic:n=24,size=16x16"
    overrides = {"task": "latent", "data": spec, "degrade": "columns:random:0.5", "steps": 3, "batch_size": 8,
                 "val_images": 4, "eval_every": 100, "checkpoint_every": 3, "seed": 5,
                 "generator_options": {"z_dim": 4, "hidden": 16}, "discriminator_options": {"hidden": 16}}
    run = tmp_path / "latent"
    train(load_config(overrides=overrides), run, progress=False)
    figure, out = tmp_path / "inv.png", tmp_path / "inv.json"
    assert main(["invert", "--model", str(run), "--data", spec, "--degrade", "columns:random:0.5", "--restarts",
                 "1", "--steps", "2", "--limit", "2", "--figure", str(figure), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["value_range"] == [-1.0, 1.0]
    evaluation, result = invert_dataset(run, spec, "columns:random:0.5", restarts=1, steps=2, limit=2)
    unit = tmp_path / "unit-range.png"  # the same panels drawn in [0, 1], as before the fix
    inversion_figure(evaluation.clean, evaluation.observed, evaluation.mask, result, unit, value_range=(0.0, 1.0))
    drawn, wrong = _black_share(figure, 0.02, 0.16), _black_share(unit, 0.02, 0.16)  # the "original" column
    assert wrong > 0.1 and drawn < wrong / 3
