/**
 * ViT (ViTModel, ViTForImageClassification): patch embeddings, pre-LN encoder, CLS classifier.
 * @module
 */
import type { Backend } from "../ops/backend.ts";
import type { Tensor } from "../ops/tensor.ts";
import type { VitConfig } from "./config.ts";
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

/** One pre-LN block (same shape as GPT-2's, without the causal rule). */
export interface VitBlock {
  /** layernorm_before. */
  lnBefore: LayerNormParams;
  /** Self-attention. */
  attn: AttentionParams;
  /** layernorm_after (its output is the FFN and router input). */
  lnAfter: LayerNormParams;
  /** Feed-forward (dense or D2DMoE). */
  ffn: FeedForward;
}

/** ViT weights on a backend. */
export class VitNet {
  private constructor(
    readonly config: VitConfig,
    readonly patchW: Tensor,
    readonly patchB: Tensor,
    readonly cls: Tensor,
    readonly pos: Tensor,
    readonly blocks: VitBlock[],
    readonly lnFinal: LayerNormParams,
    readonly classifier: Linear | null,
  ) {}

  /** Patches per image. */
  get patches(): number {
    return (this.config.imageSize / this.config.patchSize) ** 2;
  }

  /**
   * Loads ViT weights (names with or without the `vit.` prefix).
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
    cfg: VitConfig,
    ffn?: FfnFactory,
    attention?: AttentionFactory,
  ): Promise<VitNet> {
    const C = cfg.hidden, I = cfg.ffn, eps = cfg.layerNormEps, P = cfg.patchSize;
    const np = (cfg.imageSize / P) ** 2;
    const e = "embeddings";
    const patchW = await ld.tensor(`${e}.patch_embeddings.projection.weight`, [C, cfg.numChannels, P, P]);
    const patchB = await ld.tensor(`${e}.patch_embeddings.projection.bias`, [C]);
    const cls = await ld.tensor(`${e}.cls_token`, [1, 1, C]);
    const pos = await ld.tensor(`${e}.position_embeddings`, [1, np + 1, C]);
    const blocks: VitBlock[] = [];
    for (let i = 0; i < cfg.layers; i++) {
      const p = `encoder.layer.${i}`;
      const a = `${p}.attention.attention`, converted = await attention?.(i);
      blocks.push({
        lnBefore: await ld.layerNorm(`${p}.layernorm_before`, C, eps),
        attn: converted ? { heads: cfg.heads, proj: converted } : ld.attention(
          await ld.fusedQkv([`${a}.query`, `${a}.key`, `${a}.value`], C, cfg.qkvBias),
          await ld.linear(`${p}.attention.output.dense`, C, C),
          cfg.heads,
        ),
        lnAfter: await ld.layerNorm(`${p}.layernorm_after`, C, eps),
        ffn: ffn ? await ffn(i) : await denseLinearFfn(ld, p, C, I, cfg.activation),
      });
    }
    const lnFinal = await ld.layerNorm("layernorm", C, eps);
    const classifier = cfg.task === "image-classification"
      ? await ld.linear("classifier", C, cfg.labels.length)
      : null;
    return new VitNet(cfg, patchW, patchB, cls, pos, blocks, lnFinal, classifier);
  }

  /**
   * Runs the encoder on images.
   * @param pass Pass context (batch = images, seq = patches + 1).
   * @param pixels [batch, channels, size, size].
   * @returns Last hidden state after the final LayerNorm [batch·(patches+1), C] (transient).
   */
  encode(pass: PassContext, pixels: Tensor): Tensor {
    const be = pass.be, cfg = this.config;
    let x = be.patchEmbed(pixels, this.patchW, this.patchB, this.cls, this.pos, {
      batch: pass.batch,
      channels: cfg.numChannels,
      height: cfg.imageSize,
      width: cfg.imageSize,
      patch: cfg.patchSize,
      dim: cfg.hidden,
    });
    for (const [i, b] of this.blocks.entries()) {
      pass.layer = i;
      const h = layerNorm(be, x, b.lnBefore);
      const a = selfAttention(pass, h, b.attn, x, { causal: false });
      const h2 = layerNorm(be, a, b.lnAfter);
      const y = b.ffn.forward(pass, h2, a);
      be.release(x, h, a, h2);
      x = y;
    }
    const out = layerNorm(be, x, this.lnFinal);
    be.release(x);
    return out;
  }

  /**
   * Classifier on the CLS token.
   * @param be Backend.
   * @param hidden [batch·tokens, C].
   * @param batch Images.
   * @returns Logits [batch, labels] (transient), or null for a bare ViTModel.
   */
  head(be: Backend, hidden: Tensor, batch: number): Tensor | null {
    if (!this.classifier) return null;
    const C = this.config.hidden, T = this.patches + 1;
    const cls = be.alloc([batch, C]);
    be.stridedCopy(hidden, cls, {
      nb: batch,
      nt: 1,
      nc: C,
      srcOffset: 0,
      srcB: T * C,
      srcT: 0,
      dstOffset: 0,
      dstB: C,
      dstT: 0,
    });
    const logits = be.matmul(cls, this.classifier.w, { bias: this.classifier.b });
    be.release(cls);
    return logits;
  }
}
