/**
 * The compute interface the model code is written against. Two implementations: `CpuBackend`
 * (the `*_ref.ts` references; exact and slow) and `GpuBackend` (our WGSL kernels). Every op takes
 * tensors made by the same backend and returns a new transient tensor the caller releases.
 * @module
 */
import type { Activation } from "./activation.ts";
import type { AdamWStep } from "./adam_ref.ts";
import type { AttentionShape, AttnView } from "./attention_ref.ts";
import type { MatmulOptions } from "./matmul_ref.ts";
import type { ExpertMatmulShape } from "./moe_expert_matmul_ref.ts";
import type { RoutingRule } from "./moe_select_ref.ts";
import type { PatchGeometry } from "./patch_embed_ref.ts";
import type { CopySpec } from "./strided_copy_ref.ts";
import type { DType, Tensor } from "./tensor.ts";

/** Where a token chunk's merge writes: rows `row0 …` of `y` (see {@link Backend.moeMerge}). */
export interface MergeInto {
  /** The whole batch's output [T, d]. */
  y: Tensor;
  /** The chunk's first token. */
  row0: number;
}

/** What a backend runs on, as shown by `d2d info` and `model.info`. */
export interface BackendInfo {
  /** `"gpu"` (WebGPU kernels) or `"cpu"` (TypeScript references). */
  kind: "cpu" | "gpu";
  /** `"dawn"` (npm:webgpu), `"deno"` (built-in WebGPU) or `"cpu"`. */
  provider: "cpu" | "dawn" | "deno";
  /** Adapter description (or, for the CPU backend, which kernels it runs). */
  description: string;
  /** True when this is not the first choice (e.g. CPU because no GPU was found, or a software adapter). */
  fallback: boolean;
  /** Providers passed over, with reasons. */
  fallbackFrom: string[];
  /** Largest tensor (bytes) one kernel may bind; layers split work to stay under it. */
  maxTensorBytes: number;
}

/** Matmul epilogue inputs. */
export interface MatmulEpilogue extends MatmulOptions {
  /** [N] bias added before the activation. */
  bias?: Tensor;
  /** [M, N] added after the activation. */
  residual?: Tensor;
  /** LayerNorm of A's rows before the product (on the GPU fused into the A load when M is small). */
  ln?: { gamma: Tensor; beta: Tensor; eps: number };
  /** Also copy C into `dst` as `stridedCopy(C, dst, spec)` would (fused into the store when M is small). */
  copyTo?: { dst: Tensor; spec: CopySpec };
}

/** Tensor storage plus the ops our models need. */
export interface Backend extends Disposable {
  /** What this backend runs on. */
  readonly info: BackendInfo;
  /** Persistent tensor (weights): lives until {@link free} or dispose. */
  upload(data: Float32Array | Uint32Array, shape: readonly number[], label?: string): Tensor;
  /** Transient tensor filled with `data` (inputs); give back with {@link release}. */
  input(data: Float32Array | Uint32Array, shape: readonly number[]): Tensor;
  /** Transient tensor with undefined contents (e.g. a KV cache written before it is read). */
  alloc(shape: readonly number[], dtype?: DType): Tensor;
  /** Returns transient tensors (undefined entries are ignored). */
  release(...tensors: (Tensor | undefined | null)[]): void;
  /** Frees a persistent tensor. */
  free(t: Tensor): void;
  /** Reads tensors back: on the GPU, one submit and one wait for all of them. */
  read(tensors: Tensor[]): Promise<(Float32Array | Uint32Array)[]>;
  /** Submits recorded work without waiting (no-op on the CPU). */
  flush(): void;
  /** C = act(A·B + bias) + residual; A [M, K], B [K, N] or [N, K] with `transB`. */
  matmul(a: Tensor, b: Tensor, epilogue?: MatmulEpilogue): Tensor;
  /** Row-wise LayerNorm of [rows, cols]. */
  layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor;
  /** Softmax attention over strided views; output [batch·tq, heads·headDim]. */
  attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    shape: AttentionShape,
    qv: AttnView,
    kv: AttnView,
    vv: AttnView,
    keyMask?: Tensor,
  ): Tensor;
  /** Token (+ position, + type) embeddings; ids are u32 tensors. */
  embed(ids: Tensor, wte: Tensor, pos?: Tensor, wpe?: Tensor, types?: Tensor, wtt?: Tensor): Tensor;
  /** Copies a strided block of `src` into `dst` in place. */
  stridedCopy(src: Tensor, dst: Tensor, spec: CopySpec): void;
  /** Masked mean over tokens: [batch·seq, cols] → [batch, cols]. */
  meanPool(x: Tensor, mask: Tensor, batch: number, seq: number): Tensor;
  /** ViT patch + CLS + position embeddings. */
  patchEmbed(pix: Tensor, w: Tensor, bias: Tensor, cls: Tensor, pos: Tensor, g: PatchGeometry): Tensor;
  /** a + b (b broadcast by repetition). */
  add(a: Tensor, b: Tensor): Tensor;
  /** Per-row cross-entropy of logits [rows, vocab] against u32 targets [rows] → [rows]. */
  crossEntropy(logits: Tensor, targets: Tensor): Tensor;
  /** Index of each row's largest value (first on ties, as greedy sampling): [rows, cols] f32 → [rows] u32. */
  argmax(x: Tensor): Tensor;
  /** L2 norm of every row: [rows, cols] → [rows]. */
  rowNorm(x: Tensor): Tensor;
  /** D2DMoE router scores |relu(x·R1)·R2| [T, E]; zeroes `counts[countsOffset … +E)`. */
  moeRouter(x: Tensor, r1: Tensor, r2: Tensor, counts: Tensor, countsOffset: number): Tensor;
  /** Expert selection: per-expert token lists and counts, per-token pair rows (see `moe_select_ref.ts`). */
  moeSelect(
    scores: Tensor,
    counts: Tensor,
    countsOffset: number,
    cap: number,
    rule: RoutingRule,
  ): MoeSelection;
  /** Grouped expert matmul over selected pairs (up: gather + bias + act; down: pair rows). */
  moeExpertMatmul(
    a: Tensor,
    lists: Tensor,
    counts: Tensor,
    countsOffset: number,
    w: Tensor,
    bias: Tensor | undefined,
    shape: ExpertMatmulShape,
  ): Tensor;
  /**
   * Per-token merge: residual + b2 + Σ selected pair outputs → [T, d]; with `rowsPerPair` R > 1 each pair
   * owns R consecutive partial rows of `pairOut`, all summed. With `into`, the T tokens are rows `row0 …`
   * of `into.y` (written in place and returned) and of the residual (a token chunk of a bigger batch).
   */
  moeMerge(
    pairOut: Tensor,
    tokRows: Tensor,
    tokK: Tensor,
    b2: Tensor,
    residual: Tensor | undefined,
    T: number,
    E: number,
    rowsPerPair?: number,
    into?: MergeInto,
  ): Tensor;
  /**
   * Selection for tokens `start … start + count − 1` of a batch from its router scores [T, E] (their
   * absolute values, so h·R2 can come straight from a matmul), by {@link Backend.moeSelect}'s rule; zeroes
   * `counts[countsOffset … +E)` first. Lists hold batch token indices, tokRows and tokK are per chunk
   * token: big batches run in token chunks without copying their rows.
   */
  moeSelectRange(
    scores: Tensor,
    counts: Tensor,
    countsOffset: number,
    cap: number,
    rule: RoutingRule,
    start: number,
    count: number,
  ): MoeSelection;
  /**
   * A whole D2DMoE FFN layer for a few tokens (decode): residual + FFN(LN?(x)), with `counts` [E]
   * (overwritten) receiving the tokens each expert ran. On the GPU: router+selection, fused expert
   * up/down projections and merge, three dispatches (`moe_ffn_decode.ts`). On the CPU, without per-pair
   * rows for any T (`moe_ffn_cpu.ts`; `MoeFfn` uses it for every batch there).
   */
  moeFfnDecode(
    x: Tensor,
    residual: Tensor | undefined,
    w: MoeWeights,
    act: Activation,
    counts: Tensor,
    rule: RoutingRule,
    ln?: { gamma: Tensor; beta: Tensor; eps: number },
  ): Tensor;
  /**
   * Optional, for calibration: a D2DMoE layer with every expert running (the dense FFN), returning
   * residual + FFN(x) [T, d], each pair's output L2 norm `norms` [E·T] and the pair rows `tokRows` [T·E]
   * (u32) in the layout of `moeSelect`. Backends without it use the generic path (expert matmuls with
   * per-pair output rows, `rowNorm`, `moeMerge`); the CPU backend has it because that path's E·T·d buffer
   * dominated calibration time there.
   */
  moeFfnNorms?(
    x: Tensor,
    residual: Tensor | undefined,
    w: MoeWeights,
    act: Activation,
  ): { y: Tensor; norms: Tensor; tokRows: Tensor };
  /** Rows `idx[offset … offset+rows)` (u32 indices) of `src` [n, cols] → [rows, cols] (router training). */
  gatherRows(src: Tensor, idx: Tensor, offset: number, rows: number): Tensor;
  /**
   * Router-loss backward at the pre-abs output z [B, E] against targets [B, E] (`router_grad_ref.ts`):
   * g = (2/(B·E))·u·(|z| − t)·sign(z) and gᵀ, u = `underWeight` (default 1) where |z| < t, else 1; writes
   * Σ_k u·(|z| − t)² per row to `rowLoss[rowOffset … +B)`.
   */
  routerGrad(
    z: Tensor,
    targets: Tensor,
    rowLoss: Tensor,
    rowOffset: number,
    underWeight?: number,
  ): RouterGrad;
  /** ReLU backward dy ⊙ (y > 0) for y [rows, cols]; the result is [cols, rows] when `transpose`. */
  reluGrad(dy: Tensor, y: Tensor, transpose?: boolean): Tensor;
  /** One AdamW step in place on `p`, `m`, `v` (f32, the length of `g`). */
  adamW(p: Tensor, g: Tensor, m: Tensor, v: Tensor, hp: AdamWStep): void;
}

/** One D2DMoE layer's tensors (the layout of `MoeLayerTensors` in `src/moe/moe_ffn.ts`). */
export interface MoeWeights {
  /** Router [d, w]. */
  r1: Tensor;
  /** Router [w, E]. */
  r2: Tensor;
  /** Experts' up-projections [E·d, s]. */
  w1: Tensor;
  /** [E·s]. */
  b1: Tensor;
  /** Experts' down-projections [E·s, d]. */
  w2: Tensor;
  /** Shared output bias [d]. */
  b2: Tensor;
}

/** Selection tensors (u32): lists [E·cap], tokRows [T·E], tokK [T]. */
export interface MoeSelection {
  /** Token id of each expert slot. */
  lists: Tensor;
  /** Rows of each token's selected pairs. */
  tokRows: Tensor;
  /** Pairs per token. */
  tokK: Tensor;
}

/** Router-loss gradient at the pre-abs output: g [B, E] and its transpose gT [E, B]. */
export interface RouterGrad {
  /** dL/dz. */
  g: Tensor;
  /** dL/dz transposed (the left operand of the second layer's weight gradient). */
  gT: Tensor;
}
