/**
 * CPU reference for `kernels/router_grad.wgsl`.
 * @module
 */

/** Output of the router-loss backward. */
export interface RouterGradResult {
  /** dL/dz, [B, E]. */
  g: Float32Array;
  /** The same, transposed: [E, B]. */
  gT: Float32Array;
  /** Σ_k u·(|z[b, k]| − t[b, k])² per row, [B] (u: the under-prediction weight where |z| < t, else 1). */
  rowLoss: Float32Array;
}

/**
 * Checks where a router-loss backward writes its row losses (shared by both backends).
 * @param rows Rows of z.
 * @param lossLength Length of the row-loss vector.
 * @param offset Where row 0's loss goes.
 * @throws {RangeError} When `offset` is not a non-negative integer or the rows run past the vector.
 */
export function checkRouterGrad(rows: number, lossLength: number, offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + rows > lossLength) {
    throw new RangeError(
      `routerGrad: row losses [${offset}, ${offset + rows}) do not fit a vector of ${lossLength}`,
    );
  }
}

/**
 * Backward of L = mean over b, k of u·(|z| − t)² at the pre-abs router output z, u = `underWeight` where
 * |z| < t and 1 elsewhere: g = (2 / (B·E)) · u · (|z| − t) · sign(z) with sign(0) = 0, plus gᵀ and per-row
 * weighted squared-error sums.
 * @param z Pre-abs router outputs, [B, E].
 * @param t Targets, [B, E].
 * @param B Rows.
 * @param E Experts (columns).
 * @param underWeight Weight of under-predictions (default 1: plain MSE).
 * @returns g, gᵀ and the row losses.
 */
export function routerGradRef(
  z: Float32Array,
  t: Float32Array,
  B: number,
  E: number,
  underWeight = 1,
): RouterGradResult {
  const g = new Float32Array(B * E), gT = new Float32Array(E * B), rowLoss = new Float32Array(B);
  // Rounded to f32 like the kernel's uniform, so both apply the same factor.
  const scale = Math.fround(2 / (B * E));
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let k = 0; k < E; k++) {
      const i = b * E + k;
      const r = Math.abs(z[i]) - t[i];
      const wr = r < 0 ? Math.fround(underWeight) * r : r; // the kernel's uniform is f32
      s += wr * r;
      g[i] = gT[k * B + b] = z[i] > 0 ? scale * wr : z[i] < 0 ? -scale * wr : 0;
    }
    rowLoss[b] = s;
  }
  return { g, gT, rowLoss };
}
