/**
 * The WebGPU backend: every op records one of our kernels into the context's open encoder; nothing
 * is submitted until `read()` or `flush()`.
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { adamWGpu } from "./adam.ts";
import type { AdamWStep } from "./adam_ref.ts";
import { addGpu } from "./add.ts";
import { attentionGpu } from "./attention.ts";
import type { AttentionShape, AttnView } from "./attention_ref.ts";
import type { Activation } from "./activation.ts";
import type {
  Backend,
  BackendInfo,
  MatmulEpilogue,
  MergeInto,
  MoeSelection,
  MoeWeights,
  RouterGrad,
} from "./backend.ts";
import { crossEntropyGpu } from "./cross_entropy.ts";
import { embedGpu } from "./embed.ts";
import { gatherRowsGpu } from "./gather_rows.ts";
import { allocTensor, gpu } from "./gpu_util.ts";
import { layerNormGpu } from "./layer_norm.ts";
import { matmulGpu } from "./matmul.ts";
import { meanPoolGpu } from "./mean_pool.ts";
import { moeExpertMatmulGpu } from "./moe_expert_matmul.ts";
import type { ExpertMatmulShape } from "./moe_expert_matmul_ref.ts";
import { moeMergeGpu } from "./moe_merge.ts";
import { moeRouterGpu } from "./moe_router.ts";
import { moeFfnDecodeGpu } from "./moe_ffn_decode.ts";
import { moeSelectGpu, moeSelectRangeGpu } from "./moe_select.ts";
import type { RoutingRule } from "./moe_select_ref.ts";
import { reluGradGpu } from "./relu_grad.ts";
import { routerGradGpu } from "./router_grad.ts";
import { rowNormGpu } from "./row_norm.ts";
import { argmaxGpu } from "./argmax.ts";
import { patchEmbedGpu } from "./patch_embed.ts";
import type { PatchGeometry } from "./patch_embed_ref.ts";
import { stridedCopyGpu } from "./strided_copy.ts";
import type { CopySpec } from "./strided_copy_ref.ts";
import { type DType, GpuTensor, numel, type Tensor } from "./tensor.ts";

const opt = (t: Tensor | undefined, what: string) => (t ? gpu(t, what) : undefined);

/** Backend running our WGSL kernels on one GPU context. */
export class GpuBackend implements Backend {
  /** What this backend is. */
  readonly info: BackendInfo;
  /** The context kernels are recorded into. */
  readonly ctx: GpuContext;

  /** @param ctx A GPU context this backend owns (destroyed with it). */
  constructor(ctx: GpuContext) {
    this.ctx = ctx;
    this.info = {
      kind: "gpu",
      provider: ctx.info.provider,
      description: ctx.info.description,
      fallback: ctx.info.fallbackFrom.length > 0 || ctx.info.isFallbackAdapter,
      fallbackFrom: ctx.info.fallbackFrom,
      maxTensorBytes: Math.min(ctx.info.maxStorageBufferBindingSize, ctx.info.maxBufferSize),
    };
  }

  upload(data: Float32Array | Uint32Array, shape: readonly number[], label?: string): Tensor {
    const dtype: DType = data instanceof Float32Array ? "f32" : "u32";
    return new GpuTensor(this.ctx.createWeight(data, label), shape, dtype, false);
  }
  input(data: Float32Array | Uint32Array, shape: readonly number[]): Tensor {
    const dtype: DType = data instanceof Float32Array ? "f32" : "u32";
    const t = allocTensor(this.ctx, shape, dtype);
    if (data.length > 0) this.ctx.write(t.buffer, 0, data);
    return t;
  }
  alloc(shape: readonly number[], dtype: DType = "f32"): Tensor {
    return allocTensor(this.ctx, shape, dtype);
  }
  release(...tensors: (Tensor | undefined | null)[]): void {
    for (const t of tensors) if (t && gpu(t).pooled) this.ctx.pool.release(gpu(t).buffer);
  }
  free(t: Tensor): void {
    this.ctx.freeWeight(gpu(t).buffer);
  }
  async read(tensors: Tensor[]): Promise<(Float32Array | Uint32Array)[]> {
    const ts = tensors.map((t) => gpu(t));
    const bufs = await this.ctx.read(ts.map((t) => ({ buffer: t.buffer, size: numel(t.shape) * 4 })));
    return bufs.map((b, i) => (ts[i].dtype === "f32" ? new Float32Array(b) : new Uint32Array(b)));
  }
  flush(): void {
    this.ctx.flush();
  }

  matmul(a: Tensor, b: Tensor, e: MatmulEpilogue = {}): Tensor {
    const ln = e.ln
      ? { gamma: gpu(e.ln.gamma, "ln.gamma"), beta: gpu(e.ln.beta, "ln.beta"), eps: e.ln.eps }
      : undefined;
    const copy = e.copyTo ? { dst: gpu(e.copyTo.dst, "copyTo.dst"), spec: e.copyTo.spec } : undefined;
    return matmulGpu(
      this.ctx,
      gpu(a, "A"),
      gpu(b, "B"),
      e,
      opt(e.bias, "bias"),
      opt(e.residual, "residual"),
      {
        ln,
        copy,
      },
    );
  }
  layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
    return layerNormGpu(this.ctx, gpu(x), gpu(gamma), gpu(beta), eps);
  }
  attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    s: AttentionShape,
    qv: AttnView,
    kv: AttnView,
    vv: AttnView,
    keyMask?: Tensor,
  ): Tensor {
    return attentionGpu(this.ctx, gpu(q), gpu(k), gpu(v), s, qv, kv, vv, opt(keyMask, "keyMask"));
  }
  embed(ids: Tensor, wte: Tensor, pos?: Tensor, wpe?: Tensor, types?: Tensor, wtt?: Tensor): Tensor {
    return embedGpu(
      this.ctx,
      gpu(ids),
      gpu(wte),
      opt(pos, "pos"),
      opt(wpe, "wpe"),
      opt(types, "types"),
      opt(wtt, "wtt"),
    );
  }
  stridedCopy(src: Tensor, dst: Tensor, spec: CopySpec): void {
    stridedCopyGpu(this.ctx, gpu(src), gpu(dst), spec);
  }
  meanPool(x: Tensor, mask: Tensor, batch: number, seq: number): Tensor {
    return meanPoolGpu(this.ctx, gpu(x), gpu(mask), batch, seq);
  }
  patchEmbed(pix: Tensor, w: Tensor, bias: Tensor, cls: Tensor, pos: Tensor, g: PatchGeometry): Tensor {
    return patchEmbedGpu(this.ctx, gpu(pix), gpu(w), gpu(bias), gpu(cls), gpu(pos), g);
  }
  add(a: Tensor, b: Tensor): Tensor {
    return addGpu(this.ctx, gpu(a), gpu(b));
  }
  crossEntropy(logits: Tensor, targets: Tensor): Tensor {
    return crossEntropyGpu(this.ctx, gpu(logits), gpu(targets));
  }
  argmax(x: Tensor): Tensor {
    return argmaxGpu(this.ctx, gpu(x));
  }

  rowNorm(x: Tensor): Tensor {
    return rowNormGpu(this.ctx, gpu(x));
  }
  moeRouter(x: Tensor, r1: Tensor, r2: Tensor, counts: Tensor, countsOffset: number): Tensor {
    return moeRouterGpu(this.ctx, gpu(x), gpu(r1), gpu(r2), gpu(counts), countsOffset);
  }
  moeSelect(
    scores: Tensor,
    counts: Tensor,
    countsOffset: number,
    cap: number,
    rule: RoutingRule,
  ): MoeSelection {
    return moeSelectGpu(this.ctx, gpu(scores), gpu(counts), countsOffset, cap, rule);
  }
  moeExpertMatmul(
    a: Tensor,
    lists: Tensor,
    counts: Tensor,
    countsOffset: number,
    w: Tensor,
    bias: Tensor | undefined,
    shape: ExpertMatmulShape,
  ): Tensor {
    return moeExpertMatmulGpu(
      this.ctx,
      gpu(a),
      gpu(lists),
      gpu(counts),
      countsOffset,
      gpu(w),
      opt(bias, "bias"),
      shape,
    );
  }
  moeMerge(
    pairOut: Tensor,
    tokRows: Tensor,
    tokK: Tensor,
    b2: Tensor,
    residual: Tensor | undefined,
    T: number,
    E: number,
    rowsPerPair = 1,
    into?: MergeInto,
  ): Tensor {
    return moeMergeGpu(
      this.ctx,
      gpu(pairOut),
      gpu(tokRows),
      gpu(tokK),
      gpu(b2),
      opt(residual, "residual"),
      T,
      E,
      rowsPerPair,
      undefined,
      into && { y: gpu(into.y, "merge output"), row0: into.row0 },
    );
  }
  moeSelectRange(
    scores: Tensor,
    counts: Tensor,
    countsOffset: number,
    cap: number,
    rule: RoutingRule,
    start: number,
    count: number,
  ): MoeSelection {
    return moeSelectRangeGpu(this.ctx, gpu(scores), gpu(counts), countsOffset, cap, rule, start, count);
  }
  moeFfnDecode(
    x: Tensor,
    residual: Tensor | undefined,
    w: MoeWeights,
    act: Activation,
    counts: Tensor,
    rule: RoutingRule,
    ln?: { gamma: Tensor; beta: Tensor; eps: number },
  ): Tensor {
    const t = {
      r1: gpu(w.r1, "r1"),
      r2: gpu(w.r2, "r2"),
      w1: gpu(w.w1, "w1"),
      b1: gpu(w.b1, "b1"),
      w2: gpu(w.w2, "w2"),
      b2: gpu(w.b2, "b2"),
    };
    const norm = ln
      ? { gamma: gpu(ln.gamma, "ln.gamma"), beta: gpu(ln.beta, "ln.beta"), eps: ln.eps }
      : undefined;
    return moeFfnDecodeGpu(this.ctx, gpu(x), opt(residual, "residual"), t, act, gpu(counts), rule, norm);
  }

  gatherRows(src: Tensor, idx: Tensor, offset: number, rows: number): Tensor {
    return gatherRowsGpu(this.ctx, gpu(src, "src"), gpu(idx, "idx"), offset, rows);
  }
  routerGrad(z: Tensor, targets: Tensor, rowLoss: Tensor, rowOffset: number, underWeight = 1): RouterGrad {
    return routerGradGpu(
      this.ctx,
      gpu(z, "z"),
      gpu(targets, "targets"),
      gpu(rowLoss, "rowLoss"),
      rowOffset,
      underWeight,
    );
  }
  reluGrad(dy: Tensor, y: Tensor, transpose = false): Tensor {
    return reluGradGpu(this.ctx, gpu(dy, "dy"), gpu(y, "y"), transpose);
  }
  adamW(p: Tensor, g: Tensor, m: Tensor, v: Tensor, hp: AdamWStep): void {
    adamWGpu(this.ctx, gpu(p, "p"), gpu(g, "g"), gpu(m, "m"), gpu(v, "v"), hp);
  }

  [Symbol.dispose](): void {
    this.ctx.destroy();
  }
}
