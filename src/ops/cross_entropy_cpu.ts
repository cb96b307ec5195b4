/**
 * The CPU backend's cross-entropy: the function of `cross_entropy_ref.ts` with the row's Σ exp in
 * WebAssembly SIMD (`exp_shift` of `kernels/sgemm_simd.wat`: a single-precision exp, summed in float64). On
 * a CPU evaluation that exp was a tenth of the time for a 4,096-token vocabulary, and grows with it.
 * @module
 */
import { crossEntropyRef } from "./cross_entropy_ref.ts";
import { ensureBytes, roundUp, simdModule } from "./sgemm_wasm.ts";

/**
 * Per-row cross-entropy of logits against target ids. Same contract as {@link crossEntropyRef}.
 * @param logits [rows, vocab].
 * @param targets [rows] ids, or `NO_TARGET`.
 * @param rows Row count.
 * @param vocab Row length.
 * @returns [rows] losses in nats.
 */
export function crossEntropyCpu(
  logits: Float32Array,
  targets: Uint32Array,
  rows: number,
  vocab: number,
): Float32Array {
  const mod = simdModule();
  if (!mod) return crossEntropyRef(logits, targets, rows, vocab);
  const out = new Float32Array(rows);
  // One row at a time, padded to a multiple of 4 with −∞ (whose exp is exactly 0).
  const stride = roundUp(vocab, 4);
  const mem = ensureBytes(mod, stride * 4);
  for (let r = 0; r < rows; r++) {
    if (targets[r] >= vocab) continue;
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    let m = -Infinity;
    for (let j = 0; j < vocab; j++) {
      const v = row[j];
      if (v > m) m = v;
      else if (v !== v) m = NaN; // the vector exp would turn a NaN logit into 0: keep it NaN, as the reference
    }
    if (Number.isNaN(m)) {
      out[r] = NaN;
      continue;
    }
    mem.set(row, 0);
    mem.fill(-Infinity, vocab, stride);
    out[r] = Math.log(mod.expShift(0, stride, m)) + m - row[targets[r]];
  }
  return out;
}
