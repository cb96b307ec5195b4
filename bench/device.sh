#!/usr/bin/env bash
# The benchmark on the GPU machine (one NVIDIA H200), from the project root, after `bench/pack.sh`
# here with `.devpack` carried there:
#   bash bench/device.sh [extra bench flags, e.g. --only 'ffn|ceiling']
# BENCH_PEERS (default "--torch --ort") picks the peers; "--torch" with a `bench/pack.sh --no-ort` pack.
# Runs every case with the PyTorch and onnxruntime-web peers and per-kernel profiles, sized to finish
# in about 5 minutes (killed at BENCH_TIMEOUT seconds, default 540, so what was measured still comes
# back). Writes $OUT/bench.jsonl (one JSON object per line, written as rows finish) and
# $OUT/bench.log (progress, the table and the target verdicts).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
# shellcheck disable=SC1091
source .devpack/setup.sh
export PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,utilization.gpu --format=csv 2>/dev/null
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "transformers", transformers.__version__)' 2>&1
  deno --version | head -1
} 2>&1 | tee "$OUT/bench.log"
timeout "${BENCH_TIMEOUT:-540}" deno run -A -q --v8-flags=--max-semi-space-size=64,--expose-gc --node-modules-dir=none --cached-only bench/main.ts \
  ${BENCH_PEERS:---torch --ort} --profile --json --out "$OUT/bench.jsonl" "$@" 2>&1 | tee -a "$OUT/bench.log"
rc=${PIPESTATUS[0]}
[ "$rc" = 124 ] && echo "bench: stopped after ${BENCH_TIMEOUT:-540} s; rows measured so far are in $OUT/bench.jsonl" | tee -a "$OUT/bench.log"
exit "$rc"
