/**
 * GPU binding of `kernels/row_norm.wgsl` (reference: `row_norm_ref.ts`).
 * @module
 */
import { type GpuContext, grid1d } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor } from "./gpu_util.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * L2 norm of every row on the GPU.
 * @param ctx GPU context.
 * @param x [rows, cols].
 * @returns [rows] (pooled).
 */
export function rowNormGpu(ctx: GpuContext, x: GpuTensor): GpuTensor {
  const [rows, cols] = x.shape;
  const out = allocTensor(ctx, [rows]);
  ctx.dispatch({
    kernel: "row_norm",
    params: new Params().u32(rows).u32(cols).u32(0).u32(0).bytes(),
    buffers: [x.buffer, out.buffer],
    workgroups: grid1d(rows),
  });
  return out;
}
