/**
 * CPU reference for `kernels/layer_norm.wgsl`.
 * @module
 */

/**
 * Row-wise LayerNorm: (x − mean) / sqrt(var + eps) · gamma + beta.
 * @param x [rows, cols].
 * @param gamma [cols].
 * @param beta [cols].
 * @param rows Row count.
 * @param cols Row length.
 * @param eps Variance epsilon.
 * @returns [rows, cols].
 */
export function layerNormRef(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  rows: number,
  cols: number,
  eps: number,
): Float32Array {
  const y = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[o + c];
    const mean = s / cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (x[o + c] - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / cols + eps);
    for (let c = 0; c < cols; c++) y[o + c] = (x[o + c] - mean) * rstd * gamma[c] + beta[c];
  }
  return y;
}
