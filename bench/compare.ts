/**
 * Output comparison for the correctness checks that ride along with the timings.
 * @module
 */

/**
 * Largest |a_i − b_i| (Infinity when the lengths differ or a value is not finite).
 * @param a Values.
 * @param b Values.
 * @returns The largest absolute difference.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(maxAbsDiff(Float32Array.of(1, 2), Float32Array.of(1, 2.5)), 0.5);
 * ```
 */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
