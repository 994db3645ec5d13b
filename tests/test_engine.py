"""The engine's shared pieces: the public API, bundles, the reconstructor protocol and the one scorer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import smooth_images

from ganrecon.baselines import run_baseline
from ganrecon.degrade import parse_degradation
from ganrecon.errors import GanreconError
from ganrecon.metrics import image_metrics, summarise
from ganrecon.scoring import baseline_methods, score_methods

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


# --------------------------------------------------------------------------------------------------- public API


def test_the_public_api_is_importable_from_the_package():
    import ganrecon
    import ganrecon.evaluation
    import ganrecon.reconstruction  # importing the modules must not shadow the functions
    from ganrecon import evaluate, load_dataset, load_model, parse_degradation, reconstruct, train

    assert evaluate is ganrecon.evaluation.evaluate and reconstruct is ganrecon.reconstruction.reconstruct
    assert train.__module__.startswith("ganrecon.training") and load_dataset.__module__ == "ganrecon.data.loader"
    assert parse_degradation("gauss:0.1").family == "noise" and load_model.__name__ == "load_model"
    assert {"evaluate", "reconstruct", "train"} <= set(dir(ganrecon))
    with pytest.raises(AttributeError):
        ganrecon.no_such_name  # noqa: B018


def test_import_ganrecon_does_not_load_torch():
    code = "import sys, ganrecon; assert 'torch' not in sys.modules, 'torch loaded'; print(ganrecon.__version__)"
    done = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_readmes_python_examples_run(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2 and any("from ganrecon import" in b for b in blocks)
    script = tmp_path / "readme_examples.py"
    script.write_text("\n".join(blocks))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "shot-filled.npy").is_file() and (tmp_path / "runs" / "first" / "model.safetensors").is_file()


# --------------------------------------------------------------------------------------------------- bundles


def test_old_names_stay_importable_from_inference():
    from ganrecon import bundles, inference, reconstructor, tiling

    assert inference.ReconstructionModel is reconstructor.ReconstructionModel
    assert inference.ModelWrapper is reconstructor.ModelWrapper and inference.tiled_apply is tiling.tiled_apply
    assert inference.pretrained_names is bundles.pretrained_names and "traces-seismic-unet" in bundles.pretrained_names()
    assert bundles.bundle_path("traces-seismic-unet").name == "traces-seismic-unet.safetensors"
    with pytest.raises(GanreconError, match="neither a run directory"):
        bundles.bundle_path("no-such-model")


def test_a_bundle_is_found_by_its_stem_as_init_and_model_give_it(tmp_path):
    """`init: runs/x/model-best` (no suffix) once failed a training at start; the stem names the bundle."""
    from ganrecon.bundles import bundle_path

    (tmp_path / "model-best.safetensors").write_bytes(b"")
    assert bundle_path(tmp_path / "model-best") == tmp_path / "model-best.safetensors"
    with pytest.raises(GanreconError, match="neither a run directory"):
        bundle_path(tmp_path / "model-worst")


def test_bundle_kinds_build_their_own_reconstructor():
    from ganrecon.bundles import GENERATORS, load_generator
    from ganrecon.inference import RECONSTRUCTORS, load_model
    from ganrecon.invert import LatentModel
    from ganrecon.reconstructor import ReconstructionModel

    assert set(GENERATORS) == set(RECONSTRUCTORS) == {"conditional", "unconditional"}
    latent = load_generator("latent-mnist-mlp")
    assert latent.kind == "unconditional" and hasattr(latent.generator, "z_dim")
    assert isinstance(load_model("latent-mnist-mlp"), LatentModel)
    assert isinstance(load_model("traces-mnist-unet"), ReconstructionModel)


# --------------------------------------------------------------------------------------------------- protocol


def _signed_batch(n=2, h=40, w=24):
    from ganrecon.data import load_dataset

    clean = load_dataset(f"seismic:n={n},size={h}x{w}", seed=1).images * 30.0
    observed, mask = parse_degradation("columns:random:0.5")(clean, value_range=(-30.0, 30.0), generator=2)
    return clean, observed, mask


def test_every_reconstructor_answers_the_protocol():
    from ganrecon.adapt import AdaptedModel, AdaptOptions
    from ganrecon.inference import load_model
    from ganrecon.preprocess import GainedModel
    from ganrecon.reconstructor import Reconstructor

    seismic, latent, superres = (load_model(n) for n in ("traces-seismic-unet", "latent-mnist-mlp",
                                                          "superres-porous-x4"))
    wrapped = [GainedModel(seismic, "agc:20"), AdaptedModel(seismic, AdaptOptions(seconds=5, max_steps=1))]
    for model in (seismic, latent, superres, *wrapped):
        assert isinstance(model, Reconstructor)
        assert len(model.value_range) == 2 and isinstance(model.scale, int) and isinstance(model.fixed_size, bool)
        assert len(model.tile) == 2
    assert (seismic.scale, seismic.fixed_size) == (1, False) and superres.scale == superres.generator.scale == 4
    assert latent.fixed_size and latent.tile == (28, 28)
    assert all(w.value_range == seismic.value_range and w.tile == seismic.tile for w in wrapped)
    clean, observed, mask = _signed_batch()
    known = mask.bool()
    for model in (seismic, *wrapped):
        out = model(observed, mask)
        assert out.shape == clean.shape and torch.allclose(out[known], observed[known], rtol=1e-5, atol=1e-5)


def test_scale_and_fixed_size_come_from_the_generator_not_its_name():
    from ganrecon.models import build_generator
    from ganrecon.reconstructor import ReconstructionModel

    generator = build_generator("linear", channels=1, image_size=(8, 8))
    meta = {"generator": "renamed", "channels": 1, "image_size": [8, 8], "value_range": [0.0, 1.0]}
    model = ReconstructionModel(generator.eval(), meta, "lin")
    assert model.fixed_size and model.scale == 1
    out = model(torch.rand(2, 1, 20, 12), torch.ones(2, 1, 20, 12))   # larger than its size: in tiles
    assert out.shape == (2, 1, 20, 12)


def test_a_model_scores_the_same_through_score_methods_as_called_directly():
    from ganrecon.inference import load_model

    model = load_model("traces-seismic-unet")
    clean, observed, mask = _signed_batch()
    scores = score_methods({"m": model}, clean, observed, mask, (-30.0, 30.0))["m"]
    direct = summarise(image_metrics(model(observed, mask), clean, mask, (-30.0, 30.0)))
    assert all(scores[k] == pytest.approx(direct[k], nan_ok=True) for k in direct)


# --------------------------------------------------------------------------------------------------- scoring


def test_baseline_methods_take_the_task_records_list_or_the_names_asked_for():
    degradation = parse_degradation("columns:random:0.5")
    every = list(baseline_methods(degradation, (-1.0, 1.0)))
    seismic_only = ["fk", "pocs", "sliding-fk", "fx", "dip-steered", "consensus"]
    assert every == ["zero-fill", "nearest", "linear", "cubic", "biharmonic", *seismic_only]
    assert list(baseline_methods(degradation, (0.0, 1.0))) == every[:5]               # FK & co. are for seismic only
    assert list(baseline_methods(degradation, (-1.0, 1.0), task="latent")) == ["zero-fill", "biharmonic"]
    assert list(baseline_methods(degradation, (-1.0, 1.0), task="traces")) == every
    assert list(baseline_methods(degradation, (-1.0, 1.0), task="denoise")) == every  # none of its own applies
    assert "fk" not in baseline_methods(degradation, (-1.0, 1.0), skip_slow=True)          # FK inversion is slow
    assert list(baseline_methods(degradation, (-1.0, 1.0), ["deep-prior"])) == ["deep-prior"]  # only when named
    assert list(baseline_methods("sp:0.1", (0.0, 1.0), ["median3", "noisy"])) == ["noisy", "median3"]
    with pytest.raises(GanreconError, match="'median3' does not apply here"):
        baseline_methods(degradation, (0.0, 1.0), ["median3"])


def test_deconvolution_baselines_get_the_simulators_psf():
    turbulence = parse_degradation("turbulence:1.0")
    clean = torch.from_numpy(smooth_images(2, 32, 32, seed=3))[:, None]
    observed, mask = turbulence(clean, generator=0)
    methods = baseline_methods(turbulence, (0.0, 1.0))
    assert list(methods) == ["identity", "wiener", "richardson-lucy"]
    for name in ("wiener", "richardson-lucy"):
        got = methods[name](observed, mask)
        assert torch.equal(got, run_baseline(name, observed, mask, psf=turbulence.parameters.psf))
        assert not torch.equal(got, run_baseline(name, observed, mask))  # not the default Gaussian
    tuned = baseline_methods(turbulence, (0.0, 1.0), ["wiener"], options={"wiener": {"balance": 0.3}})["wiener"]
    assert torch.equal(tuned(observed, mask), run_baseline("wiener", observed, mask, psf=turbulence.parameters.psf,
                                                           balance=0.3))


def test_a_downsampled_image_with_missing_columns_gets_chained_baselines_scored_on_the_clean_grid():
    clean = torch.from_numpy(smooth_images(3, 32, 32, seed=4))[:, None]
    degradation = parse_degradation("down:2+columns:random:0.5")
    observed, mask = degradation(clean, generator=1)
    methods = baseline_methods(degradation, (0.0, 1.0))
    assert list(methods) == [f"{b}+bicubic" for b in ("zero-fill", "nearest", "linear", "cubic", "biharmonic")]
    estimates: dict = {}
    scores = score_methods(methods, clean, observed, mask, (0.0, 1.0), estimates=estimates)
    linear = run_baseline("bicubic", run_baseline("linear", observed, mask), None, scale=2)
    assert torch.equal(estimates["linear+bicubic"], linear)
    missing = (mask == 0).repeat_interleave(2, -2).repeat_interleave(2, -1)
    expected = float((((linear - clean) ** 2)[missing]).double().mean())  # equal counts per image
    assert scores["linear+bicubic"]["mse_missing"] == pytest.approx(expected, rel=1e-6)
    assert scores["zero-fill+bicubic"]["mse_missing"] > scores["linear+bicubic"]["mse_missing"]


def test_score_methods_times_each_method_and_refuses_a_wrong_shape():
    clean = torch.rand(2, 1, 8, 8)
    scores = score_methods({"same": lambda o, m: o.clone()}, clean, clean, torch.ones_like(clean), (0.0, 1.0))
    assert scores["same"]["mse"] == 0 and scores["same"]["ms_per_image"] >= 0
    with pytest.raises(GanreconError, match="returned shape"):
        score_methods({"crop": lambda o, m: o[..., :4]}, clean, clean, torch.ones_like(clean), (0.0, 1.0))


def test_evaluate_reports_the_value_range_and_defaults_to_the_whole_user_file(tmp_path):
    from ganrecon import evaluate, load_dataset

    path = tmp_path / "pair.npy"
    np.save(path, (smooth_images(2, 16, 16) * 2 - 1).astype(np.float32))
    evaluation = evaluate(f"npy:{path}", "columns:regular:2")
    assert evaluation.results["n_images"] == 2 and evaluation.results["value_range"] == [-1.0, 1.0]
    assert evaluation.value_range == (-1.0, 1.0)
    assert len(load_dataset(f"npy:{path}", split="all")) == 2
    assert evaluate("seismic:n=20,size=16x16", "columns:regular:2", baselines=[]).results["n_images"] == 20
    with pytest.raises(GanreconError, match="test split of .* is empty"):
        evaluate(f"npy:{path}", "columns:regular:2", split="test")
