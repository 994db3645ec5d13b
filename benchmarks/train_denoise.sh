#!/usr/bin/env bash
# Train the denoise models behind docs/RESULTS.md and the shipped `denoise-blind`, one after another so each
# gets the whole CPU: the per-level MNIST model (sp 0.15) and the blind photograph model, ~11 min each. Each
# stops at its config's max_seconds. MNIST comes from ../shared/datasets (or DATA_ROOT); the blind model needs
# no data files (scikit-image's photographs). The FER2013 reproduction is a GPU-sized job, run it by hand:
#   ganrecon train configs/denoise-fer2013-reference.yaml --out runs/denoise-fer2013-reference --set data_root=DIR
# Usage: bash benchmarks/train_denoise.sh [RUNS_DIR]   (resumable: rerun to continue after a kill)
# Then: .venv/bin/python benchmarks/denoise.py
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}
DATA_ROOT=${DATA_ROOT:-../shared/datasets}
PY=${PY:-.venv/bin/python}
for name in denoise-mnist-sp015 denoise-blind; do
  if [ -f "$RUNS/$name/summary.json" ]; then echo "$name: done already"; continue; fi
  resume=""; [ -d "$RUNS/$name/checkpoints" ] && resume="--resume"
  echo "== $name $(date -u +%H:%M:%S)"
  "$PY" -m ganrecon train "configs/$name.yaml" --out "$RUNS/$name" --set data_root="$DATA_ROOT" --no-progress $resume
done
