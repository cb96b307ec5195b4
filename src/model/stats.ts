/**
 * Compute accounting. Convention (fvcore's, as in the D2DMoE paper): one multiply-accumulate (MAC)
 * counts once; elementwise work, softmax, LayerNorm and embedding lookups are not counted. Counted:
 * every projection (QKV, attention output, FFN or executed experts, routers, pooler, heads, LM head)
 * and the two attention products (q·kᵀ and p·v: keys × width MACs per query token each). Converted
 * attention projections (`convert --attention`) replace a projection's C² MACs per token by their executed
 * expert MACs; their routers count with the other routers.
 * @module
 */

/** What a forward / generate / embed call actually computed. */
export interface ComputeStats {
  /** Tokens processed (prompt + generated for `generate`). */
  tokens: number;
  /** Executed expert MACs / dense FFN MACs (1 for a dense model). */
  ffn_fraction: number;
  /** Executed attention-projection expert MACs / dense projection MACs (1 when projections are dense). */
  attention_fraction: number;
  /** Whole-model MACs including routers / the dense model's MACs. */
  compute_fraction: number;
  /** MACs actually executed. */
  macs: number;
  /** MACs the dense model spends on the same tokens. */
  dense_macs: number;
  /** Executed FFN (expert) MACs. */
  ffn_macs: number;
  /** FFN MACs of the dense model on the same tokens. */
  dense_ffn_macs: number;
  /** Executed MACs of converted attention projections (0 when none are converted). */
  attention_macs: number;
  /** MACs the dense projections that were converted spend on the same tokens. */
  dense_attention_macs: number;
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
  /** Everything else the dense model computes, including attention projections even when converted. */
  other = 0;
  /** Dense MACs of converted attention projections (already inside `other`). */
  denseAttn = 0;
  /** Executed MACs of converted attention projections (replacing `denseAttn`). */
  attn = 0;
  /** Executed pairs per converted layer. */
  pairs: number[] | null = null;
  /** (token, expert) pairs a dense run would execute per converted layer. */
  densePairs: number[] | null = null;

  /** Adds a dense FFN pass: `macs` executed and dense. */
  addDenseFfn(macs: number): void {
    this.denseFfn += macs;
    this.ffn += macs;
  }

  /** Adds another tally's counts (e.g. a decode step recorded ahead, once its token is taken). */
  merge(o: MacTally): void {
    this.tokens += o.tokens;
    this.denseFfn += o.denseFfn;
    this.ffn += o.ffn;
    this.router += o.router;
    this.other += o.other;
    this.denseAttn += o.denseAttn;
    this.attn += o.attn;
    const sum = (a: number[] | null, b: number[] | null) =>
      b === null ? a : a === null ? [...b] : a.map((v, i) => v + (b[i] ?? 0));
    this.pairs = sum(this.pairs, o.pairs);
    this.densePairs = sum(this.densePairs, o.densePairs);
  }

  /** The stats record for this call. */
  toStats(): ComputeStats {
    const dense = this.denseFfn + this.other;
    const macs = this.ffn + this.router + this.other - this.denseAttn + this.attn;
    const s: ComputeStats = {
      tokens: this.tokens,
      ffn_fraction: this.denseFfn > 0 ? this.ffn / this.denseFfn : 1,
      attention_fraction: this.denseAttn > 0 ? this.attn / this.denseAttn : 1,
      compute_fraction: dense > 0 ? macs / dense : 1,
      macs,
      dense_macs: dense,
      ffn_macs: this.ffn,
      dense_ffn_macs: this.denseFfn,
      attention_macs: this.attn,
      dense_attention_macs: this.denseAttn,
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

/**
 * Combines stats of several calls (e.g. the choices of one completion request); fractions are
 * recomputed from the MAC totals.
 * @param list Stats records (at least one).
 * @returns One record.
 */
export function mergeStats(list: ComputeStats[]): ComputeStats {
  if (list.length === 1) return list[0];
  const sum = (f: (x: ComputeStats) => number) => list.reduce((s, x) => s + f(x), 0);
  const macs = sum((x) => x.macs), dense = sum((x) => x.dense_macs);
  const ffn = sum((x) => x.ffn_macs), denseFfn = sum((x) => x.dense_ffn_macs);
  const attn = sum((x) => x.attention_macs), denseAttn = sum((x) => x.dense_attention_macs);
  const out: ComputeStats = {
    tokens: sum((x) => x.tokens),
    ffn_fraction: denseFfn > 0 ? ffn / denseFfn : 1,
    attention_fraction: denseAttn > 0 ? attn / denseAttn : 1,
    compute_fraction: dense > 0 ? macs / dense : 1,
    macs,
    dense_macs: dense,
    ffn_macs: ffn,
    dense_ffn_macs: denseFfn,
    attention_macs: attn,
    dense_attention_macs: denseAttn,
  };
  if (list.every((x) => x.layers)) {
    out.layers = list[0].layers!.map((_, i) => {
      const pairs = list.reduce((s, x) => s + x.layers![i].executed_pairs, 0);
      // A layer's fraction is pairs over tokens·E; recover tokens·E from each record's own ratio.
      const densePairs = list.reduce(
        (s, x) =>
          s + (x.layers![i].ffn_fraction > 0 ? x.layers![i].executed_pairs / x.layers![i].ffn_fraction : 0),
        0,
      );
      return { executed_pairs: pairs, ffn_fraction: densePairs > 0 ? pairs / densePairs : 1 };
    });
  }
  return out;
}
