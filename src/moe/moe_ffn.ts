/**
 * The dynamic-k MoE layer that replaces a dense FFN (the `FeedForward` seam): router → selection →
 * expert up-projection → down-projection → per-token merge with b2 and the residual, all on the
 * device with no readback. Executed pairs are counted on the device and read with the call's output.
 * A few tokens (decode, T ≤ `TUNING.moeDecode.maxTokens`) take `Backend.moeFfnDecode` instead: routing in
 * one workgroup, the selected experts' up and down projections fused by neuron chunks, and the merge.
 * @module
 */
import type { Activation } from "../ops/activation.ts";
import type { Backend, MoeSelection } from "../ops/backend.ts";
import type { RoutingRule } from "../ops/moe_select_ref.ts";
import type { Tensor } from "../ops/tensor.ts";
import type { FeedForward, LayerNormParams, PassContext } from "../model/layers.ts";
import { TUNING } from "../ops/tuning.ts";
import type { ExpertWeights } from "./expert_split.ts";
import type { RouterWeights } from "./router_train.ts";

/** One converted layer's tensors on a backend. */
export interface MoeLayerTensors {
  /** Router [d, w]. */
  r1: Tensor;
  /** Router [w, E]. */
  r2: Tensor;
  /** Experts' up-projections [E·d, s] (expert-major [E, d, s]). */
  w1: Tensor;
  /** [E·s]. */
  b1: Tensor;
  /** Experts' down-projections [E·s, d] (expert-major [E, s, d]). */
  w2: Tensor;
  /** Shared output bias [d]. */
  b2: Tensor;
}

/** Sizes of a converted layer. */
export interface MoeDims {
  /** Model width. */
  d: number;
  /** Experts. */
  experts: number;
  /** Neurons per expert. */
  size: number;
  /** Router hidden width. */
  width: number;
}

/** What a layer saw, handed to a capture hook (calibration). */
export interface LayerCapture {
  /** Layer index. */
  layer: number;
  /** FFN input [T, d] (owned by the caller: copy it to keep it). */
  x: Tensor;
  /** L2 norm of each pair's expert output (before b2) [E·cap]. */
  norms: Tensor;
  /** Rows of each token's pairs [T·E] (u32). */
  tokRows: Tensor;
  /** Pairs per token [T] (u32). */
  tokK: Tensor;
  /** Tokens. */
  T: number;
  /** Slots per expert. */
  cap: number;
}

/** What a MoE layer replaces: a block's FFN or one of its attention projections. */
export type MoeSite = "ffn" | "attn";

/** Counter tensor of one layer call, with what is needed to turn counts into MACs. */
export interface CounterRecord {
  /** u32 [E] executed tokens per expert. */
  counts: Tensor;
  /** FFN or attention projection (they are accounted separately). */
  site: MoeSite;
  /** Layer index. */
  layer: number;
  /** Tokens in the call. */
  tokens: number;
  /** MACs of one (token, expert) pair. */
  macsPerPair: number;
  /** Experts. */
  experts: number;
}

/** Routing state of one call, shared by every MoE layer (it lives in `PassContext.routing`). */
export interface MoePassState {
  /** Dynamic-k τ or fixed top-k. */
  rule: RoutingRule;
  /** Counters recorded so far. */
  counters: CounterRecord[];
  /** Calibration hook: returns the tensors it keeps (they are not released by the layer). */
  capture?: (c: LayerCapture) => Tensor[];
}

/**
 * A D2DMoE layer: a converted FFN, or (site "attn") a converted attention projection, whose dense cost is the
 * projection's d² MACs per token rather than its MLP's.
 */
export class MoeFfn implements FeedForward {
  readonly kind = "d2dmoe";
  readonly denseMacsPerToken: number;
  /** Router MACs per token (d·w + w·E). */
  readonly routerMacsPerToken: number;
  /** Largest token chunk one pass handles (bounded by the per-pair output buffer). */
  readonly maxChunk: number;

  /**
   * @param t Tensors on the backend.
   * @param dims Sizes.
   * @param act Expert hidden activation.
   * @param maxTensorBytes Largest tensor a kernel may bind (from `BackendInfo`).
   * @param site What the layer replaces (default "ffn").
   */
  constructor(
    readonly t: MoeLayerTensors,
    readonly dims: MoeDims,
    readonly act: Activation,
    maxTensorBytes: number,
    readonly site: MoeSite = "ffn",
  ) {
    const { d, experts: E, size: s, width: w } = dims;
    this.denseMacsPerToken = site === "ffn" ? 2 * d * E * s : d * d;
    this.routerMacsPerToken = d * w + w * E;
    // The per-pair buffers hold E·cap rows of max(d, s) floats in the worst case (every expert selected).
    this.maxChunk = Math.max(1, Math.floor(Math.min(maxTensorBytes, 1 << 30) / (4 * E * Math.max(d, s))));
  }

  forward(pass: PassContext, x: Tensor, residual: Tensor | undefined, ln?: LayerNormParams): Tensor {
    const st = pass.routing as MoePassState | undefined;
    if (!st) throw new Error("MoeFfn.forward: no routing state in the pass (internal error)");
    const be = pass.be;
    const T = x.shape[0];
    if (this.site === "ffn") pass.tally.denseFfn += T * this.denseMacsPerToken;
    else pass.tally.denseAttn += T * this.denseMacsPerToken;
    pass.tally.router += T * this.routerMacsPerToken;
    // The CPU backend's fused layer adds into per-token accumulators (no per-pair buffers): any T there.
    if ((T <= TUNING.moeDecode.maxTokens || be.info.kind === "cpu") && !st.capture) {
      // Decode: router + selection, fused expert projections and merge (LayerNorm folded into the first).
      const counts = be.alloc([this.dims.experts], "u32");
      this.#record(st, pass.layer, counts, T);
      return be.moeFfnDecode(x, residual, this.t, this.act, counts, st.rule, ln);
    }
    if (!ln) return this.#batched(be, st, pass.layer, x, residual, T);
    const xn = be.layerNorm(x, ln.gamma, ln.beta, ln.eps);
    const y = this.#batched(be, st, pass.layer, xn, residual, T);
    be.release(xn);
    return y;
  }

  /** Records a pass's per-expert token counts (read after the pass for the compute accounting). */
  #record(st: MoePassState, layer: number, counts: Tensor, tokens: number): void {
    const { d, experts, size: s } = this.dims;
    st.counters.push({ counts, site: this.site, layer, tokens, macsPerPair: 2 * d * s, experts });
  }

  #batched(
    be: Backend,
    st: MoePassState,
    layer: number,
    x: Tensor,
    residual: Tensor | undefined,
    T: number,
  ): Tensor {
    // Calibration captures FFN layers only (projection routers train on probed inputs); its hooks see each
    // chunk's x, so huge captured batches copy their chunks out.
    const capture = this.site === "ffn" ? st.capture : undefined;
    if (capture) {
      if (T <= this.maxChunk) return this.#captured(be, st, layer, x, residual, T, capture);
      return this.#copiedChunks(be, st, layer, x, residual, T, capture);
    }
    // Token chunks, so the per-pair buffers stay within the device's binding limit (one chunk for most
    // batches). The router runs once on the whole batch; each chunk selects from its rows of the scores,
    // gathers its tokens' rows of x (the lists hold batch token indices) and merges into its rows of y: no
    // row copies.
    const { d, experts: E } = this.dims;
    const scores = this.#scores(be, x);
    const y = be.alloc([T, d]);
    for (let t0 = 0; t0 < T; t0 += this.maxChunk) {
      const n = Math.min(this.maxChunk, T - t0);
      const counts = be.alloc([E], "u32");
      this.#record(st, layer, counts, n);
      const sel = be.moeSelectRange(scores, counts, 0, n, st.rule, t0, n);
      const pairOut = this.#experts(be, x, sel, counts, n);
      be.moeMerge(pairOut, sel.tokRows, sel.tokK, this.t.b2, residual, n, E, 1, { y, row0: t0 });
      be.release(sel.lists, sel.tokRows, sel.tokK, pairOut);
    }
    be.release(scores);
    return y;
  }

  /**
   * Router scores h·R2 [T, E] with h = relu(x·R1), as two tiled products (the selection takes |·|). On the
   * H200 (50,432 tokens, 24 experts) router and selection took 0.68–0.74 ms this way against 0.96 ms with
   * each token's scores computed inside the selection kernel.
   */
  #scores(be: Backend, x: Tensor): Tensor {
    const hidden = be.matmul(x, this.t.r1, { act: "relu" });
    const scores = be.matmul(hidden, this.t.r2);
    be.release(hidden);
    return scores;
  }

  /** Expert up- and down-projections of a selection: per-pair output rows [E·cap, d]. */
  #experts(be: Backend, x: Tensor, sel: MoeSelection, counts: Tensor, cap: number): Tensor {
    const { d, experts: E, size: s } = this.dims;
    const h = be.moeExpertMatmul(x, sel.lists, counts, 0, this.t.w1, this.t.b1, {
      E,
      cap,
      K: d,
      N: s,
      gather: true,
      act: this.act,
    });
    const pairOut = be.moeExpertMatmul(h, sel.lists, counts, 0, this.t.w2, undefined, {
      E,
      cap,
      K: s,
      N: d,
      gather: false,
      act: "none",
    });
    be.release(h);
    return pairOut;
  }

  /** Token chunks with their rows copied out and back (calibration, whose hooks see each chunk's x). */
  #copiedChunks(
    be: Backend,
    st: MoePassState,
    layer: number,
    x: Tensor,
    residual: Tensor | undefined,
    T: number,
    capture: NonNullable<MoePassState["capture"]>,
  ): Tensor {
    const d = this.dims.d;
    const y = be.alloc([T, d]);
    for (let t0 = 0; t0 < T; t0 += this.maxChunk) {
      const n = Math.min(this.maxChunk, T - t0);
      const rows = (src: Tensor, dst: Tensor, from: number, to: number) =>
        be.stridedCopy(src, dst, {
          nb: 1,
          nt: n,
          nc: d,
          srcOffset: from * d,
          srcB: 0,
          srcT: d,
          dstOffset: to * d,
          dstB: 0,
          dstT: d,
        });
      const xc = be.alloc([n, d]), rc = residual ? be.alloc([n, d]) : undefined;
      rows(x, xc, t0, 0);
      if (residual) rows(residual, rc!, t0, 0);
      const yc = this.#captured(be, st, layer, xc, rc, n, capture);
      rows(yc, y, 0, t0);
      be.release(xc, rc, yc);
    }
    return y;
  }

  /** One captured pass (calibration): the layer's output, with its inputs and expert norms handed to the hook. */
  #captured(
    be: Backend,
    st: MoePassState,
    layer: number,
    x: Tensor,
    residual: Tensor | undefined,
    T: number,
    capture: NonNullable<MoePassState["capture"]>,
  ): Tensor {
    const E = this.dims.experts;
    const cap = T;
    if (st.rule.mode === "dynk" && st.rule.tau === 0 && be.moeFfnNorms) {
      // Calibration runs every expert (τ = 0): the backend's own dense-with-norms path.
      const r = be.moeFfnNorms(x, residual, this.t, this.act);
      this.#record(st, layer, be.input(new Uint32Array(E).fill(T), [E]), T);
      const tokK = be.input(new Uint32Array(T).fill(E), [T]);
      const kept = capture({ layer, x, norms: r.norms, tokRows: r.tokRows, tokK, T, cap });
      be.release(...[r.norms, r.tokRows, tokK].filter((t) => !kept.includes(t)));
      return r.y;
    }
    const counts = be.alloc([E], "u32");
    this.#record(st, layer, counts, T);
    const scores = this.#scores(be, x);
    const sel = be.moeSelectRange(scores, counts, 0, cap, st.rule, 0, T);
    be.release(scores);
    const pairOut = this.#experts(be, x, sel, counts, cap);
    const y = be.moeMerge(pairOut, sel.tokRows, sel.tokK, this.t.b2, residual, T, E);
    const norms = be.rowNorm(pairOut);
    const kept = capture({ layer, x, norms, tokRows: sel.tokRows, tokK: sel.tokK, T, cap });
    be.release(...[sel.lists, sel.tokRows, sel.tokK, pairOut, norms].filter((t) => !kept.includes(t)));
    return y;
  }
}

/**
 * Uploads expert weights and a router as a MoE layer.
 * @param be Backend.
 * @param x Expert weights (expert-major).
 * @param r Router.
 * @param act Expert hidden activation.
 * @param upload Uploads one weight (the caller decides who frees it).
 * @param site What the layer replaces (default "ffn").
 * @returns The layer.
 */
export function uploadMoeLayer(
  be: Backend,
  x: ExpertWeights,
  r: RouterWeights,
  act: Activation,
  upload: (data: Float32Array, shape: number[]) => Tensor,
  site: MoeSite = "ffn",
): MoeFfn {
  const d = r.d, E = x.experts, s = x.size;
  const t = {
    r1: upload(r.w1, [d, r.width]),
    r2: upload(r.w2, [r.width, E]),
    w1: upload(x.w1, [E * d, s]),
    b1: upload(x.b1, [E * s]),
    w2: upload(x.w2, [E * s, d]),
    b2: upload(x.b2, [d]),
  };
  return new MoeFfn(t, { d, experts: E, size: s, width: r.width }, act, be.info.maxTensorBytes, site);
}
