/**
 * CPU reference for `kernels/moe_expert_ffn.wgsl`.
 * @module
 */
import { type Activation, applyActivation } from "./activation.ts";

/** Shape of the fused decode expert FFN. */
export interface ExpertFfnShape {
  /** Experts. */
  E: number;
  /** Slots per expert. */
  cap: number;
  /** Model width. */
  d: number;
  /** Neurons per expert. */
  s: number;
  /** Neurons per partial row (divides s). */
  chunk: number;
  /** Hidden activation. */
  act: Activation;
}

/**
 * Partial outputs: row (e·cap + slot)·nch + c = act(x[t]·W1[e][:, chunk c] + b1) · W2[e][chunk c, :]
 * for every used slot (t = lists[e·cap + slot]); other rows stay 0.
 * @param x [T, d].
 * @param lists [E·cap] token ids.
 * @param counts [E] used slots.
 * @param w1 [E, d, s].
 * @param b1 [E, s].
 * @param w2 [E, s, d].
 * @param sh Shape.
 * @returns [E·cap·nch, d] with nch = s / chunk.
 */
export function moeExpertFfnRef(
  x: Float32Array,
  lists: Uint32Array,
  counts: Uint32Array,
  w1: Float32Array,
  b1: Float32Array,
  w2: Float32Array,
  sh: ExpertFfnShape,
): Float32Array {
  const { E, cap, d, s, chunk } = sh;
  const nch = s / chunk;
  const out = new Float32Array(E * cap * nch * d);
  for (let e = 0; e < E; e++) {
    for (let slot = 0; slot < counts[e]; slot++) {
      const t = lists[e * cap + slot];
      for (let c = 0; c < nch; c++) {
        const o = ((e * cap + slot) * nch + c) * d;
        for (let j = c * chunk; j < (c + 1) * chunk; j++) {
          let a = 0;
          for (let k = 0; k < d; k++) a += x[t * d + k] * w1[(e * d + k) * s + j];
          const h = applyActivation(sh.act, a + b1[e * s + j]);
          if (h === 0) continue;
          for (let n = 0; n < d; n++) out[o + n] += h * w2[(e * s + j) * d + n];
        }
      }
    }
  }
  return out;
}
