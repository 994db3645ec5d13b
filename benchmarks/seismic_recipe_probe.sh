#!/usr/bin/env bash
# Controlled recipe comparison for the seismic campaign (issue 20): the same start (the shipped model), seed,
# data, validation set and time budget, one knob changed per run, so that the validation gain per CPU-minute
# says which recipe the next stages should use. Runs one after another (each with the whole machine) and is
# resumable: a finished run (summary.json) is skipped, a killed one resumes from its checkpoint.
#
#   bash benchmarks/seismic_recipe_probe.sh [RUNS_DIR]     # default runs/recipe-probe
# Environment: SECONDS_EACH=1500, THREADS=2, VARIANTS="echo4 echo1 echo4-amp", PY=.venv/bin/python
# Then: .venv/bin/python benchmarks/recipe_table.py RUNS_DIR/* --start-from MODEL (the weights they started from)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/recipe-probe}
PY=${PY:-.venv/bin/python}
SECONDS_EACH=${SECONDS_EACH:-1500}
THREADS=${THREADS:-2}
CONFIG=configs/traces-seismic-unet-echo4.yaml

# variant -> its overrides of the config (which starts from its own init; here all start from the shipped model)
declare -A KNOBS=([echo4]="echo=4" [echo1]="echo=1" [echo4-amp]="echo=4 amp=true" [echo8]="echo=8"
                 [echo4-amp-lr1]="echo=4 amp=true lr=0.0001 lr_d=0.00003")  # lr1: a third of the rate

for variant in ${VARIANTS:-echo4 echo1 echo4-amp}; do
  out="$RUNS/$variant"
  if [ -f "$out/summary.json" ]; then echo "$variant: done already"; continue; fi
  args=(--set "threads=$THREADS" --set "max_seconds=$SECONDS_EACH" --set "init=traces-seismic-unet")
  for kv in ${KNOBS[$variant]:?unknown variant $variant}; do args+=(--set "$kv"); done
  [ -d "$out/checkpoints" ] && args+=(--resume)
  echo "== $variant (${KNOBS[$variant]}) $(date -u +%H:%M:%S)"
  "$PY" -m ganrecon train "$CONFIG" --out "$out" --no-progress "${args[@]}"
done
