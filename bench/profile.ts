/**
 * Per-kernel GPU times of one iteration, from timestamp queries: the iteration runs on a second device
 * created with profiling on (each dispatch gets its own timed compute pass there, which would distort
 * the wall-clock timings if it were the timed device), and a tiny readback after each iteration
 * collects the timestamps.
 * @module
 */
import type { Backend } from "../src/ops/backend.ts";
import { GpuBackend } from "../src/ops/gpu_backend.ts";
import type { KernelTime } from "./schema.ts";

/**
 * True when the backend records per-kernel GPU times.
 * @param be Backend.
 * @returns Whether `ctx.profile()` has data to give.
 */
export function canProfile(be: Backend): be is GpuBackend {
  return be instanceof GpuBackend && be.ctx.profiling;
}

function totals(be: GpuBackend): Map<string, { count: number; ms: number }> {
  return new Map(be.ctx.profile().map((e) => [e.label, { count: e.count, ms: e.totalMs }]));
}

/**
 * Runs `step` a few times on a profiling backend and returns the GPU time per kernel label per iteration.
 * @param be A backend created with profiling on.
 * @param step Records one iteration.
 * @param iters Iterations to average over (after one warm-up).
 * @returns Kernel times, slowest first.
 */
export async function profileSteps(
  be: GpuBackend,
  step: () => void | Promise<void>,
  iters: number,
): Promise<KernelTime[]> {
  const probe = be.alloc([1]);
  try {
    await step();
    await be.read([probe]);
    const before = totals(be);
    for (let i = 0; i < iters; i++) {
      await step();
      await be.read([probe]); // resolves this iteration's timestamps (the query set holds 2048 passes)
    }
    const out: KernelTime[] = [];
    for (const [label, t] of totals(be)) {
      const b = before.get(label) ?? { count: 0, ms: 0 };
      if (t.count > b.count) {
        out.push({ label, count: (t.count - b.count) / iters, ms: (t.ms - b.ms) / iters });
      }
    }
    return out.sort((a, b) => b.ms - a.ms);
  } finally {
    be.release(probe);
  }
}
