/**
 * The building blocks shared by BERT, GPT-2 and ViT: LayerNorm, fused-QKV self-attention (with an
 * optional KV cache) and the feed-forward seam a D2DMoE layer plugs into.
 * @module
 */
import type { Activation } from "../ops/activation.ts";
import type { AttnView } from "../ops/attention_ref.ts";
import type { Backend } from "../ops/backend.ts";
import type { Tensor } from "../ops/tensor.ts";
import type { MacTally } from "./stats.ts";

/** LayerNorm parameters. */
export interface LayerNormParams {
  /** Scale [C]. */
  gamma: Tensor;
  /** Shift [C]. */
  beta: Tensor;
  /** Variance epsilon. */
  eps: number;
}

/** The dense projections of a self-attention block, Q, K and V fused into one. */
export interface DenseAttention {
  /** [C, 3C]: columns 0..C−1 produce Q, then K, then V. */
  wqkv: Tensor;
  /** [3C]. */
  bqkv: Tensor;
  /** Output projection [C, C]. */
  wo: Tensor;
  /** [C]. */
  bo: Tensor;
}

/**
 * Self-attention parameters: the dense projections, converted ones, or both (a dense model the converter
 * installs projections on keeps its own). Converted folders load without the dense ones.
 */
export interface AttentionParams extends Partial<DenseAttention> {
  /** Number of heads. */
  heads: number;
  /**
   * Converted projections (D2DMoE §6, `convert --attention`): Q, K, V and O each computed by a dynamic-k
   * MoE layer instead of the dense ones.
   */
  proj?: AttentionProjections;
}

/**
 * A block's dense projections.
 * @param p Attention parameters.
 * @returns The four dense tensors.
 * @throws {Error} When the block has none (a converted folder's block, which runs on its projections).
 */
export function denseAttention(p: AttentionParams): DenseAttention {
  const { wqkv, bqkv, wo, bo } = p;
  if (!wqkv || !bqkv || !wo || !bo) {
    throw new Error(
      "this attention block has no dense projections (its converted folder does not ship them)",
    );
  }
  return { wqkv, bqkv, wo, bo };
}

/** The four attention projections as feed-forward layers (Q, K, V: no residual; O: adds the residual). */
export interface AttentionProjections {
  /** Query projection. */
  q: FeedForward;
  /** Key projection. */
  k: FeedForward;
  /** Value projection. */
  v: FeedForward;
  /** Output projection. */
  o: FeedForward;
}

/** Where {@link PassContext.probe} sees activations: the projections' inputs. */
export type ProbeSite = "qkv_in" | "o_in";

/** Per-call state of a forward pass, handed to every layer. */
export interface PassContext {
  /** Backend the pass runs on. */
  be: Backend;
  /** Batch entries. */
  batch: number;
  /** Tokens per entry in this pass. */
  seq: number;
  /** Layer index (set by the block loop). */
  layer: number;
  /** MAC accounting for this call. */
  tally: MacTally;
  /** Options the FFN layers read (τ, routing mode, counters); opaque to dense layers. */
  routing?: unknown;
  /**
   * Sees each attention projection's input [tokens, C] (after the LayerNorm in front of it) as the pass
   * runs; used by calibration to distil projections. The tensor is the caller's: copy it to keep it.
   */
  probe?: (site: ProbeSite, layer: number, x: Tensor) => void;
}

/**
 * The feed-forward seam: dense FFNs and D2DMoE layers both compute `residual + FFN(x)`.
 * `x` is the FFN input (after the LayerNorm that precedes it), `[tokens, C]`.
 */
export interface FeedForward {
  /** Short name for info output ("dense" or "d2dmoe"). */
  readonly kind: string;
  /** Dense multiply-accumulates per token (2·C·I for a two-layer FFN). */
  readonly denseMacsPerToken: number;
  /**
   * @param pass Pass context.
   * @param x FFN input [tokens, C], or its value before the LayerNorm `ln` when that is given.
   * @param residual Tensor added to the output [tokens, C] (none: just FFN(x), e.g. a Q projection).
   * @param ln The LayerNorm in front of the FFN, when the caller leaves it to the layer (decode fuses it
   *   into the first kernel).
   * @returns residual + FFN(LN?(x)), a new transient tensor.
   */
  forward(pass: PassContext, x: Tensor, residual: Tensor | undefined, ln?: LayerNormParams): Tensor;
}

/** Builds layer i's FFN instead of loading the dense one (converted models). */
export type FfnFactory = (layer: number) => Promise<FeedForward>;

/** Builds block i's converted attention projections (undefined where the block stays dense). */
export type AttentionFactory = (layer: number) => Promise<AttentionProjections | undefined>;

/** The dense two-layer FFN: act(x·W1 + b1)·W2 + b2. */
export class DenseFfn implements FeedForward {
  readonly kind = "dense";
  readonly denseMacsPerToken: number;

  /**
   * @param w1 [C, I].
   * @param b1 [I].
   * @param w2 [I, C].
   * @param b2 [C].
   * @param act Hidden activation.
   */
  constructor(
    readonly w1: Tensor,
    readonly b1: Tensor,
    readonly w2: Tensor,
    readonly b2: Tensor,
    readonly act: Activation,
  ) {
    this.denseMacsPerToken = 2 * w1.shape[0] * w1.shape[1];
  }

  forward(pass: PassContext, x: Tensor, residual: Tensor | undefined, ln?: LayerNormParams): Tensor {
    pass.tally.addDenseFfn(x.shape[0] * this.denseMacsPerToken);
    const h = pass.be.matmul(x, this.w1, { bias: this.b1, act: this.act, ln });
    const y = pass.be.matmul(h, this.w2, { bias: this.b2, residual });
    pass.be.release(h);
    return y;
  }
}

/**
 * Keys and values of past tokens for one layer in one `[batch·maxT, 2C]` tensor: row b·maxT + t holds the
 * token's key (columns 0…C−1) then its value (C…2C−1), the layout of the K,V columns of a fused QKV row, so
 * one copy (fused into the QKV product at decode) appends both.
 */
export interface LayerKv {
  /** Keys and values, row b·maxT + t. */
  kv: Tensor;
}

/** Where the current tokens sit in a KV cache. */
export interface KvSlot {
  /** The layer's cache. */
  cache: LayerKv;
  /** Capacity per batch entry. */
  maxT: number;
  /** Tokens already cached (position of the first new token). */
  past: number;
}

/**
 * LayerNorm of a [rows, C] tensor.
 * @param be Backend.
 * @param x Input.
 * @param p Parameters.
 * @returns A new tensor.
 */
export function layerNorm(be: Backend, x: Tensor, p: LayerNormParams): Tensor {
  return be.layerNorm(x, p.gamma, p.beta, p.eps);
}

/**
 * Multi-head self-attention with output projection: `residual + Attn(x)·Wo + bo`.
 * @param pass Pass context (batch, seq).
 * @param x Input [batch·seq, C] (before `opts.ln` when that is given).
 * @param p Weights.
 * @param residual Added to the output.
 * @param opts Causal rule, key mask [batch, keys] (u32), KV-cache slot, and the LayerNorm in front of the
 *   attention when the QKV product should apply it (fused at decode).
 * @returns A new tensor [batch·seq, C].
 */
export function selfAttention(
  pass: PassContext,
  x: Tensor,
  p: AttentionParams,
  residual: Tensor,
  opts: { causal: boolean; keyMask?: Tensor; kv?: KvSlot; ln?: LayerNormParams },
): Tensor {
  const { be, batch, seq } = pass;
  const C = x.shape[1]; // the attention width (the model width; USE lite: its first layer's input width)
  const dh = C / p.heads;
  const qkv = projectQkv(pass, x, p, opts);
  const view = (part: number): AttnView => ({
    offset: qkv.offsets[part],
    rowStride: qkv.stride,
    batchStride: seq * qkv.stride,
  });
  let kSrc = qkv.k, vSrc = qkv.v, kv = view(1), vv = view(2), tk = seq, qPos0 = 0;
  if (opts.kv) {
    const { cache, maxT, past } = opts.kv;
    // Append this step's keys and values at position `past` (unless the QKV product's store did).
    const append = (src: Tensor, part: number, to: number) =>
      be.stridedCopy(src, cache.kv, {
        nb: batch,
        nt: seq,
        nc: C,
        srcOffset: qkv.offsets[part],
        srcB: seq * qkv.stride,
        srcT: qkv.stride,
        dstOffset: past * 2 * C + to,
        dstB: maxT * 2 * C,
        dstT: 2 * C,
      });
    if (!qkv.appended) {
      append(qkv.k, 1, 0);
      append(qkv.v, 2, C);
    }
    kSrc = vSrc = cache.kv;
    kv = { offset: 0, rowStride: 2 * C, batchStride: maxT * 2 * C };
    vv = { offset: C, rowStride: 2 * C, batchStride: maxT * 2 * C };
    tk = past + seq;
    qPos0 = past;
  }
  const attn = be.attention(
    qkv.q,
    kSrc,
    vSrc,
    { batch, heads: p.heads, headDim: dh, tq: seq, tk, qPos0, causal: opts.causal, scale: 1 / Math.sqrt(dh) },
    view(0),
    kv,
    vv,
    opts.keyMask,
  );
  be.release(...qkv.owned);
  pass.probe?.("o_in", pass.layer, attn);
  const out = p.proj ? p.proj.o.forward(pass, attn, residual) : denseOut(be, attn, p, residual);
  be.release(attn);
  return out;
}

/** The dense output projection, plus the residual. */
function denseOut(be: Backend, attn: Tensor, p: AttentionParams, residual: Tensor | undefined): Tensor {
  const { wo, bo } = denseAttention(p);
  return be.matmul(attn, wo, { bias: bo, residual });
}

/** Queries, keys and values of one attention call, and where they sit in their tensors. */
interface Qkv {
  /** Tensor holding the queries. */
  q: Tensor;
  /** Tensor holding the keys. */
  k: Tensor;
  /** Tensor holding the values. */
  v: Tensor;
  /** Row stride shared by the three (3C for one fused product, C for separate ones). */
  stride: number;
  /** Column offsets of Q, K and V in their tensors. */
  offsets: [number, number, number];
  /** True when the product already appended K and V to the KV cache. */
  appended: boolean;
  /** Tensors to release after the attention. */
  owned: Tensor[];
}

/**
 * The Q, K, V projections: one fused product of the dense weights (LayerNorm and, at decode, the KV append
 * fused into it), or, for converted projections or under a calibration probe, a separate LayerNorm that
 * the probe sees, then three MoE layers or the fused product read through column views.
 */
function projectQkv(
  pass: PassContext,
  x: Tensor,
  p: AttentionParams,
  opts: { kv?: KvSlot; ln?: LayerNormParams },
): Qkv {
  const { be, batch, seq } = pass;
  const C = x.shape[1]; // the attention width (the model width; USE lite: its first layer's input width)
  const fused = (t: Tensor, appended: boolean): Qkv => ({
    q: t,
    k: t,
    v: t,
    stride: 3 * C,
    offsets: [0, C, 2 * C],
    appended,
    owned: [t],
  });
  if (!p.proj && !pass.probe) {
    const kv = opts.kv;
    const copyTo = kv && {
      dst: kv.cache.kv,
      spec: {
        nb: batch,
        nt: seq,
        nc: 2 * C,
        srcOffset: C,
        srcB: seq * 3 * C,
        srcT: 3 * C,
        dstOffset: kv.past * 2 * C,
        dstB: kv.maxT * 2 * C,
        dstT: 2 * C,
      },
    };
    const { wqkv, bqkv } = denseAttention(p);
    return fused(be.matmul(x, wqkv, { bias: bqkv, ln: opts.ln, copyTo }), Boolean(kv));
  }
  const xn = opts.ln ? be.layerNorm(x, opts.ln.gamma, opts.ln.beta, opts.ln.eps) : x;
  pass.probe?.("qkv_in", pass.layer, xn);
  let out: Qkv;
  if (p.proj) {
    const [q, k, v] = [p.proj.q, p.proj.k, p.proj.v].map((f) => f.forward(pass, xn, undefined));
    out = { q, k, v, stride: C, offsets: [0, 0, 0], appended: false, owned: [q, k, v] };
  } else {
    const { wqkv, bqkv } = denseAttention(p);
    out = fused(be.matmul(xn, wqkv, { bias: bqkv }), false);
  }
  if (xn !== x) be.release(xn);
  return out;
}

/**
 * Frees attention weights.
 * @param be Backend that owns them.
 * @param p Weights.
 */
export function freeAttention(be: Backend, p: AttentionParams): void {
  for (const t of [p.wqkv, p.bqkv, p.wo, p.bo]) if (t) be.free(t);
}

/**
 * Frees LayerNorm weights.
 * @param be Backend that owns them.
 * @param p Weights.
 */
export function freeLayerNorm(be: Backend, p: LayerNormParams): void {
  be.free(p.gamma);
  be.free(p.beta);
}
