/**
 * GPU binding of `kernels/embed.wgsl` (reference: `embed_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor, flatGrid } from "./gpu_util.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * Token (+ position, + type) embeddings on the GPU.
 * @param ctx GPU context.
 * @param ids u32 [rows].
 * @param wte [vocab, cols].
 * @param pos Optional u32 [rows] with `wpe` [nPos, cols].
 * @param wpe Position table.
 * @param types Optional u32 [rows] with `wtt` [nType, cols].
 * @param wtt Token-type table.
 * @returns [rows, cols] (pooled).
 */
export function embedGpu(
  ctx: GpuContext,
  ids: GpuTensor,
  wte: GpuTensor,
  pos?: GpuTensor,
  wpe?: GpuTensor,
  types?: GpuTensor,
  wtt?: GpuTensor,
): GpuTensor {
  const rows = ids.shape[0];
  const [vocab, cols] = wte.shape;
  const out = allocTensor(ctx, [rows, cols]);
  const hasPos = Boolean(pos && wpe);
  const hasType = Boolean(types && wtt);
  ctx.dispatch({
    kernel: "embed",
    params: new Params().u32(rows).u32(cols).u32(vocab)
      .u32(hasPos ? 1 : 0).u32(hasPos ? wpe!.shape[0] : 1)
      .u32(hasType ? 1 : 0).u32(hasType ? wtt!.shape[0] : 1).u32(0).bytes(),
    buffers: [
      ids.buffer,
      hasPos ? pos!.buffer : ctx.placeholder,
      hasType ? types!.buffer : ctx.placeholder,
      wte.buffer,
      hasPos ? wpe!.buffer : ctx.placeholder,
      hasType ? wtt!.buffer : ctx.placeholder,
      out.buffer,
    ],
    workgroups: flatGrid(rows * cols),
  });
  return out;
}
