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
  /** Σ_k (|z[b, k]| − t[b, k])² per row, [B]. */
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
 * Backward of L = mean over b, k of (|z| − t)² at the pre-abs router output z:
 * g = (2 / (B·E)) · (|z| − t) · sign(z) with sign(0) = 0, plus gᵀ and per-row squared-error sums.
 * @param z Pre-abs router outputs, [B, E].
 * @param t Targets, [B, E].
 * @param B Rows.
 * @param E Experts (columns).
 * @returns g, gᵀ and the row losses.
 */
export function routerGradRef(z: Float32Array, t: Float32Array, B: number, E: number): RouterGradResult {
  const g = new Float32Array(B * E), gT = new Float32Array(E * B), rowLoss = new Float32Array(B);
  // Rounded to f32 like the kernel's uniform, so both apply the same factor.
  const scale = Math.fround(2 / (B * E));
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let k = 0; k < E; k++) {
      const i = b * E + k;
      const r = Math.abs(z[i]) - t[i];
      s += r * r;
      g[i] = gT[k * B + b] = z[i] > 0 ? scale * r : z[i] < 0 ? -scale * r : 0;
    }
    rowLoss[b] = s;
  }
  return { g, gT, rowLoss };
}
