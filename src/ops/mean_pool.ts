/**
 * GPU binding of `kernels/mean_pool.wgsl` (reference: `mean_pool_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor } from "./gpu_util.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * Masked mean over tokens on the GPU.
 * @param ctx GPU context.
 * @param x [batch·seq, cols].
 * @param mask u32 [batch, seq].
 * @param batch Batch size.
 * @param seq Tokens per entry.
 * @returns [batch, cols] (pooled).
 */
export function meanPoolGpu(
  ctx: GpuContext,
  x: GpuTensor,
  mask: GpuTensor,
  batch: number,
  seq: number,
): GpuTensor {
  const cols = x.shape[1];
  const out = allocTensor(ctx, [batch, cols]);
  ctx.dispatch({
    kernel: "mean_pool",
    params: new Params().u32(batch).u32(seq).u32(cols).u32(0).bytes(),
    buffers: [x.buffer, mask.buffer, out.buffer],
    workgroups: [Math.ceil((batch * cols) / 256)],
  });
  return out;
}
