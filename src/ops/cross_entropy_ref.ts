/**
 * CPU reference for `kernels/cross_entropy.wgsl`.
 * @module
 */

/** Target value meaning "no next token": its loss is 0. */
export const NO_TARGET = 0xffffffff;

/**
 * Per-row cross-entropy of logits against target ids.
 * @param logits [rows, vocab].
 * @param targets [rows] ids, or {@link NO_TARGET}.
 * @param rows Row count.
 * @param vocab Row length.
 * @returns [rows] losses in nats.
 */
export function crossEntropyRef(
  logits: Float32Array,
  targets: Uint32Array,
  rows: number,
  vocab: number,
): Float32Array {
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    if (targets[r] >= vocab) continue;
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    let m = -Infinity;
    for (const v of row) if (v > m) m = v;
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    out[r] = Math.log(s) + m - row[targets[r]];
  }
  return out;
}
