/**
 * GPU binding of `kernels/moe_route_decode.wgsl` (reference: `moe_route_decode_ref.ts`): LayerNorm
 * (optional), router and selection of a few tokens in one single-workgroup dispatch.
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { Params } from "../gpu/uniform_arena.ts";
import type { GpuLayerNorm } from "./gemv.ts";
import type { RoutingRule } from "./moe_select_ref.ts";
import type { GpuTensor } from "./tensor.ts";
import { TUNING } from "./tuning.ts";

/** Largest token count, router width and expert count the kernel's workgroup memory holds. */
export const ROUTE_DECODE_LIMITS = { tokens: 8, width: 256, experts: 256 } as const;

const pow2 = (n: number, min: number) => Math.max(min, 2 ** Math.ceil(Math.log2(Math.max(1, n))));

/**
 * Whether T tokens, router width w and E experts fit the kernel (its limits and the device's workgroup
 * memory at `TUNING.moeDecode.routeWG` threads).
 * @param limits Device limits.
 * @param T Tokens.
 * @param w Router width.
 * @param E Experts.
 * @returns True when the kernel can run.
 */
export function routeDecodeFits(
  limits: { maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number },
  T: number,
  w: number,
  E: number,
): boolean {
  const L = ROUTE_DECODE_LIMITS;
  const wg = TUNING.moeDecode.routeWG;
  if (
    T < 1 || T > L.tokens || w > L.width || E > L.experts || wg > limits.maxComputeInvocationsPerWorkgroup
  ) {
    return false;
  }
  const tt = pow2(T, 1);
  const bytes = 4 * tt * (128 + pow2(w, 4) + pow2(E, 4)) + 16 * wg + 4 * wg + 64;
  return bytes <= limits.maxComputeWorkgroupStorageSize;
}

/** Where the packed selection buffer keeps its three parts (byte offsets, storage-binding aligned). */
export interface PackedSelection {
  /** The u32 buffer: lists [E·cap] at 0, pair rows [T·E] at `rowsOffset`, pair counts [T] at `kOffset`. */
  buffer: GPUBuffer;
  /** Byte offset of the per-token pair rows. */
  rowsOffset: number;
  /** Byte offset of the per-token pair counts. */
  kOffset: number;
  /** Bytes of the whole layout. */
  bytes: number;
}

/**
 * Byte layout of a packed selection for T tokens and E experts.
 * @param T Tokens.
 * @param E Experts.
 * @param cap Slots per expert.
 * @param align Storage-binding offset alignment of the device.
 * @returns Offsets and total size (no buffer yet).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(packedSelectionLayout(1, 24, 1, 256), { rowsOffset: 256, kOffset: 512, bytes: 516 });
 * ```
 */
export function packedSelectionLayout(
  T: number,
  E: number,
  cap: number,
  align: number,
): Omit<PackedSelection, "buffer"> {
  const up = (n: number) => Math.ceil(n / align) * align;
  const rowsOffset = up(E * cap * 4);
  const kOffset = up(rowsOffset + T * E * 4);
  return { rowsOffset, kOffset, bytes: kOffset + T * 4 };
}

/**
 * Routes T ≤ 8 tokens in one dispatch: optional LayerNorm of x (written to `xn` when given), scores
 * |relu(x̂·R1)·R2|, selection into a packed buffer; zeroes and fills `counts[countsOffset … +E)`.
 * @param ctx GPU context.
 * @param x [T, d].
 * @param r1 [d, w].
 * @param r2 [w, E].
 * @param counts u32 counters.
 * @param countsOffset First counter of this layer.
 * @param cap Slots per expert (≥ T).
 * @param rule Dynamic-k or top-k.
 * @param ln Optional LayerNorm of x first.
 * @param xn Receives LN(x) [T, d] when `ln` is given.
 * @param hidden The router's hidden layer relu(LN(x)·R1) [T, w] when already computed (by the GEMV); the
 *   kernel then skips streaming R1 and `r1` is not read.
 * @returns The packed selection (a pooled buffer the caller releases with `ctx.pool.release`).
 * @throws {RangeError} When T, w or E exceed {@link ROUTE_DECODE_LIMITS}.
 */
export function moeRouteDecodeGpu(
  ctx: GpuContext,
  x: GpuTensor,
  r1: GpuTensor,
  r2: GpuTensor,
  counts: GpuTensor,
  countsOffset: number,
  cap: number,
  rule: RoutingRule,
  ln?: GpuLayerNorm,
  xn?: GpuTensor,
  hidden?: GpuTensor,
): PackedSelection {
  const [T, d] = x.shape;
  const [w, E] = r2.shape;
  if (!routeDecodeFits(ctx.limits, T, w, E)) {
    throw new RangeError(`moe_route_decode: T ${T}, width ${w}, experts ${E} do not fit one workgroup`);
  }
  const layout = packedSelectionLayout(T, E, cap, ctx.limits.minStorageBufferOffsetAlignment);
  const buffer = ctx.pool.acquire(layout.bytes);
  const writeXn = Boolean(ln && xn);
  const dummy = writeXn ? null : ctx.pool.acquire(16);
  const params = new Params()
    .u32(T).u32(d).u32(w).u32(E)
    .u32(cap).u32(rule.mode === "dynk" ? 0 : 1).u32(rule.mode === "topk" ? rule.k : 0)
    .f32(rule.mode === "dynk" ? rule.tau : 0)
    .u32(countsOffset).u32(layout.rowsOffset / 4).u32(layout.kOffset / 4).u32(ln ? 1 : 0)
    .f32(ln?.eps ?? 0).u32(writeXn ? 1 : 0).u32(0).u32(0);
  const wg = TUNING.moeDecode.routeWG;
  ctx.dispatch({
    kernel: "moe_route_decode",
    constants: {
      WG: wg,
      TT: pow2(T, 1),
      WMAX: pow2(w, 4),
      EMAX: pow2(E, 4),
      JQ: Math.min(32, pow2(Math.ceil(w / 4), 1), wg),
      VEC_R1: w % 4 === 0 ? 1 : 0,
      FROM_HIDDEN: hidden ? 1 : 0,
    },
    params: params.bytes(),
    buffers: [
      x.buffer,
      (hidden ?? r1).buffer,
      r2.buffer,
      ln?.gamma.buffer ?? ctx.placeholder,
      ln?.beta.buffer ?? ctx.placeholder,
      counts.buffer,
      buffer,
      writeXn ? xn!.buffer : dummy!,
    ],
    workgroups: [1],
  });
  if (dummy) ctx.pool.release(dummy);
  return { buffer, ...layout };
}
