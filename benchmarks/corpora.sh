#!/usr/bin/env bash
# Install what the training corpora and the BM3D baseline need, with apt and pip only (idempotent: rerun freely).
#   plasma-workspace-wallpapers  Debian package, ~94 MB: 11 photographs (2560x1600) for the `photos` spec
#   ganrecon[train]              porespy, ~940 MB with numba, vtk, pandas, dask: the `porous-ct` rock models
#   ganrecon[bench]              bm3d, ~13 MB with bm4d and PyWavelets: the `bm3d` baseline
# Tests need none of them. Usage: bash benchmarks/corpora.sh   (PY=path/to/venv/python; SKIP_APT=1, SKIP_PIP=1)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if [ ! -x "$PY" ]; then
  echo "No Python at $PY: run 'make test' first (it creates .venv) or set PY=/path/to/venv/bin/python." >&2
  exit 2
fi

if [ "${SKIP_APT:-0}" != 1 ]; then
  if dpkg -s plasma-workspace-wallpapers >/dev/null 2>&1; then
    echo "plasma-workspace-wallpapers: installed already"
  else
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    apt-cache show plasma-workspace-wallpapers >/dev/null  # stops here, clearly, where Debian has no such package
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends plasma-workspace-wallpapers
  fi
fi

if [ "${SKIP_PIP:-0}" != 1 ]; then
  if "$PY" -c "import porespy, bm3d" >/dev/null 2>&1; then
    echo "porespy and bm3d: installed already"
  else
    # Pin the installed torch so that pip can never replace it with a second (CPU or other CUDA) build.
    constraints=$(mktemp)
    trap 'rm -f "$constraints"' EXIT
    "$PY" -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > "$constraints"
    "$PY" -m pip install --quiet --upgrade-strategy only-if-needed --constraint "$constraints" -e ".[train,bench]"
  fi
fi

# Check: each corpus gives an image (porespy's first call compiles with numba, ~10-20 s).
GANRECON_CACHE=off "$PY" - <<'PYEOF'
from ganrecon.data import load_dataset
for spec in ("photos:n=2,size=64x64", "porous-ct:n=4,size=32x32", "porous-ct-heldout:n=1,size=32x32"):
    print(spec, "->", load_dataset(spec, split="train"))
import ganrecon.baselines as b
print("bm3d baseline applicable:", b.bm3d_installed())
PYEOF
