#!/usr/bin/env bash
# Train the traces models behind docs/RESULTS.md and the shipped pretrained models, one after another so each
# gets the whole CPU. Each stops at its config's max_seconds. MNIST comes from ../shared/datasets (or
# DATA_ROOT). Usage: bash benchmarks/train_traces.sh [RUNS_DIR]   (resumable: rerun to continue after a kill)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}
DATA_ROOT=${DATA_ROOT:-../shared/datasets}
PY=${PY:-.venv/bin/python}
# THREADS=1 when the machine is shared: two OpenMP threads on a busy 2-core machine spin and crawl
EXTRA=${THREADS:+--set threads=$THREADS}
for name in traces-mnist-unet traces-seismic-unet-pocs traces-mnist-lenet traces-mnist-linear; do
  if [ -f "$RUNS/$name/summary.json" ]; then echo "$name: done already"; continue; fi
  resume=""; [ -d "$RUNS/$name/checkpoints" ] && resume="--resume"
  echo "== $name $(date -u +%H:%M:%S)"
  "$PY" -m ganrecon train "configs/$name.yaml" --out "$RUNS/$name" --set data_root="$DATA_ROOT" --no-progress $resume $EXTRA
done
# The shipped seismic U-Net in stages, each from the previous stage's best weights (init): five refining POCS,
# then nine refining the consensus (its prior swapped, same network), then one grown to width 48 and one with
# data echoing (echo: 4), then the same under bf16 autocast (amp: true), then two on gathers of four wavelet families:
# NAME:INIT, in this order.
for pair in traces-seismic-unet-pocs-continued:traces-seismic-unet-pocs \
            traces-seismic-unet-pocs-stage3:traces-seismic-unet-pocs-continued \
            traces-seismic-unet-pocs-stage4:traces-seismic-unet-pocs-stage3 \
            traces-seismic-unet-pocs-stage5:traces-seismic-unet-pocs-stage4 \
            traces-seismic-unet-consensus:traces-seismic-unet-pocs-stage5 \
            traces-seismic-unet-consensus2:traces-seismic-unet-consensus \
            traces-seismic-unet-consensus3:traces-seismic-unet-consensus2 \
            traces-seismic-unet-consensus4:traces-seismic-unet-consensus3 \
            traces-seismic-unet-consensus5:traces-seismic-unet-consensus4 \
            traces-seismic-unet-consensus6:traces-seismic-unet-consensus5 \
            traces-seismic-unet-consensus7:traces-seismic-unet-consensus6 \
            traces-seismic-unet-consensus8:traces-seismic-unet-consensus7 \
            traces-seismic-unet-consensus9:traces-seismic-unet-consensus8 \
            traces-seismic-unet-w48:traces-seismic-unet-consensus9 \
            traces-seismic-unet-echo4:traces-seismic-unet-w48 \
            traces-seismic-unet-echo4-amp:traces-seismic-unet-echo4 \
            traces-seismic-unet-wavelets:traces-seismic-unet-echo4-amp \
            traces-seismic-unet-wavelets2:traces-seismic-unet-wavelets \
            traces-seismic-unet-wavelets3:traces-seismic-unet-wavelets2 \
            traces-seismic-unet-wavelets4:traces-seismic-unet-wavelets3 \
            traces-seismic-unet-wavelets5:traces-seismic-unet-wavelets4; do
  name=${pair%%:*}; init=${pair##*:}
  if [ -f "$RUNS/$name/summary.json" ]; then echo "$name: done already"; continue; fi
  resume=""; [ -d "$RUNS/$name/checkpoints" ] && resume="--resume"
  echo "== $name from $init $(date -u +%H:%M:%S)"
  "$PY" -m ganrecon train "configs/$name.yaml" --out "$RUNS/$name" --set init="$RUNS/$init/model-best" --no-progress $resume $EXTRA
done
