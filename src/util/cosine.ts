/**
 * Cosine similarity of two vectors (quality against dense outputs, in conversion, evaluation and tests).
 * @module
 */

/**
 * Cosine similarity of `a` and `b` (same length), summed in float64.
 * @param a First vector.
 * @param b Second vector.
 * @returns a·b / (‖a‖‖b‖); 1 when both are zero, 0 when only one is.
 *
 * @example
 * ```ts
 * import { cosine } from "./cosine.ts";
 * console.log(cosine([1, 0], [1, 1]).toFixed(4)); // 0.7071
 * ```
 */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  if (aa === 0 && bb === 0) return 1;
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}
