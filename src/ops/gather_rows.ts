/**
 * GPU binding of `kernels/gather_rows.wgsl` (reference: `gather_rows_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { checkGatherRows } from "./gather_rows_ref.ts";
import { allocTensor, flatGrid } from "./gpu_util.ts";
import { type GpuTensor, numel } from "./tensor.ts";

/**
 * out[r, :] = src[idx[offset + r], :] on the GPU.
 * @param ctx GPU context.
 * @param src f32 [n, cols].
 * @param idx u32 row indices (clamped to n − 1 by the kernel).
 * @param offset First index used.
 * @param rows Rows to gather.
 * @returns [rows, cols] (pooled).
 * @throws {RangeError} When the index range runs past `idx` or `src` is empty.
 */
export function gatherRowsGpu(
  ctx: GpuContext,
  src: GpuTensor,
  idx: GpuTensor,
  offset: number,
  rows: number,
): GpuTensor {
  const [n, cols] = src.shape;
  checkGatherRows(n, numel(idx.shape), offset, rows);
  const out = allocTensor(ctx, [rows, cols]);
  ctx.dispatch({
    kernel: "gather_rows",
    params: new Params().u32(rows).u32(cols).u32(offset).u32(n).bytes(),
    buffers: [src.buffer, idx.buffer, out.buffer],
    workgroups: flatGrid(rows * cols),
  });
  return out;
}
