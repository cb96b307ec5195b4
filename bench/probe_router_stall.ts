/**
 * Trains routers of a conversion's size on the GPU, one after another, on random teacher data, to see whether
 * the GPU router trainer's readbacks stall outside a conversion (the H200 conversions with
 * `--router-device gpu` stopped in this phase). Prints each epoch's wall time, a heartbeat every 5 s on
 * stderr (do timers still fire while it is stopped?), and after a stall whether a tiny readback still
 * completes (is the device or only that read stuck?).
 *
 *     deno run -A bench/probe_router_stall.ts [--routers 4] [--n 131072] [--d 256] [--experts 64] [--epochs 20]
 *       [--stall-ms 20000] [--backend dawn|webgpu]
 *
 * On Dawn it also reports Dawn's ticks (src/gpu/dawn_ticks.ts): how many were queued, paced, and still
 * waiting at a stall. `D2D_DAWN_TICKS=count` turns the pacing off, which is how the stall was reproduced.
 * @module
 */
import { parseArgs } from "node:util";
import { GpuStallError } from "../src/gpu/errors.ts";
import { installDawnTicks } from "../src/gpu/dawn_ticks.ts";
import { trainRouterOnBackend } from "../src/moe/router_train_gpu.ts";
import { createBackend, parseBackendChoice } from "../src/ops/select_backend.ts";
import { Rng } from "../src/util/rng.ts";
import { randomF32 } from "./random.ts";

const { values: o } = parseArgs({
  options: {
    routers: { type: "string", default: "4" },
    n: { type: "string", default: "131072" },
    d: { type: "string", default: "256" },
    experts: { type: "string", default: "64" },
    epochs: { type: "string", default: "20" },
    "stall-ms": { type: "string", default: "20000" },
    backend: { type: "string", default: "dawn" },
  },
});
const [routers, n, d, E, epochs, stallMs] = [o.routers, o.n, o.d, o.experts, o.epochs, o["stall-ms"]].map(
  Number,
);
const be = await createBackend(parseBackendChoice(o.backend));
console.log(
  `backend ${be.info.provider} (${be.info.description}); ${routers} routers of n ${n}, d ${d}, E ${E}, ${epochs} epochs`,
);
// the pacer Dawn's loader installed, if any ("off" only asks for its report)
const ticks = installDawnTicks("off");
const watched = () => ticks ? JSON.stringify(ticks()) : "(no pacer)";
const rng = new Rng(1);
// Teacher data: targets are |x·T| for a fixed random T, so the router has something to learn.
const x = randomF32(n * d, rng);
const teacher = randomF32(d * E, rng, 1 / Math.sqrt(d));
const y = new Float32Array(n * E);
for (let i = 0; i < n; i++) {
  for (let e = 0; e < E; e++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x[i * d + k] * teacher[k * E + e];
    y[i * E + e] = Math.abs(s);
  }
}
const t0 = performance.now();
const beat = setInterval(
  () => console.error(`heartbeat ${((performance.now() - t0) / 1000).toFixed(0)} s ${watched()}`),
  5000,
);
let stalls = 0;
for (let r = 0; r < routers; r++) {
  const start = performance.now();
  let last = start, worst = 0;
  try {
    const res = await trainRouterOnBackend(be, x, y, n, d, E, {
      epochs,
      seed: r,
      stallMs,
      onProgress: (p) => {
        const now = performance.now();
        worst = Math.max(worst, now - last);
        last = now;
        if (p.epoch === 1 || p.epoch === epochs) {
          console.log(`  router ${r} epoch ${p.epoch}: ${(now - start).toFixed(0)} ms`);
        }
      },
    });
    console.log(
      `router ${r}: ${(performance.now() - start).toFixed(0)} ms, slowest epoch ${worst.toFixed(0)} ms, ` +
        `val/baseline ${(res.valLoss / res.valBaselineLoss).toFixed(4)}`,
    );
  } catch (e) {
    if (!(e instanceof GpuStallError)) throw e;
    stalls++;
    console.log(`router ${r}: STALL after ${(performance.now() - start).toFixed(0)} ms: ${e.message}`);
    console.log(`  Dawn ticks at the stall: ${watched()}`);
    const probe = be.input(new Float32Array([1, 2, 3, 4]), [4]);
    const p0 = performance.now();
    const alive = await Promise.race([
      be.read([probe]).then(() => `a tiny readback completed in ${(performance.now() - p0).toFixed(0)} ms`),
      new Promise<string>((res) => setTimeout(() => res("a tiny readback did not complete in 30 s"), 30_000)),
    ]);
    be.release(probe);
    console.log(`  after the stall: ${alive}; Dawn ticks ${watched()}`);
  }
}
clearInterval(beat);
console.log(`stalls ${stalls} of ${routers}; Dawn ticks ${watched()}`);
Deno.exit(0);
