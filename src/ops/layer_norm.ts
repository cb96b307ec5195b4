/**
 * GPU binding of `kernels/layer_norm.wgsl` (reference: `layer_norm_ref.ts`).
 * @module
 */
import { type GpuContext, grid1d } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor } from "./gpu_util.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * Row-wise LayerNorm on the GPU.
 * @param ctx GPU context.
 * @param x [rows, cols].
 * @param gamma [cols].
 * @param beta [cols].
 * @param eps Variance epsilon.
 * @returns [rows, cols] (pooled).
 */
export function layerNormGpu(
  ctx: GpuContext,
  x: GpuTensor,
  gamma: GpuTensor,
  beta: GpuTensor,
  eps: number,
): GpuTensor {
  const [rows, cols] = x.shape;
  const out = allocTensor(ctx, [rows, cols]);
  ctx.dispatch({
    kernel: "layer_norm",
    params: new Params().u32(rows).u32(cols).f32(eps).u32(0).bytes(),
    buffers: [x.buffer, gamma.buffer, beta.buffer, out.buffer],
    workgroups: grid1d(rows),
  });
  return out;
}
