/**
 * The CPU backend's D2DMoE FFN layer, token-major: route every token (blocked matmuls), then for each token
 * run its selected experts and add each active neuron's W2 row straight into the token's output. The GPU
 * layout (per-pair output rows of width d, merged afterwards) costs E·T·d floats of memory and a scattered
 * merge, which on a CPU with hundreds of small experts was slower than the dense layer; this does only the
 * selected work and skips neurons the activation zeroes. Same function as `moeFfnDecodeRef` (summation
 * order differs; tested against it).
 * @module
 */
import { type Activation, applyActivation } from "./activation.ts";
import { layerNormRef } from "./layer_norm_ref.ts";
import { matmulCpu } from "./matmul_cpu.ts";
import type { HostMoeWeights } from "./moe_ffn_decode_ref.ts";
import { moeSelectRef, type RoutingRule } from "./moe_select_ref.ts";

/**
 * residual + FFN(LN?(x)) of a D2DMoE layer on the CPU.
 * @param x [T, d] (the FFN input, or its pre-LayerNorm value when `ln` is given).
 * @param residual Optional [T, d].
 * @param t Layer weights (expert-major).
 * @param dims Sizes: tokens, model width, router width, experts, neurons per expert.
 * @param act Expert hidden activation.
 * @param rule Dynamic-k or top-k.
 * @param ln Optional LayerNorm applied to x first.
 * @returns The output [T, d] and the tokens each expert ran [E].
 */
export function moeFfnCpu(
  x: Float32Array,
  residual: Float32Array | undefined,
  t: HostMoeWeights,
  dims: { T: number; d: number; w: number; E: number; s: number },
  act: Activation,
  rule: RoutingRule,
  ln?: { gamma: Float32Array; beta: Float32Array; eps: number },
): { y: Float32Array; counts: Uint32Array } {
  const { T, d, w, E, s } = dims;
  const xn = ln ? layerNormRef(x, ln.gamma, ln.beta, T, d, ln.eps) : x;
  const hidden = matmulCpu(xn, t.r1, T, d, w, { act: "relu" });
  const scores = matmulCpu(hidden, t.r2, T, w, E);
  for (let i = 0; i < scores.length; i++) scores[i] = Math.abs(scores[i]);
  const sel = moeSelectRef(scores, T, E, T, rule);
  const y = new Float32Array(T * d);
  const acc = new Float64Array(d);
  for (let tok = 0; tok < T; tok++) {
    const xo = tok * d;
    acc.fill(0);
    for (let j = 0; j < sel.tokK[tok]; j++) {
      const e = Math.floor(sel.tokRows[tok * E + j] / T); // rows are e·cap + slot, cap = T
      for (let n = 0; n < s; n++) {
        // Neuron n of expert e: column n of the [d, s] block (stride s), four partial sums.
        const o = e * d * s + n;
        let a0 = 0, a1 = 0, a2 = 0, a3 = 0, k = 0;
        for (; k + 4 <= d; k += 4) {
          a0 += xn[xo + k] * t.w1[o + k * s];
          a1 += xn[xo + k + 1] * t.w1[o + (k + 1) * s];
          a2 += xn[xo + k + 2] * t.w1[o + (k + 2) * s];
          a3 += xn[xo + k + 3] * t.w1[o + (k + 3) * s];
        }
        for (; k < d; k++) a0 += xn[xo + k] * t.w1[o + k * s];
        const v = applyActivation(act, Math.fround((a0 + a1) + (a2 + a3) + t.b1[e * s + n]));
        if (v === 0) continue; // ReLU zeros: most neurons of a sparse model
        const wo = (e * s + n) * d;
        for (let c = 0; c < d; c++) acc[c] += v * t.w2[wo + c];
      }
    }
    for (let c = 0; c < d; c++) y[xo + c] = acc[c] + t.b2[c] + (residual ? residual[xo + c] : 0);
  }
  return { y, counts: sel.counts };
}
