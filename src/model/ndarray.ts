/**
 * Results as flat data plus a shape, convertible to the nested arrays JSON users expect.
 * @module
 */

/** A dense row-major array. */
export interface NdArray {
  /** Row-major values. */
  data: Float32Array;
  /** Dimensions. */
  shape: number[];
}

/** Arbitrarily nested arrays of numbers. */
export type Nested = number | Nested[];

/**
 * Nests flat data by shape, e.g. `[2, 3]` → `[[a, b, c], [d, e, f]]`.
 * @param a The array.
 * @returns Nested plain arrays.
 */
export function toNested(a: NdArray): Nested[] {
  const build = (dim: number, offset: number): Nested[] => {
    const n = a.shape[dim];
    if (dim === a.shape.length - 1) return Array.from(a.data.subarray(offset, offset + n));
    const stride = a.shape.slice(dim + 1).reduce((x, y) => x * y, 1);
    return Array.from({ length: n }, (_, i) => build(dim + 1, offset + i * stride));
  };
  return build(0, 0);
}
