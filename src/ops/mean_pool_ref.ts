/**
 * CPU reference for `kernels/mean_pool.wgsl`.
 * @module
 */

/**
 * Masked mean over tokens.
 * @param x [batch·seq, cols].
 * @param mask [batch, seq]; nonzero keeps a token.
 * @param batch Batch size.
 * @param seq Tokens per entry.
 * @param cols Width.
 * @returns [batch, cols]; an entry with no kept token is zero.
 */
export function meanPoolRef(
  x: Float32Array,
  mask: Uint32Array,
  batch: number,
  seq: number,
  cols: number,
): Float32Array {
  const out = new Float32Array(batch * cols);
  for (let b = 0; b < batch; b++) {
    let n = 0;
    const acc = new Float64Array(cols);
    for (let t = 0; t < seq; t++) {
      if (mask[b * seq + t] === 0) continue;
      n++;
      const o = (b * seq + t) * cols;
      for (let c = 0; c < cols; c++) acc[c] += x[o + c];
    }
    for (let c = 0; c < cols; c++) out[b * cols + c] = acc[c] / Math.max(1, n);
  }
  return out;
}
