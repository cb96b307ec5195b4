/**
 * GPU binding of `kernels/moe_merge.wgsl` (reference: `moe_merge_ref.ts`).
 * @module
 */
import type { BufferBinding, GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor, flatGrid } from "./gpu_util.ts";
import { checkMergeInto } from "./moe_merge_ref.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * y = residual + b2 + Σ selected pair outputs, per token.
 * @param ctx GPU context.
 * @param pairOut [E·cap·R, d]: R rows per pair, summed.
 * @param tokRows u32 [T·E] (a tensor or a byte range of a buffer).
 * @param tokK u32 [T] (a tensor or a byte range of a buffer).
 * @param b2 [d].
 * @param residual Optional [T, d].
 * @param T Tokens.
 * @param E Experts.
 * @param rowsPerPair R: partial rows per pair (1 unless the decode path wrote neuron-chunk partials).
 * @param split Sum each token's rows with a workgroup-wide tree (decode: many partial rows, few tokens;
 *   needs d % 4 == 0). Default: when R > 1, T ≤ 64 and d % 4 == 0.
 * @param into Write rows `row0 … row0 + T − 1` of this [≥ row0 + T, d] tensor instead of a new one, with
 *   the residual's rows of the same indices (a token chunk of a bigger batch).
 * @returns [T, d] (pooled), or `into.y`.
 * @throws {RangeError} When `into`'s rows do not fit.
 */
export function moeMergeGpu(
  ctx: GpuContext,
  pairOut: GpuTensor,
  tokRows: GpuTensor | BufferBinding,
  tokK: GpuTensor | BufferBinding,
  b2: GpuTensor,
  residual: GpuTensor | undefined,
  T: number,
  E: number,
  rowsPerPair = 1,
  split = rowsPerPair > 1 && T <= 64 && b2.shape[0] % 4 === 0,
  into?: { y: GpuTensor; row0: number },
): GpuTensor {
  const d = b2.shape[0];
  const row0 = into?.row0 ?? 0;
  if (into) checkMergeInto(row0, T, d, into.y.shape);
  const y = into?.y ?? allocTensor(ctx, [T, d]);
  const cq = 8;
  const vec4 = !split && d % 4 === 0;
  const bind = (t: GpuTensor | BufferBinding): BufferBinding => ("shape" in t ? t.buffer : t);
  ctx.dispatch({
    kernel: "moe_merge",
    constants: split ? { SPLIT: 1, CQ: cq } : vec4 ? { VEC4: 1 } : {},
    params: new Params().u32(T).u32(E).u32(d).u32(residual ? 1 : 0).u32(rowsPerPair).u32(row0).u32(0).u32(0)
      .bytes(),
    buffers: [
      pairOut.buffer,
      bind(tokRows),
      bind(tokK),
      b2.buffer,
      residual?.buffer ?? ctx.placeholder,
      y.buffer,
      pairOut.buffer, // as vec4 (SPLIT, VEC4): read-only, so binding it twice is allowed
    ],
    workgroups: split ? [Math.ceil(d / (4 * cq)), T] : flatGrid(vec4 ? (T * d) / 4 : T * d),
  });
  return y;
}
