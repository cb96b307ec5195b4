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
  // Pair rows are read whole (row-major, cache-friendly); each column still accumulates in f32 in the
  // kernel's order (pairs ascending, then partial rows), so results match it bit for bit.
  for (let t = 0; t < T; t++) {
    const acc = y.subarray(t * d, (t + 1) * d);
    for (let j = 0; j < tokK[t]; j++) {
      for (let r = 0; r < R; r++) {
        const o = (tokRows[t * E + j] * R + r) * d;
        for (let c = 0; c < d; c++) acc[c] += pairOut[o + c];
      }
    }
    for (let c = 0; c < d; c++) {
      acc[c] += b2[c];
      if (residual) acc[c] += residual[t * d + c];
    }
  }
  return y;
}

/**
 * Checks where a token chunk's merge writes: rows `row0 … row0 + T − 1` of an output of `shape`, d wide.
 * @param row0 First row.
 * @param T Rows.
 * @param d Width.
 * @param shape The output's shape.
 * @throws {RangeError} When the rows do not fit.
 */
export function checkMergeInto(row0: number, T: number, d: number, shape: readonly number[]): void {
  if (!Number.isInteger(row0) || row0 < 0 || row0 + T > shape[0] || shape[1] !== d) {
    throw new RangeError(`moeMerge: rows ${row0} … ${row0 + T - 1} × ${d} do not fit [${shape}]`);
  }
}
