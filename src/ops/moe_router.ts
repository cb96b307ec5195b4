/**
 * GPU binding of `kernels/moe_router.wgsl` (reference: `moe_router_ref.ts`).
 * @module
 */
import { type GpuContext, grid1d } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { allocTensor } from "./gpu_util.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * Router scores |relu(x·R1)·R2| on the GPU; also zeroes `counts[countsOffset … +E)` for selection.
 * @param ctx GPU context.
 * @param x [T, d].
 * @param r1 [d, w] with w ≤ 256.
 * @param r2 [w, E].
 * @param counts u32 counters of the selection that follows.
 * @param countsOffset First counter of this layer.
 * @returns Scores [T, E] (pooled).
 * @throws {RangeError} When the router is wider than 256.
 */
export function moeRouterGpu(
  ctx: GpuContext,
  x: GpuTensor,
  r1: GpuTensor,
  r2: GpuTensor,
  counts: GpuTensor,
  countsOffset: number,
): GpuTensor {
  const [T, d] = x.shape;
  const [w, E] = r2.shape;
  if (w > 256) throw new RangeError(`router width ${w} exceeds the kernel's 256`);
  const out = allocTensor(ctx, [T, E]);
  ctx.dispatch({
    kernel: "moe_router",
    params: new Params().u32(T).u32(d).u32(w).u32(E).u32(countsOffset).u32(0).u32(0).u32(0).bytes(),
    buffers: [x.buffer, r1.buffer, r2.buffer, out.buffer, counts.buffer],
    workgroups: grid1d(Math.max(1, Math.ceil(T / 8))),
  });
  return out;
}
