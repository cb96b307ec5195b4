/**
 * GPU binding of `kernels/moe_select.wgsl` (reference: `moe_select_ref.ts`).
 * @module
 */
import { type GpuContext, grid1d } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor } from "./gpu_util.ts";
import type { RoutingRule } from "./moe_select_ref.ts";
import type { GpuTensor } from "./tensor.ts";

/** Selection outputs on the GPU (see `Selection` in the reference for the layout). */
export interface GpuSelection {
  /** u32 [E·cap] token ids per expert slot. */
  lists: GpuTensor;
  /** u32 [T·E] rows of each token's selected pairs. */
  tokRows: GpuTensor;
  /** u32 [T] pairs per token. */
  tokK: GpuTensor;
}

/**
 * Builds expert token lists, counts and per-token pair rows from scores, with u32 atomics.
 * `counts[countsOffset … +E)` must be zero on entry (the router kernel zeroes them).
 * @param ctx GPU context.
 * @param scores [T, E].
 * @param counts u32 counters (incremented).
 * @param countsOffset First counter of this layer.
 * @param cap Slots per expert (≥ T).
 * @param rule Dynamic-k or top-k.
 * @returns Lists and per-token rows (pooled).
 */
export function moeSelectGpu(
  ctx: GpuContext,
  scores: GpuTensor,
  counts: GpuTensor,
  countsOffset: number,
  cap: number,
  rule: RoutingRule,
): GpuSelection {
  const [T, E] = scores.shape;
  const lists = allocTensor(ctx, [E * cap], "u32");
  const tokRows = allocTensor(ctx, [T * E], "u32");
  const tokK = allocTensor(ctx, [T], "u32");
  const params = new Params().u32(T).u32(E).u32(cap).u32(rule.mode === "dynk" ? 0 : 1)
    .u32(rule.mode === "topk" ? rule.k : 0).u32(countsOffset).f32(rule.mode === "dynk" ? rule.tau : 0).u32(0);
  ctx.dispatch({
    kernel: "moe_select",
    params: params.bytes(),
    buffers: [scores.buffer, counts.buffer, lists.buffer, tokRows.buffer, tokK.buffer],
    workgroups: grid1d(T),
  });
  return { lists, tokRows, tokK };
}
