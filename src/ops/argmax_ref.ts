/**
 * CPU reference for `kernels/argmax.wgsl`: the greedy sampler's own `argmax`, row by row.
 * @module
 */
import { argmax } from "../model/sampling.ts";

/**
 * Index of the largest value of every row (first on ties; a NaN is never picked except at index 0).
 * @param x [rows, cols].
 * @param rows Row count.
 * @param cols Row length (≥ 1).
 * @returns [rows] indices.
 */
export function argmaxRef(x: Float32Array, rows: number, cols: number): Uint32Array {
  const out = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = argmax(x.subarray(r * cols, (r + 1) * cols));
  return out;
}
