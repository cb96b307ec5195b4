/**
 * GPU binding of `kernels/matmul.wgsl` (reference: `matmul_ref.ts`).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { ACTIVATION_CODE } from "./activation.ts";
import { allocTensor } from "./gpu_util.ts";
import type { MatmulOptions } from "./matmul_ref.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * C = act(A · B + bias) + residual on the GPU.
 * @param ctx GPU context.
 * @param a A: [M, K].
 * @param b B: [K, N] (or [N, K] with `transB`).
 * @param opts Layout and activation.
 * @param bias Optional [N].
 * @param residual Optional [M, N].
 * @returns C: [M, N] (pooled).
 * @throws {RangeError} When inner dimensions disagree.
 */
export function matmulGpu(
  ctx: GpuContext,
  a: GpuTensor,
  b: GpuTensor,
  opts: MatmulOptions = {},
  bias?: GpuTensor,
  residual?: GpuTensor,
): GpuTensor {
  const [m, k] = a.shape;
  const [b0, b1] = b.shape;
  const [kb, n] = opts.transB ? [b1, b0] : [b0, b1];
  if (k !== kb) {
    throw new RangeError(
      `matmul: A is [${a.shape}] but B is [${b.shape}]${opts.transB ? " (transposed)" : ""}`,
    );
  }
  const out = allocTensor(ctx, [m, n]);
  const params = new Params()
    .u32(m).u32(n).u32(k).u32(opts.transB ? 1 : 0)
    .u32(ACTIVATION_CODE[opts.act ?? "none"]).u32(bias ? 1 : 0).u32(residual ? 1 : 0).u32(0);
  ctx.dispatch({
    kernel: "matmul",
    params: params.bytes(),
    buffers: [
      a.buffer,
      b.buffer,
      bias?.buffer ?? ctx.placeholder,
      residual?.buffer ?? ctx.placeholder,
      out.buffer,
    ],
    workgroups: [Math.ceil(n / 64), Math.ceil(m / 64)],
  });
  return out;
}
