#!/usr/bin/env bash
# Repeats one conversion on the GPU machine to catch hangs (2026-12-04: a third of the H200 conversions of
# the ReLU GPT-2 stopped for good in GPU router training). From the project root there, with `.devpack`
# (from `bench/pack.sh --cli --no-ort`, which also runs bench/device.sh with BENCH_PEERS=--torch) and the
# model folder carried:
#   bash bench/convert_repeat.sh RUNS LIMIT_S convert-flags...
# e.g. bash bench/convert_repeat.sh 6 90 --model relu_dev/gpt2-relu --expert-size 16 \
#        --calib relu_dev/calib_ids_262144.json --calib-tokens 131072
# Each run gets its own seed and output folder and prints a heartbeat every 5 s (bench/convert_heartbeat.ts:
# do they go on while it is stopped?); a run past LIMIT_S seconds counts as hung: before it is
# killed, $OUT/convert_N.hang gets each of its threads' name, state, kernel wait channel and current system
# call, its JavaScript stack (bench/js_stack.ts through the inspector) and native stacks where gdb or eu-stack
# exists, to tell a GPU wait from a lock from a JavaScript loop. Logs go to
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
# Where a hung process waits: GPU utilisation, CPU use, and per thread name, state, wait channel and system
# call (number and arguments), the JavaScript stack (bench/js_stack.ts, through --inspect).
diagnose() {
  local pid=$1 port=$2
  # GPU busy (a kernel that never ends) or idle (work lost), and whether the main thread spins
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv 2>&1
  local t0 t1
  t0=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
  sleep 2
  t1=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
  echo "process CPU ticks in 2 s: $((t1 - t0))"
  for t in /proc/"$pid"/task/*; do
    echo "tid ${t##*/} $(cat "$t/comm" 2>/dev/null) state $(awk '{print $3}' "$t/stat" 2>/dev/null)" \
      "wchan $(cat "$t/wchan" 2>/dev/null) syscall $(cat "$t/syscall" 2>/dev/null)"
  done
  # the JavaScript stack through the inspector (or word that the thread is held in a native call)
  timeout 20 deno run -A --node-modules-dir=none --cached-only bench/js_stack.ts "127.0.0.1:$port" 8000 2>&1
  # native stacks: where the busy main thread is (bench/native_stack.py; symbolize dawn.node offsets locally)
  if command -v python3 >/dev/null; then timeout 30 python3 bench/native_stack.py "$pid" "$pid" 12 2>&1; fi
  if command -v gdb >/dev/null; then
    gdb -p "$pid" -batch -ex 'thread apply all bt 12' 2>&1 | grep -E '^(Thread|#)' | head -400
  elif command -v eu-stack >/dev/null; then
    eu-stack -p "$pid" 2>&1 | head -400
  else
    echo "(no gdb or eu-stack for native stacks)"
  fi
}
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  port=$((9300 + i))
  deno run -A --inspect="127.0.0.1:$port" --v8-flags=--max-semi-space-size=64 --node-modules-dir=none --cached-only \
    bench/convert_heartbeat.ts convert "$@" \
    --seed "$i" --out "/tmp/convert_repeat_$i" --overwrite >"$OUT/convert_$i.out" 2>"$OUT/convert_$i.err" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && [ $(($(date +%s) - start)) -lt "$limit" ]; do sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then
    diagnose "$pid" "$port" >"$OUT/convert_$i.hang" 2>&1
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    rc=124
    hung=$((hung + 1))
  else
    wait "$pid"
    rc=$?
  fi
  lines=$(tr '\r' '\n' <"$OUT/convert_$i.err" | grep -av '^\s*$')
  echo "run $i: exit $rc after $(($(date +%s) - start)) s; last progress: $(grep -avE '^(heartbeat|Debugger|Visit)' <<<"$lines" | tail -1);" \
    "last heartbeat: $(grep -a '^heartbeat' <<<"$lines" | tail -1)"
done
echo "hung $hung of $runs"
