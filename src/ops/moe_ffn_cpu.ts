/**
 * The CPU backend's D2DMoE FFN layer: route every token (blocked matmuls), then expert by expert run the
 * tokens that selected it and add each active neuron's W2 row straight into its token's sum. From
 * {@link WASM_MIN_TOKENS} tokens that runs in WebAssembly SIMD (`moe_experts_wasm.ts`); fewer (decode), or a
 * runtime without it, take {@link moeExpertsJs}: four tokens × four neurons at a time (each weight and input
 * value loaded once per 16 multiply-adds; about 3× the token-at-a-time loop in V8) into float64
 * accumulators, in chunks of {@link CHUNK_TOKENS} tokens so they stay small. The GPU layout (per-pair output
 * rows of width d, merged afterwards) costs E·T·d floats of memory and a scattered merge, which on a CPU with
 * hundreds of small experts was slower than the dense layer; this does only the selected work and skips
 * neurons the activation zeroes. Same function as `moeFfnDecodeRef` (summation order differs; tested against
 * it).
 * @module
 */
import { type Activation, applyActivation } from "./activation.ts";
import { layerNormRef } from "./layer_norm_ref.ts";
import { matmulCpu } from "./matmul_cpu.ts";
import { moeExpertsWasm } from "./moe_experts_wasm.ts";
import type { HostMoeWeights } from "./moe_ffn_decode_ref.ts";
import { moeSelectRef, type RoutingRule } from "./moe_select_ref.ts";

/**
 * residual + FFN(LN?(x)) of a D2DMoE layer on the CPU.
 * @param x [T, d] (the FFN input, or its pre-LayerNorm value when `ln` is given).
 * @param residual Optional [T, d].
 * @param t Layer weights (expert-major).
 * @param dims Sizes: tokens, model width, router width, experts, neurons per expert.
 * @param act Expert hidden activation.
 * @param rule Dynamic-k or top-k.
 * @param ln Optional LayerNorm applied to x first.
 * @returns The output [T, d] and the tokens each expert ran [E].
 */
export function moeFfnCpu(
  x: Float32Array,
  residual: Float32Array | undefined,
  t: HostMoeWeights,
  dims: { T: number; d: number; w: number; E: number; s: number },
  act: Activation,
  rule: RoutingRule,
  ln?: { gamma: Float32Array; beta: Float32Array; eps: number },
): { y: Float32Array; counts: Uint32Array } {
  const { T, d, w, E } = dims;
  const xn = ln ? layerNormRef(x, ln.gamma, ln.beta, T, d, ln.eps) : x;
  const hidden = matmulCpu(xn, t.r1, T, d, w, { act: "relu" });
  const scores = matmulCpu(hidden, t.r2, T, w, E);
  for (let i = 0; i < scores.length; i++) scores[i] = Math.abs(scores[i]);
  const sel = moeSelectRef(scores, T, E, T, rule);
  const sums =
    (T >= WASM_MIN_TOKENS ? moeExpertsWasm(xn, t.w1, t.b1, t.w2, sel.lists, sel.counts, dims, act) : null) ??
      moeExpertsJs(xn, t.w1, t.b1, t.w2, sel.lists, sel.counts, dims, act);
  const y = new Float32Array(T * d);
  for (let tok = 0; tok < T; tok++) {
    const o = tok * d;
    for (let c = 0; c < d; c++) y[o + c] = sums[o + c] + t.b2[c] + (residual ? residual[o + c] : 0);
  }
  return { y, counts: sel.counts };
}

/**
 * The expert sums of {@link moeExpertsWasm} in JavaScript: expert by expert, four tokens × four neurons per
 * block, each active neuron's W2 row added into its token's float64 accumulator, in chunks of
 * {@link CHUNK_TOKENS} tokens.
 * @param x FFN input (after any LayerNorm) [T, d].
 * @param w1 Up-projections, expert-major [E·d, s].
 * @param b1 [E·s].
 * @param w2 Down-projections [E·s, d].
 * @param lists Per expert e, its tokens in ascending order at lists[e·T …] (cap T).
 * @param counts Tokens per expert [E].
 * @param dims Tokens, width, experts, neurons per expert.
 * @param act Expert hidden activation.
 * @returns Σ over each token's selected experts of their outputs (no b2) [T, d].
 */
export function moeExpertsJs(
  x: Float32Array,
  w1: Float32Array,
  b1: Float32Array,
  w2: Float32Array,
  lists: Uint32Array,
  counts: Uint32Array,
  dims: { T: number; d: number; E: number; s: number },
  act: Activation,
): Float32Array {
  const { T, d, E, s } = dims;
  const sums = new Float32Array(T * d);
  const acc = new Float64Array(Math.min(T, CHUNK_TOKENS) * d);
  const h = new Float64Array(4 * s); // activations of the current group of up to four tokens
  const next = new Uint32Array(E); // per expert, the first list entry not yet run
  for (let t0 = 0; t0 < T; t0 += CHUNK_TOKENS) {
    const t1 = Math.min(T, t0 + CHUNK_TOKENS);
    acc.fill(0);
    // Experts in ascending order: each token sums its experts (and their neurons) in a fixed order.
    for (let e = 0; e < E; e++) {
      const list = lists.subarray(e * T, e * T + counts[e]); // ascending token ids (cap = T)
      let i = next[e];
      while (i < list.length && list[i] < t1) {
        const g = countBelow(list, i, t1);
        upProject(x, w1, b1, e, list, i, g, d, s, act, h);
        for (let q = 0; q < g; q++) {
          const ao = (list[i + q] - t0) * d;
          for (let n = 0; n < s; n++) {
            const v = h[q * s + n];
            if (v === 0) continue; // ReLU zeros: most neurons of a sparse model
            const wo = (e * s + n) * d;
            for (let c = 0; c < d; c++) acc[ao + c] += v * w2[wo + c];
          }
        }
        i += g;
      }
      next[e] = i;
    }
    sums.set(acc.subarray(0, (t1 - t0) * d), t0 * d);
  }
  return sums;
}

/**
 * Tokens from which the experts run in WebAssembly (`moe_experts_wasm.ts`, which copies the layer's weights
 * in on every call); fewer (decode) take {@link moeExpertsJs}.
 */
export const WASM_MIN_TOKENS = 16;

/** Tokens per chunk of the expert-major loop: bounds the float64 accumulators to CHUNK_TOKENS·d. */
export const CHUNK_TOKENS = 1024;

/** How many of list[i], list[i+1], … (at most 4) are below `end`. */
function countBelow(list: Uint32Array, i: number, end: number): number {
  let n = 0;
  while (n < 4 && i + n < list.length && list[i + n] < end) n++;
  return n;
}

/**
 * h[q·s + n] = act(x[list[i+q]] · W1[e][:, n] + b1[e·s + n]) rounded to f32, for the g (1–4) tokens
 * list[i..i+g). Four neurons at a time with a 4 × 4 block of sums (W1 is [E·d, s], so neurons n..n+3 of
 * one input row are adjacent); missing tokens repeat the last one and are discarded.
 */
function upProject(
  x: Float32Array,
  w1: Float32Array,
  b1: Float32Array,
  e: number,
  list: Uint32Array,
  i: number,
  g: number,
  d: number,
  s: number,
  act: Activation,
  h: Float64Array,
): void {
  const x0 = list[i] * d, x1 = list[i + Math.min(1, g - 1)] * d;
  const x2 = list[i + Math.min(2, g - 1)] * d, x3 = list[i + Math.min(3, g - 1)] * d;
  const base = e * d * s;
  const put = (q: number, n: number, sum: number) => {
    if (q < g) h[q * s + n] = applyActivation(act, Math.fround(sum + b1[e * s + n]));
  };
  let n = 0;
  for (; n + 4 <= s; n += 4) {
    let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
    for (let k = 0, o = base + n; k < d; k++, o += s) {
      const w0 = w1[o], w1v = w1[o + 1], w2 = w1[o + 2], w3 = w1[o + 3];
      const a0 = x[x0 + k], a1 = x[x1 + k], a2 = x[x2 + k], a3 = x[x3 + k];
      s00 += a0 * w0, s01 += a0 * w1v, s02 += a0 * w2, s03 += a0 * w3;
      s10 += a1 * w0, s11 += a1 * w1v, s12 += a1 * w2, s13 += a1 * w3;
      s20 += a2 * w0, s21 += a2 * w1v, s22 += a2 * w2, s23 += a2 * w3;
      s30 += a3 * w0, s31 += a3 * w1v, s32 += a3 * w2, s33 += a3 * w3;
    }
    put(0, n, s00), put(0, n + 1, s01), put(0, n + 2, s02), put(0, n + 3, s03);
    put(1, n, s10), put(1, n + 1, s11), put(1, n + 2, s12), put(1, n + 3, s13);
    put(2, n, s20), put(2, n + 1, s21), put(2, n + 2, s22), put(2, n + 3, s23);
    put(3, n, s30), put(3, n + 1, s31), put(3, n + 2, s32), put(3, n + 3, s33);
  }
  for (; n < s; n++) { // expert sizes that are not a multiple of 4
    for (let q = 0; q < g; q++) {
      const xo = list[i + q] * d;
      let sum = 0;
      for (let k = 0; k < d; k++) sum += x[xo + k] * w1[base + k * s + n];
      put(q, n, sum);
    }
  }
}
