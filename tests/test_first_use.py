"""What a new user hits (issue 16), each item run as a user would: the CLI through `cli.main`, the web app through
Flask's test client, the Python API directly. Item numbers refer to the issue."""

from __future__ import annotations

import contextlib
import io
import json
import re
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import segyio
import torch
from PIL import Image

from ganrecon import cli
from ganrecon.checkpoints import save_bundle

# ------------------------------------------------------------------------------------------------ helpers


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """cli.main in this process -> (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def bundle(stem: Path, *, task: str = "traces", signed: bool = False, data: str | list | None = None,
           consistency: bool = True, size=(16, 16)) -> Path:
    """A tiny untrained U-Net bundle as training writes it."""
    from ganrecon.models import build_generator

    value_range = [-1.0, 1.0] if signed else [0.0, 1.0]
    torch.manual_seed(0)
    model = build_generator("unet", channels=1, image_size=size, value_range=tuple(value_range), depth=2, width=8)
    meta = {"task": task, "generator": "unet", "generator_options": {"depth": 2, "width": 8}, "channels": 1,
            "image_size": list(size), "value_range": value_range, "scale": 1, "data_consistency": consistency}
    if data is not None:
        meta["data"] = data
    save_bundle(stem, model, meta)
    return stem.with_suffix(".safetensors")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"seismic": bundle(folder / "seismic", signed=True, data="seismic:n=24,size=32x16"),
            "signed-unknown": bundle(folder / "signed-unknown", signed=True),
            "image": bundle(folder / "image")}


def rgb_photo(size: int = 48) -> np.ndarray:
    """A colour crop of scikit-image's astronaut, H x W x 3 uint8."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[100:100 + size, 180:180 + size])


def write_segy(path: Path, traces: np.ndarray, *, fmt: int = 5, endian: str = "big", dt_us: int = 4000) -> None:
    """traces: N traces x samples."""
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount, spec.endian = fmt, list(range(traces.shape[1])), len(traces), endian
    with segyio.create(str(path), spec) as f:
        f.bin.update({segyio.BinField.Interval: dt_us})
        for i, trace in enumerate(traces):
            f.header[i] = {segyio.TraceField.offset: 100 + 25 * i, segyio.TraceField.TRACE_SAMPLE_INTERVAL: dt_us}
            f.trace[i] = np.ascontiguousarray(trace, dtype=f.dtype)


def gather(traces: int = 16, samples: int = 48, dead=(5,), amplitude: float = 100.0) -> np.ndarray:
    """Smooth events, N traces x samples, with dead (all-zero) traces."""
    t = np.arange(samples)[None, :]
    x = np.arange(traces)[:, None]
    data = amplitude * np.sin(0.3 * (t - 0.8 * x)) * np.exp(-((t - 20 - x) ** 2) / 200.0)
    data[list(dead)] = 0
    return data.astype(np.float32)


# ------------------------------------------------------------------------------------------------ 1 colour


def test_1_colour_photo_comes_back_in_colour_per_channel_for_denoising(tmp_path):
    """denoise runs per channel: each channel of the output is the grey model on that channel alone."""
    from ganrecon.inference import load_model

    photo = rgb_photo()
    Image.fromarray(photo).save(tmp_path / "in.png")
    code, out, err = run_cli(["reconstruct", tmp_path / "in.png", "--model", "denoise-blind", "-o",
                              tmp_path / "out.png", "--guard", "report",   # the model's own output, not a baseline
                              "--precision", "fp32"])   # compared with the library's float32 model below
    assert code == 0, err
    assert "ran on each of the 3 channels" in out
    result = np.asarray(Image.open(tmp_path / "out.png"))
    assert result.shape == photo.shape
    assert not np.array_equal(result[..., 0], result[..., 1])          # not a grey copy
    model = load_model("denoise-blind")
    for c in range(3):
        grey = torch.from_numpy(photo[..., c].astype(np.float32) / 255)[None, None]
        expected = np.clip(np.rint(model(grey)[0, 0].numpy() * 255), 0, 255)
        assert np.abs(result[..., c].astype(int) - expected).max() <= 1


def test_1_python_api_superresolution_per_channel_and_on_luminance_with_bicubic_chroma():
    from ganrecon.baselines import bicubic
    from ganrecon.colour import colour_apply, rgb_to_ycbcr
    from ganrecon.inference import load_model

    model = load_model("superres-porous-x4")
    low = torch.from_numpy(rgb_photo(24).astype(np.float32) / 255).permute(2, 0, 1)[None]
    out = model(low)                                                  # the measured mode: each channel alone
    assert out.shape == (1, 3, 96, 96)
    for c in range(3):
        assert torch.allclose(out[:, c:c + 1], model(low[:, c:c + 1]), atol=1e-5)
    lum = colour_apply(lambda x, m: model(x), low, task="superres", scale=4, mode="luminance")
    y_low, _ = rgb_to_ycbcr(low)
    y_out, cbcr_out = rgb_to_ycbcr(lum)
    _, cbcr_bicubic = rgb_to_ycbcr(bicubic(low, None, scale=4))
    inside = (lum > 0.01).all(dim=1, keepdim=True) & (lum < 0.99).all(dim=1, keepdim=True)  # not clamped
    assert torch.allclose(y_out[inside], model(y_low)[inside], atol=1e-4)
    assert torch.allclose(cbcr_out[inside.expand_as(cbcr_out)], cbcr_bicubic[inside.expand_as(cbcr_out)], atol=1e-4)


def test_1_eval_on_colour_images_scores_colour_and_says_how(tmp_path):
    photos = np.stack([rgb_photo(32), rgb_photo(48)[:32, :32]]).transpose(0, 3, 1, 2)
    np.savez(tmp_path / "rgb.npz", images=photos)
    code, out, err = run_cli(["eval", "--model", "denoise-blind", "--data", f"npz:{tmp_path / 'rgb.npz'}",
                              "--split", "all", "--degrade", "sp:0.15", "--json", tmp_path / "e.json"])
    assert code == 0, err
    results = json.loads((tmp_path / "e.json").read_text())
    assert results["methods"]["denoise-blind"]["psnr"] > results["methods"]["noisy"]["psnr"] + 5
    assert any("ran on each of the 3 channels" in n for n in results["notes"]) and "3 channels" in out


def test_1_colour_modes_are_the_measured_ones():
    from ganrecon.colour import COLOUR_MODES

    measured = json.loads((Path(__file__).parents[1] / "docs" / "results" / "colour.json").read_text())
    for case in measured["cases"]:
        assert COLOUR_MODES[case["task"]] == case["better_mode"], case["task"]


# ------------------------------------------------------------------------------------------------ 2, 19 sampling


def test_2_dt_ms_works_with_the_shipped_seismic_model(tmp_path):
    from ganrecon.inference import load_model
    from ganrecon.preprocess import training_dt_ms

    assert training_dt_ms(load_model("traces-seismic-unet").meta) == (2.0, 4.0)   # its data is a list of specs
    np.save(tmp_path / "g.npy", gather(traces=24, samples=64).T)
    code, out, err = run_cli(["reconstruct", tmp_path / "g.npy", "--model", "traces-seismic-unet", "--dt-ms", "1",
                              "-o", tmp_path / "o.npy"])
    assert code == 0, err
    result = np.load(tmp_path / "o.npy")
    assert result.shape == (64, 24) and np.abs(result[:, 5]).max() > 0


def test_2_segy_sample_interval_reaches_dt_ms_with_a_message(tmp_path, models):
    write_segy(tmp_path / "shot.sgy", gather(), dt_us=2000)
    code, out, err = run_cli(["reconstruct", tmp_path / "shot.sgy", "--model", models["seismic"], "-o",
                              tmp_path / "out.sgy"])
    assert code == 0, err
    assert "--dt-ms 2 from the SEG-Y header" in out and "resampled to 4 ms" in out
    code, out, err = run_cli(["reconstruct", tmp_path / "shot.sgy", "--model", models["signed-unknown"], "-o",
                              tmp_path / "out2.sgy"])
    assert code == 0, err
    assert "sample interval (2 ms) is not used" in out
    code, out, err = run_cli(["eval", "--model", models["seismic"], "--data", f"segy:{tmp_path / 'shot.sgy'}",
                              "--split", "all", "--degrade", "columns:random:0.5", "--json", tmp_path / "e.json"])
    assert code == 0, err
    assert "--dt-ms 2 from the SEG-Y header" in out
    assert "--dt-ms 2 from the SEG-Y header" in " ".join(json.loads((tmp_path / "e.json").read_text())["notes"])


@pytest.mark.parametrize("value", ["0", "-2", "nan"])
def test_19_non_positive_dt_ms_is_refused(tmp_path, models, value):
    np.save(tmp_path / "g.npy", gather().T)
    code, _, err = run_cli(["reconstruct", tmp_path / "g.npy", "--model", models["seismic"], "--dt-ms", value,
                            "-o", tmp_path / "o.npy"])
    assert code == 2 and "--dt-ms must be a positive number" in one_sentence(err)
    assert not (tmp_path / "o.npy").exists()


# ------------------------------------------------------------------------------------------------ 3, 22 figures


@pytest.fixture
def captured_figures(monkeypatch):
    """Figures handed to report._savefig, kept open for inspection instead of written."""
    from ganrecon import report

    figures = []
    monkeypatch.setattr(report, "_savefig", lambda fig, out: figures.append(fig))
    return figures


def test_3_and_22_gather_figures_score_missing_traces_show_axes_and_no_duplicate_panel(tmp_path, captured_figures):
    code, _, err = run_cli(["baseline", "--data", "seismic:n=4,size=32x16", "--degrade", "columns:random:0.5",
                            "--limit", "2", "--figure", tmp_path / "f.png"])
    assert code == 0, err
    fig = captured_figures[-1]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "ground truth" and not any(t.startswith("observed") for t in titles)
    assert any(t.startswith("zero-fill (= observed)") for t in titles)
    assert all("snr missing" in t for t in titles[1:])                     # the missing-trace SNR, not the whole
    assert "zero-fill (= observed)\nsnr missing 0.0 dB" in titles
    assert fig.axes[0].get_ylabel() == "time (sample)" and fig.axes[-1].get_xlabel() == "trace"


def test_22_long_method_names_are_wrapped_in_figure_titles():
    from ganrecon.report import panel_title

    title = panel_title("traces-seismic-unet-continued+gather-only")
    assert all(len(line) <= 16 for line in title.splitlines())
    assert title.replace("\n", "") == "traces-seismic-unet-continued+gather-only"


def test_3_demo_tables_show_snr_missing(tmp_path):
    from rich.console import Console

    from ganrecon.demo import DemoCase, run_demo

    case = DemoCase("g", "tiny gathers", "seismic:n=4,size=32x16", "columns:random:0.5", (), limit=1)
    run_demo(tmp_path / "demo", Console(file=io.StringIO()), report=tmp_path / "html", cases=(case,))
    readme = (tmp_path / "demo" / "README.md").read_text()
    assert "| snr | snr_missing |" in readme and "1 image." in readme
    html = (tmp_path / "html" / "index.html").read_text()
    assert '<div class="table-wrap">' in html and ".table-wrap { max-width: 100%; overflow-x: auto; }" in html
    assert ">snr missing" in html                                            # headers can wrap


# ------------------------------------------------------------------------------------------------ 4 SEG-Y


SEGY_FORMATS = (1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 16)   # every sample format segyio writes


def reconstructed_segy(tmp_path: Path, name: str, values: np.ndarray, fmt: int, endian: str, model) -> np.ndarray:
    """Write `values` as SEG-Y, reconstruct it with the CLI (no warning allowed), read the output back."""
    from ganrecon.data.segy import segy_endian

    path = tmp_path / f"{name}.sgy"
    write_segy(path, values, fmt=fmt, endian=endian)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                     # no narrowing warning from segyio
        code, out, err = run_cli(["reconstruct", path, "--model", model, "-o", tmp_path / f"{name}-out.sgy"])
    assert code == 0, err
    assert segy_endian((tmp_path / f"{name}-out.sgy").read_bytes()[:3600]) == endian   # the input's order kept
    with segyio.open(str(tmp_path / f"{name}-out.sgy"), ignore_geometry=True, endian=endian) as f:
        with segyio.open(str(path), ignore_geometry=True, endian=endian) as given:
            assert f.dtype == given.dtype                                   # the input's sample format kept
        return segyio.tools.collect(f.trace[:])


@pytest.mark.parametrize("endian", ["big", "little"])
@pytest.mark.parametrize("fmt", SEGY_FORMATS)
def test_4_segy_in_every_sample_format_and_byte_order(tmp_path, models, fmt, endian):
    """Known traces come back exactly; the filled trace is the float reconstruction of the same samples, rounded
    and clipped to the file's sample type."""
    unsigned = fmt in (10, 11, 12, 16)
    values = gather(amplitude=60.0, dead=()) + (70.0 if unsigned else 0.0)   # unsigned formats: positive
    values[5] = 0
    integer = fmt not in (1, 5, 6)
    values = np.rint(values) if integer else values
    result = reconstructed_segy(tmp_path, "in", values, fmt, endian, models["seismic"])
    reference = reconstructed_segy(tmp_path, "float", values, 5, endian, models["seismic"])
    keep = np.arange(len(values)) != 5
    assert np.allclose(result[keep], values[keep], atol=1e-5 * np.abs(values).max())
    assert np.abs(reference[5]).max() > 0                                  # the dead trace is filled
    if integer:
        info = np.iinfo(result.dtype)
        assert np.array_equal(result[5], np.clip(np.rint(reference[5].astype(np.float64)), info.min, info.max))
    else:
        assert np.allclose(result[5], reference[5], atol=1e-5 * np.abs(reference[5]).max())


def test_4_little_endian_segy_as_a_dataset_and_in_the_web_app(tmp_path):
    from ganrecon.data import load_dataset
    from ganrecon.webapp import sniff

    data = gather(dead=())
    write_segy(tmp_path / "le.sgy", data, endian="little")
    images = load_dataset(f"segy:{tmp_path / 'le.sgy'}").images
    assert images.shape == (1, 1, 48, 16)
    assert np.allclose(images[0, 0].numpy(), data.T / np.abs(data).max(), atol=1e-6)
    assert sniff((tmp_path / "le.sgy").read_bytes()[:4096]) == "segy"


def test_15_empty_or_corrupt_segy_dataset_says_so(tmp_path):
    (tmp_path / "empty.sgy").write_bytes(b"")
    (tmp_path / "junk.sgy").write_bytes(bytes(range(256)) * 20)
    for name, words in (("empty.sgy", "is empty"), ("junk.sgy", "not a readable SEG-Y file")):
        code, _, err = run_cli(["baseline", "--data", f"segy:{tmp_path / name}", "--degrade", "columns:random:0.5",
                                "--json", tmp_path / "r.json"])
        assert code == 2 and words in one_sentence(err) and "no images" not in err, err
        assert not (tmp_path / "r.json").exists()


# ------------------------------------------------------------------------------------------------ 6 seed


def test_6_huge_seed_is_one_sentence_in_the_cli_and_400_in_the_app(tmp_path):
    code, _, err = run_cli(["baseline", "--data", "seismic:n=2,size=16x16", "--degrade", "columns:random:0.5",
                            "--seed", "99999999999999999999999"])
    assert code == 2 and "seed must be between 0 and 4294967295" in one_sentence(err)
    code, _, err = run_cli(["baseline", "--data", "seismic:n=2,size=16x16", "--degrade", "columns:random:0.5",
                            "--seed", "4294967295", "--limit", "1"])
    assert code == 0, err
    pytest.importorskip("flask")
    from ganrecon.webapp import create_app

    client = create_app().test_client()
    buf = io.BytesIO()
    Image.fromarray(rgb_photo(32)).save(buf, format="PNG")
    response = client.post("/", data={"file": (io.BytesIO(buf.getvalue()), "a.png"), "task": "denoise", "model": "",
                                      "degrade": "", "seed": "99999999999999999999999"},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "seed must be between 0 and 4294967295" in response.get_data(as_text=True)


# ------------------------------------------------------------------------------------------------ 7 outputs


def test_7_outputs_are_checked_before_any_work_and_nothing_is_written(tmp_path):
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "existing").write_text("a file")
    base = ["baseline", "--data", "seismic:n=2,size=16x16", "--degrade", "columns:random:0.5", "--limit", "1"]
    outputs = ["--json", tmp_path / "r.json", "--figure", tmp_path / "r.png"]
    for extra, words in ((["--report", tmp_path / "existing"], "is a file; give a folder"),
                         (["--report", "/proc/ganrecon-test"], "cannot be written"),
                         (["--json", tmp_path / "afile" / "x.json"], "afile is a file, not a folder")):
        code, _, err = run_cli(base + outputs[2:] + extra if extra[0] == "--json" else base + outputs + extra)
        assert code == 2 and words in one_sentence(err), err
        assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.png").exists()
        assert (tmp_path / "existing").read_text() == "a file"
    # checked before the model is even looked up: the output problem is what the user hears
    code, _, err = run_cli(["eval", "--model", "no-such-model", "--data", "seismic:n=2", "--degrade",
                            "columns:random:0.5", "--json", tmp_path / "afile" / "x.json"])
    assert code == 2 and "afile is a file" in one_sentence(err)
    code, _, err = run_cli(["invert", "--model", "no-such-model", "--data", "mnist", "--degrade", "keep-first:400",
                            "-o", tmp_path / "afile" / "q.npy"])
    assert code == 2 and "afile is a file" in one_sentence(err)


def test_7_reconstruct_never_overwrites_its_input_and_needs_force_for_an_existing_file(tmp_path, models):
    np.save(tmp_path / "g.npy", gather().T)
    before = (tmp_path / "g.npy").read_bytes()
    code, _, err = run_cli(["reconstruct", tmp_path / "g.npy", "--model", models["seismic"], "-o",
                            tmp_path / "g.npy", "--force"])
    assert code == 2 and "is the input file" in one_sentence(err)
    assert (tmp_path / "g.npy").read_bytes() == before
    (tmp_path / "o.npy").write_bytes(b"keep me")
    code, _, err = run_cli(["reconstruct", tmp_path / "g.npy", "--model", models["seismic"], "-o", tmp_path / "o.npy"])
    assert code == 2 and "already exists; pass --force" in one_sentence(err)
    assert (tmp_path / "o.npy").read_bytes() == b"keep me"
    code, _, err = run_cli(["reconstruct", tmp_path / "g.npy", "--model", models["seismic"], "-o", tmp_path / "o.npy",
                            "--force"])
    assert code == 0, err
    assert np.load(tmp_path / "o.npy").shape == (48, 16)
    (tmp_path / "afile").write_text("a file")
    code, _, err = run_cli(["reconstruct", tmp_path / "g.npy", "--model", models["seismic"], "-o",
                            tmp_path / "afile" / "q.npy"])
    assert code == 2 and "afile is a file, not a folder" in one_sentence(err)


def test_7_one_helper_decides_for_files_and_folders(tmp_path):
    from ganrecon.errors import GanreconError
    from ganrecon.outputs import check_outputs

    check_outputs(folders={"--out": tmp_path / "d", "--report": tmp_path / "d"})   # `make demo` writes both there
    with pytest.raises(GanreconError, match="--json and --figure name the same path"):
        check_outputs({"--json": tmp_path / "x", "--figure": tmp_path / "x"})
    (tmp_path / "f").write_text("")
    with pytest.raises(GanreconError, match="is a folder; give a file name"):
        check_outputs({"--json": tmp_path})
    check_outputs({"-o": tmp_path / "f"})                                          # the Python API overwrites
    with pytest.raises(GanreconError, match="pass --force"):
        check_outputs({"-o": tmp_path / "f"}, force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]                     # probes leave nothing behind


# ------------------------------------------------------------------------------------------------ 8 adaptation


def test_8_adapt_prints_steps_held_out_snr_and_the_choice_and_puts_them_in_the_json(tmp_path, models):
    code, out, err = run_cli(["eval", "--model", models["seismic"], "--data", "seismic:n=4,size=32x64",
                              "--degrade", "columns:random:0.5", "--limit", "1", "--adapt", "--adapt-seconds", "3",
                              "--json", tmp_path / "e.json"])
    assert code == 0, err
    runs = json.loads((tmp_path / "e.json").read_text())["adaptation"]["seismic+adapt"]
    assert len(runs) == 1
    run = runs[0]
    assert run["steps"] >= 0 and run["choice"] in ("pretrained", "adapted")   # steps: what the budget allowed
    assert run["holdout_snr_before"] is not None and run["holdout_snr_after"] >= run["holdout_snr_before"]
    assert (run["choice"] == "pretrained") == (run["best_step"] == 0)
    line = next(x for x in out.splitlines() if x.startswith("seismic+adapt:"))
    assert f"{run['steps']} steps" in line and "held-out traces SNR" in line and "before" in line
    assert ("kept the pretrained weights" if run["choice"] == "pretrained" else "kept the adapted weights") in line
    np.save(tmp_path / "g.npy", gather(traces=32, samples=32).T)
    code, out, err = run_cli(["reconstruct", tmp_path / "g.npy", "--model", models["seismic"], "--adapt",
                              "--adapt-seconds", "1", "-o", tmp_path / "o.npy"])
    assert code == 0, err
    assert re.search(r"seismic\+adapt: \d+ steps in [\d.]+ s; held-out traces SNR .* kept the", out), out


def test_8_a_pretrained_choice_is_said_in_words():
    from ganrecon.adapt import AdaptReport
    from ganrecon.adapt_summary import adaptation_line, adaptation_summary

    summary = adaptation_summary(AdaptReport(40, 3.2, 9.5, 9.5, 0, "traces"))
    assert summary["choice"] == "pretrained"
    line = adaptation_line("m+adapt", summary)
    assert line == ("m+adapt: 40 steps in 3.2 s; held-out traces SNR 9.50 dB before, 9.50 dB after; kept the "
                    "pretrained weights: no adapted step restored the held-out traces better (the output is the "
                    "pretrained model's).")


# ------------------------------------------------------------------------------------------------ 9, 17, 18 reconstruct


def test_9_nothing_missing_is_said(tmp_path, models):
    np.save(tmp_path / "g.npy", gather(dead=()).T)
    code, out, err = run_cli(["reconstruct", tmp_path / "g.npy", "--model", models["seismic"], "-o",
                              tmp_path / "o.npy"])
    assert code == 0, err
    assert "Nothing was missing" in out
    assert "nothing was checked" in out and "guard: ;" not in out  # the guard does not claim the model was used
    assert np.array_equal(np.load(tmp_path / "o.npy"), np.load(tmp_path / "g.npy"))


def test_17_mask_spec_with_a_file_is_a_spec(tmp_path, models):
    image = (rgb_photo(16)[..., 0]).astype(np.float32) / 255
    np.save(tmp_path / "in.npy", image)
    mask = np.ones((16, 16), np.uint8)
    mask[:, 3] = 0
    np.save(tmp_path / "one.npy", mask)
    code, _, err = run_cli(["reconstruct", tmp_path / "in.npy", "--model", models["image"], "--mask",
                            f"mask:{tmp_path / 'one.npy'}", "-o", tmp_path / "o.npy"])
    assert code == 0, err
    result = np.load(tmp_path / "o.npy")
    keep = np.arange(16) != 3
    assert np.array_equal(result[:, keep], image[:, keep]) and not np.array_equal(result[:, 3], image[:, 3])


def test_18_super_resolution_needs_a_down_degradation(tmp_path):
    code, _, err = run_cli(["eval", "--model", "superres-porous-x4", "--data", "porous:n=4,size=32x32",
                            "--degrade", "columns:random:0.5", "--limit", "1"])
    assert code == 2 and "needs the degradation down:4" in one_sentence(err)
    code, _, err = run_cli(["eval", "--model", "denoise-blind", "--data", "porous:n=4,size=32x32",
                            "--degrade", "down:4", "--limit", "1"])
    assert code == 2 and "is not a super-resolution model" in one_sentence(err)
    Image.fromarray(rgb_photo(16)[..., 0]).save(tmp_path / "in.png")
    code, _, err = run_cli(["reconstruct", tmp_path / "in.png", "--model", "superres-porous-x4", "--mask",
                            "columns:random:0.5", "-o", tmp_path / "o.png"])
    assert code == 2 and "--mask does not apply" in one_sentence(err)


# ------------------------------------------------------------------------------------------------ 11 web app


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("flask")
    from ganrecon.webapp import create_app

    return create_app().test_client()


def post(client, payload: bytes, name: str, **form):
    return client.post("/", data={"file": (io.BytesIO(payload), name), "seed": "0", **form},
                       content_type="multipart/form-data")


def download(client, response) -> bytes:
    page = response.get_data(as_text=True)
    token = re.search(r'href="/download/([^"]+)"', page).group(1)
    return client.get(f"/download/{token}").data


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_11_app_restores_a_noisy_colour_photo_as_given_in_colour(client):
    from ganrecon.degrade import parse_degradation

    clean = torch.from_numpy(rgb_photo(32).astype(np.float32) / 255).permute(2, 0, 1)[None]
    noisy, _ = parse_degradation("sp:0.15")(clean, generator=torch.Generator().manual_seed(0))
    payload = png_bytes((noisy[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    response = post(client, payload, "noisy.png", task="denoise", model="denoise-blind", degrade="")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert '<table class="metrics">' not in page and "restored as it is" in page and "3 channels" in page
    result = np.asarray(Image.open(io.BytesIO(download(client, response)))).astype(np.float32) / 255
    clean_hwc = clean[0].permute(1, 2, 0).numpy()
    assert result.shape == (32, 32, 3) and not np.array_equal(result[..., 0], result[..., 1])
    assert np.mean((result - clean_hwc) ** 2) < 0.3 * np.mean((noisy[0].permute(1, 2, 0).numpy() - clean_hwc) ** 2)


def test_1_and_11_app_scores_a_colour_upload_in_colour(client):
    response = post(client, png_bytes(rgb_photo(32)), "photo.png", task="denoise", model="", degrade="sp:0.15")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert '<table class="metrics">' in page and "ran on each of the 3 channels" in page and "1 image." in page
    result = np.asarray(Image.open(io.BytesIO(download(client, response))))
    assert result.shape == (32, 32, 3) and not np.array_equal(result[..., 0], result[..., 2])


def test_11_app_upscales_a_low_resolution_upload_as_given(client):
    payload = png_bytes(rgb_photo(24)[..., 1])
    response = post(client, payload, "small.png", task="superres", model="superres-porous-x4", degrade="")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert np.asarray(Image.open(io.BytesIO(download(client, response)))).shape == (96, 96)


def test_11_app_default_model_fits_the_upload(client):
    buf = io.BytesIO()
    np.save(buf, gather().T)
    response = post(client, buf.getvalue(), "gather.npy", task="traces", model="", degrade="")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "gather-traces-seismic-unet.npy" in response.get_data(as_text=True)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    response = post(client, png_bytes(digit), "digit.png", task="traces", model="", degrade="columns:regular:2")
    assert response.status_code == 200 and "digit-traces-mnist-unet.png" in response.get_data(as_text=True)
    page = client.get("/").get_data(as_text=True)
    assert '<option value="" data-task="*" selected>auto' in page


# ------------------------------------------------------------------------------------------------ 12 tables


def test_12_method_names_are_never_cut_at_80_columns(tmp_path, models):
    import shutil

    long = tmp_path / "traces-seismic-unet-a-long-model-name"
    long.mkdir()
    shutil.copy(models["seismic"], long / "model.safetensors")
    shutil.copy(models["seismic"].with_suffix(".json"), long / "model.json")
    code, out, err = run_cli(["eval", "--model", long, "--data", "seismic:n=4,size=32x16", "--degrade",
                              "columns:random:0.5", "--limit", "1", "--adapt", "--gather-only", "--adapt-seconds",
                              "0.2"])
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith(" ")]   # the table (notes follow it)
    assert len(lines) > 6 and max(len(line) for line in lines) <= 80
    for suffix in ("", "+adapt", "+gather-only"):
        assert any(line.split() and line.split()[0] == f"{long.name}{suffix}" for line in lines), out
    assert "…" not in out


# ------------------------------------------------------------------------------------------------ 13-16 messages


def test_13_different_sizes_do_not_suggest_an_option_that_does_not_exist(tmp_path):
    (tmp_path / "imgs").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "imgs" / "a.png")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / "imgs" / "b.png")
    code, _, err = run_cli(["baseline", "--data", f"folder:{tmp_path / 'imgs'}", "--degrade", "sp:0.1",
                            "--split", "all"])
    assert code == 2 and "differ in size" in one_sentence(err) and "--patch" not in err


def test_14_a_text_file_as_npy_data_is_not_called_pickled(tmp_path):
    (tmp_path / "notes.npy").write_text("just text\n" * 10)
    code, _, err = run_cli(["baseline", "--data", f"npy:{tmp_path / 'notes.npy'}", "--degrade", "sp:0.1"])
    assert code == 2 and "is not a NumPy .npy file" in one_sentence(err) and "pickled" not in err


def test_16_corrupt_tiff_is_one_line_without_tifffile_log(tmp_path, models):
    import tifffile

    tifffile.imwrite(tmp_path / "g.tif", (rgb_photo(16)[..., 0]))
    raw = bytearray((tmp_path / "g.tif").read_bytes())
    ifd = struct.unpack_from("<I", raw, 4)[0]
    for i in range(struct.unpack_from("<H", raw, ifd)[0]):   # hide the StripOffsets tag: tifffile logs, then raises
        if struct.unpack_from("<H", raw, ifd + 2 + 12 * i)[0] == 273:
            struct.pack_into("<H", raw, ifd + 2 + 12 * i, 65000)
    (tmp_path / "bad.tif").write_bytes(bytes(raw))
    code, _, err = run_cli(["reconstruct", tmp_path / "bad.tif", "--model", models["image"], "-o",
                            tmp_path / "o.tif"])
    assert code == 2 and "could not be read as TIFF" in one_sentence(err)


# ------------------------------------------------------------------------------------------------ 22 info, grammar


def test_22_info_describes_every_shipped_model():
    from ganrecon.inference import pretrained_names

    code, out, _ = run_cli(["info"])
    assert code == 0
    section = out.split("shipped models", 1)[1]
    for name in pretrained_names():
        line = next(x for x in section.splitlines() if x.split() and x.split()[0] == name)
        assert len(line.split()) > 3, line


def test_22_one_image_is_one_image():
    code, out, err = run_cli(["baseline", "--data", "seismic:n=4,size=16x16", "--degrade", "columns:random:0.5",
                              "--limit", "1"])
    assert code == 0, err
    assert "| 1 image" in out and "1 images" not in out
