"""benchmarks/pack_runs.sh: what a lent GPU trained comes back in parts of at most 15 MiB, the bundles and the
runs' small records, never their checkpoints."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "pack_runs.sh"


def _pack(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=tmp_path, capture_output=True, text=True)


def test_bundles_and_records_come_back_in_parts_and_unpack_whole(tmp_path):
    runs, bundles = tmp_path / "runs", tmp_path / "bundles"
    for name in ("a", "b"):
        (runs / name / "checkpoints").mkdir(parents=True)
        for record in ("summary.json", "config.yaml", "log.csv", "validation.csv", "model-best.json"):
            (runs / name / record).write_text(f"{name} {record}\n")
        (runs / name / "model-best.safetensors").write_bytes(b"weights")
        (runs / name / "checkpoints" / "last.pt").write_bytes(b"checkpoint")
    bundles.mkdir()
    big = os.urandom(20 * 1024 * 1024)  # more than one part's 15 MiB
    (bundles / "a.safetensors").write_bytes(big)
    done = _pack(tmp_path, "out", "runs", "bundles", "candidates", "a", "b")
    assert done.returncode == 0, done.stderr
    parts = sorted((tmp_path / "out").glob("candidates.tar.part*"))
    assert len(parts) == 2 and all(p.stat().st_size <= 15 * 1024 * 1024 for p in parts)
    back = tmp_path / "back"
    back.mkdir()
    joined = b"".join(p.read_bytes() for p in parts)
    subprocess.run(["tar", "-xf", "-", "-C", str(back)], input=joined, check=True)
    subprocess.run(["tar", "-xf", str(back / "records.tar"), "-C", str(back)], check=True)
    assert (back / "bundles" / "a.safetensors").read_bytes() == big
    assert (back / "b" / "validation.csv").read_text() == "b validation.csv\n"
    assert not (back / "a" / "model-best.safetensors").exists() and not (back / "a" / "checkpoints").exists()


def test_a_missing_argument_is_refused():
    done = subprocess.run(["bash", str(SCRIPT), "out", "runs"], capture_output=True, text=True)
    assert done.returncode == 2 and "usage" in done.stderr
