/**
 * CPU reference for `kernels/moe_expert_matmul.wgsl`.
 * @module
 */
import { type Activation, applyActivation } from "./activation.ts";

/** Shape and mode of one grouped expert matmul. */
export interface ExpertMatmulShape {
  /** Experts. */
  E: number;
  /** Slot capacity per expert. */
  cap: number;
  /** Inner dimension. */
  K: number;
  /** Output columns per expert. */
  N: number;
  /** Up-projection: rows of A are token ids from `lists`; down-projection: rows e·cap + slot. */
  gather: boolean;
  /** Activation after the bias. */
  act: Activation;
}

/**
 * out[e·cap + slot] = act(A[row] · W[e] + b[e]) for every used slot (others stay 0).
 * @param a A: [tokens, K] (gather) or [E·cap, K].
 * @param lists [E·cap] token ids (used when gathering).
 * @param counts [E] used slots per expert.
 * @param w [E, K, N].
 * @param bias Optional [E, N].
 * @param s Shape and mode.
 * @returns [E·cap, N].
 */
export function moeExpertMatmulRef(
  a: Float32Array,
  lists: Uint32Array,
  counts: Uint32Array,
  w: Float32Array,
  bias: Float32Array | undefined,
  s: ExpertMatmulShape,
): Float32Array {
  const { E, cap, K, N } = s;
  const out = new Float32Array(E * cap * N);
  const acc = new Float64Array(N);
  for (let e = 0; e < E; e++) {
    const wb = e * K * N;
    for (let slot = 0; slot < counts[e]; slot++) {
      const row = s.gather ? lists[e * cap + slot] : e * cap + slot;
      acc.fill(0);
      for (let k = 0; k < K; k++) {
        const av = a[row * K + k];
        if (av === 0) continue;
        for (let n = 0; n < N; n++) acc[n] += av * w[wb + k * N + n];
      }
      const o = (e * cap + slot) * N;
      for (let n = 0; n < N; n++) out[o + n] = applyActivation(s.act, acc[n] + (bias ? bias[e * N + n] : 0));
    }
  }
  return out;
}
