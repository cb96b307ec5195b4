/**
 * GPU binding of `kernels/router_grad.wgsl` (reference: `router_grad_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor, flatGrid } from "./gpu_util.ts";
import { checkRouterGrad } from "./router_grad_ref.ts";
import { type GpuTensor, numel } from "./tensor.ts";

/**
 * Router-loss backward on the GPU: g = (2 / (B·E))·(|z| − t)·sign(z) and gᵀ; row losses go to
 * `rowLoss[rowOffset … +B)`.
 * @param ctx GPU context.
 * @param z Pre-abs router outputs [B, E].
 * @param t Targets [B, E].
 * @param rowLoss f32 vector receiving Σ_k (|z| − t)² per row.
 * @param rowOffset Where row 0's loss goes.
 * @param underWeight Weight of under-predictions (default 1: plain MSE).
 * @returns g [B, E] and gT [E, B] (both pooled).
 * @throws {RangeError} When z and t differ in shape or the row losses do not fit.
 */
export function routerGradGpu(
  ctx: GpuContext,
  z: GpuTensor,
  t: GpuTensor,
  rowLoss: GpuTensor,
  rowOffset: number,
  underWeight = 1,
): { g: GpuTensor; gT: GpuTensor } {
  const [B, E] = z.shape;
  if (t.shape[0] !== B || t.shape[1] !== E) {
    throw new RangeError(`routerGrad: z is [${z.shape}] but targets are [${t.shape}]`);
  }
  checkRouterGrad(B, numel(rowLoss.shape), rowOffset);
  const g = allocTensor(ctx, [B, E]), gT = allocTensor(ctx, [E, B]);
  ctx.dispatch({
    kernel: "router_grad",
    params: new Params().u32(B).u32(E).u32(rowOffset).f32(2 / (B * E)).f32(underWeight).bytes(),
    buffers: [z.buffer, t.buffer, g.buffer, gT.buffer, rowLoss.buffer],
    workgroups: flatGrid(B, 64),
  });
  return { g, gT };
}
