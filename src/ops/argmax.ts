/**
 * GPU binding of `kernels/argmax.wgsl` (reference: `argmax_ref.ts`).
 * @module
 */
import { type GpuContext, grid1d } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor } from "./gpu_util.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * Index of the largest value of every row, on the GPU.
 * @param ctx GPU context.
 * @param x [rows, cols], f32.
 * @returns [rows], u32 (pooled).
 */
export function argmaxGpu(ctx: GpuContext, x: GpuTensor): GpuTensor {
  const [rows, cols] = x.shape;
  const out = allocTensor(ctx, [rows], "u32");
  ctx.dispatch({
    kernel: "argmax",
    params: new Params().u32(rows).u32(cols).u32(0).u32(0).bytes(),
    buffers: [x.buffer, out.buffer],
    workgroups: grid1d(rows),
  });
  return out;
}
