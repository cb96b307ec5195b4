/**
 * GPU binding of `kernels/attention.wgsl` (reference: `attention_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import type { AttentionShape, AttnView } from "./attention_ref.ts";
import { allocTensor } from "./gpu_util.ts";
import type { GpuTensor } from "./tensor.ts";

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
 * @returns The attention output (pooled).
 * @throws {RangeError} When headDim exceeds 256 or the grid is too large.
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
): GpuTensor {
  if (s.headDim > 256) throw new RangeError(`attention: head dimension ${s.headDim} exceeds 256`);
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
    kernel: "attention",
    params: params.bytes(),
    buffers: [q.buffer, k.buffer, v.buffer, keyMask?.buffer ?? ctx.placeholder, out.buffer],
    workgroups: [s.tq, s.heads, s.batch],
  });
  return out;
}
