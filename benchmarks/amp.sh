#!/usr/bin/env bash
# bf16 autocast against fp32 for one config: the same run (seed, data, steps) twice, then seconds and the last
# validation of the model next to each other (issue 18: bf16 where validation shows it costs under 0.05 dB).
#   bash benchmarks/amp.sh [CONFIG] [STEPS]   (default configs/denoise-blind-photos-prior.yaml, 200 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-configs/denoise-blind-photos-prior.yaml}
STEPS=${2:-200}
PY=${PY:-.venv/bin/python}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for amp in false true; do
  "$PY" -m ganrecon train "$CONFIG" --out "$OUT/amp-$amp" --no-progress --set data_root=${DATA_ROOT:-../shared/datasets} \
    --set threads=${THREADS:-2} --set steps="$STEPS" --set eval_every=$((STEPS / 2)) --set amp=$amp \
    --set max_seconds=3600 > "$OUT/amp-$amp.log" 2>&1
done
"$PY" - "$OUT" <<'PYEOF'
import json, sys
out = sys.argv[1]
runs = {amp: json.load(open(f"{out}/amp-{amp}/summary.json")) for amp in ("false", "true")}
for amp, s in runs.items():
    m = s["validation"]["model"]
    print(f"amp={amp}: {s['step']} steps in {s['seconds']:.1f} s, validation PSNR {m['psnr']:.2f} dB, MSE {m['mse']:.6f}")
f, t = runs["false"], runs["true"]
print(f"bf16: {f['seconds'] / t['seconds']:.2f}x faster, PSNR change "
      f"{t['validation']['model']['psnr'] - f['validation']['model']['psnr']:+.2f} dB")
PYEOF
