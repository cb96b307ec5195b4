/**
 * Calibration on the CPU: a D2DMoE layer with every expert running (exactly the dense FFN) and each
 * expert's output L2 norm per token, without the per-pair output rows. The generic path writes and re-reads
 * E·T·d floats (786 KB per token for 384 experts at d = 512), which made calibrating the default model take
 * minutes; here the up-projection is one blocked matmul over all experts' neurons and each token's
 * down-projection adds only its active neurons' rows, expert by expert.
 * @module
 */
import type { Activation } from "./activation.ts";
import { matmulCpu } from "./matmul_cpu.ts";

/** What {@link moeFfnNormsCpu} returns, in the layout of the generic path. */
export interface FfnNorms {
  /** residual + FFN(x) [T, d]. */
  y: Float32Array;
  /** ‖expert e's output for token t‖₂ at row e·T + t [E·T]. */
  norms: Float32Array;
  /** For token t, the rows of its pairs in ascending expert order: tokRows[t·E + e] = e·T + t [T·E]. */
  tokRows: Uint32Array;
}

/**
 * Every expert of a MoE layer on `x`, with per-(token, expert) output norms.
 * @param x FFN input [T, d].
 * @param residual Optional [T, d].
 * @param w1 Up-projections, expert-major [E·d, s].
 * @param b1 [E·s].
 * @param w2 Down-projections [E·s, d].
 * @param b2 [d].
 * @param dims Tokens, width, experts, neurons per expert.
 * @param act Expert hidden activation.
 * @returns Output, norms and pair rows.
 */
export function moeFfnNormsCpu(
  x: Float32Array,
  residual: Float32Array | undefined,
  w1: Float32Array,
  b1: Float32Array,
  w2: Float32Array,
  b2: Float32Array,
  dims: { T: number; d: number; E: number; s: number },
  act: Activation,
): FfnNorms {
  const { T, d, E, s } = dims;
  const F = E * s;
  // [E·d, s] expert blocks → one [d, E·s] matrix, so the up-projection is a single blocked product.
  const wAll = new Float32Array(d * F);
  for (let e = 0; e < E; e++) {
    for (let k = 0; k < d; k++) {
      for (let n = 0; n < s; n++) wAll[k * F + e * s + n] = w1[(e * d + k) * s + n];
    }
  }
  const h = matmulCpu(x, wAll, T, d, F, { act }, b1);
  const y = new Float32Array(T * d), norms = new Float32Array(E * T), tokRows = new Uint32Array(T * E);
  const acc = new Float64Array(d), out = new Float64Array(d);
  for (let t = 0; t < T; t++) {
    acc.fill(0);
    for (let e = 0; e < E; e++) {
      tokRows[t * E + e] = e * T + t;
      let any = false;
      for (let n = 0; n < s; n++) {
        const v = h[t * F + e * s + n];
        if (v === 0) continue; // ReLU zeros
        const wo = (e * s + n) * d;
        if (!any) {
          for (let c = 0; c < d; c++) out[c] = v * w2[wo + c];
          any = true;
        } else {
          for (let c = 0; c < d; c++) out[c] += v * w2[wo + c];
        }
      }
      if (!any) continue; // norm 0
      let sq = 0;
      for (let c = 0; c < d; c++) {
        const o = Math.fround(out[c]);
        sq += o * o;
        acc[c] += o;
      }
      norms[e * T + t] = Math.sqrt(sq);
    }
    for (let c = 0; c < d; c++) y[t * d + c] = acc[c] + b2[c] + (residual ? residual[t * d + c] : 0);
  }
  return { y, norms, tokRows };
}
