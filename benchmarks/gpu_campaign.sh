#!/usr/bin/env bash
# One lent-GPU slot (issue 18) spent on the models that missed their targets on the CPU (wider U-Nets than the CPU
# could train, and shipped models continued with larger batches). The candidates' best weights come back as shipped bundles are stored (float16, int8 above 4 MiB) for the CPU benchmarks to judge
# (benchmarks/denoise.py, traces.py) before anything is shipped.
#
#   bash benchmarks/gpu_campaign.sh [OUT]          # on the GPU machine: OUT defaults to $OUT, else gpu-out
#   DEVICE=cpu SCALE=0.05 bash benchmarks/gpu_campaign.sh /tmp/rehearsal   # rehearsal here, tiny budgets
#
# Each plan line is run:config:seconds; SCALE multiplies the seconds. The runs' data come from .gpu/ when it is
# there (a copy of the MNIST training set and the 11 wallpaper photographs, carried to a machine that has
# neither): .gpu/mnist/train.npz and .gpu/wallpapers/NAME/contents/images/FILE. What comes back (at most 8 files
# of 16 MiB): candidates.tar.partNN (the compact bundles, one per run, plus every run's config, logs and
# summary), and campaign.log.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT_DIR=${1:-${OUT:-gpu-out}}
RUNS=${RUNS:-runs-gpu}
DEVICE=${DEVICE:-cuda}
SCALE=${SCALE:-1}
THREADS=${THREADS:-8}
if [ -z "${PY:-}" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
DATA_ROOT=${DATA_ROOT:-../shared/datasets}
if [ -d .gpu ]; then
  DATA_ROOT=.gpu
  export GANRECON_WALLPAPERS="$PWD/.gpu/wallpapers"
fi

# The plan for the next slot (about 8 minutes with set-up and packing). The quickest to set up goes first: if
# the device path fails there, the slot is not spent on the rest.
PLAN=(
  "traces-mnist-unet-wide-gpu3:traces-mnist-unet-wide-gpu3:130"
  "denoise-blind-wide-gpu:denoise-blind-wide-gpu:280"   # from scratch again: its 8 MB of weights are not kept
)
# Ran on 2026-12-04 (one H200): traces-mnist-unet-gpu:50, denoise-blind-gpu:90, denoise-blind-wide-gpu:150 and
# traces-mnist-unet-wide-gpu:90 in one call (495 s wall, limit 580), then traces-mnist-unet-wide-gpu2:170 in a
# second one (213 s) from stage 1's float16 bundle carried back. Each config's max_seconds is what it ran for
# then; a plan line's seconds override it.

mkdir -p "$OUT_DIR" "$RUNS"
log="$OUT_DIR/campaign.log"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" 2>&1 | tee -a "$log"
done_runs=()
for entry in "${PLAN[@]}"; do
  IFS=: read -r name config seconds <<< "$entry"
  [ -z "${MODELS:-}" ] || [[ " $MODELS " == *" $name "* ]] || continue
  budget=$("$PY" -c "print(max(1.0, $seconds * $SCALE))")
  echo "== $name (config $config, $DEVICE, $budget s) $(date -u +%H:%M:%S)" | tee -a "$log"
  start=$(date +%s)
  if "$PY" -m ganrecon train "configs/$config.yaml" --out "$RUNS/$name" --no-progress \
      --set "data_root=$DATA_ROOT" --set "threads=$THREADS" --set "device=$DEVICE" \
      --set "max_seconds=$budget" > "$RUNS/$name.out" 2>&1; then
    done_runs+=("$name")
    tail -n 3 "$RUNS/$name.out" >> "$log"
  else
    echo "$name FAILED:" | tee -a "$log"
    tail -n 25 "$RUNS/$name.out" | tee -a "$log"
    [ ${#done_runs[@]} -gt 0 ] || { echo "the first run failed: stopping to keep the slot" | tee -a "$log"; exit 1; }
  fi
  echo "$name: $(( $(date +%s) - start )) s wall; validation:" | tee -a "$log"
  tail -n 3 "$RUNS/$name/validation.csv" 2>/dev/null | tee -a "$log"
done

[ ${#done_runs[@]} -gt 0 ] || { echo "no run finished" | tee -a "$log"; exit 1; }
pack=$(mktemp -d)
"$PY" benchmarks/ship_models.py --runs "$RUNS" --to "$pack" --candidates "${done_runs[@]}" | tee -a "$log"
bash benchmarks/pack_runs.sh "$OUT_DIR" "$RUNS" "$pack" candidates "${done_runs[@]}" 2>&1 | tee -a "$log"
rm -rf "$pack"
