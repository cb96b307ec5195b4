/**
 * Many tiny readbacks in a row, reporting the longest gap between two: each readback makes Dawn's binding
 * tick at least once, and each tick leaves a Node-API finalizer that Deno 2.9 removes in linear time, so
 * a garbage collection that frees many of them at once shows up as one long gap (src/gpu/dawn_ticks.ts).
 * Runs without a GPU on Dawn's null backend:
 *
 *     D2D_DAWN_FLAGS=backend=null deno run -A --v8-flags=--max-semi-space-size=64 bench/probe_readback_gaps.ts [N]
 * @module
 */
import { createBackend } from "../src/ops/select_backend.ts";
import type { GpuBackend } from "../src/ops/gpu_backend.ts";

const be = await createBackend("dawn") as GpuBackend;
const x = be.input(new Float32Array(4).fill(1), [4]);
const n = Number(Deno.args[0] ?? 30000);
if (!Number.isInteger(n) || n < 1) {
  throw new RangeError(`N must be a positive integer, got "${Deno.args[0]}"`);
}
// the longest gap in each eighth of the run: does it grow as the process ages?
const window = Math.ceil(n / 8);
let worst = 0, windowWorst = 0, last = performance.now(), windowStart = last;
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  await be.read([x]);
  const now = performance.now();
  windowWorst = Math.max(windowWorst, now - last);
  last = now;
  if ((i + 1) % window === 0 || i + 1 === n) {
    const rate = ((i % window) + 1) / ((now - windowStart) / 1000);
    console.log(`reads to ${i + 1}: ${rate.toFixed(0)} reads/s, longest gap ${windowWorst.toFixed(0)} ms`);
    worst = Math.max(worst, windowWorst);
    windowWorst = 0;
    windowStart = now;
  }
}
const total = (performance.now() - t0) / 1000;
console.log(`${n} reads in ${total.toFixed(1)} s, longest gap ${worst.toFixed(0)} ms`);
