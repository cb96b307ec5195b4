/**
 * GPU binding of `kernels/moe_select.wgsl` (reference: `moe_select_ref.ts`; with the router's output layer
 * fused: `moe_router_ref.ts` then `moe_select_ref.ts`).
 * @module
 */
import { type GpuContext, grid1d } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor } from "./gpu_util.ts";
import { matmulGpu } from "./matmul.ts";
import { checkTokenRange, type RoutingRule } from "./moe_select_ref.ts";
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

/** Most experts the fused router output layer keeps in workgroup memory. */
export const SELECT_MAX_EXPERTS = 1024;

function dispatchSelect(
  ctx: GpuContext,
  input: GpuTensor,
  r2: GpuTensor | undefined,
  T: number,
  E: number,
  counts: GpuTensor,
  countsOffset: number,
  cap: number,
  rule: RoutingRule,
  t0 = 0,
): GpuSelection {
  const lists = allocTensor(ctx, [E * cap], "u32");
  const tokRows = allocTensor(ctx, [T * E], "u32");
  const tokK = allocTensor(ctx, [T], "u32");
  const w = r2 ? r2.shape[0] : 0;
  const emax = Math.max(32, 2 ** Math.ceil(Math.log2(E)));
  const params = new Params().u32(T).u32(E).u32(cap).u32(rule.mode === "dynk" ? 0 : 1)
    .u32(rule.mode === "topk" ? rule.k : 0).u32(countsOffset).f32(rule.mode === "dynk" ? rule.tau : 0).u32(w)
    .u32(t0).u32(0).u32(0).u32(0);
  ctx.dispatch({
    kernel: "moe_select",
    constants: r2 ? { FROM_HIDDEN: 1, EMAX: emax } : E <= SELECT_MAX_EXPERTS ? { STAGE: 1, EMAX: emax } : {},
    params: params.bytes(),
    buffers: [
      input.buffer,
      counts.buffer,
      lists.buffer,
      tokRows.buffer,
      tokK.buffer,
      r2?.buffer ?? ctx.placeholder,
    ],
    workgroups: grid1d(T),
  });
  return { lists, tokRows, tokK };
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
  return dispatchSelect(ctx, scores, undefined, T, E, counts, countsOffset, cap, rule);
}

/**
 * Router and selection for a batch: h = relu(x·R1) on the tiled matmul, then one selection kernel that
 * computes the scores |h·R2| itself. Zeroes `counts[countsOffset … +E)` first.
 * @param ctx GPU context.
 * @param x [T, d].
 * @param r1 [d, w].
 * @param r2 [w, E] with E ≤ {@link SELECT_MAX_EXPERTS}.
 * @param counts u32 counters.
 * @param countsOffset First counter of this layer.
 * @param cap Slots per expert (≥ T).
 * @param rule Dynamic-k or top-k.
 * @returns Lists and per-token rows (pooled).
 * @throws {RangeError} When there are more experts than the kernel keeps.
 */
export function moeRouteSelectGpu(
  ctx: GpuContext,
  x: GpuTensor,
  r1: GpuTensor,
  r2: GpuTensor,
  counts: GpuTensor,
  countsOffset: number,
  cap: number,
  rule: RoutingRule,
): GpuSelection {
  const T = x.shape[0];
  const E = r2.shape[1];
  if (E > SELECT_MAX_EXPERTS) {
    throw new RangeError(`${E} experts exceed the selection kernel's ${SELECT_MAX_EXPERTS}`);
  }
  const h = matmulGpu(ctx, x, r1, { act: "relu" });
  ctx.clear(counts.buffer, countsOffset * 4, E * 4);
  const sel = dispatchSelect(ctx, h, r2, T, E, counts, countsOffset, cap, rule);
  ctx.pool.release(h.buffer);
  return sel;
}

/**
 * Selection for tokens `start … start + count − 1` of a batch from its router scores (their absolute
 * values: h·R2 can come straight from a matmul). Lists hold batch token indices (so the expert
 * up-projection gathers from the whole batch); tokRows and tokK are per chunk token. Zeroes
 * `counts[countsOffset … +E)` first.
 * @param ctx GPU context.
 * @param scores [T, E], T ≥ start + count.
 * @param counts u32 counters.
 * @param countsOffset First counter of this layer.
 * @param cap Slots per expert (≥ count).
 * @param rule Dynamic-k or top-k.
 * @param start First token.
 * @param count Tokens.
 * @returns Lists and per-token rows (pooled).
 * @throws {RangeError} When the range leaves the batch.
 */
export function moeSelectRangeGpu(
  ctx: GpuContext,
  scores: GpuTensor,
  counts: GpuTensor,
  countsOffset: number,
  cap: number,
  rule: RoutingRule,
  start: number,
  count: number,
): GpuSelection {
  const [T, E] = scores.shape;
  checkTokenRange("moeSelectRange", start, count, T);
  ctx.clear(counts.buffer, countsOffset * 4, E * 4);
  return dispatchSelect(ctx, scores, undefined, count, E, counts, countsOffset, cap, rule, start);
}
