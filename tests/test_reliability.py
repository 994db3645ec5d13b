"""Reliability and safety (issue 8): training survives being killed, weight files cannot run code, bad files and
bad inputs are one sentence and exit 2 with nothing written.

The signal tests start real `python -m ganrecon train` processes (all three at once, to keep the wall time
down) and read their log.csv to choose the moment to kill them. `benchmarks/fault_injection.py` repeats the
SIGKILL test over many kill points; `benchmarks/reliability_table.py` reuses the bad-input cases below
(`INPUT_CASES`, `MODEL_CASES`) to write docs/RELIABILITY.md.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ganrecon import cli
from ganrecon.checkpoints import latest_checkpoint, save_bundle
from ganrecon.training import RunLock

SRC = Path(__file__).resolve().parents[1] / "src"
LOSS_COLUMNS = ["step", "epoch", "g_loss", "g_content", "g_adv", "d_loss", "lr"]  # not images_per_s / seconds


# ------------------------------------------------------------------------------------------------ helpers


def train_args(data_spec: str, out: Path, **extra) -> list[str]:
    """`ganrecon train` arguments for a run small enough to train in about a second on one thread."""
    config = {"task": "traces", "data": data_spec, "degrade": "columns:random:0.5", "generator_options.depth": 2,
              "generator_options.width": 8, "discriminator_options.width": 8, "steps": 40, "batch_size": 8,
              "val_images": 8, "eval_every": 20, "checkpoint_every": 5, "log_every": 1, "seed": 3, "threads": 1}
    config.update(extra)
    args = ["train", "--out", str(out), "--no-progress"]
    for key, value in config.items():
        args += ["--set", f"{key}={value}"]
    return args


def start_training(args: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "ganrecon", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def logged_steps(run: Path) -> int:
    """Rows in log.csv (one per step with log_every=1); 0 while the file is missing or being rewritten."""
    try:
        with open(run / "log.csv") as fh:
            return max(sum(1 for _ in fh) - 1, 0)
    except OSError:
        return 0


def loss_rows(run: Path) -> list[list[str]]:
    with open(run / "log.csv", newline="") as fh:
        return [[row[c] for c in LOSS_COLUMNS] for row in csv.DictReader(fh)]


def checkpoint_tensors(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(run) / "state.safetensors"))


def same_tensors(a: dict, b: dict) -> list[str]:
    """Names whose tensors differ (or exist on one side only); empty when the two are bit-identical."""
    return sorted(k for k in a.keys() | b.keys() if k not in a or k not in b or not torch.equal(a[k], b[k]))


def run_cli(argv: list[str]) -> tuple[int, str]:
    """cli.main in this process, returning (exit code, stderr text)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    return code, err.getvalue()


def assert_one_sentence(stderr: str, prefix: str = "error: ") -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(prefix), stderr
    assert "Traceback" not in stderr and lines[0].rstrip().endswith((".", ")", "?")), stderr


def leftovers(out: Path) -> list[str]:
    """The output itself or a temporary file of it, which must not survive a failed command."""
    return sorted(p.name for p in out.parent.iterdir() if p.name == out.name or p.name.startswith(f".{out.name}."))


@pytest.fixture
def one_thread():
    """In-process training sets torch to one thread (the config says threads=1); put it back afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------------------------------------ signals


@pytest.fixture(scope="module")
def signalled_runs(tiny_npz, tmp_path_factory):
    """Three training processes at once: SIGKILL at a random step, SIGINT and SIGTERM after a few steps.

    Before the SIGINT process is interrupted, a second training on its run directory is attempted from this
    process: the run lock must refuse it while the first is alive."""
    root = tmp_path_factory.mktemp("signals")
    kill_at = random.Random(os.environ.get("GANRECON_KILL_SEED")).randint(2, 30)
    plans = {
        "kill": (train_args(tiny_npz, root / "killed"), kill_at, signal.SIGKILL),
        "int": (train_args(tiny_npz, root / "sigint", steps=100_000, checkpoint_every=1000, eval_every=1000), 3,
                signal.SIGINT),
        "term": (train_args(tiny_npz, root / "sigterm", steps=100_000, checkpoint_every=1000, eval_every=1000), 3,
                 signal.SIGTERM),
    }
    procs = {name: start_training(args, root) for name, (args, _, _) in plans.items()}
    runs = {name: Path(args[args.index("--out") + 1]) for name, (args, _, _) in plans.items()}
    result = {"kill_at": kill_at, "rows_at_signal": {}, "lock": None}
    deadline = time.monotonic() + 300  # generous: the CPU is shared
    try:
        while len(result["rows_at_signal"]) < len(plans) and time.monotonic() < deadline:
            for name, (_, at, sig) in plans.items():
                if name in result["rows_at_signal"]:
                    continue
                if procs[name].poll() is not None:
                    result["rows_at_signal"][name] = None  # ended before the signal: reported by the tests
                    continue
                rows = logged_steps(runs[name])
                if rows >= at:
                    if name == "int":
                        result["lock"] = run_cli(["train", "--resume", "--out", str(runs[name]), "--no-progress"])
                    procs[name].send_signal(sig)
                    result["rows_at_signal"][name] = rows
            time.sleep(0.002)
        outputs = {name: p.communicate(timeout=60) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    result["returncode"] = {name: p.returncode for name, p in procs.items()}
    result["stderr"] = {name: out[1] for name, out in outputs.items()}
    result["runs"] = runs
    return result


def test_sigkill_then_resume_gives_the_weights_of_an_uninterrupted_run(signalled_runs, tiny_npz, tmp_path,
                                                                       one_thread):
    info = signalled_runs
    killed = info["runs"]["kill"]
    assert info["rows_at_signal"]["kill"] is not None, f"the run ended before step {info['kill_at']}"
    assert info["returncode"]["kill"] == -signal.SIGKILL
    resumed_from = latest_checkpoint(killed)
    code, err = run_cli(train_args(tiny_npz, killed) + ["--resume"])
    assert code == 0, err
    straight = tmp_path / "straight"
    code, err = run_cli(train_args(tiny_npz, straight))
    assert code == 0, err
    where = f"(killed after {info['rows_at_signal']['kill']} logged steps, resumed from {resumed_from})"
    assert same_tensors(load_file(str(straight / "model.safetensors")),
                        load_file(str(killed / "model.safetensors"))) == [], where
    final = checkpoint_tensors(killed)
    assert {k.split(".")[0] for k in final} >= {"G", "D", "EMA", "optG", "optD"}
    assert same_tensors(checkpoint_tensors(straight), final) == [], where
    assert loss_rows(straight) == loss_rows(killed), where  # no duplicate or missing steps in the resumed log
    assert not list((killed / "checkpoints").glob(".tmp_*")), "a killed checkpoint write left a temporary folder"


@pytest.mark.parametrize("name", ["int", "term"])
def test_sigint_and_sigterm_save_a_checkpoint_before_exiting(signalled_runs, tiny_npz, name, tmp_path,
                                                             one_thread):
    info = signalled_runs
    run = info["runs"][name]
    assert info["rows_at_signal"][name] is not None, info["stderr"][name][-2000:]
    assert info["returncode"][name] == 130, info["stderr"][name][-2000:]  # a stop the user asked for, not an error
    assert_one_sentence(info["stderr"][name], prefix="stopped: ")
    assert "checkpoint was saved" in info["stderr"][name] and "--resume" in info["stderr"][name]
    saved = latest_checkpoint(run)
    step = json.loads((saved / "state.json").read_text())["step"]
    assert step >= info["rows_at_signal"][name]  # the step it was interrupted at, not the last periodic one
    assert step == logged_steps(run)  # nothing trained after the checkpoint was lost
    # the checkpoint resumes: two more steps end exactly where an uninterrupted run of step + 2 steps ends
    code, err = run_cli(["train", "--resume", "--out", str(run), "--no-progress", "--set", f"steps={step + 2}"])
    assert code == 0, err
    assert [int(r[0]) for r in loss_rows(run)] == list(range(1, step + 3))
    straight = tmp_path / "straight"
    code, err = run_cli(train_args(tiny_npz, straight, steps=step + 2, checkpoint_every=1000, eval_every=1000))
    assert code == 0, err
    assert same_tensors(checkpoint_tensors(straight), checkpoint_tensors(run)) == [], f"interrupted at {step}"
    assert loss_rows(straight) == loss_rows(run)


def test_a_second_training_on_a_locked_run_directory_is_refused(signalled_runs, tmp_path, tiny_npz, one_thread):
    code, err = signalled_runs["lock"]  # attempted while the SIGINT process was training in that directory
    assert code == 2
    assert_one_sentence(err)
    assert "Another training is already using" in err
    # the same with the lock held by this process, on a finished run: nothing in the run changes
    run = tmp_path / "run"
    assert run_cli(train_args(tiny_npz, run, steps=4))[0] == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with RunLock(run):
        code, err = run_cli(train_args(tiny_npz, run, steps=8) + ["--resume"])
    assert code == 2 and "Another training is already using" in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


# ------------------------------------------------------------------------------------------------ model files


def write_bundle(stem: Path, generator: str = "unet", signed: bool = False, size=(16, 16), **options) -> Path:
    """A tiny untrained model bundle, as training would write it."""
    from ganrecon.models import build_generator

    value_range = [-1.0, 1.0] if signed else [0.0, 1.0]
    if generator == "unet" and not options:
        options = {"depth": 2, "width": 8}
    torch.manual_seed(0)
    model = build_generator(generator, channels=1, image_size=size, value_range=tuple(value_range), **options)
    save_bundle(stem, model, {"task": "traces", "generator": generator, "generator_options": options,
                              "channels": 1, "image_size": list(size), "value_range": value_range, "scale": 1,
                              "data_consistency": True})
    return stem.with_suffix(".safetensors")


def write_latent_bundle(stem: Path, size=(8, 8)) -> Path:
    """A tiny unconditional (latent-inversion) model: it makes images of exactly one size."""
    from ganrecon.models.latent import build_latent_generator

    torch.manual_seed(0)
    model = build_latent_generator("mlp", channels=1, image_size=size, z_dim=4, hidden=8)
    save_bundle(stem, model, {"kind": "unconditional", "task": "latent", "generator": "mlp",
                              "generator_options": {"z_dim": 4, "hidden": 8}, "z_dim": 4, "channels": 1,
                              "image_size": list(size), "value_range": [0.0, 1.0], "scale": 1})
    return stem.with_suffix(".safetensors")


class _RunsCode:
    """Unpickling this calls os.system: the classic payload of a malicious .pt file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _pickle_file(path: Path, marker: Path) -> None:
    with open(path, "wb") as fh:
        pickle.dump({"weight": torch.zeros(2), "payload": _RunsCode(marker)}, fh)


def _bundle_variant(folder: Path, name: str, good: Path, data: bytes | None = None, meta: dict | None = None,
                    meta_text: str | None = None) -> Path:
    weights = folder / f"{name}.safetensors"
    weights.write_bytes(good.read_bytes() if data is None else data)
    description = json.loads(good.with_suffix(".json").read_text())
    description.update(meta or {})
    weights.with_suffix(".json").write_text(meta_text if meta_text is not None else json.dumps(description))
    return weights


def _model_cases(folder: Path) -> dict[str, tuple[Path, str]]:
    """Broken or hostile model files -> (path, what the sentence must mention)."""
    good = write_bundle(folder / "good")
    raw = good.read_bytes()
    marker = folder / "CODE_RAN"
    cases = {}
    for suffix in (".pt", ".pth", ".ckpt", ".bin"):
        _pickle_file(folder / f"model{suffix}", marker)
        cases[f"pickle {suffix}"] = (folder / f"model{suffix}", "weights_only=True")
    _pickle_file(folder / "disguised.safetensors", marker)
    shutil.copy(good.with_suffix(".json"), folder / "disguised.json")
    cases["pickle named .safetensors"] = (folder / "disguised.safetensors", "corrupted")
    cases["truncated weights"] = (_bundle_variant(folder, "truncated", good, raw[: len(raw) // 2]), "truncated")
    cases["empty weights"] = (_bundle_variant(folder, "empty", good, b""), "truncated")
    cases["garbage header"] = (_bundle_variant(folder, "garbage", good, b"\xff" * 8 + raw[8:]), "corrupted")
    cases["architecture mismatch"] = (_bundle_variant(folder, "wider", good, meta={
        "generator_options": {"depth": 2, "width": 16}}), "do not match")
    cases["other generator"] = (_bundle_variant(folder, "other", good, meta={
        "generator": "srresnet", "generator_options": {}}), "do not match")
    cases["channels not a number"] = (_bundle_variant(folder, "channels", good, meta={"channels": "abc"}),
                                      "channels")
    cases["options not a mapping"] = (_bundle_variant(folder, "options", good, meta={"generator_options": 5}),
                                      "generator_options")
    cases["model.json not JSON"] = (_bundle_variant(folder, "notjson", good, meta_text="{oops"), "JSON")
    cases["model.json a list"] = (_bundle_variant(folder, "list", good, meta_text="[1, 2]"), "description")
    lonely = folder / "lonely.safetensors"
    lonely.write_bytes(raw)
    cases["model.json missing"] = (lonely, "missing")
    (folder / "empty-run").mkdir()
    cases["run dir without model"] = (folder / "empty-run", "model.safetensors")
    cases["unknown name"] = (Path("no-such-shipped-model"), "neither")
    return cases


MODEL_CASES = _model_cases  # for benchmarks/reliability_table.py


def test_model_accepts_a_run_directory_a_weights_file_and_a_shipped_name(tmp_path, monkeypatch):
    from ganrecon import bundles

    run = tmp_path / "run"
    run.mkdir()
    write_bundle(run / "model")
    shipped = tmp_path / "pretrained"
    shipped.mkdir()
    write_bundle(shipped / "tiny-traces")
    monkeypatch.setattr(bundles, "PRETRAINED_DIR", shipped)
    image = np.random.default_rng(0).random((20, 24)).astype(np.float32)
    np.save(tmp_path / "in.npy", image)
    outputs = []
    for ref in (run, run / "model.safetensors", "tiny-traces"):
        out = tmp_path / f"out{len(outputs)}.npy"
        code, err = run_cli(["reconstruct", str(tmp_path / "in.npy"), "--model", str(ref), "-o", str(out)])
        assert code == 0, err
        outputs.append(np.load(out))
    assert outputs[0].shape == image.shape
    assert np.array_equal(outputs[0], outputs[1]) and np.array_equal(outputs[0], outputs[2])  # same weights


def test_broken_or_pickled_model_files_are_one_sentence_and_never_run_code(tmp_path):
    image = tmp_path / "in.npy"
    np.save(image, np.random.default_rng(0).random((20, 24)).astype(np.float32))
    out = tmp_path / "out" / "result.npy"
    out.parent.mkdir()
    out.write_bytes(b"previous result")  # a failed run must not clobber an existing output
    (tmp_path / "models").mkdir()
    for name, (model, mention) in _model_cases(tmp_path / "models").items():
        code, err = run_cli(["reconstruct", str(image), "--model", str(model), "-o", str(out), "--force"])
        assert code == 2, (name, err)
        assert_one_sentence(err)
        assert mention in err, (name, err)
        assert out.read_bytes() == b"previous result", name
        assert leftovers(out) == [out.name], name
    assert not (tmp_path / "models" / "CODE_RAN").exists(), "loading a model file executed code"


def test_pickle_refusal_says_how_to_convert(tmp_path):
    from ganrecon.errors import GanreconError
    from ganrecon.inference import load_model

    _pickle_file(tmp_path / "weights.pth", tmp_path / "CODE_RAN")
    with pytest.raises(GanreconError) as info:
        load_model(tmp_path / "weights.pth")
    assert "safetensors.torch.save_file(torch.load(f, weights_only=True)" in str(info.value)
    assert not (tmp_path / "CODE_RAN").exists()


def test_a_broken_checkpoint_stops_resume_with_one_sentence_and_keeps_the_run(tmp_path, tiny_npz, one_thread):
    base = tmp_path / "base"
    assert run_cli(train_args(tiny_npz, base, steps=10))[0] == 0
    breakers = {
        "truncated state": lambda ck: (ck / "state.safetensors").write_bytes(
            (ck / "state.safetensors").read_bytes()[:1000]),
        "state.json not JSON": lambda ck: (ck / "state.json").write_text("{"),
        "state.json without optimizer": lambda ck: (ck / "state.json").write_text('{"step": 10}'),
    }
    for name, breaker in breakers.items():
        run = tmp_path / name.replace(" ", "_")
        shutil.copytree(base, run)
        breaker(latest_checkpoint(run))
        before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
        code, err = run_cli(["train", "--resume", "--out", str(run), "--no-progress", "--set", "steps=12"])
        assert code == 2, (name, err)
        assert_one_sentence(err)
        assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before, name
    # a config whose architecture does not match the checkpoint's weights
    run = tmp_path / "wider"
    shutil.copytree(base, run)
    code, err = run_cli(["train", "--resume", "--out", str(run), "--no-progress", "--set", "steps=12",
                         "--set", "generator_options.width=16"])
    assert code == 2 and "do not match" in err, err
    assert_one_sentence(err)


# ------------------------------------------------------------------------------------------------ input files


def _png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    from PIL import Image

    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    image.save(path)


def _segy(path: Path, traces: int = 8, samples: int = 50) -> None:
    import segyio

    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, range(samples), traces
    rng = np.random.default_rng(0)
    with segyio.create(str(path), spec) as f:
        for i in range(traces):
            f.header[i] = {segyio.su.offset: i}
            f.trace[i] = rng.standard_normal(samples).astype(np.float32)


def _input_cases(folder: Path) -> dict[str, tuple[Path, str]]:
    """Bad input files -> (path, which model: 'unet' images in [0, 1] or 'signed' seismic)."""
    rng = np.random.default_rng(0)
    grey = (rng.random((20, 24)) * 255).astype(np.uint8)
    _png(folder / "ok.png", grey)
    raw = (folder / "ok.png").read_bytes()
    cases = {}

    def add(name, filename, model="unet", data: bytes | None = None, array: np.ndarray | None = None):
        path = folder / filename
        if data is not None:
            path.write_bytes(data)
        if array is not None:
            np.save(path, array)
        cases[name] = (path, model)

    add("truncated PNG", "truncated.png", data=raw[: len(raw) // 2])
    add("empty PNG", "empty.png", data=b"")
    add("text file named .png", "text.png", data=b"not an image at all\n")
    add("PNG bytes named .npy", "image.npy", data=raw)
    for bad in ("nan", "inf", "-inf"):
        array = rng.random((20, 24)).astype(np.float32)
        array[3, 4] = float(bad)
        add(f"{bad.upper()} in .npy", f"{bad}.npy", array=array)
    add("string .npy", "strings.npy", array=np.array([["a", "b"], ["c", "d"]]))
    add("complex .npy", "complex.npy", array=(rng.random((20, 24)) + 1j).astype(np.complex64))
    add("1-D .npy", "line.npy", array=np.zeros(10, np.float32))
    add("empty .npy", "nothing.npy", array=np.zeros((0, 5), np.float32))
    obj = folder / "object.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases["pickled object .npy"] = (obj, "unet")
    _segy(folder / "good.sgy")
    segy = (folder / "good.sgy").read_bytes()
    add("SEG-Y with inconsistent trace count", "short.sgy", "signed", data=segy[:-70])
    add("not SEG-Y", "random.sgy", "signed", data=rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    add("SEG-Y for an image model", "good.sgy")
    add("unknown suffix", "notes.txt", data=b"hello")
    import tifffile

    tifffile.imwrite(folder / "good.tif", grey)
    add("truncated TIFF", "truncated.tif", data=(folder / "good.tif").read_bytes()[:100])
    (folder / "a-folder").mkdir()
    cases["folder as input"] = (folder / "a-folder", "unet")
    cases["missing file"] = (folder / "missing.png", "unet")
    return cases


INPUT_CASES = _input_cases  # for benchmarks/reliability_table.py


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"unet": write_bundle(folder / "unet"), "signed": write_bundle(folder / "signed", signed=True),
            "linear": write_bundle(folder / "linear", generator="linear", size=(16, 16)),
            "latent": write_latent_bundle(folder / "latent")}


def test_bad_input_files_are_one_sentence_exit_2_and_nothing_written(tmp_path, models):
    cases = _input_cases(tmp_path)
    for name, (path, model) in cases.items():
        suffix = path.suffix if path.suffix in (".png", ".npy", ".sgy") else ".npy"
        out = tmp_path / "out" / f"result{suffix}"
        out.parent.mkdir(exist_ok=True)
        code, err = run_cli(["reconstruct", str(path), "--model", str(models[model]), "-o", str(out)])
        assert code == 2, (name, err)
        assert_one_sentence(err)
        assert leftovers(out) == [], (name, leftovers(out))
    good = tmp_path / "good.npy"
    np.save(good, np.random.default_rng(0).random((20, 24)).astype(np.float32))
    for mask in ("bogus:1", "gauss:0.1", str(tmp_path / "missing-mask.npy"), str(cases["NAN in .npy"][0]),
                 str(tmp_path / "text.png")):
        out = tmp_path / "out" / "masked.npy"
        code, err = run_cli(["reconstruct", str(good), "--model", str(models["unet"]), "-o", str(out), "--mask", mask])
        assert code == 2, (mask, err)
        assert_one_sentence(err)
        assert leftovers(out) == [], mask


def test_bad_datasets_for_baseline_are_one_sentence_and_write_no_json(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "fake.png").write_text("not an image")
    (tmp_path / "texts" / "notes.txt").write_text("ignored")
    nan = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
    nan[1, 2, 3] = np.nan
    np.savez(tmp_path / "nan.npz", images=nan)
    _segy(tmp_path / "good.sgy")
    (tmp_path / "short.sgy").write_bytes((tmp_path / "good.sgy").read_bytes()[:-70])
    out = tmp_path / "results.json"
    for data in (f"folder:{tmp_path / 'empty'}", f"folder:{tmp_path / 'texts'}", f"npz:{tmp_path / 'nan.npz'}",
                 f"segy:{tmp_path / 'short.sgy'}", f"npz:{tmp_path / 'missing.npz'}", "seismic:size=1x1",
                 "porous:n=0"):
        code, err = run_cli(["baseline", "--data", data, "--degrade", "columns:random:0.5", "--split", "all",
                             "--json", str(out)])
        assert code == 2, (data, err)
        assert_one_sentence(err)
        assert leftovers(out) == [], data


def test_16_bit_palette_rgba_and_tiny_images_reconstruct_or_refuse_cleanly(tmp_path, models):
    from PIL import Image

    rng = np.random.default_rng(0)
    grey = (rng.random((20, 24)) * 255).astype(np.uint8)
    _png(tmp_path / "b16.png", (rng.random((20, 24)) * 65535).astype(np.uint16))
    _png(tmp_path / "palette.png", grey, "P")
    _png(tmp_path / "rgba.png", (rng.random((20, 24, 4)) * 255).astype(np.uint8))
    _png(tmp_path / "tiny.png", grey[:3, :3])
    np.save(tmp_path / "pixel.npy", np.full((1, 1), 0.5, np.float32))
    for name, model in [("b16.png", "unet"), ("palette.png", "unet"), ("rgba.png", "unet"), ("tiny.png", "unet"),
                        ("tiny.png", "linear"), ("pixel.npy", "unet")]:
        out = tmp_path / f"out-{model}-{name}"
        code, err = run_cli(["reconstruct", str(tmp_path / name), "--model", str(models[model]), "-o", str(out)])
        assert code == 0, (name, err)
        if out.suffix == ".png":
            with Image.open(tmp_path / name) as src, Image.open(out) as result:
                assert result.size == src.size
                if name == "b16.png":
                    assert np.asarray(result).dtype == np.asarray(src).dtype  # 16 bits stay 16 bits
        else:
            assert np.load(out).shape == (1, 1)
    # a latent model makes images of one size only: smaller images (with a dead column to fill) are refused
    dead = grey[:3, :3].copy()
    dead[:, 1] = 0
    _png(tmp_path / "tiny-dead.png", dead)
    out = tmp_path / "latent.png"
    code, err = run_cli(["reconstruct", str(tmp_path / "tiny-dead.png"), "--model", str(models["latent"]), "-o",
                         str(out)])
    assert code == 2
    assert_one_sentence(err)
    assert leftovers(out) == []


# ------------------------------------------------------------------------------------------------ memory


def test_tiled_reconstruction_holds_at_most_batch_tiles_tiles(tmp_path):
    """Large images go through the model a bounded batch of tiles at a time (benchmarks/memory_tiles.py
    measures the peak memory of a 4000 x 4000 image)."""
    from ganrecon.inference import load_model

    model = load_model(write_bundle(tmp_path / "model", size=(32, 32)))
    seen = []
    apply = model.apply_tiles

    def counting(obs, mask):
        seen.append(obs.shape[0])
        assert obs.shape[-2:] == (32, 32)
        return apply(obs, mask)

    model.apply_tiles = counting
    image = torch.rand(1, 1, 300, 260)
    out = model(image, torch.ones_like(image), batch_tiles=5)
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert max(seen) <= 5 and sum(seen) >= (300 // 32) * (260 // 32)


def test_int8_keeps_small_weight_tensors_in_float16():
    """A denoiser's one-row output layer under one int8 scale cost it 0.36 dB held-out: small tensors stay float16."""
    from ganrecon.checkpoints import INT8_MIN_ELEMENTS, INT8_SCALE, quantize_int8

    stored = quantize_int8({"big": torch.randn(256, 256, 1, 1), "head": torch.randn(1, 48, 1, 1),
                            "bias": torch.randn(256)})
    assert stored["big"].dtype == torch.int8 and 256 * 256 >= INT8_MIN_ELEMENTS and "big" + INT8_SCALE in stored
    assert stored["head"].dtype == torch.float16 and "head" + INT8_SCALE not in stored
    assert stored["bias"].dtype == torch.float16


def test_int8_stored_bundle_loads_as_float_weights_close_to_the_original(tmp_path, monkeypatch):
    """A wide model shipped as int8 (benchmarks/ship_models.py, above MAX_BYTES) reads back as float weights within
    half a quantisation step of each row's largest weight, and its output stays close to the float model's."""
    from safetensors.torch import load_file, save_file

    from ganrecon import checkpoints
    from ganrecon.checkpoints import INT8_SCALE, quantize_int8, read_bundle
    from ganrecon.inference import load_model

    monkeypatch.setattr(checkpoints, "INT8_MIN_ELEMENTS", 0)   # a tiny model: every weight tensor in int8

    weights = write_bundle(tmp_path / "m")
    original = load_file(str(weights))
    stored = quantize_int8(original)
    assert any(v.dtype == torch.int8 for v in stored.values()) and any(k.endswith(INT8_SCALE) for k in stored)
    quantized = tmp_path / "q.safetensors"
    save_file(stored, str(quantized))
    quantized.with_suffix(".json").write_text(weights.with_suffix(".json").read_text())
    restored, _ = read_bundle(quantized)
    assert set(restored) == set(original)
    for key, value in original.items():
        if value.dim() >= 2:
            step = value.abs().amax(dim=tuple(range(1, value.dim())), keepdim=True) / 127
            assert ((restored[key] - value).abs() <= step / 2 + 1e-7).all(), key
    x = torch.rand(2, 1, 16, 16)
    mask = (torch.rand(2, 1, 1, 16) > 0.5).float().expand_as(x)
    assert torch.allclose(load_model(weights)(x * mask, mask), load_model(quantized)(x * mask, mask), atol=0.05)
