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
import { pickExpertTile, type TileConfig } from "./tuning.ts";

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
 * @param tile Tile (default from `tuning.ts`: the up tile when gathering, else the down tile, by expert size).
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
  tile: TileConfig = s.gather ? pickExpertTile("up", s.N) : pickExpertTile("down", s.K),
): GpuTensor {
  const out = allocTensor(ctx, [s.E * s.cap, s.N]);
  const params = new Params().u32(s.cap).u32(s.K).u32(s.N).u32(s.gather ? 1 : 0)
    .u32(ACTIVATION_CODE[s.act]).u32(bias ? 1 : 0).u32(countsOffset).u32(0);
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
