/**
 * The CPU backend: runs the `*_ref.ts` references. Used where no GPU exists and as the
 * ground truth GPU results are tested against.
 * @module
 */
import { adamWRef, type AdamWStep } from "./adam_ref.ts";
import { addRef } from "./add_ref.ts";
import type { AttentionShape, AttnView } from "./attention_ref.ts";
import { attentionCpu } from "./attention_cpu.ts";
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
import { crossEntropyCpu } from "./cross_entropy_cpu.ts";
import { sgemmWasmAvailable } from "./sgemm_wasm.ts";
import { embedRef } from "./embed_ref.ts";
import { checkGatherRows, gatherRowsRef } from "./gather_rows_ref.ts";
import { layerNormRef } from "./layer_norm_ref.ts";
import { matmulCpu } from "./matmul_cpu.ts";
import { meanPoolRef } from "./mean_pool_ref.ts";
import { moeExpertMatmulCpu } from "./moe_expert_matmul_cpu.ts";
import type { ExpertMatmulShape } from "./moe_expert_matmul_ref.ts";
import { moeFfnCpu } from "./moe_ffn_cpu.ts";
import { moeFfnNormsCpu } from "./moe_ffn_norms_cpu.ts";
import { checkMergeInto, moeMergeRef } from "./moe_merge_ref.ts";
import { moeRouterRef } from "./moe_router_ref.ts";
import { checkTokenRange, moeSelectRef, type RoutingRule } from "./moe_select_ref.ts";
import { reluGradRef } from "./relu_grad_ref.ts";
import { checkRouterGrad, routerGradRef } from "./router_grad_ref.ts";
import { rowNormRef } from "./row_norm_ref.ts";
import { argmaxRef } from "./argmax_ref.ts";
import { patchEmbedRef, type PatchGeometry } from "./patch_embed_ref.ts";
import { type CopySpec, stridedCopyRef } from "./strided_copy_ref.ts";
import { CpuTensor, type DType, numel, type Tensor } from "./tensor.ts";

function cpu(t: Tensor, what = "tensor"): CpuTensor {
  if (!(t instanceof CpuTensor)) throw new TypeError(`${what} must be a CPU tensor`);
  return t;
}
const f32 = (t: Tensor, what?: string) => cpu(t, what).data as Float32Array;
const u32 = (t: Tensor, what?: string) => cpu(t, what).data as Uint32Array;
const opt = <T>(t: Tensor | undefined, f: (t: Tensor) => T) => (t ? f(t) : undefined);

/** Backend running the TypeScript references. */
export class CpuBackend implements Backend {
  /** What this backend is. */
  readonly info: BackendInfo;

  /** @param fallbackFrom Providers passed over before settling on the CPU. */
  constructor(fallbackFrom: string[] = []) {
    this.info = {
      kind: "cpu",
      provider: "cpu",
      description: `CPU kernels (TypeScript${sgemmWasmAvailable() ? ", WebAssembly SIMD" : ""})`,
      fallback: fallbackFrom.length > 0,
      fallbackFrom,
      maxTensorBytes: 1 << 30,
    };
  }

  upload(data: Float32Array | Uint32Array, shape: readonly number[]): Tensor {
    return new CpuTensor(data, shape);
  }
  input(data: Float32Array | Uint32Array, shape: readonly number[]): Tensor {
    return new CpuTensor(data.slice(), shape);
  }
  alloc(shape: readonly number[], dtype: DType = "f32"): Tensor {
    const n = numel(shape);
    return new CpuTensor(dtype === "f32" ? new Float32Array(n) : new Uint32Array(n), shape);
  }
  release(): void {}
  free(): void {}
  read(tensors: Tensor[]): Promise<(Float32Array | Uint32Array)[]> {
    return Promise.resolve(tensors.map((t) => cpu(t).data.slice()));
  }
  flush(): void {}

  matmul(a: Tensor, b: Tensor, e: MatmulEpilogue = {}): Tensor {
    const [m, k] = a.shape;
    const n = e.transB ? b.shape[0] : b.shape[1];
    const kb = e.transB ? b.shape[1] : b.shape[0];
    if (k !== kb) throw new RangeError(`matmul: A is [${a.shape}] but B is [${b.shape}]`);
    const x = e.ln ? layerNormRef(f32(a), f32(e.ln.gamma), f32(e.ln.beta), m, k, e.ln.eps) : f32(a);
    const c = matmulCpu(x, f32(b), m, k, n, e, opt(e.bias, f32), opt(e.residual, f32));
    if (e.copyTo) stridedCopyRef(c, f32(e.copyTo.dst), e.copyTo.spec);
    return new CpuTensor(c, [m, n]);
  }

  layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
    const [rows, cols] = x.shape;
    return new CpuTensor(layerNormRef(f32(x), f32(gamma), f32(beta), rows, cols, eps), x.shape);
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
    const out = attentionCpu(f32(q), f32(k), f32(v), s, qv, kv, vv, opt(keyMask, u32));
    return new CpuTensor(out, [s.batch * s.tq, s.heads * s.headDim]);
  }

  embed(ids: Tensor, wte: Tensor, pos?: Tensor, wpe?: Tensor, types?: Tensor, wtt?: Tensor): Tensor {
    const cols = wte.shape[1];
    const out = embedRef(
      u32(ids),
      f32(wte),
      cols,
      opt(pos, u32),
      opt(wpe, f32),
      opt(types, u32),
      opt(wtt, f32),
    );
    return new CpuTensor(out, [ids.shape[0], cols]);
  }

  stridedCopy(src: Tensor, dst: Tensor, spec: CopySpec): void {
    stridedCopyRef(f32(src), f32(dst), spec);
  }

  meanPool(x: Tensor, mask: Tensor, batch: number, seq: number): Tensor {
    const cols = x.shape[1];
    return new CpuTensor(meanPoolRef(f32(x), u32(mask), batch, seq, cols), [batch, cols]);
  }

  patchEmbed(pix: Tensor, w: Tensor, bias: Tensor, cls: Tensor, pos: Tensor, g: PatchGeometry): Tensor {
    const out = patchEmbedRef(f32(pix), f32(w), f32(bias), f32(cls), f32(pos), g);
    return new CpuTensor(out, [out.length / g.dim, g.dim]);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return new CpuTensor(addRef(f32(a), f32(b)), a.shape);
  }

  crossEntropy(logits: Tensor, targets: Tensor): Tensor {
    const [rows, vocab] = logits.shape;
    return new CpuTensor(crossEntropyCpu(f32(logits), u32(targets), rows, vocab), [rows]);
  }

  argmax(x: Tensor): Tensor {
    const [rows, cols] = x.shape;
    return new CpuTensor(argmaxRef(f32(x), rows, cols), [rows]);
  }

  rowNorm(x: Tensor): Tensor {
    const [rows, cols] = x.shape;
    return new CpuTensor(rowNormRef(f32(x), rows, cols), [rows]);
  }

  moeRouter(x: Tensor, r1: Tensor, r2: Tensor, counts: Tensor, countsOffset: number): Tensor {
    const [T, d] = x.shape;
    const [w, E] = r2.shape;
    u32(counts).fill(0, countsOffset, countsOffset + E);
    return new CpuTensor(moeRouterRef(f32(x), f32(r1), f32(r2), { T, d, w, E }), [T, E]);
  }

  moeSelect(
    scores: Tensor,
    counts: Tensor,
    countsOffset: number,
    cap: number,
    rule: RoutingRule,
  ): MoeSelection {
    const [T, E] = scores.shape;
    const s = moeSelectRef(f32(scores), T, E, cap, rule);
    const c = u32(counts);
    for (let e = 0; e < E; e++) c[countsOffset + e] += s.counts[e];
    return {
      lists: new CpuTensor(s.lists, [E * cap]),
      tokRows: new CpuTensor(s.tokRows, [T * E]),
      tokK: new CpuTensor(s.tokK, [T]),
    };
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
    const c = u32(counts).subarray(countsOffset, countsOffset + shape.E);
    const out = moeExpertMatmulCpu(f32(a), u32(lists), c, f32(w), opt(bias, f32), shape);
    return new CpuTensor(out, [shape.E * shape.cap, shape.N]);
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
    const d = b2.shape[0];
    const row0 = into?.row0 ?? 0;
    if (into) checkMergeInto(row0, T, d, into.y.shape);
    const res = residual && f32(residual).subarray(row0 * d, (row0 + T) * d);
    const y = moeMergeRef(f32(pairOut), u32(tokRows), u32(tokK), f32(b2), res, T, E, d, rowsPerPair);
    if (!into) return new CpuTensor(y, [T, d]);
    f32(into.y).set(y, row0 * d);
    return into.y;
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
    const [T, E] = scores.shape;
    checkTokenRange("moeSelectRange", start, count, T);
    const rows = f32(scores).slice(start * E, (start + count) * E).map(Math.abs);
    const s = moeSelectRef(rows, count, E, cap, rule);
    for (let e = 0; e < E; e++) {
      for (let i = 0; i < s.counts[e]; i++) s.lists[e * cap + i] += start; // batch token indices
    }
    u32(counts).set(s.counts, countsOffset);
    return {
      lists: new CpuTensor(s.lists, [E * cap]),
      tokRows: new CpuTensor(s.tokRows, [count * E]),
      tokK: new CpuTensor(s.tokK, [count]),
    };
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
    const [T, d] = x.shape;
    const [rw, E] = w.r2.shape;
    const weights = {
      r1: f32(w.r1),
      r2: f32(w.r2),
      w1: f32(w.w1),
      b1: f32(w.b1),
      w2: f32(w.w2),
      b2: f32(w.b2),
    };
    const norm = ln ? { gamma: f32(ln.gamma), beta: f32(ln.beta), eps: ln.eps } : undefined;
    const dims = { T, d, w: rw, E, s: w.w1.shape[1] };
    const r = moeFfnCpu(f32(x), opt(residual, f32), weights, dims, act, rule, norm);
    u32(counts).set(r.counts);
    return new CpuTensor(r.y, [T, d]);
  }

  moeFfnNorms(
    x: Tensor,
    residual: Tensor | undefined,
    w: MoeWeights,
    act: Activation,
  ): { y: Tensor; norms: Tensor; tokRows: Tensor } {
    const [T, d] = x.shape;
    const [, E] = w.r2.shape;
    const s = w.w1.shape[1];
    const r = moeFfnNormsCpu(f32(x), opt(residual, f32), f32(w.w1), f32(w.b1), f32(w.w2), f32(w.b2), {
      T,
      d,
      E,
      s,
    }, act);
    return {
      y: new CpuTensor(r.y, [T, d]),
      norms: new CpuTensor(r.norms, [E * T]),
      tokRows: new CpuTensor(r.tokRows, [T * E]),
    };
  }

  gatherRows(src: Tensor, idx: Tensor, offset: number, rows: number): Tensor {
    const [n, cols] = src.shape;
    checkGatherRows(n, idx.shape[0], offset, rows);
    return new CpuTensor(gatherRowsRef(f32(src), u32(idx), offset, rows, cols), [rows, cols]);
  }

  routerGrad(z: Tensor, targets: Tensor, rowLoss: Tensor, rowOffset: number, underWeight = 1): RouterGrad {
    const [B, E] = z.shape;
    if (targets.shape[0] !== B || targets.shape[1] !== E) {
      throw new RangeError(`routerGrad: z is [${z.shape}] but targets are [${targets.shape}]`);
    }
    const loss = f32(rowLoss);
    checkRouterGrad(B, loss.length, rowOffset);
    const r = routerGradRef(f32(z), f32(targets), B, E, underWeight);
    loss.set(r.rowLoss, rowOffset);
    return { g: new CpuTensor(r.g, [B, E]), gT: new CpuTensor(r.gT, [E, B]) };
  }

  reluGrad(dy: Tensor, y: Tensor, transpose = false): Tensor {
    const [rows, cols] = dy.shape;
    if (y.shape[0] !== rows || y.shape[1] !== cols) {
      throw new RangeError(`reluGrad: dy is [${dy.shape}] but y is [${y.shape}]`);
    }
    return new CpuTensor(
      reluGradRef(f32(dy), f32(y), rows, cols, transpose),
      transpose ? [cols, rows] : [rows, cols],
    );
  }

  adamW(p: Tensor, g: Tensor, m: Tensor, v: Tensor, hp: AdamWStep): void {
    adamWRef(f32(p), f32(g), f32(m), f32(v), hp);
  }

  [Symbol.dispose](): void {}
}
