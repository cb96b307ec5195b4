/**
 * GPT-2 (GPT2LMHeadModel / GPT2Model): pre-LN decoder blocks with a KV cache and a tied LM head.
 * @module
 */
import type { Backend } from "../ops/backend.ts";
import type { Tensor } from "../ops/tensor.ts";
import type { Gpt2Config } from "./config.ts";
import {
  type AttentionFactory,
  type AttentionParams,
  DenseFfn,
  type FeedForward,
  type FfnFactory,
  type LayerKv,
  layerNorm,
  type LayerNormParams,
  type PassContext,
  selfAttention,
} from "./layers.ts";
import type { WeightLoader } from "./weight_loader.ts";

/** One pre-LN block: x + Attn(LN1(x)), then h + FFN(LN2(h)). */
export interface Gpt2Block {
  /** LayerNorm before attention. */
  ln1: LayerNormParams;
  /** Causal self-attention. */
  attn: AttentionParams;
  /** LayerNorm before the FFN (its output is the router's input). */
  ln2: LayerNormParams;
  /** Feed-forward (dense or D2DMoE). */
  ffn: FeedForward;
}

/** A KV cache for every layer, sized for `maxT` tokens per batch entry. */
export interface KvCache {
  /** Per-layer keys and values. */
  layers: LayerKv[];
  /** Capacity per entry. */
  maxT: number;
  /** Batch entries. */
  batch: number;
  /** Tokens already cached. */
  length: number;
}

async function denseConv1dFfn(
  ld: WeightLoader,
  p: string,
  C: number,
  I: number,
  cfg: Gpt2Config,
): Promise<FeedForward> {
  const fc = await ld.conv1d(`${p}.mlp.c_fc`, C, I);
  const down = await ld.conv1d(`${p}.mlp.c_proj`, I, C);
  return new DenseFfn(fc.w, fc.b, down.w, down.b, cfg.activation);
}

/** GPT-2 weights on a backend. */
export class Gpt2Net {
  private constructor(
    readonly config: Gpt2Config,
    readonly wte: Tensor,
    readonly wpe: Tensor,
    readonly blocks: Gpt2Block[],
    readonly lnF: LayerNormParams,
    readonly lmHead: Tensor,
    readonly lmHeadTransposed: boolean,
  ) {}

  /**
   * Loads GPT-2 weights (names with or without the `transformer.` prefix).
   * @param ld Loader.
   * @param cfg Parsed config.
   * @param ffn Builds each layer's FFN instead of loading the dense one (converted folders).
   * @param attention Builds each block's converted attention projections instead of loading the dense ones
   *   (converted folders made with `--attention`, which do not ship them).
   * @returns The network.
   * @throws {ModelFormatError} When a tensor is missing or has the wrong shape.
   */
  static async load(
    ld: WeightLoader,
    cfg: Gpt2Config,
    ffn?: FfnFactory,
    attention?: AttentionFactory,
  ): Promise<Gpt2Net> {
    const C = cfg.hidden, I = cfg.ffn, eps = cfg.layerNormEps;
    const wte = await ld.tensor("wte.weight", [cfg.vocabSize, C]);
    const wpe = await ld.tensor("wpe.weight", [cfg.maxPositions, C]);
    const blocks: Gpt2Block[] = [];
    for (let i = 0; i < cfg.layers; i++) {
      const p = `h.${i}`;
      const converted = await attention?.(i);
      blocks.push({
        ln1: await ld.layerNorm(`${p}.ln_1`, C, eps),
        attn: converted ? { heads: cfg.heads, proj: converted } : ld.attention(
          await ld.conv1d(`${p}.attn.c_attn`, C, 3 * C),
          await ld.conv1d(`${p}.attn.c_proj`, C, C),
          cfg.heads,
        ),
        ln2: await ld.layerNorm(`${p}.ln_2`, C, eps),
        ffn: ffn ? await ffn(i) : await denseConv1dFfn(ld, p, C, I, cfg),
      });
    }
    const lnF = await ld.layerNorm("ln_f", C, eps);
    // Tied head: logits = x · wteᵀ, read straight from the embedding table (transB).
    let lmHead = wte;
    if (!cfg.tieWordEmbeddings && ld.store.has("lm_head.weight")) {
      lmHead = ld.upload(
        await ld.store.readF32("lm_head.weight", [cfg.vocabSize, C]),
        [cfg.vocabSize, C],
        "lm_head",
      );
    }
    return new Gpt2Net(cfg, wte, wpe, blocks, lnF, lmHead, true);
  }

  /**
   * Allocates an empty KV cache.
   * @param be Backend.
   * @param batch Batch entries.
   * @param maxT Tokens per entry (≤ n_positions).
   * @returns The cache (release its tensors with {@link Gpt2Net.freeCache}).
   */
  createCache(be: Backend, batch: number, maxT: number): KvCache {
    const C = this.config.hidden;
    const layers = this.blocks.map(() => ({ kv: be.alloc([batch * maxT, 2 * C]) }));
    return { layers, maxT, batch, length: 0 };
  }

  /** Releases a cache's tensors. */
  freeCache(be: Backend, cache: KvCache): void {
    for (const l of cache.layers) be.release(l.kv);
  }

  /**
   * Runs the decoder over new tokens, appending them to `cache` when given.
   * @param pass Pass context (batch, seq = new tokens per entry).
   * @param ids u32 [batch·seq].
   * @param positions u32 [batch·seq].
   * @param keyMask Optional u32 [batch, keys] (keys = cached + new).
   * @param cache Optional KV cache; its length grows by `seq`.
   * @param opts `finalNorm: false` returns the last block's output before ln_f (for {@link Gpt2Net.logits}
   *   with `normalize`, which fuses ln_f into the LM head at decode).
   * @returns Final hidden states after ln_f [batch·seq, C] (transient).
   */
  decode(
    pass: PassContext,
    ids: Tensor,
    positions: Tensor,
    keyMask?: Tensor,
    cache?: KvCache,
    opts: { finalNorm?: boolean } = {},
  ): Tensor {
    const be = pass.be;
    let x = be.embed(ids, this.wte, positions, this.wpe);
    for (const [i, b] of this.blocks.entries()) {
      pass.layer = i;
      const kv = cache ? { cache: cache.layers[i], maxT: cache.maxT, past: cache.length } : undefined;
      // LayerNorms are handed to the next product, which fuses them into its A load for small batches.
      const a = selfAttention(pass, x, b.attn, x, { causal: true, keyMask, kv, ln: b.ln1 });
      const y = b.ffn.forward(pass, a, a, b.ln2);
      be.release(x, a);
      x = y;
    }
    if (cache) cache.length += pass.seq;
    if (opts.finalNorm === false) return x;
    const out = layerNorm(be, x, this.lnF);
    be.release(x);
    return out;
  }

  /**
   * LM head: logits for the given rows.
   * @param be Backend.
   * @param hidden [rows, C].
   * @param normalize Apply ln_f first (for hidden states from `decode(…, { finalNorm: false })`).
   * @returns [rows, vocab] (transient).
   */
  logits(be: Backend, hidden: Tensor, normalize = false): Tensor {
    return be.matmul(hidden, this.lmHead, {
      transB: this.lmHeadTransposed,
      ln: normalize ? this.lnF : undefined,
    });
  }
}
