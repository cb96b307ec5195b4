/**
 * GPU binding of `kernels/adam.wgsl` (reference: `adam_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { adamWCoefficients, type AdamWStep, checkAdamW } from "./adam_ref.ts";
import { flatGrid } from "./gpu_util.ts";
import { type GpuTensor, numel } from "./tensor.ts";

/**
 * One AdamW step on the GPU, in place on `p`, `m` and `v`.
 * @param ctx GPU context.
 * @param p Parameters (f32).
 * @param g Gradient, same length.
 * @param m First moments, same length.
 * @param v Second moments, same length.
 * @param hp Learning rate, weight decay, 1-based step, optional betas and eps.
 * @throws {RangeError} When lengths differ or a hyper-parameter is out of range.
 */
export function adamWGpu(
  ctx: GpuContext,
  p: GpuTensor,
  g: GpuTensor,
  m: GpuTensor,
  v: GpuTensor,
  hp: AdamWStep,
): void {
  const n = numel(p.shape);
  checkAdamW(n, numel(g.shape), numel(m.shape), numel(v.shape));
  const c = adamWCoefficients(hp);
  ctx.dispatch({
    kernel: "adam",
    params: new Params()
      .u32(n).u32(0).u32(0).u32(0)
      .f32(c.lr).f32(c.decay).f32(c.c1).f32(c.c2)
      .f32(c.beta1).f32(c.beta2).f32(1 - c.beta1).f32(1 - c.beta2)
      .f32(c.eps).f32(0).f32(0).f32(0).bytes(),
    buffers: [p.buffer, g.buffer, m.buffer, v.buffer],
    workgroups: flatGrid(n),
  });
}
