/**
 * CPU reference for `kernels/moe_select.wgsl`, and the routing rule both share.
 * @module
 */

/**
 * How experts are chosen per token:
 * - `dynk` (D2DMoE): expert e runs iff r_e ≥ τ · max_j r_j (ties inclusive; all-zero scores run every expert);
 * - `topk` (MoEfication baseline): the k highest scores run (ties broken by lower index).
 */
export type RoutingRule = { mode: "dynk"; tau: number } | { mode: "topk"; k: number };

/** The outcome of selection, in the layout the GPU kernels build. */
export interface Selection {
  /** [T, E]: 1 where expert e runs for token t. */
  selected: Uint8Array;
  /** [E]: tokens per expert. */
  counts: Uint32Array;
  /** [E·cap]: token ids of expert e in slots e·cap … e·cap + counts[e] − 1 (ascending here; any order on the GPU). */
  lists: Uint32Array;
  /** [T·E]: for token t, rows e·cap + slot of its selected experts in ascending e. */
  tokRows: Uint32Array;
  /** [T]: experts selected per token. */
  tokK: Uint32Array;
}

/**
 * Applies a routing rule to router scores.
 * @param scores [T, E] non-negative scores.
 * @param T Tokens.
 * @param E Experts.
 * @param cap Slot capacity per expert (≥ T).
 * @param rule Dynamic-k threshold or fixed top-k.
 * @returns The selection.
 */
export function moeSelectRef(
  scores: Float32Array,
  T: number,
  E: number,
  cap: number,
  rule: RoutingRule,
): Selection {
  const selected = new Uint8Array(T * E);
  const counts = new Uint32Array(E);
  const lists = new Uint32Array(E * cap);
  const tokRows = new Uint32Array(T * E);
  const tokK = new Uint32Array(T);
  for (let t = 0; t < T; t++) {
    const r = scores.subarray(t * E, (t + 1) * E);
    let m = 0;
    for (let e = 0; e < E; e++) if (r[e] > m) m = r[e];
    const thr = rule.mode === "dynk" ? Math.fround(Math.fround(rule.tau) * m) : 0; // f32, as on the GPU
    let n = 0;
    for (let e = 0; e < E; e++) {
      let sel: boolean;
      if (rule.mode === "dynk") {
        sel = r[e] >= thr;
      } else {
        let rank = 0;
        for (let j = 0; j < E; j++) if (r[j] > r[e] || (r[j] === r[e] && j < e)) rank++;
        sel = rank < rule.k;
      }
      if (!sel) continue;
      selected[t * E + e] = 1;
      const slot = counts[e]++;
      lists[e * cap + slot] = t;
      tokRows[t * E + n++] = e * cap + slot;
    }
    tokK[t] = n;
  }
  return { selected, counts, lists, tokRows, tokK };
}

/**
 * Checks a token range of a batch for chunked selection.
 * @param fn Caller, for the message.
 * @param start First token.
 * @param count Tokens.
 * @param T Tokens in the batch.
 * @throws {RangeError} When the range is empty or leaves the batch.
 */
export function checkTokenRange(fn: string, start: number, count: number, T: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 1 || start + count > T) {
    throw new RangeError(`${fn}: tokens ${start} … ${start + count - 1} are not within the batch's ${T}`);
  }
}
