/**
 * CPU reference for `kernels/gemv.wgsl`: `matmul_ref.ts` with the optional LayerNorm of A's rows before
 * and the optional strided copy of C after.
 * @module
 */
import { layerNormRef } from "./layer_norm_ref.ts";
import { type MatmulOptions, matmulRef } from "./matmul_ref.ts";
import { type CopySpec, stridedCopyRef } from "./strided_copy_ref.ts";

/** Host-side fused steps of the GEMV reference. */
export interface GemvRefFusion {
  /** LayerNorm of A's rows first. */
  ln?: { gamma: Float32Array; beta: Float32Array; eps: number };
  /** Copy of C into `dst` (modified in place) after the product. */
  copy?: { dst: Float32Array; spec: CopySpec };
}

/**
 * C = act(LN?(A) · B + bias) + residual, then the optional copy of C into `fuse.copy.dst`.
 * @param a A: [m, k].
 * @param b B: [k, n] (or [n, k] with `transB`).
 * @param m Rows.
 * @param k Inner dimension.
 * @param n Columns.
 * @param opts Layout and activation.
 * @param bias Optional [n].
 * @param residual Optional [m, n].
 * @param fuse Optional LayerNorm and copy.
 * @returns C: [m, n].
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const c = gemvRef(new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 2, 1);
 * assert.deepEqual([...c], [11]);
 * ```
 */
export function gemvRef(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  opts: MatmulOptions = {},
  bias?: Float32Array,
  residual?: Float32Array,
  fuse: GemvRefFusion = {},
): Float32Array {
  const x = fuse.ln ? layerNormRef(a, fuse.ln.gamma, fuse.ln.beta, m, k, fuse.ln.eps) : a;
  const c = matmulRef(x, b, m, k, n, opts, bias, residual);
  if (fuse.copy) stridedCopyRef(c, fuse.copy.dst, fuse.copy.spec);
  return c;
}
