#!/usr/bin/env bash
# Pack what a lent GPU trained so that it comes back: the tool returns at most 8 files of at most 16 MiB. One tar
# of BUNDLES_DIR (as bundles/, the float16 bundles benchmarks/ship_models.py wrote) and records.tar (each run's
# summary, config, logs, loss curves and best-model record, for the learning curves) is split into 15 MiB parts
# OUT_DIR/PREFIX.tar.partNN. Used by train_all.sh --device cuda and gpu_campaign.sh.
#
#   bash benchmarks/pack_runs.sh OUT_DIR RUNS_DIR BUNDLES_DIR PREFIX RUN...
#   cat OUT_DIR/PREFIX.tar.part* | tar -xf - -C DIR && tar -xf DIR/records.tar -C DIR   # to unpack
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: pack_runs.sh OUT_DIR RUNS_DIR BUNDLES_DIR PREFIX RUN..." >&2; exit 2; }
out=$1 runs=$2 bundles=$3 prefix=$4
shift 4
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -r "$bundles" "$stage/bundles"
(cd "$runs" && find "$@" -maxdepth 1 -type f \
   \( -name summary.json -o -name config.yaml -o -name log.csv -o -name validation.csv -o -name '*.json' \) \
   -print0 | tar -cf "$stage/records.tar" --null -T -)
rm -f "$out/$prefix".tar.part*
tar -cf - -C "$stage" bundles records.tar | split -b 15M -d - "$out/$prefix.tar.part"
parts=("$out/$prefix".tar.part*)
[ ${#parts[@]} -le 7 ] || { echo "$prefix is ${#parts[@]} parts of 15 MiB: more than a GPU run may return" >&2; exit 1; }
ls -l "${parts[@]}"
echo "unpack with: cat $out/$prefix.tar.part* | tar -xf - -C DIR && tar -xf DIR/records.tar -C DIR"
