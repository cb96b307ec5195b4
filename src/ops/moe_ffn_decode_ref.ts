/**
 * CPU reference for `moe_ffn_decode.ts`: a D2DMoE FFN layer as LayerNorm (optional) → router →
 * selection → expert up/down projections → merge, from the per-kernel references.
 * @module
 */
import type { Activation } from "./activation.ts";
import { moeExpertMatmulCpu } from "./moe_expert_matmul_cpu.ts";
import { moeMergeRef } from "./moe_merge_ref.ts";
import { moeRouteDecodeRef } from "./moe_route_decode_ref.ts";
import type { RoutingRule } from "./moe_select_ref.ts";

/** One D2DMoE layer's host weights. */
export interface HostMoeWeights {
  /** Router [d, w]. */
  r1: Float32Array;
  /** Router [w, E]. */
  r2: Float32Array;
  /** [E, d, s]. */
  w1: Float32Array;
  /** [E, s]. */
  b1: Float32Array;
  /** [E, s, d]. */
  w2: Float32Array;
  /** [d]. */
  b2: Float32Array;
}

/**
 * residual + FFN(LN?(x)) of a D2DMoE layer, and the tokens each expert ran.
 * @param x [T, d].
 * @param residual Optional [T, d].
 * @param t Weights.
 * @param dims Sizes (w: router width, s: neurons per expert).
 * @param act Expert hidden activation.
 * @param rule Dynamic-k or top-k.
 * @param ln Optional LayerNorm applied to x first.
 * @returns `y` [T, d] and `counts` [E].
 */
export function moeFfnDecodeRef(
  x: Float32Array,
  residual: Float32Array | undefined,
  t: HostMoeWeights,
  dims: { T: number; d: number; w: number; E: number; s: number },
  act: Activation,
  rule: RoutingRule,
  ln?: { gamma: Float32Array; beta: Float32Array; eps: number },
): { y: Float32Array; counts: Uint32Array } {
  const { T, d, E, s } = dims;
  const cap = T;
  const r = moeRouteDecodeRef(x, t.r1, t.r2, dims, cap, rule, ln);
  const h = moeExpertMatmulCpu(r.xn, r.lists, r.counts, t.w1, t.b1, {
    E,
    cap,
    K: d,
    N: s,
    gather: true,
    act,
  });
  const po = moeExpertMatmulCpu(h, r.lists, r.counts, t.w2, undefined, {
    E,
    cap,
    K: s,
    N: d,
    gather: false,
    act: "none",
  });
  return { y: moeMergeRef(po, r.tokRows, r.tokK, t.b2, residual, T, E, d), counts: r.counts };
}
