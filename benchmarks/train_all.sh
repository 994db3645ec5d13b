#!/usr/bin/env bash
# Train every shipped model, one after another so that each has the whole machine (no other heavy work beside
# it). Runs are resumable: a killed run continues from its last checkpoint when the script is rerun, and a
# finished one (summary.json) is skipped. Training accumulates: a run starts from the committed weights of its
# shipped model (`init:`) when they are in src/ganrecon/pretrained/ and the run has no checkpoint yet.
#
#   bash benchmarks/train_all.sh [RUNS_DIR]                       # CPU plan, each config's own max_seconds
#   bash benchmarks/train_all.sh --device cuda [RUNS_DIR] [OUT]   # one GPU session: GPU_SECONDS per model, then
#                                                                 # the bundles in OUT (default $OUT or gpu-out),
#                                                                 # as bundles.tar.partNN (benchmarks/pack_runs.sh)
# Environment:
#   THREADS=2      torch threads (CPU plan: both cores; use 1 only when something else must run beside it)
#   MODELS="..."   a subset of the run names below, in this order
#   INIT=0         start from scratch instead of from the committed weights
#   GPU_SECONDS=50 wall-clock budget per model with --device cuda (8 runs: about 7.5 min of a 9-minute slot)
#   EXTRA_SET="key=value ..."  more --set overrides for every run (e.g. "val_images=128")
#   DATA_ROOT=../shared/datasets (MNIST), PY=.venv/bin/python
# After a CPU campaign, compare with benchmarks/{denoise,superres,traces,latent}.py, then ship the winners:
#   .venv/bin/python benchmarks/ship_models.py --runs RUNS_DIR NAME ...
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE=cpu
if [ "${1:-}" = "--device" ]; then DEVICE=${2:?--device needs cpu or cuda}; shift 2; fi
RUNS=${1:-runs}
OUT_DIR=${2:-${OUT:-gpu-out}}
PY=${PY:-.venv/bin/python}
DATA_ROOT=${DATA_ROOT:-../shared/datasets}
THREADS=${THREADS:-2}
GPU_SECONDS=${GPU_SECONDS:-50}

# run name : config : shipped model to start from (empty: none)
PLAN=(
  "denoise-blind-w48-fresh3:denoise-blind-w48-fresh3:denoise-blind"
  "superres-porous-ct-x4-prior:superres-porous-ct-x4-prior:superres-porous-x4"
  "superres-porous-ct-x4-twin:superres-porous-ct-x4-twin:superres-porous-x4-gan"
  "traces-mnist-unet-mse2:traces-mnist-unet-mse2:traces-mnist-unet"
  "latent-mnist-mlp:latent-mnist-mlp:latent-mnist-mlp"
  "latent-mnist-dcgan:latent-mnist-dcgan:latent-mnist-dcgan"
  "translate-turbulence-refine-wide-stage4:translate-turbulence-refine-wide-stage4:translate-turbulence"
  "traces-seismic-unet-wavelets6:traces-seismic-unet-wavelets5:traces-seismic-unet"
  "translate-turbulence-burst8-stage2:translate-turbulence-burst8-stage2:translate-turbulence-burst8"
)
# run name -> shipped names its bundles become (benchmarks/ship_models.py SOURCES)
declare -A SHIPS=(
  [denoise-blind-w48-fresh3]="denoise-blind" [superres-porous-ct-x4-prior]="superres-porous-x4"
  [superres-porous-ct-x4-twin]="superres-porous-x4-gan"
  [traces-mnist-unet-mse2]="traces-mnist-unet" [latent-mnist-mlp]="latent-mnist-mlp"
  [latent-mnist-dcgan]="latent-mnist-dcgan" [translate-turbulence-refine-wide-stage4]="translate-turbulence"
  [traces-seismic-unet-wavelets6]="traces-seismic-unet"
  [translate-turbulence-burst8-stage2]="translate-turbulence-burst8"
)

wanted() { [ -z "${MODELS:-}" ] || [[ " $MODELS " == *" $1 "* ]]; }

trained=()
for entry in "${PLAN[@]}"; do
  IFS=: read -r name config init <<< "$entry"
  wanted "$name" || continue
  trained+=("$name")
  if [ -f "$RUNS/$name/summary.json" ]; then echo "$name: done already"; continue; fi
  args=(--set "data_root=$DATA_ROOT" --set "threads=$THREADS" --set "device=$DEVICE")
  if [ -d "$RUNS/$name/checkpoints" ]; then
    args+=(--resume)
  elif [ -n "$init" ] && [ "${INIT:-1}" != 0 ] && [ -f "src/ganrecon/pretrained/$init.safetensors" ]; then
    args+=(--set "init=$init")
  fi
  [ "$DEVICE" = cuda ] && args+=(--set "max_seconds=$GPU_SECONDS")
  for kv in ${EXTRA_SET:-}; do args+=(--set "$kv"); done
  echo "== $name ($DEVICE, config $config${init:+, init $init}) $(date -u +%H:%M:%S)"
  "$PY" -m ganrecon train "configs/$config.yaml" --out "$RUNS/$name" --no-progress "${args[@]}"
done

if [ "$DEVICE" = cuda ]; then
  # At most 8 files of at most 16 MiB come back from a lent GPU: benchmarks/pack_runs.sh packs the fp16
  # shipped bundles and the runs' records into 15 MiB parts.
  bundles=$(mktemp -d)
  ships=(); for name in "${trained[@]}"; do read -r -a more <<< "${SHIPS[$name]}"; ships+=("${more[@]}"); done
  "$PY" benchmarks/ship_models.py --runs "$RUNS" --to "$bundles" "${ships[@]}"
  bash benchmarks/pack_runs.sh "$OUT_DIR" "$RUNS" "$bundles" bundles "${trained[@]}"
  rm -rf "$bundles"
  echo "then: cp DIR/bundles/* src/ganrecon/pretrained/"
fi
