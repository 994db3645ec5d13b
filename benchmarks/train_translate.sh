#!/usr/bin/env bash
# The turbulence recipe behind docs/results/translate.md and the shipped `translate-turbulence`, one step after
# another so each gets the whole CPU (~17 min per training on one core; each stops at its config's max_seconds):
#   1. pix2pix clean -> turbulent on simulator pairs           (configs/translate-turbulence-synth.yaml)
#   2. restoration turbulent -> clean on simulator pairs        (configs/translate-turbulence-restore.yaml)
#   3. synthesise a turbulent training set from clean crops with model 1 (`ganrecon synthesise`)
#   4. restoration turbulent -> clean on the synthesised pairs (configs/translate-turbulence-restore-synth.yaml)
#   5. (ablation) step 2 without the residual output: pix2pix's plain U-Net
#   6-9. the sampler recipe (issue 21): pix2pix with smooth noise maps and the diversity term
#      (configs/translate-turbulence-synth-noise.yaml), 3 draws of each clean crop, and two restorers with the
#      same 1600 steps, on simulator pairs (-restore-sim1600) and on the sampler's pairs (-restore-synth-noise);
#      evaluated by benchmarks/synthesis.py; 10-12. the same with a warp head (-synth-warp.yaml) and a restorer
#      on its pairs
#  13-16. the shipped single-frame restorer: a width-64 U-Net refining the frame (MSE), in four stages, each
#      from the last one's final weights (configs/translate-turbulence-refine-wide*.yaml); benchmarks/burst.py
# No data files needed (scikit-image's photographs). Evaluation on held-out simulator pairs:
#   .venv/bin/python benchmarks/translate.py; .venv/bin/python benchmarks/synthesis.py
# Usage: bash benchmarks/train_translate.sh [RUNS_DIR]   (resumable: rerun to continue after a kill)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}
PY=${PY:-.venv/bin/python}
SET=${SET:-}   # extra overrides for every training, e.g. SET="--set threads=1"

train() {  # train NAME CONFIG [overrides...]
  local name=$1 config=$2; shift 2
  if [ -f "$RUNS/$name/summary.json" ]; then echo "$name: done already"; return; fi
  local resume=""; [ -d "$RUNS/$name/checkpoints" ] && resume="--resume"
  echo "== $name $(date -u +%H:%M:%S)"
  # shellcheck disable=SC2086
  "$PY" -m ganrecon train "configs/$config.yaml" --out "$RUNS/$name" --no-progress $SET "$@" $resume
}

train translate-turbulence-synth translate-turbulence-synth
train translate-turbulence-restore translate-turbulence-restore
if [ ! -f "$RUNS/translate-synthesised/synthesis.json" ]; then
  echo "== synthesise $(date -u +%H:%M:%S)"
  "$PY" -m ganrecon synthesise --model "$RUNS/translate-turbulence-synth" --data natural:n=8192,size=48x48 \
    --split train --seed 1 --out "$RUNS/translate-synthesised"
fi
train translate-turbulence-restore-synth translate-turbulence-restore-synth \
  --set "data=paired:$RUNS/translate-synthesised/A:$RUNS/translate-synthesised/B"
# ablation: the simulator-pairs restoration with pix2pix's plain U-Net output (no residual), for the results page
train translate-turbulence-restore-plain translate-turbulence-restore --set generator_options.residual=false
# the sampler recipe
train translate-turbulence-synth-noise translate-turbulence-synth-noise
if [ ! -f "$RUNS/translate-synthesised-noise/synthesis.json" ]; then
  echo "== synthesise (sampler) $(date -u +%H:%M:%S)"
  "$PY" -m ganrecon synthesise --model "$RUNS/translate-turbulence-synth-noise" --data natural:n=8192,size=48x48 \
    --split train --seed 1 --draws 3 --out "$RUNS/translate-synthesised-noise"
fi
train translate-turbulence-restore-sim1600 translate-turbulence-restore-sim1600
train translate-turbulence-restore-synth-noise translate-turbulence-restore-synth-noise \
  --set "data=paired:$RUNS/translate-synthesised-noise/A:$RUNS/translate-synthesised-noise/B"
train translate-turbulence-synth-warp translate-turbulence-synth-warp
if [ ! -f "$RUNS/translate-synthesised-warp/synthesis.json" ]; then
  echo "== synthesise (warp sampler) $(date -u +%H:%M:%S)"
  "$PY" -m ganrecon synthesise --model "$RUNS/translate-turbulence-synth-warp" --data natural:n=8192,size=48x48 \
    --split train --seed 1 --draws 3 --out "$RUNS/translate-synthesised-warp"
fi
train translate-turbulence-restore-synth-warp translate-turbulence-restore-synth-noise \
  --set "data=paired:$RUNS/translate-synthesised-warp/A:$RUNS/translate-synthesised-warp/B"
# the shipped single-frame restorer, stage by stage
previous=translate-turbulence-refine-wide
train "$previous" "$previous"
for stage in translate-turbulence-refine-wide-stage{2,3,4}; do
  train "$stage" "$stage" --set "init=$RUNS/$previous/model.safetensors"
  previous=$stage
done
echo "== done $(date -u +%H:%M:%S)"
