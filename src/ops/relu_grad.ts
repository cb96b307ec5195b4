/**
 * GPU binding of `kernels/relu_grad.wgsl` (reference: `relu_grad_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor, flatGrid } from "./gpu_util.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * dy ⊙ (y > 0) on the GPU, optionally transposed.
 * @param ctx GPU context.
 * @param dy Upstream gradient [rows, cols].
 * @param y ReLU output [rows, cols].
 * @param transpose Write [cols, rows].
 * @returns [rows, cols] or [cols, rows] (pooled).
 * @throws {RangeError} When dy and y differ in shape.
 */
export function reluGradGpu(ctx: GpuContext, dy: GpuTensor, y: GpuTensor, transpose = false): GpuTensor {
  const [rows, cols] = dy.shape;
  if (y.shape[0] !== rows || y.shape[1] !== cols) {
    throw new RangeError(`reluGrad: dy is [${dy.shape}] but y is [${y.shape}]`);
  }
  const out = allocTensor(ctx, transpose ? [cols, rows] : [rows, cols]);
  ctx.dispatch({
    kernel: "relu_grad",
    params: new Params().u32(rows).u32(cols).u32(transpose ? 1 : 0).u32(0).bytes(),
    buffers: [dy.buffer, y.buffer, out.buffer],
    workgroups: flatGrid(rows * cols),
  });
  return out;
}
