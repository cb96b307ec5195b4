/**
 * GPU binding of `kernels/strided_copy.wgsl` (reference: `strided_copy_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { flatGrid } from "./gpu_util.ts";
import type { CopySpec } from "./strided_copy_ref.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * Copies a strided block from `src` into `dst` (in place) on the GPU.
 * @param ctx GPU context.
 * @param src Source.
 * @param dst Destination (must not be `src`).
 * @param s The block.
 */
export function stridedCopyGpu(ctx: GpuContext, src: GpuTensor, dst: GpuTensor, s: CopySpec): void {
  const n = s.nb * s.nt * s.nc;
  if (n === 0) return;
  ctx.dispatch({
    kernel: "strided_copy",
    params: new Params().u32(s.nb).u32(s.nt).u32(s.nc)
      .u32(s.srcOffset).u32(s.srcB).u32(s.srcT)
      .u32(s.dstOffset).u32(s.dstB).u32(s.dstT).u32(0).u32(0).u32(0).bytes(),
    buffers: [src.buffer, dst.buffer],
    workgroups: flatGrid(n),
  });
}
