/**
 * BERT (BertModel, BertForSequenceClassification): post-LN encoder blocks, pooler, classifier.
 * @module
 */
import type { Backend } from "../ops/backend.ts";
import type { Tensor } from "../ops/tensor.ts";
import type { BertConfig } from "./config.ts";
import {
  type AttentionFactory,
  type AttentionParams,
  type FeedForward,
  type FfnFactory,
  layerNorm,
  type LayerNormParams,
  type PassContext,
  selfAttention,
} from "./layers.ts";
import { denseLinearFfn, type Linear, type WeightLoader } from "./weight_loader.ts";

/** One post-LN block: LN(x + Attn(x)) then LN(h + FFN(h)). */
export interface BertBlock {
  /** Self-attention. */
  attn: AttentionParams;
  /** LayerNorm after the attention residual (its output is the FFN input: the router's input too). */
  lnAttn: LayerNormParams;
  /** Feed-forward (dense or D2DMoE). */
  ffn: FeedForward;
  /** LayerNorm after the FFN residual. */
  lnOut: LayerNormParams;
}

/** Encoder inputs, already on the backend. */
export interface BertInputs {
  /** u32 [batch·seq]. */
  ids: Tensor;
  /** u32 [batch·seq]. */
  positions: Tensor;
  /** u32 [batch·seq]. */
  types: Tensor;
  /** u32 [batch, seq], 1 = real token. */
  mask: Tensor;
}

/** BERT weights on a backend. */
export class BertNet {
  private constructor(
    readonly config: BertConfig,
    readonly wte: Tensor,
    readonly wpe: Tensor,
    readonly wtt: Tensor,
    readonly lnEmb: LayerNormParams,
    readonly blocks: BertBlock[],
    readonly pooler: Linear | null,
    readonly classifier: Linear | null,
  ) {}

  /**
   * Loads BERT weights (names with or without the `bert.` prefix).
   * @param ld Loader over the folder's weights.
   * @param cfg Parsed config.
   * @param ffn Builds each layer's FFN instead of loading the dense one (converted folders).
   * @param attention Builds each block's converted attention projections instead of loading the dense ones
   *   (converted folders made with `--attention`, which do not ship them).
   * @returns The network.
   * @throws {ModelFormatError} When a tensor is missing or has the wrong shape.
   */
  static async load(
    ld: WeightLoader,
    cfg: BertConfig,
    ffn?: FfnFactory,
    attention?: AttentionFactory,
  ): Promise<BertNet> {
    const C = cfg.hidden, I = cfg.ffn, eps = cfg.layerNormEps;
    const e = "embeddings";
    const wte = await ld.tensor(`${e}.word_embeddings.weight`, [cfg.vocabSize, C]);
    const wpe = await ld.tensor(`${e}.position_embeddings.weight`, [cfg.maxPositions, C]);
    const wtt = await ld.tensor(`${e}.token_type_embeddings.weight`, [cfg.typeVocabSize, C]);
    const lnEmb = await ld.layerNorm(`${e}.LayerNorm`, C, eps);
    const blocks: BertBlock[] = [];
    for (let i = 0; i < cfg.layers; i++) {
      const p = `encoder.layer.${i}`;
      const converted = await attention?.(i);
      const s = `${p}.attention.self`;
      blocks.push({
        attn: converted ? { heads: cfg.heads, proj: converted } : ld.attention(
          await ld.fusedQkv([`${s}.query`, `${s}.key`, `${s}.value`], C),
          await ld.linear(`${p}.attention.output.dense`, C, C),
          cfg.heads,
        ),
        lnAttn: await ld.layerNorm(`${p}.attention.output.LayerNorm`, C, eps),
        ffn: ffn ? await ffn(i) : await denseLinearFfn(ld, p, C, I, cfg.activation),
        lnOut: await ld.layerNorm(`${p}.output.LayerNorm`, C, eps),
      });
    }
    // A sequence classifier needs its pooler: its absence is a file error (ld.linear names the tensor).
    const needsPooler = cfg.task === "sequence-classification";
    const pooler = needsPooler || ld.has("pooler.dense.weight")
      ? await ld.linear("pooler.dense", C, C)
      : null;
    const classifier = cfg.task === "sequence-classification"
      ? await ld.linear("classifier", C, cfg.labels.length)
      : null;
    if (classifier && !pooler) throw new Error("unreachable: classifier without pooler");
    return new BertNet(cfg, wte, wpe, wtt, lnEmb, blocks, pooler, classifier);
  }

  /**
   * Runs the encoder.
   * @param pass Pass context (batch, seq).
   * @param inp Inputs.
   * @returns Last hidden state [batch·seq, C] (transient).
   */
  encode(pass: PassContext, inp: BertInputs): Tensor {
    const be = pass.be;
    const emb = be.embed(inp.ids, this.wte, inp.positions, this.wpe, inp.types, this.wtt);
    let x = layerNorm(be, emb, this.lnEmb);
    be.release(emb);
    for (const [i, b] of this.blocks.entries()) {
      pass.layer = i;
      const a = selfAttention(pass, x, b.attn, x, { causal: false, keyMask: inp.mask });
      const h = layerNorm(be, a, b.lnAttn);
      const y = b.ffn.forward(pass, h, h);
      be.release(x, a, h);
      x = layerNorm(be, y, b.lnOut);
      be.release(y);
    }
    return x;
  }

  /**
   * Pooler (tanh dense on the first token) and, for classifiers, the classification head.
   * @param be Backend.
   * @param hidden Last hidden state [batch·seq, C].
   * @param batch Batch size.
   * @param seq Tokens per entry.
   * @returns Pooled [batch, C] and logits [batch, labels] (null without a head); transient.
   */
  head(
    be: Backend,
    hidden: Tensor,
    batch: number,
    seq: number,
  ): { pooled: Tensor | null; logits: Tensor | null } {
    if (!this.pooler) return { pooled: null, logits: null };
    const C = this.config.hidden;
    const cls = be.alloc([batch, C]);
    be.stridedCopy(hidden, cls, {
      nb: batch,
      nt: 1,
      nc: C,
      srcOffset: 0,
      srcB: seq * C,
      srcT: 0,
      dstOffset: 0,
      dstB: C,
      dstT: 0,
    });
    const pooled = be.matmul(cls, this.pooler.w, { bias: this.pooler.b, act: "tanh" });
    be.release(cls);
    const logits = this.classifier ? be.matmul(pooled, this.classifier.w, { bias: this.classifier.b }) : null;
    return { pooled, logits };
  }
}
