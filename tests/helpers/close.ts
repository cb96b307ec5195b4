/**
 * Numeric comparison in the llm.c style: |got − want| ≤ atol + rtol·|want| everywhere, and on
 * failure a message with the worst element, its index and both values.
 * @module
 */
import { AssertionError } from "node:assert/strict";

/** Tolerances. */
export interface Tolerance {
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance (default 1e-4). */
  rtol?: number;
}

/**
 * Largest absolute difference and where it is.
 * @param got Values under test.
 * @param want Reference values.
 * @returns `{ maxDiff, index }`.
 */
export function maxDiff(got: ArrayLike<number>, want: ArrayLike<number>): { maxDiff: number; index: number } {
  let worst = 0;
  let index = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= worst)) {
      worst = Number.isNaN(d) ? Infinity : d;
      index = i;
    }
  }
  return { maxDiff: worst, index };
}

/**
 * Asserts two arrays are elementwise close.
 * @param got Values under test.
 * @param want Reference values.
 * @param tol Tolerances.
 * @param what Name used in the failure message.
 * @throws {AssertionError} On length mismatch, NaN, or any element out of tolerance.
 */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: Tolerance = {},
  what = "values",
): void {
  const atol = tol.atol ?? 1e-5;
  const rtol = tol.rtol ?? 1e-4;
  if (got.length !== want.length) {
    throw new AssertionError({ message: `${what}: length ${got.length}, expected ${want.length}` });
  }
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= atol + rtol * Math.abs(want[i]))) {
      const { maxDiff: md, index } = maxDiff(got, want);
      throw new AssertionError({
        message: `${what}: first mismatch at ${i} (got ${got[i]}, want ${want[i]}); ` +
          `max |diff| ${md} at ${index} (got ${got[index]}, want ${want[index]}); atol ${atol}, rtol ${rtol}`,
      });
    }
  }
}
