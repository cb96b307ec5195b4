/**
 * The WebGPU backend: every op records one of our kernels into the context's open encoder; nothing
 * is submitted until `read()` or `flush()`.
 * @module
 */
import type { GpuContext } from "../gpu/context.ts";
import { addGpu } from "./add.ts";
import { attentionGpu } from "./attention.ts";
import type { AttentionShape, AttnView } from "./attention_ref.ts";
import type { Backend, BackendInfo, MatmulEpilogue } from "./backend.ts";
import { embedGpu } from "./embed.ts";
import { allocTensor, gpu } from "./gpu_util.ts";
import { layerNormGpu } from "./layer_norm.ts";
import { matmulGpu } from "./matmul.ts";
import { meanPoolGpu } from "./mean_pool.ts";
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
    return matmulGpu(this.ctx, gpu(a, "A"), gpu(b, "B"), e, opt(e.bias, "bias"), opt(e.residual, "residual"));
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

  [Symbol.dispose](): void {
    this.ctx.destroy();
  }
}
