/**
 * The one place WGSL sources are imported (text imports), so every kernel ships inside the module
 * graph with no file-system permission needed. WGSL has no includes: code several kernels share lives in
 * `kernels/lib/` and is spliced in where a kernel has a `//!include NAME` line ({@link expandIncludes}).
 * @module
 */
import adam from "../../kernels/adam.wgsl" with { type: "text" };
import argmax from "../../kernels/argmax.wgsl" with { type: "text" };
import add from "../../kernels/add.wgsl" with { type: "text" };
import attention from "../../kernels/attention.wgsl" with { type: "text" };
import attentionTiled from "../../kernels/attention_tiled.wgsl" with { type: "text" };
import crossEntropy from "../../kernels/cross_entropy.wgsl" with { type: "text" };
import embed from "../../kernels/embed.wgsl" with { type: "text" };
import gatherRows from "../../kernels/gather_rows.wgsl" with { type: "text" };
import gemv from "../../kernels/gemv.wgsl" with { type: "text" };
import layerNorm from "../../kernels/layer_norm.wgsl" with { type: "text" };
import matmul from "../../kernels/matmul.wgsl" with { type: "text" };
import matmulFast from "../../kernels/matmul_fast.wgsl" with { type: "text" };
import matmulFast96 from "../../kernels/matmul_fast96.wgsl" with { type: "text" };
import meanPool from "../../kernels/mean_pool.wgsl" with { type: "text" };
import moeExpertFfn from "../../kernels/moe_expert_ffn.wgsl" with { type: "text" };
import moeExpertMatmul from "../../kernels/moe_expert_matmul.wgsl" with { type: "text" };
import moeExpertFast from "../../kernels/moe_expert_fast.wgsl" with { type: "text" };
import moeExpertNarrow from "../../kernels/moe_expert_narrow.wgsl" with { type: "text" };
import moeMerge from "../../kernels/moe_merge.wgsl" with { type: "text" };
import moeRouteDecode from "../../kernels/moe_route_decode.wgsl" with { type: "text" };
import moeRouter from "../../kernels/moe_router.wgsl" with { type: "text" };
import moeSelect from "../../kernels/moe_select.wgsl" with { type: "text" };
import patchEmbed from "../../kernels/patch_embed.wgsl" with { type: "text" };
import reluGrad from "../../kernels/relu_grad.wgsl" with { type: "text" };
import routerGrad from "../../kernels/router_grad.wgsl" with { type: "text" };
import rowNorm from "../../kernels/row_norm.wgsl" with { type: "text" };
import stridedCopy from "../../kernels/strided_copy.wgsl" with { type: "text" };
import activationLib from "../../kernels/lib/activation.wgsl" with { type: "text" };

/** Shared WGSL by include name (`kernels/lib/NAME.wgsl`). */
const LIBRARY: Record<string, string> = { activation: activationLib };

/**
 * Replaces each `//!include NAME` line of a WGSL source with `kernels/lib/NAME.wgsl`.
 * @param source A kernel's WGSL.
 * @returns The source with its includes spliced in.
 * @throws {Error} When an include names no file of `kernels/lib/`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(expandIncludes("//!include activation\nfn main() {}"), /fn activate\(code: u32, x: f32\)/);
 * assert.throws(() => expandIncludes("//!include nothing"), /nothing/);
 * ```
 */
export function expandIncludes(source: string): string {
  return source.replace(/^\/\/!include (\S+)[ \t]*$/gm, (_, name: string) => {
    const lib = LIBRARY[name];
    if (lib === undefined) throw new Error(`WGSL include "${name}" is not a file of kernels/lib/`);
    return lib;
  });
}

const RAW_SOURCES = {
  adam,
  argmax,
  add,
  attention,
  attention_tiled: attentionTiled,
  cross_entropy: crossEntropy,
  embed,
  gather_rows: gatherRows,
  gemv,
  layer_norm: layerNorm,
  matmul,
  matmul_fast: matmulFast,
  matmul_fast96: matmulFast96,
  mean_pool: meanPool,
  moe_expert_ffn: moeExpertFfn,
  moe_expert_fast: moeExpertFast,
  moe_expert_matmul: moeExpertMatmul,
  moe_expert_narrow: moeExpertNarrow,
  moe_merge: moeMerge,
  moe_route_decode: moeRouteDecode,
  moe_router: moeRouter,
  moe_select: moeSelect,
  patch_embed: patchEmbed,
  relu_grad: reluGrad,
  router_grad: routerGrad,
  row_norm: rowNorm,
  strided_copy: stridedCopy,
} as const;

/** A kernel's name (its file stem in `kernels/`). */
export type KernelName = keyof typeof RAW_SOURCES;

/** WGSL source of every kernel, by file stem, includes spliced in. */
export const KERNEL_SOURCES: Record<KernelName, string> = Object.fromEntries(
  Object.entries(RAW_SOURCES).map(([name, source]) => [name, expandIncludes(source)]),
) as Record<KernelName, string>;
