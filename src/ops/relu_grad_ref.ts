/**
 * CPU reference for `kernels/relu_grad.wgsl`.
 * @module
 */

/**
 * Backward of y = relu(x): dy ⊙ (y > 0), optionally transposed.
 * @param dy Upstream gradient, [rows, cols].
 * @param y ReLU output, [rows, cols].
 * @param rows Rows.
 * @param cols Columns.
 * @param transpose Write [cols, rows] instead of [rows, cols].
 * @returns The gradient at the ReLU input.
 */
export function reluGradRef(
  dy: Float32Array,
  y: Float32Array,
  rows: number,
  cols: number,
  transpose = false,
): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      out[transpose ? c * rows + r : i] = y[i] > 0 ? dy[i] : 0;
    }
  }
  return out;
}
