import json
import signal

import numpy as np
import pytest
import segyio
from conftest import signals_at_step, smooth_images, tiny_overrides
from PIL import Image

from ganrecon.cli import main
from ganrecon.config import load_config
from ganrecon.training import train


@pytest.fixture(scope="module")
def image_model(tmp_path_factory, tiny_npz):
    run = tmp_path_factory.mktemp("runs") / "img"
    train(load_config(overrides=tiny_overrides(tiny_npz, steps=4)), run, progress=False)
    return run


@pytest.fixture(scope="module")
def seismic_model(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "seis"
    train(load_config(overrides=tiny_overrides("seismic:n=24,size=32x16", steps=4)), run, progress=False)
    return run


def test_baseline_prints_table_and_writes_json_and_figure(tmp_path, capsys):
    out, fig = tmp_path / "r.json", tmp_path / "r.png"
    code = main(["baseline", "--data", "seismic:n=4,size=32x16", "--degrade", "columns:random:0.5", "--limit", "4",
                 "--json", str(out), "--figure", str(fig)])
    assert code == 0
    results = json.loads(out.read_text())
    assert results["n_images"] == 4
    assert {"zero-fill", "linear", "cubic", "fk"} <= set(results["methods"])
    for scores in results["methods"].values():
        assert {"mse", "mse_missing", "psnr", "ssim", "snr", "ms_per_image"} <= set(scores)
    assert fig.stat().st_size > 1000
    assert "zero-fill" in capsys.readouterr().out


def test_eval_puts_the_model_next_to_the_baselines(tmp_path, image_model, tiny_npz):
    out = tmp_path / "e.json"
    code = main(["eval", "--model", str(image_model), "--data", tiny_npz, "--degrade", "columns:regular:2",
                 "--limit", "6", "--json", str(out)])
    assert code == 0
    results = json.loads(out.read_text())
    methods = results["methods"]
    assert "img" in methods and "linear" in methods
    assert methods["img"]["mse"] >= 0
    # the guard: the model's row is what a user gets, NAME:raw the unguarded model; never worse than the best
    # baseline on these images by more than the held-out check can miss
    assert "img:raw" in methods and len(results["guard"]["img"]["images"]) == 6
    assert "known traces hidden" in results["guard"]["img"]["check"]


def test_eval_guard_modes(tmp_path, image_model, tiny_npz, capsys):
    out = tmp_path / "e.json"
    args = ["eval", "--model", str(image_model), "--data", tiny_npz, "--degrade", "columns:random:0.5",
            "--limit", "4", "--json", str(out)]
    assert main(args + ["--guard", "off"]) == 0
    results = json.loads(out.read_text())
    assert "guard" not in results and "img:raw" not in results["methods"]
    assert main(args + ["--guard", "report"]) == 0
    results = json.loads(out.read_text())
    assert results["methods"]["img"] == results["methods"]["img:raw"] | {"ms_per_image":
                                                                        results["methods"]["img"]["ms_per_image"]}
    assert "guard (report" in capsys.readouterr().out
    assert main(args + ["--guard", "maybe"]) == 2


def test_eval_and_reconstruct_take_a_self_ensemble(tmp_path, image_model, tiny_npz):
    def psnr(*extra):
        out = tmp_path / "e.json"
        assert main(["eval", "--model", str(image_model), "--data", tiny_npz, "--degrade", "columns:random:0.5",
                     "--limit", "4", "--guard", "off", "--json", str(out), *extra]) == 0
        return json.loads(out.read_text())["methods"]["img"]["psnr"]

    assert psnr() == psnr("--ensemble", "none")                    # a bundle without a default: none
    assert psnr("--ensemble", "mirror") != psnr()                  # the same network, mirrored and averaged
    assert main(["eval", "--model", str(image_model), "--data", tiny_npz, "--degrade", "columns:random:0.5",
                 "--ensemble", "upside-down"]) == 2
    img = (smooth_images(1, 40, 24, seed=5)[0] * 255).astype(np.uint8)
    img[:, ::3] = 0
    Image.fromarray(img).save(tmp_path / "in.png")
    assert main(["reconstruct", str(tmp_path / "in.png"), "--model", str(image_model), "-o",
                 str(tmp_path / "out.png"), "--ensemble", "dihedral", "--guard", "off"]) == 0
    assert (tmp_path / "out.png").is_file()


def test_reconstruct_png_round_trip(tmp_path, image_model, capsys):
    img = (smooth_images(1, 40, 24, seed=5)[0] * 255).astype(np.uint8)
    img[:, ::3] = 0  # dead columns are taken as missing
    Image.fromarray(img).save(tmp_path / "in.png")
    assert main(["reconstruct", str(tmp_path / "in.png"), "--model", str(image_model),
                 "-o", str(tmp_path / "out.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == img.shape and out.dtype == np.uint8
    keep = np.ones(img.shape[1], bool)
    keep[::3] = False
    assert np.array_equal(out[:, keep], img[:, keep])  # observed columns kept exactly
    assert out[:, ~keep].any()  # missing columns filled
    assert "guard (choose" in capsys.readouterr().out  # what the guard did is said


def test_reconstruct_npy_with_explicit_mask_spec(tmp_path, seismic_model):
    rng = np.random.default_rng(0)
    gather = rng.standard_normal((100, 30)).astype(np.float32) * 50  # larger than the 32x16 tiles, any scale
    np.save(tmp_path / "g.npy", gather)
    assert main(["reconstruct", str(tmp_path / "g.npy"), "--model", str(seismic_model), "--mask",
                 "columns:regular:2", "-o", str(tmp_path / "o.npy")]) == 0
    out = np.load(tmp_path / "o.npy")
    assert out.shape == gather.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.allclose(out[:, ::2], gather[:, ::2], atol=1e-4)


def test_reconstruct_segy_keeps_headers(tmp_path, seismic_model):
    path = tmp_path / "shot.sgy"
    traces = np.random.default_rng(1).standard_normal((20, 64)).astype(np.float32)
    traces[5] = 0  # a dead trace
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, list(range(64)), 20
    with segyio.create(str(path), spec) as f:
        for i in range(20):
            f.header[i] = {segyio.TraceField.offset: 100 + 25 * i, segyio.TraceField.TRACE_SAMPLE_INTERVAL: 4000}
            f.trace[i] = traces[i]
    # white noise: zero-fill is the best estimate of a dead trace and `--guard choose` would rightly return it;
    # this test is about the model's path through SEG-Y, so the guard only reports
    assert main(["reconstruct", str(path), "--model", str(seismic_model), "-o", str(tmp_path / "out.sgy"),
                 "--guard", "report"]) == 0
    with segyio.open(str(tmp_path / "out.sgy"), ignore_geometry=True) as f:
        assert [f.header[i][segyio.TraceField.offset] for i in range(20)] == [100 + 25 * i for i in range(20)]
        out = segyio.tools.collect(f.trace[:])
    assert np.allclose(np.delete(out, 5, 0), np.delete(traces, 5, 0), atol=1e-5)
    assert np.abs(out[5]).sum() > 0


@pytest.mark.parametrize("argv, message", [
    (["baseline", "--data", "nosuchkind", "--degrade", "columns:random:0.5"], "dataset"),
    (["baseline", "--data", "seismic:n=2,size=16x16", "--degrade", "columns:random:1.5"], "must be in"),
    (["baseline", "--data", "seismic:n=2,size=16x16", "--degrade", "wobble:3"], "degradation"),
    (["baseline", "--data", "npz:/no/such/file.npz", "--degrade", "columns:random:0.5"], "exist"),
    (["eval", "--model", "no-such-model", "--data", "seismic:n=2", "--degrade", "columns:random:0.5"], "shipped"),
    (["reconstruct", "missing.png", "--model", "no-such-model", "-o", "x.png"], ""),
    (["train", "no-such-config.yaml"], "does not exist"),
])
def test_bad_input_is_one_sentence_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message.lower() in err.lower()
    assert "Traceback" not in err and len(err.splitlines()) <= 3
    assert not (tmp_path / "x.png").exists()


def test_wrong_shape_array_is_one_sentence(tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((2, 3, 4, 5, 6), np.float32))
    assert main(["baseline", "--data", f"npy:{tmp_path / 'bad.npy'}", "--degrade", "columns:random:0.5"]) == 2
    assert "shape" in capsys.readouterr().err.lower()


def _train_argv(data_spec: str, out, **extra) -> list[str]:
    config = {**tiny_overrides(data_spec), "generator_options.depth": 2, "generator_options.width": 8,
              "discriminator_options.width": 8, "threads": 1, **extra}
    config.pop("generator_options"), config.pop("discriminator_options")
    argv = ["train", "--out", str(out), "--no-progress"]
    for key, value in config.items():
        argv += ["--set", f"{key}={value}"]
    return argv


def test_resume_of_a_directory_without_a_run_is_one_sentence_and_writes_nothing(tmp_path, tiny_npz, capsys):
    mistyped = tmp_path / "runs" / "mnsit"
    assert main(_train_argv(tiny_npz, mistyped, steps=4) + ["--resume"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error:") and "holds no training run to resume" in err and "--out" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "step" not in captured.out  # nothing trained
    assert not mistyped.exists()
    (tmp_path / "empty").mkdir()  # an existing folder holding something else is refused alike, and left alone
    (tmp_path / "empty" / "notes.txt").write_text("mine")
    assert main(_train_argv(tiny_npz, tmp_path / "empty", steps=4) + ["--resume"]) == 2
    assert "holds no training run" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["notes.txt"]


def test_a_training_the_user_stops_says_stopped_not_error_and_exits_130(tmp_path, tiny_npz, capsys, monkeypatch):
    signals_at_step(monkeypatch, "traces", 2, signal.SIGTERM)
    assert main(_train_argv(tiny_npz, tmp_path / "run", steps=8)) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("stopped: Training stopped at step 3; a checkpoint was saved") and "error" not in err


def test_resume_says_where_it_continues_and_the_closing_line_counts_steps(tmp_path, tiny_npz, capsys):
    run = tmp_path / "run"
    assert main(_train_argv(tiny_npz, run, steps=8, checkpoint_every=4)) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich may wrap the line
    assert "trained 8 steps in this process (steps 1-8), 8 in total" in out
    assert main(_train_argv(tiny_npz, run, steps=12, checkpoint_every=4) + ["--resume"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"Resuming {run} from step 8 of 12." in out
    assert "trained 4 steps in this process (steps 9-12), 12 in total" in out
    assert main(_train_argv(tiny_npz, run, steps=12, checkpoint_every=4) + ["--resume"]) == 0  # nothing left to do
    out = " ".join(capsys.readouterr().out.split())
    assert "from step 12 of 12" in out and "trained 0 steps in this process, 12 in total" in out
