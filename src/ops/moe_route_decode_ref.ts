/**
 * CPU reference for `kernels/moe_route_decode.wgsl`: LayerNorm (optional), then `moe_router_ref.ts`, then
 * `moe_select_ref.ts`.
 * @module
 */
import { layerNormRef } from "./layer_norm_ref.ts";
import { moeRouterRef } from "./moe_router_ref.ts";
import { moeSelectRef, type RoutingRule, type Selection } from "./moe_select_ref.ts";

/** What the fused router computes. */
export interface RouteDecodeResult extends Selection {
  /** The router's input, LN(x) or x: [T, d]. */
  xn: Float32Array;
  /** Scores [T, E]. */
  scores: Float32Array;
  /** The router's hidden layer relu(xn·R1) [T, w]. */
  hidden: Float32Array;
}

/**
 * Router scores and selection of T tokens, with an optional LayerNorm of x first.
 * @param x [T, d].
 * @param r1 [d, w].
 * @param r2 [w, E].
 * @param dims Sizes.
 * @param cap Slots per expert.
 * @param rule Dynamic-k or top-k.
 * @param ln Optional LayerNorm.
 * @returns Selection, scores and the normalised input.
 */
export function moeRouteDecodeRef(
  x: Float32Array,
  r1: Float32Array,
  r2: Float32Array,
  dims: { T: number; d: number; w: number; E: number },
  cap: number,
  rule: RoutingRule,
  ln?: { gamma: Float32Array; beta: Float32Array; eps: number },
): RouteDecodeResult {
  const { T, d, E } = dims;
  const xn = ln ? layerNormRef(x, ln.gamma, ln.beta, T, d, ln.eps) : x;
  const scores = moeRouterRef(xn, r1, r2, dims);
  const hidden = new Float32Array(T * dims.w);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < dims.w; j++) {
      let a = 0;
      for (let k = 0; k < d; k++) a += xn[t * d + k] * r1[k * dims.w + j];
      hidden[t * dims.w + j] = Math.max(a, 0);
    }
  }
  return { ...moeSelectRef(scores, T, E, cap, rule), xn, scores, hidden };
}
