"""The latent task: unconditional generators, the unconditional trainer, and inversion with batched restarts."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ganrecon.cli import main
from ganrecon.config import load_config
from ganrecon.degrade import parse_degradation
from ganrecon.errors import GanreconError
from ganrecon.inference import load_model
from ganrecon.invert import LatentModel, data_misfit, initial_latents, invert, observed_entries
from ganrecon.models.latent import build_latent_discriminator, build_latent_generator
from ganrecon.training import train

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny models run faster on one thread


def _tiny_generator(seed: int = 0, size=(8, 8), dtype=torch.float32):
    torch.manual_seed(seed)
    return build_latent_generator("mlp", channels=1, image_size=size, z_dim=4, hidden=16).to(dtype)


def _latent_overrides(data_spec: str, **extra) -> dict:
    base = {"task": "latent", "data": data_spec, "degrade": "keep-first:100+gauss:0.05", "steps": 8,
            "batch_size": 8, "val_images": 4, "eval_every": 4, "checkpoint_every": 3, "log_every": 1, "seed": 5,
            "generator_options": {"z_dim": 4, "hidden": 16}, "discriminator_options": {"hidden": 16}}
    base.update(extra)
    return base


# --------------------------------------------------------------------------------------------------- models


@pytest.mark.parametrize("size", [(28, 28), (64, 64), (16, 16)])
def test_dcgan_generator_and_discriminator_shapes(size):
    g = build_latent_generator("dcgan", channels=1, image_size=size, z_dim=32, width=8)
    d = build_latent_discriminator("dcgan", channels=1, image_size=size, width=8)
    x = g(torch.randn(3, 32))
    assert x.shape == (3, 1, *size) and float(x.detach().min()) >= 0 and float(x.detach().max()) <= 1
    assert d(x).shape == (3, 1)


def test_mlp_generator_is_the_reference_shape_and_entry_forward_matches():
    g = build_latent_generator("mlp", channels=1, image_size=(28, 28))
    assert g.z_dim == 10 and [tuple(p.shape) for p in g.parameters()] == [(128, 10), (128,), (784, 128), (784,)]
    z = torch.randn(5, 10)
    index = torch.tensor([0, 3, 400, 783])
    assert torch.allclose(g.entry_forward(index)(z), g(z).flatten(1)[:, index], atol=1e-6)


def test_bad_model_names_and_options_are_one_sentence():
    with pytest.raises(GanreconError, match="Unknown unconditional generator"):
        build_latent_generator("unet", channels=1, image_size=(28, 28))
    with pytest.raises(GanreconError, match="Bad option"):
        build_latent_generator("mlp", channels=1, image_size=(28, 28), depth=3)
    with pytest.raises(GanreconError, match="z_dim"):
        build_latent_generator("dcgan", channels=1, image_size=(28, 28), z_dim=0)


# --------------------------------------------------------------------------------------------------- inversion


def test_cost_decreases_on_a_tiny_generator():
    g = _tiny_generator()
    with torch.no_grad():
        clean = g(torch.randn(6, 4, generator=torch.Generator().manual_seed(1)))
    observed, mask = parse_degradation("keep-first:40+gauss:0.02")(clean, generator=2)
    for cost, optimizer in (("log", "adam"), ("l2", "adam"), ("log", "gd")):
        result = invert(g, observed, mask, restarts=3, steps=60, cost=cost, optimizer=optimizer)
        assert result.curves.shape == (6, 61)
        assert (result.cost < result.curves[:, 0]).all(), (cost, optimizer)
        assert torch.equal(result.cost, result.curves.min(1).values)  # the best point of the chosen run is kept


def test_restarts_choose_the_argmin_of_j_like_a_brute_force_loop():
    g = _tiny_generator(dtype=torch.float64)
    with torch.no_grad():
        clean = g(torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    observed, mask = parse_degradation("pixels:random:0.5+gauss:0.05")(clean.float(), generator=4)
    observed, mask = observed.double(), mask.double()
    z0 = initial_latents(4, 5, 4, seed=9).double() * 2
    batched = invert(g, observed, mask, restarts=5, steps=40, z0=z0, estimate="best")
    costs = torch.empty(4, 5, dtype=torch.float64)
    for i in range(4):  # brute force: every image, every restart, on its own
        for k in range(5):
            single = invert(g, observed[i:i + 1], mask[i:i + 1], restarts=1, steps=40, z0=z0[i:i + 1, k:k + 1])
            costs[i, k] = single.cost[0]
    assert torch.allclose(batched.restart_costs, costs, rtol=1e-6)
    assert torch.equal(batched.restart, costs.argmin(1))
    assert ((costs.max(1).values - costs.min(1).values) > 1e-6).all()  # the restarts really end differently
    chosen = batched.z
    assert torch.allclose(batched.estimate, g.eval()(chosen), atol=1e-10)
    assert torch.equal(batched.restart_z[torch.arange(4), batched.restart], chosen)
    # the default estimate: the mean of every restart's G(z*), from the same optimisation
    mean = invert(g, observed, mask, restarts=5, steps=40, z0=z0)
    assert torch.equal(mean.restart_z, batched.restart_z) and mean.settings["estimate"] == "mean"
    per_restart = g.eval()(batched.restart_z.reshape(20, -1)).reshape(4, 5, *observed.shape[1:])
    assert torch.allclose(mean.estimate, per_restart.mean(1), atol=1e-10)
    with pytest.raises(GanreconError, match="Unknown estimate"):
        invert(g, observed, mask, restarts=2, steps=1, estimate="median")


def test_keep_first_measurement_is_the_first_n_column_major_entries():
    n = 37
    clean = torch.arange(2 * 8 * 8, dtype=torch.float32).view(2, 1, 8, 8) / 128
    observed, mask = parse_degradation(f"keep-first:{n}")(clean)
    y = observed_entries(observed, mask)
    for i in range(2):
        column_major = clean[i, 0].numpy().flatten(order="F")
        assert np.array_equal(y[i].numpy(), column_major[:n])
    # the inversion's data term is ||y - T G(z)||^2 with T = [I 0] on the column-major vector
    generated = torch.rand(2, 1, 8, 8)
    t_g = [generated[i, 0].numpy().flatten(order="F")[:n] for i in range(2)]
    expected = torch.tensor([float(((y[i].numpy() - t_g[i]) ** 2).sum()) for i in range(2)])
    assert torch.allclose(data_misfit(generated, observed, mask), expected, rtol=1e-5)


def test_bad_inversion_settings_are_one_sentence():
    g = _tiny_generator()
    obs = torch.zeros(1, 1, 8, 8)
    with pytest.raises(GanreconError, match="Unknown inversion cost"):
        invert(g, obs, cost="l3")
    with pytest.raises(GanreconError, match="Unknown optimizer"):
        invert(g, obs, optimizer="sgd")
    with pytest.raises(GanreconError, match="restarts"):
        invert(g, obs, restarts=0)
    with pytest.raises(GanreconError, match="learning rate"):
        invert(g, obs, lr=-1.0)
    with pytest.raises(GanreconError, match="shape"):
        invert(g, torch.zeros(1, 1, 9, 9))


# --------------------------------------------------------------------------------------------------- training


def test_tiny_unconditional_run_writes_a_bundle_that_eval_and_invert_use(tmp_path, tiny_npz):
    run = tmp_path / "run"
    result = train(load_config(overrides=_latent_overrides(tiny_npz)), run, progress=False)
    assert result.step == 8
    meta = json.loads((run / "model.json").read_text())
    assert meta["kind"] == "unconditional" and meta["z_dim"] == 4 and meta["image_size"] == [16, 16]
    for name in ("config.yaml", "log.csv", "losses.png", "validation.csv", "summary.json",
                 "samples/step_0000003.png", "samples/step_0000008.png"):
        assert (run / name).is_file(), name
    model = load_model(run)
    assert isinstance(model, LatentModel) and model.value_range == (0.0, 1.0)
    out = tmp_path / "eval.json"
    assert main(["eval", "--model", str(run), "--data", tiny_npz, "--degrade", "keep-first:100+gauss:0.05",
                 "--limit", "3", "--split", "all", "--json", str(out)]) == 0
    methods = json.loads(out.read_text())["methods"]
    assert {"run", "zero-fill", "biharmonic"} <= set(methods)
    inv_json, fig, npy = tmp_path / "inv.json", tmp_path / "inv.png", tmp_path / "rec.npy"
    assert main(["invert", "--model", str(run), "--data", tiny_npz, "--degrade", "columns:random:0.5",
                 "--restarts", "3", "--steps", "20", "--limit", "3", "--split", "all", "--json", str(inv_json),
                 "--figure", str(fig), "--output", str(npy)]) == 0
    report = json.loads(inv_json.read_text())
    assert report["inversion"]["restarts"] == 3 and sum(report["inversion"]["chosen_restart_counts"]) == 3
    assert fig.is_file() and np.load(npy).shape == (3, 1, 16, 16)


def test_resume_gives_identical_weights(tmp_path, tiny_npz):
    config = load_config(overrides=_latent_overrides(tiny_npz, generator="dcgan", discriminator="dcgan",
                                                     generator_options={"z_dim": 8, "width": 4},
                                                     discriminator_options={"width": 4}, eval_every=100))
    train(config, tmp_path / "straight", progress=False)
    partial = train(config, tmp_path / "resumed", progress=False, stop_after=5)  # last checkpoint: step 3
    assert partial.step == 5
    train(config, tmp_path / "resumed", resume=True, progress=False)
    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(
        str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cli_bad_input_exits_2_with_one_sentence(tmp_path, tiny_npz, capsys):
    assert main(["invert", "--model", str(tmp_path / "nothing"), "--data", tiny_npz,
                 "--degrade", "keep-first:10"]) == 2
    assert "neither a run directory" in capsys.readouterr().err
    run = tmp_path / "run"
    train(load_config(overrides=_latent_overrides(tiny_npz, steps=3, eval_every=100)), run, progress=False)
    base = ["invert", "--model", str(run), "--data", tiny_npz, "--limit", "2", "--split", "all"]
    assert main(base + ["--degrade", "keep-first:ten"]) == 2
    assert "whole number" in capsys.readouterr().err
    assert main(base + ["--degrade", "keep-first:10", "--cost", "l3"]) == 2
    assert "Unknown inversion cost" in capsys.readouterr().err
    assert main(base + ["--degrade", "keep-first:10", "--optimizer", "lbfgs"]) == 2
    assert main(base + ["--degrade", "keep-first:10", "--restarts", "many"]) == 2  # typer's usage error
    assert main(base + ["--degrade", "keep-first:10", "--output", str(tmp_path / "x.png")]) == 2


def test_init_continues_a_latent_generator_and_counts_its_steps(tmp_path, tiny_npz):
    first = tmp_path / "first"
    train(load_config(overrides=_latent_overrides(tiny_npz)), first, progress=False)
    frozen = _latent_overrides(tiny_npz, steps=2, lr=0.0, init=str(first / "model"))
    train(load_config(overrides=frozen), tmp_path / "second", progress=False)
    a, b = load_model(first), load_model(tmp_path / "second")
    for (name, x), (_, y) in zip(a.generator.state_dict().items(), b.generator.state_dict().items()):
        if "running" not in name and "num_batches" not in name:  # lr 0: weights unchanged, batch stats move
            torch.testing.assert_close(x.float(), y.float(), msg=name)
    meta = json.loads((tmp_path / "second" / "model.json").read_text())
    assert meta["steps"] == 2 and meta["total_steps"] == 8 + 2


def test_latent_training_refuses_several_validation_degradations(tmp_path, tiny_npz):
    config = load_config(overrides=_latent_overrides(tiny_npz, val_degrade=["keep-first:100", "keep-first:50"]))
    with pytest.raises(GanreconError, match="one degradation"):
        train(config, tmp_path / "run", progress=False)
