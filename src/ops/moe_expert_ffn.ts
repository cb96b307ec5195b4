/**
 * GPU binding of `kernels/moe_expert_ffn.wgsl` (reference: `moe_expert_ffn_ref.ts`): the decode path's
 * fused up+down expert projection, one partial output row per (pair, neuron chunk).
 * @module
 */
import type { BufferBinding, GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { ACTIVATION_CODE } from "./activation.ts";
import { allocTensor } from "./gpu_util.ts";
import type { ExpertFfnShape } from "./moe_expert_ffn_ref.ts";
import type { GpuTensor } from "./tensor.ts";
import { TUNING } from "./tuning.ts";

/**
 * Partial expert outputs of the selected pairs, by neuron chunk.
 * @param ctx GPU context.
 * @param x Token rows [T, d] (already normalised).
 * @param lists u32 token ids per expert slot [E·cap] (a tensor or the head of a packed selection).
 * @param counts u32 counters.
 * @param countsOffset First counter of this layer.
 * @param w1 [E·d, s].
 * @param b1 [E·s].
 * @param w2 [E·s, d].
 * @param s Shape (d and s multiples of 4, s a multiple of `chunk`).
 * @returns Partials [E·cap·(s/chunk), d] (pooled; rows of unselected pairs undefined).
 * @throws {RangeError} When the shape breaks the kernel's alignment rules.
 */
export function moeExpertFfnGpu(
  ctx: GpuContext,
  x: GpuTensor,
  lists: GpuTensor | BufferBinding,
  counts: GpuTensor,
  countsOffset: number,
  w1: GpuTensor,
  b1: GpuTensor,
  w2: GpuTensor,
  s: ExpertFfnShape,
): GpuTensor {
  if (s.d % 4 || s.s % 4 || s.chunk % 4 || s.s % s.chunk) {
    throw new RangeError(
      `moe_expert_ffn: d ${s.d}, size ${s.s}, chunk ${s.chunk} must be multiples of 4 (chunk | size)`,
    );
  }
  const nch = s.s / s.chunk;
  const out = allocTensor(ctx, [s.E * s.cap * nch, s.d]);
  ctx.dispatch({
    kernel: "moe_expert_ffn",
    constants: { WG: TUNING.moeDecode.ffnWG, NC: s.chunk },
    params: new Params().u32(s.cap).u32(s.d).u32(s.s).u32(ACTIVATION_CODE[s.act]).u32(countsOffset).u32(nch)
      .u32(0).u32(0).bytes(),
    buffers: [
      x.buffer,
      "shape" in lists ? lists.buffer : lists,
      counts.buffer,
      w1.buffer,
      b1.buffer,
      w2.buffer,
      out.buffer,
    ],
    workgroups: [nch, s.E],
  });
  return out;
}
