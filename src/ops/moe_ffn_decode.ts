/**
 * The D2DMoE FFN layer for a few tokens (decode) on the GPU in three or four dispatches: the router's
 * hidden layer on `gemv` (LayerNorm fused; `TUNING.moeDecode.routeMode` "gemv", else inside the next),
 * `moe_route_decode` (router output + selection, one workgroup), `moe_expert_ffn` (selected experts' up and
 * down projections fused by neuron chunks, many workgroups) and `moe_merge` (partials + b2 + residual).
 * Shapes the decode kernels do not take run the batched kernels instead. Reference: `moe_ffn_decode_ref.ts`.
 * @module
 */
import type { GpuContext, KernelLimits } from "../gpu/context.ts";
import type { Activation } from "./activation.ts";
import { gemvGpu, type GpuLayerNorm } from "./gemv.ts";
import { allocTensor } from "./gpu_util.ts";
import { layerNormGpu } from "./layer_norm.ts";
import { moeExpertFfnGpu } from "./moe_expert_ffn.ts";
import { moeExpertMatmulGpu } from "./moe_expert_matmul.ts";
import { moeMergeGpu } from "./moe_merge.ts";
import { moeRouteDecodeGpu, routeDecodeFits } from "./moe_route_decode.ts";
import { moeRouteSelectGpu } from "./moe_select.ts";
import type { RoutingRule } from "./moe_select_ref.ts";
import type { GpuTensor } from "./tensor.ts";
import { TUNING } from "./tuning.ts";

/** One D2DMoE layer's tensors on the GPU. */
export interface GpuMoeWeights {
  /** Router [d, w]. */
  r1: GpuTensor;
  /** Router [w, E]. */
  r2: GpuTensor;
  /** Experts' up-projections [E·d, s]. */
  w1: GpuTensor;
  /** [E·s]. */
  b1: GpuTensor;
  /** Experts' down-projections [E·s, d]. */
  w2: GpuTensor;
  /** Shared output bias [d]. */
  b2: GpuTensor;
}

/**
 * Neurons per partial row of the fused expert kernel for an expert size, or 0 when the decode kernels
 * cannot take the shape.
 * @param limits Device limits.
 * @param T Tokens.
 * @param d Model width.
 * @param w Router width.
 * @param E Experts.
 * @param s Neurons per expert.
 * @returns The chunk (a multiple of 4 dividing s), or 0.
 */
export function decodeChunk(
  limits: KernelLimits,
  T: number,
  d: number,
  w: number,
  E: number,
  s: number,
): number {
  if (!routeDecodeFits(limits, T, w, E) || d % 4 || s % 4) return 0;
  if (TUNING.moeDecode.ffnWG > limits.maxComputeInvocationsPerWorkgroup) return 0;
  for (const c of [TUNING.moeDecode.chunk, 16, 8, 4]) if (c % 4 === 0 && s % c === 0) return c;
  return 0;
}

/**
 * residual + FFN(LN?(x)) of a D2DMoE layer; `counts` [E] receives the tokens each expert ran.
 * @param ctx GPU context.
 * @param x [T, d] (the FFN input, or its pre-LayerNorm value when `ln` is given).
 * @param residual Optional [T, d].
 * @param t Layer tensors.
 * @param act Expert hidden activation.
 * @param counts u32 [E] (overwritten).
 * @param rule Dynamic-k or top-k.
 * @param ln Optional LayerNorm applied to x first.
 * @returns [T, d] (pooled).
 */
export function moeFfnDecodeGpu(
  ctx: GpuContext,
  x: GpuTensor,
  residual: GpuTensor | undefined,
  t: GpuMoeWeights,
  act: Activation,
  counts: GpuTensor,
  rule: RoutingRule,
  ln?: GpuLayerNorm,
): GpuTensor {
  const [T, d] = x.shape;
  const [w, E] = t.r2.shape;
  const s = t.w1.shape[1];
  const cap = T;
  const chunk = decodeChunk(ctx.limits, T, d, w, E, s);
  if (chunk === 0) {
    const xn = ln ? layerNormGpu(ctx, x, ln.gamma, ln.beta, ln.eps) : x;
    const sel = moeRouteSelectGpu(ctx, xn, t.r1, t.r2, counts, 0, cap, rule);
    const h = moeExpertMatmulGpu(ctx, xn, sel.lists, counts, 0, t.w1, t.b1, {
      E,
      cap,
      K: d,
      N: s,
      gather: true,
      act,
    });
    const po = moeExpertMatmulGpu(ctx, h, sel.lists, counts, 0, t.w2, undefined, {
      E,
      cap,
      K: s,
      N: d,
      gather: false,
      act: "none",
    });
    const y = moeMergeGpu(ctx, po, sel.tokRows, sel.tokK, t.b2, residual, T, E);
    for (const b of [sel.lists, sel.tokRows, sel.tokK, h, po]) ctx.pool.release(b.buffer);
    if (xn !== x) ctx.pool.release(xn.buffer);
    return y;
  }
  const xn = ln ? allocTensor(ctx, [T, d]) : x;
  // The router's hidden layer: streamed by every SM on the GEMV (LayerNorm fused), or inside the
  // single-workgroup router kernel (one dispatch fewer, one SM's bandwidth).
  const hidden = TUNING.moeDecode.routeMode === "gemv"
    ? gemvGpu(ctx, x, t.r1, T, d, w, { act: "relu" }, undefined, undefined, { ln })
    : undefined;
  const sel = moeRouteDecodeGpu(ctx, x, t.r1, t.r2, counts, 0, cap, rule, ln, ln ? xn : undefined, hidden);
  if (hidden) ctx.pool.release(hidden.buffer);
  const part = moeExpertFfnGpu(
    ctx,
    xn,
    { buffer: sel.buffer, offset: 0, size: E * cap * 4 },
    counts,
    0,
    t.w1,
    t.b1,
    t.w2,
    { E, cap, d, s, chunk, act },
  );
  const y = moeMergeGpu(
    ctx,
    part,
    { buffer: sel.buffer, offset: sel.rowsOffset, size: T * E * 4 },
    { buffer: sel.buffer, offset: sel.kOffset, size: T * 4 },
    t.b2,
    residual,
    T,
    E,
    s / chunk,
  );
  ctx.pool.release(sel.buffer);
  ctx.pool.release(part.buffer);
  if (xn !== x) ctx.pool.release(xn.buffer);
  return y;
}
