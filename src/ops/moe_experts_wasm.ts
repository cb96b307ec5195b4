/**
 * The expert part of the CPU D2DMoE layer in WebAssembly SIMD (`gather_gemm` and `scatter_add` of
 * `kernels/sgemm_simd.wat`): expert by expert, the tokens that selected it are up-projected as a gathered
 * product (4 tokens × 8 neurons in registers), activated here in TypeScript (any activation), and each nonzero
 * hidden value adds its W2 row into its token's fp32 sum. Experts run in ascending order, so every token sums
 * its experts and their neurons in one fixed order, whatever the batch. The layer's weights are copied into
 * the module on every call (as much memory traffic as one dense FFN), so `moe_ffn_cpu.ts` comes here only for
 * enough tokens.
 * @module
 */
import { type Activation, applyActivation } from "./activation.ts";
import { ensureBytes, putRows, roundUp, simdModule } from "./sgemm_wasm.ts";

/**
 * Σ over the experts each token selected of that expert's output (no b2), for T tokens.
 * @param x FFN input (after any LayerNorm) [T, d].
 * @param w1 Up-projections, expert-major [E·d, s].
 * @param b1 [E·s].
 * @param w2 Down-projections [E·s, d].
 * @param lists Per expert e, its tokens in ascending order at lists[e·T …] (cap T).
 * @param counts Tokens per expert [E].
 * @param dims Tokens, width, experts, neurons per expert.
 * @param act Expert hidden activation.
 * @returns The sums [T, d], or null without WebAssembly SIMD.
 */
export function moeExpertsWasm(
  x: Float32Array,
  w1: Float32Array,
  b1: Float32Array,
  w2: Float32Array,
  lists: Uint32Array,
  counts: Uint32Array,
  dims: { T: number; d: number; E: number; s: number },
  act: Activation,
): Float32Array | null {
  const mod = simdModule();
  if (!mod) return null;
  const { T, d, E, s } = dims;
  const s8 = roundUp(s, 8), d8 = roundUp(d, 8), T4 = roundUp(T, 4);
  // Layout (floats, each region 16-byte aligned): X [T, d] | W1 [E, d, s8] | W2 [E, s, d8] | list [T4] |
  // H [T4, s8] | ACC [T, d8]
  const px = 0, pw1 = roundUp(px + T * d, 4), pw2 = pw1 + E * d * s8, plist = pw2 + E * s * d8;
  const ph = plist + T4, pacc = ph + T4 * s8, end = pacc + T * d8;
  const mem = ensureBytes(mod, end * 4);
  const u32 = new Uint32Array(mem.buffer);
  mem.set(x, px);
  putRows(mem, pw1, w1, E * d, s, s8);
  putRows(mem, pw2, w2, E * s, d, d8);
  mem.fill(0, pacc, end);
  for (let e = 0; e < E; e++) {
    const c = counts[e];
    if (c === 0) continue;
    const c4 = roundUp(c, 4);
    u32.set(lists.subarray(e * T, e * T + c), plist);
    u32.fill(lists[e * T + c - 1], plist + c, plist + c4); // pad with the last token (rows discarded)
    mod.gatherGemm(px * 4, (pw1 + e * d * s8) * 4, plist * 4, ph * 4, d, s8, c4);
    for (let p = 0; p < c; p++) {
      const row = ph + p * s8;
      for (let n = 0; n < s; n++) {
        mem[row + n] = applyActivation(act, Math.fround(mem[row + n] + b1[e * s + n]));
      }
    }
    mod.scatterAdd(ph * 4, (pw2 + e * s * d8) * 4, plist * 4, pacc * 4, c, s, s8, d8);
  }
  const out = new Float32Array(T * d);
  if (d === d8) out.set(mem.subarray(pacc, pacc + T * d));
  else for (let t = 0; t < T; t++) out.set(mem.subarray(pacc + t * d8, pacc + t * d8 + d), t * d);
  return out;
}
