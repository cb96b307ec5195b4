/**
 * The expert part of the CPU D2DMoE layer in WebAssembly SIMD (`gather_gemm` and `scatter_add` of
 * `kernels/sgemm_simd.wat`): expert by expert, the tokens that selected it are up-projected as a gathered
 * product (4 tokens × 8 neurons in registers), activated here in TypeScript (any activation), and each nonzero
 * hidden value adds its W2 row into its token's fp32 sum. Experts run in ascending order, so every token sums
 * its experts and their neurons in one fixed order, whatever the batch. The layer's weights are copied into
 * the module on every call (as much memory traffic as one dense FFN), so `moe_ffn_cpu.ts` comes here only for
 * enough tokens; the tokens go through in chunks, so the module's memory stays bounded.
 * @module
 */
import { type Activation, applyActivation } from "./activation.ts";
import { ensureBytes, putRows, roundUp, simdModule } from "./sgemm_wasm.ts";

/** Tokens per pass: the module holds the layer's weights and this many tokens' inputs and sums at a time. */
export const CHUNK_TOKENS = 4096;

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
 * @param chunkTokens Tokens per pass (tests shrink it).
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
  chunkTokens: number = CHUNK_TOKENS,
): Float32Array | null {
  const mod = simdModule();
  if (!mod) return null;
  const { T, d, E, s } = dims;
  const s8 = roundUp(s, 8), d8 = roundUp(d, 8);
  // Tokens per chunk: bounds the module's memory (which never shrinks) to the weights plus CHUNK_TOKENS rows.
  const chunk = Math.min(T, chunkTokens), C4 = roundUp(chunk, 4);
  // Layout (floats, each region 16-byte aligned): W1 [E, d, s8] | W2 [E, s, d8] | X [chunk, d] | list [C4] |
  // H [C4, s8] | ACC [chunk, d8]
  const pw1 = 0, pw2 = pw1 + E * d * s8, px = pw2 + E * s * d8, plist = roundUp(px + chunk * d, 4);
  const ph = plist + C4, pacc = ph + C4 * s8, end = pacc + chunk * d8;
  const mem = ensureBytes(mod, end * 4);
  const u32 = new Uint32Array(mem.buffer);
  putRows(mem, pw1, w1, E * d, s, s8);
  putRows(mem, pw2, w2, E * s, d, d8);
  const out = new Float32Array(T * d);
  const next = new Uint32Array(E); // per expert, the first list entry not yet run
  for (let t0 = 0; t0 < T; t0 += chunk) {
    const t1 = Math.min(T, t0 + chunk);
    mem.set(x.subarray(t0 * d, t1 * d), px);
    mem.fill(0, pacc, end);
    for (let e = 0; e < E; e++) {
      // This expert's tokens in [t0, t1), as rows of the chunk (its list is ascending).
      const from = next[e];
      let to = from;
      while (to < counts[e] && lists[e * T + to] < t1) u32[plist + to - from] = lists[e * T + to++] - t0;
      next[e] = to;
      const c = to - from;
      if (c === 0) continue;
      const c4 = roundUp(c, 4);
      u32.fill(u32[plist + c - 1], plist + c, plist + c4); // pad with the last token (rows discarded)
      mod.gatherGemm(px * 4, (pw1 + e * d * s8) * 4, plist * 4, ph * 4, d, s8, c4);
      for (let p = 0; p < c; p++) {
        const row = ph + p * s8;
        for (let n = 0; n < s; n++) {
          mem[row + n] = applyActivation(act, Math.fround(mem[row + n] + b1[e * s + n]));
        }
      }
      mod.scatterAdd(ph * 4, (pw2 + e * s * d8) * 4, plist * 4, pacc * 4, c, s, s8, d8);
    }
    if (d === d8) out.set(mem.subarray(pacc, pacc + (t1 - t0) * d), t0 * d);
    else {for (let t = t0; t < t1; t++) {
        out.set(mem.subarray(pacc + (t - t0) * d8, pacc + (t - t0) * d8 + d), t * d);
      }}
  }
  return out;
}
