/**
 * Timing GPU work honestly: GPU work is asynchronous, so iterations are recorded and submitted in
 * batches with one sync at the end of each batch; warm-up runs first (pipeline compilation, buffer
 * pool growth), the batch size is chosen so one batch outlasts the sync cost, and the statistics are
 * over repeated batches. When V8 exposes `gc()` (`--v8-flags=--expose-gc`, as `deno task bench` runs), a
 * full collection runs before each timed batch: otherwise one started inside a batch (after the previous
 * batch's garbage) blocks the JS thread for up to seconds and lands in that batch's time.
 * @module
 */

/** How long to measure. */
export interface TimingPlan {
  /** Untimed iterations first (default 2). */
  warmup: number;
  /** Batches to time (default 7). */
  repeats: number;
  /** Aim for batches at least this long, in ms (default 50). */
  minBatchMs: number;
  /** Never more iterations per batch than this (default 200). */
  maxBatch: number;
  /** Stop adding repeats once the timed part has taken this long, in ms. */
  budgetMs: number;
  /** Repeats that always run, whatever the budget (default 3). */
  minRepeats?: number;
}

/** Defaults for a full run on the GPU machine. */
export const FULL_PLAN: TimingPlan = { warmup: 2, repeats: 9, minBatchMs: 50, maxBatch: 200, budgetMs: 4000 };

/** Defaults for `--quick` (tiny shapes, slow software devices). */
export const QUICK_PLAN: TimingPlan = { warmup: 1, repeats: 3, minBatchMs: 10, maxBatch: 20, budgetMs: 1500 };

/** Statistics of one measurement, in ms per iteration. */
export interface Timing {
  /** Median over batches. */
  median: number;
  /** 10th percentile. */
  p10: number;
  /** 90th percentile. */
  p90: number;
  /** Timed iterations in total. */
  iters: number;
  /** Timed batches. */
  repeats: number;
}

/**
 * The q-quantile of values by linear interpolation.
 * @param values Samples (not modified).
 * @param q Quantile in [0, 1].
 * @returns The quantile; NaN for no samples.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
 * ```
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const at = q * (s.length - 1);
  const lo = Math.floor(at), hi = Math.ceil(at);
  return s[lo] + (s[hi] - s[lo]) * (at - lo);
}

/**
 * Times `step`: warm-up, a probe to size batches, then repeated batches of `n` steps followed by one
 * `sync()`, each batch's wall time divided by `n`.
 * @param step Records (GPU) or runs (CPU) one iteration; may be async (e.g. a generate call).
 * @param sync Waits until every recorded iteration has finished on the device.
 * @param plan How long to measure.
 * @returns Milliseconds per iteration.
 */
export async function timeIt(
  step: () => void | Promise<void>,
  sync: () => Promise<void>,
  plan: TimingPlan,
): Promise<Timing> {
  for (let i = 0; i < plan.warmup; i++) await step();
  await sync();
  let t0 = performance.now();
  await step();
  await sync();
  const probe = Math.max(1e-3, performance.now() - t0);
  const n = Math.max(1, Math.min(plan.maxBatch, Math.ceil(plan.minBatchMs / probe)));
  // A probe of one iteration already is a batch of one: keep it when batches are single iterations.
  const samples: number[] = n === 1 ? [probe] : [];
  const minRepeats = Math.min(plan.repeats, plan.minRepeats ?? 3);
  const start = performance.now() - (n === 1 ? probe : 0);
  const collect = (globalThis as { gc?: () => void }).gc;
  while (samples.length < plan.repeats) {
    if (samples.length >= minRepeats && performance.now() - start > plan.budgetMs) break;
    collect?.();
    t0 = performance.now();
    for (let i = 0; i < n; i++) await step();
    await sync();
    samples.push((performance.now() - t0) / n);
  }
  return {
    median: quantile(samples, 0.5),
    p10: quantile(samples, 0.1),
    p90: quantile(samples, 0.9),
    iters: n * samples.length,
    repeats: samples.length,
  };
}
