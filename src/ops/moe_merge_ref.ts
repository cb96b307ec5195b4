/**
 * CPU reference for `kernels/moe_merge.wgsl`.
 * @module
 */

/**
 * y[t] = residual[t] + b2 + Σ_j Σ_r pairOut[tokRows[t·E + j]·R + r] over token t's selected pairs.
 * @param pairOut [E·cap·R, d] per-pair expert outputs (R partial rows per pair).
 * @param tokRows [T·E] rows of each token's pairs.
 * @param tokK [T] pairs per token.
 * @param b2 [d] shared output bias.
 * @param residual Optional [T, d].
 * @param T Tokens.
 * @param E Experts.
 * @param d Width.
 * @param rowsPerPair R: partial rows per pair (default 1).
 * @returns [T, d].
 */
export function moeMergeRef(
  pairOut: Float32Array,
  tokRows: Uint32Array,
  tokK: Uint32Array,
  b2: Float32Array,
  residual: Float32Array | undefined,
  T: number,
  E: number,
  d: number,
  rowsPerPair = 1,
): Float32Array {
  const y = new Float32Array(T * d);
  const R = rowsPerPair;
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < d; c++) {
      // f32 accumulation in the kernel's order, so results match bit for bit.
      let s = 0;
      for (let j = 0; j < tokK[t]; j++) {
        for (let r = 0; r < R; r++) s = Math.fround(s + pairOut[(tokRows[t * E + j] * R + r) * d + c]);
      }
      let v = Math.fround(s + b2[c]);
      if (residual) v = Math.fround(v + residual[t * d + c]);
      y[t * d + c] = v;
    }
  }
  return y;
}
