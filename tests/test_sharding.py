"""A TIFF stack's slices, or a folder's files, reconstructed by two processes under torchrun equal a single
process's result bit for bit, and a rerun skips what is already done."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from ganrecon.checkpoints import save_bundle
from ganrecon.models import build_generator
from ganrecon.reconstruction import reconstruct
from ganrecon.sharding import Shards


def _sr_bundle(folder: Path) -> Path:
    torch.manual_seed(0)
    g = build_generator("srresnet", channels=1, image_size=(32, 32), scale=2, blocks=1, width=4)
    meta = {"task": "superres", "generator": "srresnet", "generator_options": {"scale": 2, "blocks": 1, "width": 4},
            "channels": 1, "image_size": [32, 32], "value_range": [0.0, 1.0], "scale": 2, "data_consistency": False}
    save_bundle(folder / "sr", g, meta)
    return folder / "sr.safetensors"


def test_shards_skip_done_slices_and_come_back_in_input_order(tmp_path):
    shards = Shards(tmp_path / "out.tif", 5)
    assert shards.pending(0, 2) == [0, 2, 4] and shards.pending(1, 2) == [1, 3]
    for i in (4, 0, 1, 2, 3):
        shards.write(i, np.full((2, 2), i, np.uint16))
        if i == 0:
            assert shards.pending(0, 2) == [2]  # a rerun does only what is left
    assert [int(p[0, 0]) for p in shards.parts()] == [0, 1, 2, 3, 4]
    shards.remove()
    assert not shards.folder.exists()


def test_two_processes_under_torchrun_equal_one_bit_for_bit(tmp_path):
    stack = (np.random.default_rng(0).random((5, 20, 24)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    bundle = _sr_bundle(tmp_path)
    reconstruct(tmp_path / "stack.tif", bundle, tmp_path / "one.tif", precision="auto")  # the CLI's default
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ganrecon",
           "reconstruct", str(tmp_path / "stack.tif"), "--model", str(bundle), "-o", str(tmp_path / "two.tif")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    one, two = tifffile.imread(tmp_path / "one.tif"), tifffile.imread(tmp_path / "two.tif")
    assert one.shape == (5, 40, 48) and one.dtype == two.dtype == np.uint16
    assert np.array_equal(one, two)
    assert not (tmp_path / "two.tif.parts").exists()


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "scans"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("b.tif", "a.png", "c.npy"):
        arr = (rng.random((18, 22)) * 255).astype(np.uint8)
        if name.endswith(".npy"):
            np.save(folder / name, arr.astype(np.float32) / 255)
        elif name.endswith(".png"):
            from PIL import Image

            Image.fromarray(arr).save(folder / name)
        else:  # a stack inside a folder: one process takes it whole
            tifffile.imwrite(folder / name, np.stack([arr, arr[::-1]]), photometric="minisblack")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"")
    return folder


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    if path.suffix == ".npy":
        return np.load(path)
    return tifffile.imread(path) if path.suffix == ".tif" else np.asarray(Image.open(path))


def test_a_folder_is_reconstructed_file_by_file_and_a_rerun_skips_what_is_done(tmp_path):
    from ganrecon.errors import GanreconError
    from ganrecon.folders import folder_inputs, reconstruct_folder

    folder, bundle = _folder(tmp_path), _sr_bundle(tmp_path)
    assert [p.name for p in folder_inputs(folder)] == ["a.png", "b.tif", "c.npy"]
    heard: list[str] = []
    run = reconstruct_folder(folder, bundle, tmp_path / "out", notes=heard.append)
    assert sorted(p.name for p in run.written) == ["a.png", "b.tif", "c.npy"] and not run.skipped
    for name in ("a.png", "b.tif", "c.npy"):  # each file exactly as reconstructed alone
        reconstruct(folder / name, bundle, tmp_path / f"alone-{name}")
        assert np.array_equal(_read(tmp_path / "out" / name), _read(tmp_path / f"alone-{name}"))
    assert all(line.split(":")[0] in {"a.png", "b.tif", "c.npy"} for line in heard)
    again = reconstruct_folder(folder, bundle, tmp_path / "out")
    assert not again.written and len(again.skipped) == 3
    assert len(reconstruct_folder(folder, bundle, tmp_path / "out", force=True).written) == 3
    with pytest.raises(GanreconError, match="input folder"):
        reconstruct_folder(folder, bundle, folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanreconError, match="no file to reconstruct"):
        reconstruct_folder(tmp_path / "empty", bundle, tmp_path / "x")


def test_a_folder_shared_by_two_processes_under_torchrun_equals_one_process(tmp_path):
    folder, bundle = _folder(tmp_path), _sr_bundle(tmp_path)
    from ganrecon.folders import reconstruct_folder

    reconstruct_folder(folder, bundle, tmp_path / "one", precision="auto")  # the CLI's default
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ganrecon",
           "reconstruct", str(folder), "--model", str(bundle), "-o", str(tmp_path / "two")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote" in proc.stdout
    for name in ("a.png", "b.tif", "c.npy"):
        assert np.array_equal(_read(tmp_path / "one" / name), _read(tmp_path / "two" / name))


def test_a_bad_file_in_a_folder_is_named_and_the_files_before_it_stay_done(tmp_path):
    from ganrecon.errors import GanreconError
    from ganrecon.folders import reconstruct_folder

    folder, bundle = _folder(tmp_path), _sr_bundle(tmp_path)
    np.save(folder / "d.npy", np.zeros((2, 3, 4, 5, 6), np.float32))  # 5-D: no image layout
    with pytest.raises(GanreconError, match=r"^d\.npy: .*3 file\(s\) of 4 done"):
        reconstruct_folder(folder, bundle, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.tif", "c.npy"]
