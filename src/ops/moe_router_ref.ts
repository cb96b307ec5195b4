/**
 * CPU reference for `kernels/moe_router.wgsl`.
 * @module
 */

/** Router dimensions. */
export interface RouterDims {
  /** Tokens. */
  T: number;
  /** Model width. */
  d: number;
  /** Router hidden width. */
  w: number;
  /** Experts. */
  E: number;
}

/**
 * Router scores: |relu(x·R1)·R2|, no biases.
 * @param x [T, d].
 * @param r1 [d, w].
 * @param r2 [w, E].
 * @param dims Sizes.
 * @returns [T, E], non-negative.
 */
export function moeRouterRef(
  x: Float32Array,
  r1: Float32Array,
  r2: Float32Array,
  dims: RouterDims,
): Float32Array {
  const { T, d, w, E } = dims;
  const out = new Float32Array(T * E);
  const h = new Float64Array(w);
  for (let t = 0; t < T; t++) {
    h.fill(0);
    for (let k = 0; k < d; k++) {
      const xv = x[t * d + k];
      if (xv === 0) continue;
      for (let j = 0; j < w; j++) h[j] += xv * r1[k * w + j];
    }
    for (let j = 0; j < w; j++) if (h[j] < 0) h[j] = 0;
    for (let e = 0; e < E; e++) {
      let s = 0;
      for (let j = 0; j < w; j++) s += h[j] * r2[j * E + e];
      out[t * E + e] = Math.abs(s);
    }
  }
  return out;
}
