/**
 * GPU binding of `kernels/cross_entropy.wgsl` (reference: `cross_entropy_ref.ts`).
 * @module
 */
import { type GpuContext, grid1d } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor } from "./gpu_util.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * Per-row cross-entropy on the GPU.
 * @param ctx GPU context.
 * @param logits [rows, vocab].
 * @param targets u32 [rows] (0xffffffff: no target).
 * @returns [rows] losses (pooled).
 */
export function crossEntropyGpu(ctx: GpuContext, logits: GpuTensor, targets: GpuTensor): GpuTensor {
  const [rows, vocab] = logits.shape;
  const out = allocTensor(ctx, [rows]);
  ctx.dispatch({
    kernel: "cross_entropy",
    params: new Params().u32(rows).u32(vocab).u32(0).u32(0).bytes(),
    buffers: [logits.buffer, targets.buffer, out.buffer],
    workgroups: grid1d(rows),
  });
  return out;
}
