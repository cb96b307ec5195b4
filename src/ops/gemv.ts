/**
 * GPU binding of `kernels/gemv.wgsl`: the small-M (decode) matmul with an optional LayerNorm of A's rows
 * fused into the A load and an optional copy of a column block of C into a second tensor (the KV-cache
 * append). Reference: `gemv_ref.ts` (which is `matmul_ref.ts` plus those two steps).
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import { ACTIVATION_CODE } from "./activation.ts";
import { allocTensor } from "./gpu_util.ts";
import type { MatmulOptions } from "./matmul_ref.ts";
import { stridedCopyGpu } from "./strided_copy.ts";
import type { CopySpec } from "./strided_copy_ref.ts";
import type { GpuTensor } from "./tensor.ts";
import { type GemvConfig, TUNING } from "./tuning.ts";

/** LayerNorm applied to A's rows before the product. */
export interface GpuLayerNorm {
  /** Scale [K]. */
  gamma: GpuTensor;
  /** Shift [K]. */
  beta: GpuTensor;
  /** Variance epsilon. */
  eps: number;
}

/** Work fused into a small-M matmul. */
export interface GemvFusion {
  /** Normalise A's rows first (LayerNorm). */
  ln?: GpuLayerNorm;
  /** After the product, also copy C into `dst` as `stridedCopy(C, dst, spec)` would. */
  copy?: { dst: GpuTensor; spec: CopySpec };
}

/** Largest staged-A chunk in vec4 (24 KiB of workgroup memory). */
const ASZ_MAX = 1536;

/**
 * Whether a copy spec is a block of C's columns over whole rows, which the kernel's epilogue can write
 * (row r of C → batch r / nt, token r % nt); other copies run as a separate strided copy.
 * @param s Copy spec over C [m, n].
 * @param m Rows of C.
 * @param n Columns of C.
 * @returns True when the copy can be fused.
 */
export function fusableCopy(s: CopySpec, m: number, n: number): boolean {
  return s.srcT === n && (s.nb <= 1 || s.srcB === s.nt * n) && s.srcOffset + s.nc <= n &&
    s.nb * s.nt <= m && s.nt > 0;
}

/**
 * Workgroups along N of a GEMV dispatch.
 * @param n Columns of C.
 * @param transB B stored [N, K].
 * @param cfg Thread layout.
 * @returns The grid's x size.
 */
export function gemvGrid(n: number, transB: boolean, cfg: GemvConfig): number {
  return Math.ceil(n / (transB ? cfg.WG / cfg.TPR : 4 * cfg.CQ));
}

/**
 * The GEMV layout for an N: `TUNING.gemv`, with fewer columns per workgroup ([K, N] layout) while the grid
 * would have fewer than `TUNING.gemvMinWorkgroups` workgroups (N = 768 needs narrow workgroups to fill
 * an H200's 132 SMs).
 * @param n Columns of C.
 * @param transB B stored [N, K].
 * @returns The layout.
 */
export function gemvConfigFor(n: number, transB: boolean): GemvConfig {
  const c = TUNING.gemv;
  if (transB) return c;
  let cq = c.CQ;
  while (cq > 1 && Math.ceil(n / (4 * cq)) < TUNING.gemvMinWorkgroups) cq /= 2;
  return { ...c, CQ: cq };
}

/**
 * C = act(LN?(A) · B + bias) + residual for small M, streaming B once.
 * @param ctx GPU context.
 * @param a A: [m, k].
 * @param b B: [k, n] (or [n, k] with `transB`).
 * @param m Rows.
 * @param k Inner dimension.
 * @param n Columns.
 * @param opts Layout and activation.
 * @param bias Optional [n].
 * @param residual Optional [m, n].
 * @param fuse Optional LayerNorm prologue and copy epilogue.
 * @param cfg Thread layout (default {@link gemvConfigFor}).
 * @returns C: [m, n] (pooled).
 */
export function gemvGpu(
  ctx: GpuContext,
  a: GpuTensor,
  b: GpuTensor,
  m: number,
  k: number,
  n: number,
  opts: MatmulOptions = {},
  bias?: GpuTensor,
  residual?: GpuTensor,
  fuse: GemvFusion = {},
  cfg: GemvConfig = gemvConfigFor(n, opts.transB ?? false),
): GpuTensor {
  const out = allocTensor(ctx, [m, n]);
  const transB = opts.transB ?? false;
  const mr = m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8;
  const k4 = Math.ceil(k / 4);
  // Staging capacity: the whole row block when it fits (rounded to limit pipeline variants), else chunks;
  // what workgroup memory the reduction buffer (WG vec4) leaves.
  const room = Math.floor((ctx.limits.maxComputeWorkgroupStorageSize - 16 * cfg.WG - 64) / 16);
  const asz = Math.min(ASZ_MAX, room, Math.max(64, 2 ** Math.ceil(Math.log2(mr * k4))));
  if (asz < mr) throw new RangeError(`gemv: ${cfg.WG} threads leave no workgroup memory to stage A`);
  const copy = fuse.copy && fusableCopy(fuse.copy.spec, m, n) ? fuse.copy : undefined;
  const cp = copy?.spec;
  const params = new Params()
    .u32(m).u32(n).u32(k).u32(ACTIVATION_CODE[opts.act ?? "none"])
    .u32(bias ? 1 : 0).u32(residual ? 1 : 0).u32(fuse.ln ? 1 : 0).f32(fuse.ln?.eps ?? 0)
    .u32(cp ? 1 : 0).u32(cp?.srcOffset ?? 0).u32(cp?.nc ?? 0).u32(cp?.nt ?? 1)
    .u32(cp?.nb ?? 0).u32(cp?.dstOffset ?? 0).u32(cp?.dstB ?? 0).u32(cp?.dstT ?? 0);
  // The copy destination is bound writable, so it needs its own dummy when unused.
  const dummy = copy ? null : ctx.pool.acquire(16);
  ctx.dispatch({
    kernel: "gemv",
    label: transB ? "gemv_t" : "gemv",
    constants: {
      WG: cfg.WG,
      MR: mr,
      CQ: cfg.CQ,
      TPR: cfg.TPR,
      ASZ: asz,
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
      fuse.ln?.gamma.buffer ?? ctx.placeholder,
      fuse.ln?.beta.buffer ?? ctx.placeholder,
      out.buffer,
      copy?.dst.buffer ?? dummy!,
    ],
    workgroups: [gemvGrid(n, transB, cfg), Math.ceil(m / mr)],
  });
  if (dummy) ctx.pool.release(dummy);
  if (fuse.copy && !copy) stridedCopyGpu(ctx, out, fuse.copy.dst, fuse.copy.spec);
  return out;
}
