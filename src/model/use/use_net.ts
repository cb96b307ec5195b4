/**
 * Universal Sentence Encoder lite on a {@link Backend} (CPU references or WGSL kernels), the batched
 * port of `useEmbedCpu`; docs/use-lite.md specifies every step.
 *
 * Differences from the reference forward, none of which changes a real token's numbers:
 * - sentences are batched, padded at the end to a common length; padded keys are hidden with the
 *   attention key mask and padded rows are left out of the mean, so each row equals its unpadded run;
 * - `2·E[id] + signal[p]` is one embedding lookup: the table is uploaded pre-doubled (exact in f32) and
 *   the timing signal is passed as the position table;
 * - {@link UseNet.encode} stops after the tanh dense layer; the L2 normalisation is done on the host after
 *   readback ({@link l2NormalizeRows}), 512 values per sentence.
 * @module
 */
import type { Backend } from "../../ops/backend.ts";
import type { Tensor } from "../../ops/tensor.ts";
import {
  type AttentionParams,
  DenseFfn,
  type FeedForward,
  layerNorm,
  type LayerNormParams,
  type PassContext,
  selfAttention,
} from "../layers.ts";
import { MacTally } from "../stats.ts";
import type { Linear } from "../weight_loader.ts";
import {
  extractUseWeights,
  USE_DIMS,
  USE_HEADS,
  USE_L2_EPS,
  USE_LN_EPS,
  type UseLayerWeights,
  type UseModelWeights,
} from "./reference_forward.ts";
import type { TfjsTensor } from "./tfjs_weights.ts";
import { USE_MAX_TOKENS } from "./tokenizer.ts";

/** Uploads host arrays as persistent tensors and remembers them, so they can all be freed at once. */
export class TensorUploader {
  /** Every tensor uploaded through this uploader, in order. */
  readonly uploaded: Tensor[] = [];

  /** @param be Backend to upload to. */
  constructor(readonly be: Backend) {}

  /**
   * Uploads `data` as a persistent tensor and records it.
   * @param data Row-major elements.
   * @param shape Dimensions.
   * @param label Debug label (GPU buffer name).
   * @returns The tensor.
   */
  upload(data: Float32Array | Uint32Array, shape: readonly number[], label: string): Tensor {
    const t = this.be.upload(data, shape, label);
    this.uploaded.push(t);
    return t;
  }

  /** Frees everything uploaded so far (idempotent). */
  freeAll(): void {
    for (const t of this.uploaded) this.be.free(t);
    this.uploaded.length = 0;
  }
}

/**
 * One USE transformer layer (pre-LN): `h = resid(x) + MHA(LN(x))·Wo + bo`, then `h + FFN(LN(h))`.
 * Layer 0 runs its attention at width 256 and widens to 512 in the output projection; its residual
 * is projected 256 → 512 by `resid`. Layer 1 is 512 wide throughout with an identity residual.
 */
export interface UseBlock {
  /** Input width of the layer: 256 (layer 0) or 512 (layer 1). */
  dIn: number;
  /** LayerNorm before attention, width `dIn`. */
  lnAttn: LayerNormParams;
  /** Attention: `wqkv` [dIn, 3·dIn], `wo` [dIn, 512]; 4 heads of dIn/4 (scale 1/√(dIn/4)). */
  attn: AttentionParams;
  /** Layer 0's residual projection [256, 512] applied to the layer input; null in layer 1. */
  resid: Linear | null;
  /** LayerNorm before the FFN (its output is the FFN input, and a D2DMoE router's input). */
  lnFfn: LayerNormParams;
  /** Feed-forward 512 → 1536 → 512 with ReLU (dense, or D2DMoE experts after conversion). */
  ffn: FeedForward;
}

/** A padded batch of token-id rows, ready for {@link UseNet.encode}. */
export interface UseBatch {
  /** Token ids [batch·seq], row-major, padding id 0 at the end of each row. */
  ids: Uint32Array;
  /** [batch, seq]: 1 for real tokens (a prefix of each row), 0 for padding. */
  mask: Uint32Array;
  /** Number of rows. */
  batch: number;
  /** Padded length: the longest row after the 128-token cut, at least 1. */
  seq: number;
  /** Real tokens per row after the cut. */
  lengths: number[];
}

/**
 * Pads token-id rows to a common length, keeping the first 128 tokens of each (as the graph does).
 * @param rows Token ids per sentence (from the USE tokenizer); empty rows are allowed (they embed as
 *   `l2norm(tanh(b_tanh))`, like a non-final empty row of a reference batch).
 * @returns The padded batch; `seq` is at least 1 so an all-empty batch still has a shape.
 * @throws {RangeError} When there are no rows or an id is not an integer in `[0, 8002)`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { padUseBatch } from "./use_net.ts";
 * const b = padUseBatch([[5, 6, 7], [8]]);
 * assert.deepEqual([...b.mask], [1, 1, 1, 1, 0, 0]);
 * assert.deepEqual(b.lengths, [3, 1]);
 * ```
 */
export function padUseBatch(rows: readonly (readonly number[])[]): UseBatch {
  if (rows.length === 0) throw new RangeError("padUseBatch: no rows");
  const cut = rows.map((r) => r.slice(0, USE_MAX_TOKENS));
  const lengths = cut.map((r) => r.length);
  const batch = rows.length, seq = Math.max(1, ...lengths);
  const ids = new Uint32Array(batch * seq);
  const mask = new Uint32Array(batch * seq);
  for (const [b, r] of cut.entries()) {
    for (const [t, id] of r.entries()) {
      if (!Number.isInteger(id) || id < 0 || id >= USE_DIMS.vocab) {
        throw new RangeError(
          `padUseBatch: token id ${id} (row ${b}, position ${t}) not in [0, ${USE_DIMS.vocab})`,
        );
      }
      ids[b * seq + t] = id;
      mask[b * seq + t] = 1;
    }
  }
  return { ids, mask, batch, seq, lengths };
}

/**
 * L2-normalises rows as the graph does: `y · rsqrt(max(Σy², 1e-12))`.
 * @param data [rows, cols] row-major (e.g. {@link UseNet.encode}'s output read back).
 * @param rows Row count.
 * @param cols Row width.
 * @returns One normalised copy per row.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { l2NormalizeRows } from "./use_net.ts";
 * const [a, z] = l2NormalizeRows(new Float32Array([3, 4, 0, 0]), 2, 2);
 * assert.deepEqual([...a], [0.6000000238418579, 0.800000011920929]);
 * assert.deepEqual([...z], [0, 0]);
 * ```
 */
export function l2NormalizeRows(data: Float32Array, rows: number, cols: number): Float32Array[] {
  return Array.from({ length: rows }, (_, r) => {
    const v = data.slice(r * cols, (r + 1) * cols);
    let ss = 0;
    for (const x of v) ss += x * x;
    const inv = 1 / Math.sqrt(Math.max(ss, USE_L2_EPS));
    for (let i = 0; i < cols; i++) v[i] *= inv;
    return v;
  });
}

/**
 * The sinusoidal timing signal as a position table: row `p` = `sin(p·inv) ‖ cos(p·inv)`.
 * @param inv Inverse timescales [128] from the graph.
 * @param positions Rows to build.
 * @returns [positions, 2·inv.length].
 */
function timingTable(inv: Float32Array, positions: number): Float32Array {
  const n = inv.length, out = new Float32Array(positions * 2 * n);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < n; i++) {
      const angle = p * inv[i]; // in f64, as useEmbedCpu computes it
      out[p * 2 * n + i] = Math.sin(angle);
      out[p * 2 * n + n + i] = Math.cos(angle);
    }
  }
  return out;
}

/** USE-lite weights on a backend, with a batched encoder. Create with {@link UseNet.load}. */
export class UseNet {
  /** Output (and layer-1) width. */
  readonly hidden: number = USE_DIMS.d;
  /** Tokens kept per sentence (the graph's `ClipToMaxLength`). */
  readonly maxTokens: number = USE_MAX_TOKENS;
  /** Transformer layers. */
  readonly layers: number = 2;
  /** FFN hidden width (both layers). */
  readonly ffnWidth: number = USE_DIMS.dFf;

  private constructor(
    /** Records every tensor {@link load} uploaded (also usable by converters to upload expert weights). */
    readonly uploader: TensorUploader,
    /** `2·E` [8002, 256]: the doubled token table (the graph adds the embedding twice). */
    readonly wte2: Tensor,
    /** Timing signal [128, 256], used as the position table. */
    readonly timing: Tensor,
    /** The two layers; replace `blocks[i].ffn` to convert the FFNs. */
    readonly blocks: UseBlock[],
    /** Final dense [512, 512] + bias, followed by tanh. */
    readonly tanhLayer: Linear,
  ) {}

  /**
   * Uploads the weights.
   * @param weights A decoded TF.js weight map (`loadTfjsWeights`) or `extractUseWeights`'s result.
   * @param be Backend to upload to.
   * @returns The network; {@link freeAll} releases its weights.
   * @throws {RangeError} When a weight is missing or has the wrong shape.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { CpuBackend } from "../../ops/cpu_backend.ts";
   * import { findUseModelDir, loadTfjsWeights } from "./tfjs_weights.ts";
   * import { UseNet } from "./use_net.ts";
   * const net = UseNet.load(await loadTfjsWeights(findUseModelDir()), new CpuBackend());
   * assert.equal(net.blocks.length, 2);
   * net.freeAll();
   * ```
   */
  static load(weights: ReadonlyMap<string, TfjsTensor> | UseModelWeights, be: Backend): UseNet {
    const w = weights instanceof Map ? extractUseWeights(weights) : weights as UseModelWeights;
    const up = new TensorUploader(be);
    try {
      const { vocab, dEmbed, d, dFf } = USE_DIMS;
      const wte2 = up.upload(w.embeddings.map((v) => 2 * v), [vocab, dEmbed], "use.embeddings×2");
      const timing = up.upload(
        timingTable(w.timingInvTimescales, USE_MAX_TOKENS),
        [USE_MAX_TOKENS, dEmbed],
        "use.timing",
      );
      const ln = (g: Float32Array, b: Float32Array, c: number, name: string): LayerNormParams => ({
        gamma: up.upload(g, [c], `${name}.scale`),
        beta: up.upload(b, [c], `${name}.bias`),
        eps: USE_LN_EPS,
      });
      const lin = (wt: Float32Array, b: Float32Array, k: number, n: number, name: string): Linear => ({
        w: up.upload(wt, [k, n], `${name}.kernel`),
        b: up.upload(b, [n], `${name}.bias`),
      });
      const block = (lw: UseLayerWeights, l: number): UseBlock => {
        const c = lw.dIn, p = `use.layer${l}`;
        const qkv = lin(lw.qkvKernel, lw.qkvBias, c, 3 * c, `${p}.qkv`);
        const out = lin(lw.outKernel, lw.outBias, c, d, `${p}.out`);
        const ffn1 = lin(lw.ffn1Kernel, lw.ffn1Bias, d, dFf, `${p}.ffn1`);
        const ffn2 = lin(lw.ffn2Kernel, lw.ffn2Bias, dFf, d, `${p}.ffn2`);
        return {
          dIn: c,
          lnAttn: ln(lw.ln1Scale, lw.ln1Bias, c, `${p}.ln_attn`),
          attn: { wqkv: qkv.w, bqkv: qkv.b, wo: out.w, bo: out.b, heads: USE_HEADS },
          resid: lw.residKernel ? lin(lw.residKernel, lw.residBias!, c, d, `${p}.resid`) : null,
          lnFfn: ln(lw.ln2Scale, lw.ln2Bias, d, `${p}.ln_ffn`),
          ffn: new DenseFfn(ffn1.w, ffn1.b, ffn2.w, ffn2.b, "relu"),
        };
      };
      const blocks = w.layers.map(block);
      const tanhLayer = lin(w.tanhKernel, w.tanhBias, d, d, "use.tanh");
      return new UseNet(up, wte2, timing, blocks, tanhLayer);
    } catch (e) {
      up.freeAll();
      throw e;
    }
  }

  /**
   * Records the encoder: embeddings → 2 layers → masked mean → tanh dense. Adds nothing to
   * `pass.tally` except what the FFNs count themselves; add {@link macs} and the token count.
   * @param pass Pass context; `batch` and `seq` must describe `ids` and `mask` (`seq` ≤ 128).
   * @param ids u32 [batch·seq] token ids, each row padded at the end (see {@link padUseBatch}).
   * @param mask u32 [batch, seq]: 1 for real tokens, which must be a prefix of each row (positions
   *   of the timing signal count from the row start).
   * @returns [batch, 512] embeddings before L2 normalisation (transient; normalise with
   *   {@link l2NormalizeRows} after readback).
   * @throws {RangeError} When the shapes disagree with `pass` or `seq` exceeds 128.
   */
  encode(pass: PassContext, ids: Tensor, mask: Tensor): Tensor {
    const { be, batch, seq } = pass;
    if (!(seq >= 1 && seq <= this.maxTokens) || !(batch >= 1)) {
      throw new RangeError(
        `UseNet.encode: need 1 ≤ seq ≤ ${this.maxTokens} and batch ≥ 1, got ${batch}×${seq}`,
      );
    }
    if (ids.shape.length !== 1 || ids.shape[0] !== batch * seq || ids.dtype !== "u32") {
      throw new RangeError(
        `UseNet.encode: ids must be u32 [${batch * seq}], got ${ids.dtype} [${ids.shape}]`,
      );
    }
    if (mask.shape.length !== 2 || mask.shape[0] !== batch || mask.shape[1] !== seq || mask.dtype !== "u32") {
      throw new RangeError(
        `UseNet.encode: mask must be u32 [${batch}, ${seq}], got ${mask.dtype} [${mask.shape}]`,
      );
    }
    const pos = be.input(new Uint32Array(batch * seq).map((_, i) => i % seq), [batch * seq]);
    let x = be.embed(ids, this.wte2, pos, this.timing); // 2·E[id] + signal[p]
    be.release(pos);
    for (const [i, b] of this.blocks.entries()) {
      pass.layer = i;
      const a = layerNorm(be, x, b.lnAttn);
      // Layer 0 projects the raw layer input (not the LN output) to 512 for the residual.
      const r = b.resid ? be.matmul(x, b.resid.w, { bias: b.resid.b }) : x;
      // selfAttention scales by 1/√headDim: 0.125 (64) and 1/√128, the graph's constants.
      const h = selfAttention(pass, a, b.attn, r, { causal: false, keyMask: mask });
      be.release(a, x, r === x ? null : r);
      const f = layerNorm(be, h, b.lnFfn);
      x = b.ffn.forward(pass, f, h);
      be.release(f, h);
    }
    // No final LayerNorm (docs/use-lite.md 3.5).
    const pooled = be.meanPool(x, mask, batch, seq);
    const out = be.matmul(pooled, this.tanhLayer.w, { bias: this.tanhLayer.b, act: "tanh" });
    be.release(x, pooled);
    return out;
  }

  /**
   * Non-FFN multiply-accumulates of one {@link encode} call (src/model/stats.ts conventions: padded
   * tokens count, as for BERT): QKV, attention products, output and residual projections, tanh dense.
   * @param batch Batch entries.
   * @param seq Padded tokens per entry.
   * @returns MACs to add to `tally.other`.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { UseNet } from "./use_net.ts";
   * // Per token: 256·768 + 256·512 + 256·512 + 2·256 (layer 0) + 512·1536 + 512·512 + 2·512 (layer 1).
   * assert.equal(UseNet.prototype.macs(1, 1), 459264 + 1049600 + 512 * 512);
   * ```
   */
  macs(batch: number, seq: number): number {
    const { dEmbed: c0, d } = USE_DIMS;
    const q = batch * seq;
    const layer0 = q * (3 * c0 * c0 + c0 * d + c0 * d) + 2 * q * seq * c0;
    const layer1 = q * (4 * d * d) + 2 * q * seq * d;
    return layer0 + layer1 + batch * d * d;
  }

  /** Frees every weight {@link load} uploaded (also the dense FFNs' weights, even if swapped out). */
  freeAll(): void {
    this.uploader.freeAll();
  }
}

/** Options of {@link useEmbedBatch}. */
export interface UseEmbedBatchOptions {
  /** L2-normalise (default true). */
  normalize?: boolean;
  /** Tally to add tokens and MACs to (default: a fresh one, discarded). */
  tally?: MacTally;
  /** Routing state handed to the FFN layers (converted models). */
  routing?: unknown;
}

/**
 * A whole embed call on one backend: pad, upload inputs, encode, read back, normalise. `Model.embed`
 * does the same steps under its lock; this is the standalone form (tests, scripts).
 * @param net The network.
 * @param rows Token ids per sentence (the first 128 of each are used).
 * @param opts Normalisation, tally, routing.
 * @returns One 512-vector per row, the same numbers as `useEmbedCpu` up to f32 rounding.
 * @throws {RangeError} As {@link padUseBatch}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CpuBackend } from "../../ops/cpu_backend.ts";
 * import { findUseModelDir, loadTfjsWeights } from "./tfjs_weights.ts";
 * import { useEmbedBatch, UseNet } from "./use_net.ts";
 * const net = UseNet.load(await loadTfjsWeights(findUseModelDir()), new CpuBackend());
 * const [e] = await useEmbedBatch(net, [[2002, 102, 311]]);
 * assert.ok(Math.abs(e.reduce((s, v) => s + v * v, 0) - 1) < 1e-5);
 * net.freeAll();
 * ```
 */
export async function useEmbedBatch(
  net: UseNet,
  rows: readonly (readonly number[])[],
  opts: UseEmbedBatchOptions = {},
): Promise<Float32Array[]> {
  const be = net.uploader.be;
  const { ids, mask, batch, seq } = padUseBatch(rows);
  const tally = opts.tally ?? new MacTally();
  const pass: PassContext = { be, batch, seq, layer: 0, tally, routing: opts.routing };
  const tIds = be.input(ids, [batch * seq]);
  const tMask = be.input(mask, [batch, seq]);
  let out: Tensor | null = null;
  try {
    out = net.encode(pass, tIds, tMask);
    tally.tokens += batch * seq;
    tally.other += net.macs(batch, seq);
    const [data] = await be.read([out]);
    const f = data as Float32Array;
    return opts.normalize === false
      ? Array.from({ length: batch }, (_, b) => f.slice(b * net.hidden, (b + 1) * net.hidden))
      : l2NormalizeRows(f, batch, net.hidden);
  } finally {
    be.release(tIds, tMask, out);
  }
}
