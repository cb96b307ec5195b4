/**
 * Calibration on the CPU: a D2DMoE layer with every expert running (exactly the dense FFN) and each
 * expert's output L2 norm per token, without the per-pair output rows. The generic path writes and re-reads
 * E·T·d floats (786 KB per token for 384 experts at d = 512), which made calibrating the default model take
 * minutes; here the up-projection is one blocked matmul over all experts' neurons and each token's
 * down-projection adds only its active neurons' rows, expert by expert: in WebAssembly SIMD from
 * `WASM_MIN_ROWS` tokens ({@link expertNormsWasm}, about 3× the JavaScript loops), else in JavaScript
 * ({@link expertNormsJs}).
 * @module
 */
import type { Activation } from "./activation.ts";
import { matmulCpu, WASM_MIN_ROWS } from "./matmul_cpu.ts";
import { ensureBytes, putRows, roundUp, simdModule } from "./sgemm_wasm.ts";

/** What {@link moeFfnNormsCpu} returns, in the layout of the generic path. */
export interface FfnNorms {
  /** residual + FFN(x) [T, d]. */
  y: Float32Array;
  /** ‖expert e's output for token t‖₂ at row e·T + t [E·T]. */
  norms: Float32Array;
  /** For token t, the rows of its pairs in ascending expert order: tokRows[t·E + e] = e·T + t [T·E]. */
  tokRows: Uint32Array;
}

/**
 * Every expert of a MoE layer on `x`, with per-(token, expert) output norms.
 * @param x FFN input [T, d].
 * @param residual Optional [T, d].
 * @param w1 Up-projections, expert-major [E·d, s].
 * @param b1 [E·s].
 * @param w2 Down-projections [E·s, d].
 * @param b2 [d].
 * @param dims Tokens, width, experts, neurons per expert.
 * @param act Expert hidden activation.
 * @returns Output, norms and pair rows.
 */
export function moeFfnNormsCpu(
  x: Float32Array,
  residual: Float32Array | undefined,
  w1: Float32Array,
  b1: Float32Array,
  w2: Float32Array,
  b2: Float32Array,
  dims: { T: number; d: number; E: number; s: number },
  act: Activation,
): FfnNorms {
  const { T, d, E, s } = dims;
  const F = E * s;
  // [E·d, s] expert blocks → one [d, E·s] matrix, so the up-projection is a single blocked product.
  const wAll = new Float32Array(d * F);
  for (let e = 0; e < E; e++) {
    for (let k = 0; k < d; k++) {
      for (let n = 0; n < s; n++) wAll[k * F + e * s + n] = w1[(e * d + k) * s + n];
    }
  }
  const h = matmulCpu(x, wAll, T, d, F, { act }, b1);
  const { sums, norms } = (T >= WASM_MIN_ROWS ? expertNormsWasm(h, w2, dims) : null) ??
    expertNormsJs(h, w2, dims);
  const y = new Float32Array(T * d), tokRows = new Uint32Array(T * E);
  for (let t = 0; t < T; t++) {
    for (let e = 0; e < E; e++) tokRows[t * E + e] = e * T + t;
    for (let c = 0; c < d; c++) y[t * d + c] = sums[t * d + c] + b2[c] + (residual ? residual[t * d + c] : 0);
  }
  return { y, norms, tokRows };
}

/** Tokens per pass of {@link expertNormsWasm}: bounds the module's memory. */
const CHUNK_TOKENS = 2048;

/**
 * Every expert's output and its norm from the activated hidden values h [T, E·s], in WebAssembly SIMD
 * (`expert_norms`): fp32 outputs, squares summed in float64.
 * @param h Hidden activations of every expert [T, E·s].
 * @param w2 Down-projections [E·s, d].
 * @param dims Tokens, width, experts, neurons per expert.
 * @returns Σ of the experts' outputs [T, d] and the norms at e·T + t [E·T]; null without the module.
 */
export function expertNormsWasm(
  h: Float32Array,
  w2: Float32Array,
  dims: { T: number; d: number; E: number; s: number },
): { sums: Float32Array; norms: Float32Array } | null {
  const mod = simdModule();
  if (!mod) return null;
  const { T, d, E, s } = dims;
  const F = E * s, d8 = roundUp(d, 8), chunk = Math.min(T, CHUNK_TOKENS);
  // Layout (floats): W [F, d8] | OUT [d8] | H [chunk, F] | ACC [chunk, d8] | NORM [chunk, E]
  const pw = 0, pout = pw + F * d8, ph = pout + d8, pacc = roundUp(ph + chunk * F, 4);
  const pnorm = pacc + chunk * d8;
  const mem = ensureBytes(mod, (pnorm + chunk * E) * 4);
  putRows(mem, pw, w2, F, d, d8);
  const sums = new Float32Array(T * d), norms = new Float32Array(E * T);
  for (let t0 = 0; t0 < T; t0 += chunk) {
    const n = Math.min(chunk, T - t0);
    mem.set(h.subarray(t0 * F, (t0 + n) * F), ph);
    mod.expertNorms(ph * 4, pw * 4, pacc * 4, pnorm * 4, pout * 4, n, E, s, d8);
    for (let t = 0; t < n; t++) {
      sums.set(mem.subarray(pacc + t * d8, pacc + t * d8 + d), (t0 + t) * d);
      for (let e = 0; e < E; e++) norms[e * T + t0 + t] = mem[pnorm + t * E + e];
    }
  }
  return { sums, norms };
}

/**
 * {@link expertNormsWasm} in JavaScript: per token, expert by expert, each active neuron's W2 row added
 * into a float64 output, its norm, and the sum of the f32-rounded outputs in float64.
 * @param h Hidden activations of every expert [T, E·s].
 * @param w2 Down-projections [E·s, d].
 * @param dims Tokens, width, experts, neurons per expert.
 * @returns Σ of the experts' outputs [T, d] and the norms at e·T + t [E·T].
 */
export function expertNormsJs(
  h: Float32Array,
  w2: Float32Array,
  dims: { T: number; d: number; E: number; s: number },
): { sums: Float32Array; norms: Float32Array } {
  const { T, d, E, s } = dims;
  const F = E * s;
  const sums = new Float32Array(T * d), norms = new Float32Array(E * T);
  const acc = new Float64Array(d), out = new Float64Array(d);
  for (let t = 0; t < T; t++) {
    acc.fill(0);
    for (let e = 0; e < E; e++) {
      let any = false;
      for (let n = 0; n < s; n++) {
        const v = h[t * F + e * s + n];
        if (v === 0) continue; // ReLU zeros
        const wo = (e * s + n) * d;
        if (!any) {
          for (let c = 0; c < d; c++) out[c] = v * w2[wo + c];
          any = true;
        } else {
          for (let c = 0; c < d; c++) out[c] += v * w2[wo + c];
        }
      }
      if (!any) continue; // norm 0
      let sq = 0;
      for (let c = 0; c < d; c++) {
        const o = Math.fround(out[c]);
        sq += o * o;
        acc[c] += o;
      }
      norms[e * T + t] = Math.sqrt(sq);
    }
    sums.set(acc, t * d);
  }
  return { sums, norms };
}
