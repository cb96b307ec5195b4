/**
 * CPU reference for `kernels/add.wgsl`.
 * @module
 */

/**
 * out[i] = a[i] + b[i mod b.length]: elementwise sum, or a row-broadcast when b is one row.
 * @param a Left operand.
 * @param b Right operand; its length must divide a's.
 * @returns The sum, shaped like `a`.
 */
export function addRef(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i % b.length];
  return out;
}
