/**
 * CPU reference for `kernels/row_norm.wgsl`.
 * @module
 */

/**
 * L2 norm of every row.
 * @param x [rows, cols].
 * @param rows Row count.
 * @param cols Row length.
 * @returns [rows].
 */
export function rowNormRef(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c] ** 2;
    out[r] = Math.sqrt(s);
  }
  return out;
}
