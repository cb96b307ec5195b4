/**
 * GPU binding of `kernels/moe_expert_matmul.wgsl` (reference: `moe_expert_matmul_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { ACTIVATION_CODE } from "./activation.ts";
import { allocTensor } from "./gpu_util.ts";
import type { ExpertMatmulShape } from "./moe_expert_matmul_ref.ts";
import type { GpuTensor } from "./tensor.ts";
import { pickExpertTile, type TileConfig, TUNING } from "./tuning.ts";

/**
 * Shapes the unrolled kernel serves: K a multiple of 8, N of 4, and N ≥ 64 (narrower experts would
 * leave most of its 128-column tile idle).
 * @param s Shape.
 * @returns Whether `moe_expert_fast.wgsl` applies.
 */
export function expertFastFits(s: ExpertMatmulShape): boolean {
  return TUNING.matmulKernel === "fast" && s.K % 8 === 0 && s.N % 4 === 0 && s.N >= 64;
}

/**
 * Shapes the unrolled narrow kernel serves: K a multiple of 8, N of 4, and N < 64 (the up-projection of
 * 16- or 32-neuron experts; the configurable kernel spills its accumulators there).
 * @param s Shape.
 * @returns Whether `moe_expert_narrow.wgsl` applies.
 */
export function expertNarrowFits(s: ExpertMatmulShape): boolean {
  return TUNING.matmulKernel === "fast" && s.K % 8 === 0 && s.N % 4 === 0 && s.N < 64;
}

/**
 * Grouped expert matmul over selected pairs; row tiles past an expert's count exit early.
 * @param ctx GPU context.
 * @param a Token rows [tokens, K] (gather) or pair rows [E·cap, K].
 * @param lists u32 [E·cap] token ids.
 * @param counts u32 counters.
 * @param countsOffset First counter of this layer.
 * @param w [E·K, N] expert-major weights.
 * @param bias Optional [E·N].
 * @param s Shape and mode.
 * @param tile Tile of the configurable kernel (default: the unrolled 128×128 `moe_expert_fast` or
 *   128×32 `moe_expert_narrow` kernel when the shape fits one and `TUNING.matmulKernel` is "fast", else
 *   the tile from `tuning.ts` for the expert size).
 * @returns Pair rows [E·cap, N] (pooled; unused slots undefined).
 */
export function moeExpertMatmulGpu(
  ctx: GpuContext,
  a: GpuTensor,
  lists: GpuTensor,
  counts: GpuTensor,
  countsOffset: number,
  w: GpuTensor,
  bias: GpuTensor | undefined,
  s: ExpertMatmulShape,
  tile?: TileConfig,
): GpuTensor {
  const out = allocTensor(ctx, [s.E * s.cap, s.N]);
  const params = new Params().u32(s.cap).u32(s.K).u32(s.N).u32(s.gather ? 1 : 0)
    .u32(ACTIVATION_CODE[s.act]).u32(bias ? 1 : 0).u32(countsOffset).u32(0);
  // The unrolled kernels: 128 rows × 128 (fast) or 32 (narrow) columns per workgroup.
  const unrolled = tile
    ? null
    : expertFastFits(s)
    ? "moe_expert_fast"
    : expertNarrowFits(s)
    ? "moe_expert_narrow"
    : null;
  if (unrolled) {
    ctx.dispatch({
      kernel: unrolled,
      label: s.gather ? "moe_expert_up" : "moe_expert_down",
      params: params.bytes(),
      buffers: [a.buffer, lists.buffer, counts.buffer, w.buffer, bias?.buffer ?? ctx.placeholder, out.buffer],
      workgroups: [Math.ceil(s.N / (unrolled === "moe_expert_fast" ? 128 : 32)), Math.ceil(s.cap / 128), s.E],
    });
    return out;
  }
  tile ??= s.gather ? pickExpertTile("up", s.N) : pickExpertTile("down", s.K);
  ctx.dispatch({
    kernel: "moe_expert_matmul",
    label: s.gather ? "moe_expert_up" : "moe_expert_down",
    constants: {
      BM: tile.BM,
      BN: tile.BN,
      BK: tile.BK,
      TM: tile.TM,
      TN: tile.TN,
      VEC_A: s.K % 4 === 0 ? 1 : 0,
      VEC_B: s.N % 4 === 0 ? 1 : 0,
    },
    params: params.bytes(),
    buffers: [a.buffer, lists.buffer, counts.buffer, w.buffer, bias?.buffer ?? ctx.placeholder, out.buffer],
    workgroups: [Math.ceil(s.N / tile.BN), Math.ceil(s.cap / tile.BM), s.E],
  });
  return out;
}
