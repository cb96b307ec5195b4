/**
 * GPU binding of `kernels/moe_merge.wgsl` (reference: `moe_merge_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor, flatGrid } from "./gpu_util.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * y = residual + b2 + Σ selected pair outputs, per token.
 * @param ctx GPU context.
 * @param pairOut [E·cap, d].
 * @param tokRows u32 [T·E].
 * @param tokK u32 [T].
 * @param b2 [d].
 * @param residual Optional [T, d].
 * @param T Tokens.
 * @param E Experts.
 * @returns [T, d] (pooled).
 */
export function moeMergeGpu(
  ctx: GpuContext,
  pairOut: GpuTensor,
  tokRows: GpuTensor,
  tokK: GpuTensor,
  b2: GpuTensor,
  residual: GpuTensor | undefined,
  T: number,
  E: number,
): GpuTensor {
  const d = b2.shape[0];
  const y = allocTensor(ctx, [T, d]);
  ctx.dispatch({
    kernel: "moe_merge",
    params: new Params().u32(T).u32(E).u32(d).u32(residual ? 1 : 0).bytes(),
    buffers: [
      pairOut.buffer,
      tokRows.buffer,
      tokK.buffer,
      b2.buffer,
      residual?.buffer ?? ctx.placeholder,
      y.buffer,
    ],
    workgroups: flatGrid(T * d),
  });
  return y;
}
