/**
 * Compute accounting. Convention (fvcore's, as in the D2DMoE paper): one multiply-accumulate (MAC)
 * counts once; elementwise work, softmax, LayerNorm and embedding lookups are not counted. Counted:
 * every projection (QKV, attention output, FFN or executed experts, routers, pooler, heads, LM head)
 * and the two attention products (q·kᵀ and p·v: keys × width MACs per query token each).
 * @module
 */

/** What a forward / generate / embed call actually computed. */
export interface ComputeStats {
  /** Tokens processed (prompt + generated for `generate`). */
  tokens: number;
  /** Executed expert MACs / dense FFN MACs (1 for a dense model). */
  ffn_fraction: number;
  /** Whole-model MACs including routers / the dense model's MACs. */
  compute_fraction: number;
  /** MACs actually executed. */
  macs: number;
  /** MACs the dense model spends on the same tokens. */
  dense_macs: number;
  /** Per converted layer: executed (token, expert) pairs and that layer's FFN fraction. */
  layers?: { executed_pairs: number; ffn_fraction: number }[];
}

/** Accumulates MACs over one call (several passes for generation). */
export class MacTally {
  /** Tokens processed. */
  tokens = 0;
  /** Dense FFN MACs. */
  denseFfn = 0;
  /** Executed FFN (expert) MACs. */
  ffn = 0;
  /** Router MACs (zero for dense models). */
  router = 0;
  /** Everything else, the same in dense and converted models. */
  other = 0;
  /** Executed pairs per converted layer. */
  pairs: number[] | null = null;
  /** (token, expert) pairs a dense run would execute per converted layer. */
  densePairs: number[] | null = null;

  /** Adds a dense FFN pass: `macs` executed and dense. */
  addDenseFfn(macs: number): void {
    this.denseFfn += macs;
    this.ffn += macs;
  }

  /** The stats record for this call. */
  toStats(): ComputeStats {
    const dense = this.denseFfn + this.other;
    const macs = this.ffn + this.router + this.other;
    const s: ComputeStats = {
      tokens: this.tokens,
      ffn_fraction: this.denseFfn > 0 ? this.ffn / this.denseFfn : 1,
      compute_fraction: dense > 0 ? macs / dense : 1,
      macs,
      dense_macs: dense,
    };
    if (this.pairs && this.densePairs) {
      s.layers = this.pairs.map((p, i) => ({
        executed_pairs: p,
        ffn_fraction: this.densePairs![i] > 0 ? p / this.densePairs![i] : 1,
      }));
    }
    return s;
  }
}

/**
 * MACs of the attention part of one block for `q` query tokens over `k` keys each (per batch entry).
 * @param c Model width.
 * @param q Query tokens.
 * @param k Keys visible per query (average for causal prefill).
 * @returns QKV + output projections + the two attention products.
 */
export function attentionMacs(c: number, q: number, k: number): number {
  return q * (4 * c * c) + 2 * q * k * c;
}
