/**
 * CPU reference for `kernels/matmul.wgsl`.
 * @module
 */
import { type Activation, applyActivation } from "./activation.ts";

/** Epilogue and layout options shared by the kernel and its reference. */
export interface MatmulOptions {
  /** B is stored `[N, K]` (a PyTorch `nn.Linear` weight) instead of `[K, N]`. */
  transB?: boolean;
  /** Activation applied after the bias, before the residual. */
  act?: Activation;
}

/**
 * C = act(A · B + bias) + residual.
 * @param a A: [M, K] row-major.
 * @param b B: [K, N] (or [N, K] with `transB`).
 * @param m Rows of A.
 * @param k Inner dimension.
 * @param n Columns of C.
 * @param opts Layout and activation.
 * @param bias Optional [N].
 * @param residual Optional [M, N], added last.
 * @returns C: [M, N].
 */
export function matmulRef(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  opts: MatmulOptions = {},
  bias?: Float32Array,
  residual?: Float32Array,
): Float32Array {
  const c = new Float32Array(m * n);
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    const ai = i * k;
    if (opts.transB) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        const bj = j * k;
        for (let kk = 0; kk < k; kk++) s += a[ai + kk] * b[bj + kk];
        row[j] = s;
      }
    } else {
      for (let kk = 0; kk < k; kk++) {
        const av = a[ai + kk];
        if (av === 0) continue;
        const bk = kk * n;
        for (let j = 0; j < n; j++) row[j] += av * b[bk + j];
      }
    }
    const act = opts.act ?? "none";
    for (let j = 0; j < n; j++) {
      let v = row[j] + (bias ? bias[j] : 0);
      v = applyActivation(act, v);
      if (residual) v += residual[i * n + j];
      c[i * n + j] = v;
    }
  }
  return c;
}
