"""A TIFF stack reconstructed by two processes under torchrun equals a single process's result bit for bit, and a
rerun skips the slices already done."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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
    reconstruct(tmp_path / "stack.tif", bundle, tmp_path / "one.tif")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ganrecon",
           "reconstruct", str(tmp_path / "stack.tif"), "--model", str(bundle), "-o", str(tmp_path / "two.tif")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    one, two = tifffile.imread(tmp_path / "one.tif"), tifffile.imread(tmp_path / "two.tif")
    assert one.shape == (5, 40, 48) and one.dtype == two.dtype == np.uint16
    assert np.array_equal(one, two)
    assert not (tmp_path / "two.tif.parts").exists()
