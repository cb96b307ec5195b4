/**
 * Small helpers shared by the GPU op bindings.
 * @module
 */
import { type GpuContext, grid1d } from "../gpu/context.ts";
import { type DType, GpuTensor, numel, type Tensor } from "./tensor.ts";

/**
 * A pooled output tensor.
 * @param ctx GPU context.
 * @param shape Dimensions.
 * @param dtype Element type.
 * @returns A tensor whose contents are undefined until a kernel writes them.
 */
export function allocTensor(ctx: GpuContext, shape: readonly number[], dtype: DType = "f32"): GpuTensor {
  return new GpuTensor(ctx.pool.acquire(Math.max(4, numel(shape) * 4)), shape, dtype, true);
}

/**
 * Narrows a tensor to a GPU tensor.
 * @param t Any tensor.
 * @param what Name for the error message.
 * @returns The same tensor, typed.
 * @throws {TypeError} When `t` is not a GPU tensor.
 */
export function gpu(t: Tensor, what = "tensor"): GpuTensor {
  if (!(t instanceof GpuTensor)) throw new TypeError(`${what} must be a GPU tensor`);
  return t;
}

/**
 * Workgroups for a 1-D kernel of `n` threads in groups of `wg`, folded into x/y.
 * @param n Thread count.
 * @param wg Workgroup size.
 * @returns `[x, y]` workgroup counts.
 */
export function flatGrid(n: number, wg = 256): [number, number] {
  return grid1d(Math.ceil(n / wg));
}
