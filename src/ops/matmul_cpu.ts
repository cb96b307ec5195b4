/**
 * The CPU backend's matmul: the same function as `matmul_ref.ts`. From {@link WASM_MIN_ROWS} rows the
 * product runs in WebAssembly SIMD (`sgemm_wasm.ts`, fp32 accumulation as on the GPU); fewer rows (decode)
 * run in JavaScript, blocked four rows at a time so each row of B is read once per block instead of once
 * per row, where copying B into the module would cost as much as the product. A mostly-zero A (ReLU
 * activations) has its zeros skipped (in JavaScript only when B is [K, N]). Tested against the reference.
 * @module
 */
import { applyActivation } from "./activation.ts";
import type { MatmulOptions } from "./matmul_ref.ts";
import { sgemmWasm } from "./sgemm_wasm.ts";

/**
 * Rows of A from which the WebAssembly kernels take the product. Measured on a 768 × 3072 B (2 cores, V8):
 * even at 2 rows they won without transposing B and at 8 with it; 8 leaves single-token decode in
 * JavaScript, where copying B in would cost as much as the product.
 */
export const WASM_MIN_ROWS = 8;

/**
 * C = act(A · B + bias) + residual.
 * @param a A: [M, K].
 * @param b B: [K, N] (or [N, K] with `transB`).
 * @param m Rows of A.
 * @param k Inner dimension.
 * @param n Columns of C.
 * @param opts Layout and activation.
 * @param bias Optional [N].
 * @param residual Optional [M, N].
 * @returns C: [M, N].
 */
export function matmulCpu(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  opts: MatmulOptions = {},
  bias?: Float32Array,
  residual?: Float32Array,
): Float32Array {
  const sparse = zeroFraction(a) >= 0.5, transB = opts.transB ?? false;
  const c = (m >= WASM_MIN_ROWS && k > 0 ? sgemmWasm(a, b, m, k, n, transB, sparse) : null) ??
    matmulJs(a, b, m, k, n, transB, sparse);
  const act = opts.act ?? "none";
  if (bias || act !== "none" || residual) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const at = i * n + j;
        let v = c[at] + (bias ? bias[j] : 0);
        if (act !== "none") v = applyActivation(act, v);
        c[at] = residual ? v + residual[at] : v;
      }
    }
  }
  return c;
}

/**
 * C = A · B (or A · Bᵀ) in JavaScript, without epilogue: the path for few rows, and the WebAssembly
 * kernels' baseline in `bench/cpu_kernels.ts`.
 * @param a A: [M, K].
 * @param b B: [K, N], or [N, K] with `transB`.
 * @param m Rows of A.
 * @param k Inner dimension.
 * @param n Columns of C.
 * @param transB B is given as [N, K].
 * @param sparseA Most of A is exactly zero: skip its zeros (when B is [K, N]).
 * @returns C [M, N].
 */
export function matmulJs(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  transB: boolean,
  sparseA: boolean,
): Float32Array {
  const c = new Float32Array(m * n);
  if (transB) dotRows(a, b, c, m, k, n);
  else if (m >= 16 && !sparseA) dotRows(a, transpose(b, k, n), c, m, k, n); // transpose: K·N, product: M·K·N
  else axpyRows(a, b, c, m, k, n); // few rows, or sparse A (ReLU activations): skip zeros
  return c;
}

/** Share of exact zeros (sampled when large). */
function zeroFraction(a: Float32Array): number {
  const step = Math.max(1, Math.floor(a.length / 4096));
  let z = 0, n = 0;
  for (let i = 0; i < a.length; i += step, n++) if (a[i] === 0) z++;
  return n ? z / n : 0;
}

/**
 * C += A·B with B [K, N], row by row: every zero of A skips a whole row of B, and the nonzeros go four at a
 * time, so each element of C is loaded and stored once per four multiply-adds.
 */
function axpyRows(a: Float32Array, b: Float32Array, c: Float32Array, m: number, k: number, n: number): void {
  const nz = new Int32Array(k);
  for (let i = 0; i < m; i++) {
    const ci = c.subarray(i * n, i * n + n), r = i * k;
    let cnt = 0;
    for (let kk = 0; kk < k; kk++) if (a[r + kk] !== 0) nz[cnt++] = kk;
    let q = 0;
    for (; q + 4 <= cnt; q += 4) {
      const k0 = nz[q], k1 = nz[q + 1], k2 = nz[q + 2], k3 = nz[q + 3];
      const a0 = a[r + k0], a1 = a[r + k1], a2 = a[r + k2], a3 = a[r + k3];
      const o0 = k0 * n, o1 = k1 * n, o2 = k2 * n, o3 = k3 * n;
      for (let j = 0; j < n; j++) ci[j] += a0 * b[o0 + j] + a1 * b[o1 + j] + a2 * b[o2 + j] + a3 * b[o3 + j];
    }
    for (; q < cnt; q++) {
      const av = a[r + nz[q]], off = nz[q] * n;
      for (let j = 0; j < n; j++) ci[j] += av * b[off + j];
    }
  }
}

/** [rows, cols] → [cols, rows]. */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = x[r * cols + c];
  return t;
}

/** C = A·Bᵀ with B [N, K]: 4×4 blocks of outputs held in registers over the k loop. */
function dotRows(a: Float32Array, b: Float32Array, c: Float32Array, m: number, k: number, n: number): void {
  const m4 = m - (m % 4), n4 = n - (n % 4);
  for (let i = 0; i < m4; i += 4) {
    const r0 = i * k, r1 = r0 + k, r2 = r1 + k, r3 = r2 + k;
    for (let j = 0; j < n4; j += 4) {
      const q0 = j * k, q1 = q0 + k, q2 = q1 + k, q3 = q2 + k;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let kk = 0; kk < k; kk++) {
        const a0 = a[r0 + kk], a1 = a[r1 + kk], a2 = a[r2 + kk], a3 = a[r3 + kk];
        const b0 = b[q0 + kk], b1 = b[q1 + kk], b2 = b[q2 + kk], b3 = b[q3 + kk];
        s00 += a0 * b0, s01 += a0 * b1, s02 += a0 * b2, s03 += a0 * b3;
        s10 += a1 * b0, s11 += a1 * b1, s12 += a1 * b2, s13 += a1 * b3;
        s20 += a2 * b0, s21 += a2 * b1, s22 += a2 * b2, s23 += a2 * b3;
        s30 += a3 * b0, s31 += a3 * b1, s32 += a3 * b2, s33 += a3 * b3;
      }
      const o = i * n + j;
      c[o] = s00, c[o + 1] = s01, c[o + 2] = s02, c[o + 3] = s03;
      c[o + n] = s10, c[o + n + 1] = s11, c[o + n + 2] = s12, c[o + n + 3] = s13;
      c[o + 2 * n] = s20, c[o + 2 * n + 1] = s21, c[o + 2 * n + 2] = s22, c[o + 2 * n + 3] = s23;
      c[o + 3 * n] = s30, c[o + 3 * n + 1] = s31, c[o + 3 * n + 2] = s32, c[o + 3 * n + 3] = s33;
    }
  }
  // Leftover rows (all of them at decode, where m is 1): four columns at a time, each row of A loaded once
  // per four dot products.
  for (let i = m4; i < m; i++) {
    const r = i * k;
    for (let j = 0; j < n4; j += 4) {
      const q0 = j * k, q1 = q0 + k, q2 = q1 + k, q3 = q2 + k;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let kk = 0; kk < k; kk++) {
        const av = a[r + kk];
        s0 += av * b[q0 + kk], s1 += av * b[q1 + kk], s2 += av * b[q2 + kk], s3 += av * b[q3 + kk];
      }
      const o = i * n + j;
      c[o] = s0, c[o + 1] = s1, c[o + 2] = s2, c[o + 3] = s3;
    }
  }
  // Leftover columns one by one.
  for (let i = 0; i < m; i++) {
    for (let j = n4; j < n; j++) {
      let s = 0;
      for (let kk = 0; kk < k; kk++) s += a[i * k + kk] * b[j * k + kk];
      c[i * n + j] = s;
    }
  }
}
