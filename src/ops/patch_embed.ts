/**
 * GPU binding of `kernels/patch_embed.wgsl` (reference: `patch_embed_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor, flatGrid } from "./gpu_util.ts";
import type { PatchGeometry } from "./patch_embed_ref.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * ViT patch + CLS + position embeddings on the GPU.
 * @param ctx GPU context.
 * @param pix [batch, channels, height, width].
 * @param w [dim, channels, patch, patch].
 * @param bias [dim].
 * @param cls [dim].
 * @param pos [patches + 1, dim].
 * @param g Geometry.
 * @returns [batch·(patches + 1), dim] (pooled).
 */
export function patchEmbedGpu(
  ctx: GpuContext,
  pix: GpuTensor,
  w: GpuTensor,
  bias: GpuTensor,
  cls: GpuTensor,
  pos: GpuTensor,
  g: PatchGeometry,
): GpuTensor {
  const tokens = (g.height / g.patch) * (g.width / g.patch) + 1;
  const out = allocTensor(ctx, [g.batch * tokens, g.dim]);
  ctx.dispatch({
    kernel: "patch_embed",
    params: new Params().u32(g.batch).u32(g.channels).u32(g.height).u32(g.width).u32(g.patch).u32(g.dim)
      .u32(0).u32(0).bytes(),
    buffers: [pix.buffer, w.buffer, bias.buffer, cls.buffer, pos.buffer, out.buffer],
    workgroups: flatGrid(g.batch * tokens * g.dim),
  });
  return out;
}
