/**
 * GPU binding of `kernels/attention.wgsl` (one workgroup per query row: decode) and
 * `kernels/attention_tiled.wgsl` (16 query rows per workgroup: encoders, prefill); reference:
 * `attention_ref.ts`.
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import type { AttentionShape, AttnView } from "./attention_ref.ts";
import { allocTensor } from "./gpu_util.ts";
import type { GpuTensor } from "./tensor.ts";

/** Which attention kernel: `rows` (one query row per workgroup) or `tiled` (16 rows, see {@link tiledAttentionFits}). */
export type AttentionKernel = "rows" | "tiled";

/**
 * Whether the tiled kernel can take a call: head dim ≤ 64, and head dim, offsets and strides multiples of
 * 4 (it reads vec4s).
 * @param s Shape.
 * @param views The Q, K and V views.
 * @returns Whether `tiled` applies.
 */
export function tiledAttentionFits(s: AttentionShape, views: readonly AttnView[]): boolean {
  const aligned = views.every((v) => v.offset % 4 === 0 && v.rowStride % 4 === 0 && v.batchStride % 4 === 0);
  return s.headDim <= 64 && s.headDim % 4 === 0 && aligned;
}

/**
 * The kernel for a call: `tiled` once there are several query rows to share each staged key chunk and
 * it fits, else `rows`.
 * @param s Shape.
 * @param views The Q, K and V views.
 * @returns The kernel name.
 */
export function pickAttentionKernel(s: AttentionShape, views: readonly AttnView[]): AttentionKernel {
  return s.tq >= 4 && tiledAttentionFits(s, views) ? "tiled" : "rows";
}

/**
 * Softmax attention on the GPU; output [batch·tq, heads·headDim].
 * @param ctx GPU context.
 * @param q Tensor holding Q (read through `qv`).
 * @param k Tensor holding K.
 * @param v Tensor holding V.
 * @param s Shape, causal rule, scale.
 * @param qv Q view.
 * @param kv K view.
 * @param vv V view.
 * @param keyMask Optional u32 [batch, tk].
 * @param kernel Kernel override (tests); default {@link pickAttentionKernel}.
 * @returns The attention output (pooled).
 * @throws {RangeError} When headDim exceeds 256, `tiled` is asked for a call it does not fit, or the grid
 *   is too large.
 */
export function attentionGpu(
  ctx: GpuContext,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  s: AttentionShape,
  qv: AttnView,
  kv: AttnView,
  vv: AttnView,
  keyMask?: GpuTensor,
  kernel: AttentionKernel = pickAttentionKernel(s, [qv, kv, vv]),
): GpuTensor {
  if (s.headDim > 256) throw new RangeError(`attention: head dimension ${s.headDim} exceeds 256`);
  if (kernel === "tiled" && !tiledAttentionFits(s, [qv, kv, vv])) {
    throw new RangeError("attention: the tiled kernel needs a head dimension ≤ 64 and vec4-aligned views");
  }
  if (s.tq > 65535 || s.batch > 65535) {
    throw new RangeError("attention: too many query rows or batch entries");
  }
  const out = allocTensor(ctx, [s.batch * s.tq, s.heads * s.headDim]);
  const params = new Params()
    .u32(s.heads).u32(s.headDim).u32(s.tq).u32(s.tk)
    .u32(qv.offset).u32(qv.rowStride).u32(qv.batchStride)
    .u32(kv.offset).u32(kv.rowStride).u32(kv.batchStride)
    .u32(vv.offset).u32(vv.rowStride).u32(vv.batchStride)
    .u32(s.qPos0).u32(s.causal ? 1 : 0).u32(keyMask ? 1 : 0)
    .f32(s.scale).u32(0).u32(0).u32(0);
  ctx.dispatch({
    kernel: kernel === "tiled" ? "attention_tiled" : "attention",
    params: params.bytes(),
    buffers: [q.buffer, k.buffer, v.buffer, keyMask?.buffer ?? ctx.placeholder, out.buffer],
    workgroups: [kernel === "tiled" ? Math.ceil(s.tq / 16) : s.tq, s.heads, s.batch],
  });
  return out;
}
