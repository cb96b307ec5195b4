/**
 * The CPU router trainer's two costly products in WebAssembly SIMD, float64 like the rest of the trainer
 * (`abt_f64` and `relu_outer_f64` of `kernels/sgemm_simd.wat`; two lanes each, about twice the JavaScript
 * loops of `router_train.ts`, which stay as their reference). Operands are copied into the module's memory
 * per call: a few hundred KB against millions of multiply-adds per training step.
 * @module
 */
import { ensureBytes, putRows, roundUp, simdModule } from "../ops/sgemm_wasm.ts";

function f64View(
  bytes: number,
): { mod: NonNullable<ReturnType<typeof simdModule>>; mem: Float64Array } | null {
  const mod = simdModule();
  if (!mod) return null;
  return { mod, mem: new Float64Array(ensureBytes(mod, bytes).buffer) };
}

/**
 * out[i, j] = A[i, :] · B[j, :] for A [m, K], B [n, K], out [m, n], row-major, float64.
 * @param A Left rows.
 * @param B Right rows.
 * @param out Result (written).
 * @param m Rows of A.
 * @param n Rows of B.
 * @param K Row length.
 * @returns False (nothing written) without WebAssembly SIMD.
 */
export function abtWasm(
  A: Float64Array,
  B: Float64Array,
  out: Float64Array,
  m: number,
  n: number,
  K: number,
) {
  const m2 = roundUp(m, 2), n4 = roundUp(n, 4), k2 = roundUp(K, 2);
  // Layout (float64): A [m2, k2] | B [n4, k2] | out [m2, n4]. Padding rows of A and B are left as they are
  // (they only reach out's padding); K's padding is zero in both.
  const pa = 0, pb = pa + m2 * k2, po = pb + n4 * k2;
  const v = f64View((po + m2 * n4) * 8);
  if (!v) return false;
  putRows(v.mem, pa, A, m, K, k2);
  putRows(v.mem, pb, B, n, K, k2);
  v.mod.abtF64(pa * 8, pb * 8, po * 8, m2, n4, k2);
  for (let i = 0; i < m; i++) out.set(v.mem.subarray(po + i * n4, po + i * n4 + n), i * n);
  return true;
}

/**
 * out[j, :] = Σ over b < B with h[b, j] > 0 of dh[b, j] · X[b, :] (the first layer's weight gradient through
 * the ReLU), float64.
 * @param dh Gradient at the hidden units [B, w].
 * @param h Hidden activations [B, w] (only their sign is used).
 * @param X Inputs [B, d].
 * @param out Result [w, d] (written).
 * @param B Rows.
 * @param w Hidden units.
 * @param d Input width.
 * @returns False (nothing written) without WebAssembly SIMD.
 */
export function reluOuterWasm(
  dh: Float64Array,
  h: Float64Array,
  X: Float64Array,
  out: Float64Array,
  B: number,
  w: number,
  d: number,
): boolean {
  const d2 = roundUp(d, 2);
  // Layout (float64): dh [B, w] | h [B, w] | X [B, d2] | out [w, d2]
  const pdh = 0, ph = pdh + B * w, px = ph + B * w, po = px + B * d2;
  const v = f64View((po + w * d2) * 8);
  if (!v) return false;
  v.mem.set(dh.subarray(0, B * w), pdh);
  v.mem.set(h.subarray(0, B * w), ph);
  putRows(v.mem, px, X, B, d, d2);
  v.mod.reluOuterF64(pdh * 8, ph * 8, px * 8, po * 8, B, w, d2);
  if (d === d2) out.set(v.mem.subarray(po, po + w * d));
  else for (let j = 0; j < w; j++) out.set(v.mem.subarray(po + j * d2, po + j * d2 + d), j * d);
  return true;
}
