/**
 * The CPU backend's grouped expert matmul: per expert, gather its rows and run the blocked
 * {@link matmulCpu} on them (the reference does one row at a time). Tested against the reference.
 * @module
 */
import { matmulCpu } from "./matmul_cpu.ts";
import type { ExpertMatmulShape } from "./moe_expert_matmul_ref.ts";

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
export function moeExpertMatmulCpu(
  a: Float32Array,
  lists: Uint32Array,
  counts: Uint32Array,
  w: Float32Array,
  bias: Float32Array | undefined,
  s: ExpertMatmulShape,
): Float32Array {
  const { E, cap, K, N } = s;
  const out = new Float32Array(E * cap * N);
  for (let e = 0; e < E; e++) {
    const cnt = counts[e];
    if (cnt === 0) continue;
    let rows: Float32Array;
    if (s.gather) {
      rows = new Float32Array(cnt * K);
      for (let slot = 0; slot < cnt; slot++) {
        const t = lists[e * cap + slot];
        rows.set(a.subarray(t * K, (t + 1) * K), slot * K);
      }
    } else {
      rows = a.subarray(e * cap * K, (e * cap + cnt) * K);
    }
    const we = w.subarray(e * K * N, (e + 1) * K * N);
    const be = bias?.subarray(e * N, (e + 1) * N);
    out.set(matmulCpu(rows, we, cnt, K, N, { act: s.act }, be), e * cap * N);
  }
  return out;
}
