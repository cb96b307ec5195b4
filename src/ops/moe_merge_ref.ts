/**
 * CPU reference for `kernels/moe_merge.wgsl`.
 * @module
 */

/**
 * y[t] = residual[t] + b2 + Σ_j pairOut[tokRows[t·E + j]] over token t's selected pairs.
 * @param pairOut [E·cap, d] per-pair expert outputs.
 * @param tokRows [T·E] rows of each token's pairs.
 * @param tokK [T] pairs per token.
 * @param b2 [d] shared output bias.
 * @param residual Optional [T, d].
 * @param T Tokens.
 * @param E Experts.
 * @param d Width.
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
): Float32Array {
  const y = new Float32Array(T * d);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < d; c++) {
      // f32 accumulation in the kernel's order, so results match bit for bit.
      let s = 0;
      for (let j = 0; j < tokK[t]; j++) s = Math.fround(s + pairOut[tokRows[t * E + j] * d + c]);
      let v = Math.fround(s + b2[c]);
      if (residual) v = Math.fround(v + residual[t * d + c]);
      y[t * d + c] = v;
    }
  }
  return y;
}
