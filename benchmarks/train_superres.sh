#!/usr/bin/env bash
# Train the superres model behind docs/results/superres.md and the shipped superres-porous-x4(-gan) models:
# one run, two phases (content-only SRResNet -> model-content, then SRGAN -> model), stopping at the config's
# max_seconds; then the benchmark. Synthetic data only (no downloads).
# Usage: bash benchmarks/train_superres.sh [RUNS_DIR] [CONFIG_NAME]   (resumable: rerun to continue after a kill)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}
NAME=${2:-superres-porous-x4-cpu}
PY=${PY:-.venv/bin/python}
if [ -f "$RUNS/$NAME/summary.json" ]; then
  echo "$NAME: trained already"
else
  resume=""; [ -d "$RUNS/$NAME/checkpoints" ] && resume="--resume"
  echo "== $NAME $(date -u +%H:%M:%S)"
  "$PY" -m ganrecon train "configs/$NAME.yaml" --out "$RUNS/$NAME" --no-progress $resume
fi
echo "== benchmark $(date -u +%H:%M:%S)"
"$PY" benchmarks/superres.py --run "$RUNS/$NAME"
# ship: cp $RUNS/$NAME/model-content.{safetensors,json} src/ganrecon/pretrained/superres-porous-x4.*  and
#       cp $RUNS/$NAME/model.{safetensors,json} src/ganrecon/pretrained/superres-porous-x4-gan.*
