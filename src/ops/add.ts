/**
 * GPU binding of `kernels/add.wgsl` (reference: `add_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor, flatGrid } from "./gpu_util.ts";
import { type GpuTensor, numel } from "./tensor.ts";

/**
 * out = a + b, with b repeated when it is shorter (row broadcast).
 * @param ctx GPU context.
 * @param a Left operand.
 * @param b Right operand; its element count must divide a's.
 * @returns Sum shaped like `a` (pooled).
 * @throws {RangeError} When b's size does not divide a's.
 */
export function addGpu(ctx: GpuContext, a: GpuTensor, b: GpuTensor): GpuTensor {
  const n = numel(a.shape);
  const bl = numel(b.shape);
  if (bl === 0 || n % bl !== 0) {
    throw new RangeError(`add: [${b.shape}] does not broadcast onto [${a.shape}]`);
  }
  const out = allocTensor(ctx, a.shape);
  ctx.dispatch({
    kernel: "add",
    params: new Params().u32(n).u32(bl).u32(0).u32(0).bytes(),
    buffers: [a.buffer, b.buffer, out.buffer],
    workgroups: flatGrid(n),
  });
  return out;
}
