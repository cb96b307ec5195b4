/**
 * GPU binding of `kernels/matmul.wgsl` (register-tiled) and, for M ≤ `TUNING.gemvMaxM`, of
 * `kernels/gemv.wgsl` (reference for both: `matmul_ref.ts`). Tiles come from `tuning.ts`.
 * @module
 */
import { type GpuContext, MAX_GRID } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { ACTIVATION_CODE } from "./activation.ts";
import { gemvConfigFor, type GemvFusion, gemvGpu, gemvGrid } from "./gemv.ts";
import { allocTensor } from "./gpu_util.ts";
import { layerNormGpu } from "./layer_norm.ts";
import type { MatmulOptions } from "./matmul_ref.ts";
import { stridedCopyGpu } from "./strided_copy.ts";
import type { GpuTensor } from "./tensor.ts";
import { type MatmulTile, pickMatmulTile, TUNING } from "./tuning.ts";

/** Extra work fused into a matmul on the GPU (see `MatmulEpilogue` in `backend.ts` for the semantics). */
export type MatmulFusion = GemvFusion;

/** Options of {@link matmulGpu} beyond the epilogue: a forced kernel and tile (the tuner uses them). */
export interface MatmulKernelChoice {
  /**
   * `fast` (fixed 128×128 unrolled kernel, aligned shapes), `tiled` (configurable tiles, any shape) or
   * `gemv`; default: GEMV for M ≤ `TUNING.gemvMaxM` (when its grid fits), else `TUNING.matmulKernel`
   * when the shape fits it, else tiled.
   */
  kernel?: "fast" | "tiled" | "gemv";
  /** Tile of the tiled kernel (default `pickMatmulTile(M, N)`). */
  tile?: MatmulTile;
}

/**
 * C = act(LN?(A) · B + bias) + residual on the GPU, plus an optional strided copy of C.
 * @param ctx GPU context.
 * @param a A: [M, K].
 * @param b B: [K, N] (or [N, K] with `transB`).
 * @param opts Layout and activation.
 * @param bias Optional [N].
 * @param residual Optional [M, N].
 * @param fuse Optional LayerNorm of A's rows first, and a copy of C into another tensor after.
 * @param choice Forced kernel / tile (benchmarks).
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
  fuse: MatmulFusion = {},
  choice: MatmulKernelChoice = {},
): GpuTensor {
  const [m, k] = a.shape;
  const [b0, b1] = b.shape;
  const [kb, n] = opts.transB ? [b1, b0] : [b0, b1];
  if (k !== kb) {
    throw new RangeError(
      `matmul: A is [${a.shape}] but B is [${b.shape}]${opts.transB ? " (transposed)" : ""}`,
    );
  }
  const kernel = choice.kernel ??
    (m <= TUNING.gemvMaxM &&
        gemvGrid(n, opts.transB ?? false, gemvConfigFor(n, opts.transB ?? false)) <= MAX_GRID
      ? "gemv"
      : TUNING.matmulKernel === "fast" && fastFits(k, n, opts.transB ?? false)
      ? "fast"
      : "tiled");
  if (kernel === "gemv") return gemvGpu(ctx, a, b, m, k, n, opts, bias, residual, fuse);
  let x = a;
  if (fuse.ln) x = layerNormGpu(ctx, a, fuse.ln.gamma, fuse.ln.beta, fuse.ln.eps);
  const out = kernel === "fast"
    ? fastMatmul(ctx, x, b, m, k, n, opts, bias, residual)
    : tiledMatmul(ctx, x, b, m, k, n, opts, bias, residual, choice.tile ?? pickMatmulTile(m, n));
  if (x !== a) ctx.pool.release(x.buffer);
  if (fuse.copy) stridedCopyGpu(ctx, out, fuse.copy.dst, fuse.copy.spec);
  return out;
}

/** Shapes `kernels/matmul_fast.wgsl` (and `matmul_fast96.wgsl`) handle: K a multiple of 8, and N of 4 unless B is [N, K]. */
export function fastFits(k: number, n: number, transB: boolean): boolean {
  return k % 8 === 0 && (transB || n % 4 === 0);
}

function fastMatmul(
  ctx: GpuContext,
  a: GpuTensor,
  b: GpuTensor,
  m: number,
  k: number,
  n: number,
  opts: MatmulOptions,
  bias: GpuTensor | undefined,
  residual: GpuTensor | undefined,
): GpuTensor {
  if (!fastFits(k, n, opts.transB ?? false)) {
    throw new RangeError(`matmul_fast: shape ${m}x${k}x${n} is not aligned`);
  }
  const out = allocTensor(ctx, [m, n]);
  const params = new Params()
    .u32(m).u32(n).u32(k).u32(opts.transB ? 1 : 0)
    .u32(ACTIVATION_CODE[opts.act ?? "none"]).u32(bias ? 1 : 0).u32(residual ? 1 : 0).u32(0);
  const bn = fastTileWidth(m, n);
  ctx.dispatch({
    kernel: bn === 96 ? "matmul_fast96" : "matmul_fast",
    constants: { TRANS_B: opts.transB ? 1 : 0 },
    params: params.bytes(),
    buffers: [
      a.buffer,
      b.buffer,
      bias?.buffer ?? ctx.placeholder,
      residual?.buffer ?? ctx.placeholder,
      out.buffer,
    ],
    workgroups: [Math.ceil(n / bn), Math.ceil(m / 128)],
  });
  return out;
}

/**
 * Column-tile width of the fast matmul for an M×N output (128: `matmul_fast.wgsl`, 96:
 * `matmul_fast96.wgsl`): 96 where 128×96 tiles need fewer rounds of the
 * device's resident workgroups (`TUNING.minWorkgroups`) per column of work than 128×128 ones, else 128.
 * Round cost is rounds × tile width: 4096×768 takes one round either way (192 or 256 of 264 workgroups), so
 * the narrower tiles finish in ¾ of the time; 4096×3072 needs 3 rounds of 128 or 4 of 96, a tie, kept at 128.
 * @param m Output rows.
 * @param n Output columns.
 * @returns 128 or 96.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(fastTileWidth(4096, 768), 96);
 * assert.equal(fastTileWidth(4096, 4096), 128);
 * ```
 */
export function fastTileWidth(m: number, n: number): 128 | 96 {
  if (n % 96 !== 0 || !TUNING.matmulFastNarrow) return 128;
  const slots = TUNING.minWorkgroups;
  const cost = (bn: number) => Math.ceil((Math.ceil(m / 128) * Math.ceil(n / bn)) / slots) * bn;
  return cost(96) < cost(128) ? 96 : 128;
}

function tiledMatmul(
  ctx: GpuContext,
  a: GpuTensor,
  b: GpuTensor,
  m: number,
  k: number,
  n: number,
  opts: MatmulOptions,
  bias: GpuTensor | undefined,
  residual: GpuTensor | undefined,
  t: MatmulTile,
): GpuTensor {
  const out = allocTensor(ctx, [m, n]);
  const transB = opts.transB ?? false;
  const params = new Params()
    .u32(m).u32(n).u32(k).u32(transB ? 1 : 0)
    .u32(ACTIVATION_CODE[opts.act ?? "none"]).u32(bias ? 1 : 0).u32(residual ? 1 : 0).u32(0);
  const nx = Math.ceil(n / t.BN), ny = Math.ceil(m / t.BM);
  ctx.dispatch({
    kernel: "matmul",
    constants: {
      BM: t.BM,
      BN: t.BN,
      BK: t.BK,
      TM: t.TM,
      TN: t.TN,
      GROUP_M: t.GROUP_M,
      TRANS_B: transB ? 1 : 0,
      VEC_A: k % 4 === 0 ? 1 : 0,
      VEC_B: (transB ? k : n) % 4 === 0 ? 1 : 0,
    },
    params: params.bytes(),
    buffers: [
      a.buffer,
      b.buffer,
      bias?.buffer ?? ctx.placeholder,
      residual?.buffer ?? ctx.placeholder,
      out.buffer,
    ],
    workgroups: [nx, ny],
  });
  return out;
}
