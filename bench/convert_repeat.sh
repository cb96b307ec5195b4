#!/usr/bin/env bash
# Repeats one conversion on the GPU machine to catch hangs (2026-12-04: a third of the H200 conversions of
# the ReLU GPT-2 stopped for good in GPU router training). From the project root there, with `.devpack`
# (from `bench/pack.sh --cli --no-ort`, which also runs bench/device.sh with BENCH_PEERS=--torch) and the
# model folder carried:
#   bash bench/convert_repeat.sh RUNS LIMIT_S convert-flags...
# e.g. bash bench/convert_repeat.sh 6 90 --model relu_dev/gpt2-relu --expert-size 16 \
#        --calib relu_dev/calib_ids_262144.json --calib-tokens 131072
# Each run gets its own seed and output folder; a run past LIMIT_S seconds counts as hung. Logs go to
# $OUT/convert_N.err; the summary line is "hung H of RUNS".
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
runs=$1 limit=$2
shift 2
# shellcheck disable=SC1091
source .devpack/setup.sh
hung=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  timeout "$limit" deno run -A --v8-flags=--max-semi-space-size=64 --node-modules-dir=none --cached-only \
    src/cli/main.ts convert "$@" \
    --seed "$i" --out "/tmp/convert_repeat_$i" --overwrite >"$OUT/convert_$i.out" 2>"$OUT/convert_$i.err"
  rc=$?
  [ "$rc" = 124 ] && hung=$((hung + 1))
  echo "run $i: exit $rc after $(($(date +%s) - start)) s; last progress: $(tr '\r' '\n' <"$OUT/convert_$i.err" | grep -av '^\s*$' | tail -1)"
done
echo "hung $hung of $runs"
