/**
 * Attention-projection conversion (`convert --attention`, D2DMoE §6): every block's Q, K, V and O
 * projection becomes a d → h → d ReLU MLP distilled from it (h so the MLP costs what the projection cost),
 * split into experts by the same balanced k-means as FFNs, with a router trained on the expert output
 * norms. Calibration is teacher-forced: inputs come from the dense model (a probe on the attention
 * layers), targets are the original projections' outputs.
 * @module
 */
import {
  type AttentionParams,
  type AttentionProjections,
  denseAttention,
  type ProbeSite,
} from "../model/layers.ts";
import type { Model } from "../model/model.ts";
import type { Backend } from "../ops/backend.ts";
import type { Tensor } from "../ops/tensor.ts";
import type { ProgressCallback } from "../util/progress.ts";
import type { CalibBatch } from "./calib_data.ts";
import { realTokenMask, Rows, runBatch } from "./calibrate.ts";
import {
  cpuMatmul,
  distillProjection,
  type DistillResult,
  type MatmulFn,
  projectionHidden,
} from "./distill.ts";
import { type ExpertWeights, splitFfn } from "./expert_split.ts";
import { uploadMoeLayer } from "./moe_ffn.ts";
import { fitRouter, type RouterDevice, trainsOnGpu } from "./router_fit.ts";
import { backendMatmul, distillationFits, distillProjectionOnBackend } from "./distill_gpu.ts";
import type { RouterTrainOptions, RouterWeights } from "./router_train.ts";
import { type RouterTarget, routerTargets } from "./router_target.ts";

/** The four projections, in the order they are stored. */
export const PROJECTIONS = ["q", "k", "v", "o"] as const;
/** One projection's name. */
export type ProjectionName = (typeof PROJECTIONS)[number];

/** Options of {@link convertAttention}. */
export interface AttentionConvertOptions {
  /** Neurons per projection expert (default 8); the hidden width is rounded to a multiple of it. */
  expertSize?: number;
  /** MLP MACs relative to the projection's (default 1, the paper's choice). */
  flopsFactor?: number;
  /** L1 weight on the hidden activations during distillation (default 0). */
  sparsity?: number;
  /** Distillation epochs (default 20). */
  epochs?: number;
  /** Router hidden width. */
  routerWidth: number;
  /** What the routers regress (default "norm"; `convert` passes its own). */
  routerTarget?: RouterTarget;
  /** Weight of router under-predictions (default 1). */
  routerUnderWeight?: number;
  /** Router epochs. */
  routerEpochs: number;
  /** Router learning rate. */
  routerLr: number;
  /** Where routers train. */
  routerDevice?: RouterDevice;
  /** Seed. */
  seed: number;
  /** Progress updates. */
  onProgress?: ProgressCallback;
}

/** One converted projection. */
export interface ConvertedProjection {
  /** The distilled MLP split into experts. */
  experts: ExpertWeights;
  /** Its router. */
  router: RouterWeights;
  /** Distillation errors (unexplained variance, held out). */
  distill: Omit<DistillResult, "mlp">;
  /** Router loss on held-out rows. */
  routerValLoss: number;
  /** Loss of predicting each expert's mean norm. */
  routerValBaseline: number;
  /** k-means objective of the split. */
  kmeansCost: number;
  /** Where the router trained. */
  routerDevice: "gpu" | "cpu";
  /** Where the distillation trained. */
  distillDevice: "gpu" | "cpu";
}

/** All four projections of one block. */
export type ConvertedAttentionLayer = Record<ProjectionName, ConvertedProjection>;

/** The inputs each block's projections saw: Q, K, V share one input, O has its own. */
interface ProjectionInputs {
  qkv: { x: Float32Array; n: number };
  o: { x: Float32Array; n: number };
}

/**
 * Runs the dense model over calibration batches with a probe on the attention layers and keeps every real
 * token's projection inputs.
 * @param model Dense model.
 * @param batches Calibration batches.
 * @param onProgress Progress.
 * @returns Per block: the Q/K/V input and the O input.
 */
export async function collectProjectionInputs(
  model: Model,
  batches: CalibBatch[],
  onProgress?: ProgressCallback,
): Promise<ProjectionInputs[]> {
  const be = model.backend, d = model.config.hidden, L = model.config.layers;
  const rows = Array.from({ length: L }, () => ({ qkv: new Rows(d), o: new Rows(d) }));
  let pending: { site: ProbeSite; layer: number; x: Tensor }[] = [];
  model.probe = (site, layer, x) => {
    const copy = be.alloc(x.shape);
    const T = x.shape[0];
    be.stridedCopy(x, copy, {
      nb: 1,
      nt: T,
      nc: d,
      srcOffset: 0,
      srcB: 0,
      srcT: d,
      dstOffset: 0,
      dstB: 0,
      dstT: d,
    });
    pending.push({ site, layer, x: copy });
  };
  try {
    for (const [bi, b] of batches.entries()) {
      pending = [];
      await runBatch(model, b, {}, false);
      const got = (await be.read(pending.map((p) => p.x))) as Float32Array[];
      be.release(...pending.map((p) => p.x));
      const real = realTokenMask(b);
      pending.forEach((p, i) => {
        const target = p.site === "qkv_in" ? rows[p.layer].qkv : rows[p.layer].o;
        const x = got[i], T = x.length / d;
        for (let t = 0; t < T; t++) if (!real.length || real[t]) target.push(x.subarray(t * d, (t + 1) * d));
      });
      onProgress?.({ step: "attention calibration", done: bi + 1, total: batches.length });
    }
  } finally {
    model.probe = undefined;
  }
  return rows.map((r) => ({ qkv: { x: r.qkv.concat(), n: r.qkv.n }, o: { x: r.o.concat(), n: r.o.n } }));
}

/** A block's dense projections as [d, d] weights and [d] biases (Q, K, V are column blocks of `wqkv`). */
async function denseProjections(be: Backend, p: AttentionParams) {
  const dense = denseAttention(p);
  const [wqkv, bqkv, wo, bo] =
    (await be.read([dense.wqkv, dense.bqkv, dense.wo, dense.bo])) as Float32Array[];
  const d = wo.length / bo.length;
  const column = (part: number) => {
    const w = new Float32Array(d * d);
    for (let i = 0; i < d; i++) w.set(wqkv.subarray(i * 3 * d + part * d, i * 3 * d + (part + 1) * d), i * d);
    return { w, b: bqkv.slice(part * d, (part + 1) * d) };
  };
  return { q: column(0), k: column(1), v: column(2), o: { w: wo, b: bo } };
}

/**
 * Each expert's output norm ‖relu(x·W1_e + b1_e)·W2_e‖ per row: one product for every expert's hidden
 * activations h_e, then ‖h_e·W2_e‖² = h_e·G_e·h_eᵀ with the small Gram matrix G_e = W2_e·W2_eᵀ [s, s], so
 * the down-projections are never computed.
 * @param x Inputs [n, d].
 * @param n Rows.
 * @param ex Expert weights.
 * @param mm Where the up-projection product runs.
 * @returns Norms [n, E].
 */
export async function expertNorms(
  x: Float32Array,
  n: number,
  ex: ExpertWeights,
  mm: MatmulFn = cpuMatmul,
): Promise<Float32Array> {
  const d = ex.b2.length, E = ex.experts, s = ex.size, h = E * s;
  // Expert-major [E, d, s] → [d, E·s]: column e·s + j is expert e's neuron j.
  const w1 = new Float32Array(d * h);
  for (let e = 0; e < E; e++) {
    for (let i = 0; i < d; i++) w1.set(ex.w1.subarray((e * d + i) * s, (e * d + i + 1) * s), i * h + e * s);
  }
  const hidden = await mm(x, w1, n, d, h, { act: "relu" }, ex.b1);
  const out = new Float32Array(n * E);
  const gram = new Float64Array(s * s);
  for (let e = 0; e < E; e++) {
    const w2 = ex.w2.subarray(e * s * d, (e + 1) * s * d);
    for (let j = 0; j < s; j++) {
      for (let k = 0; k <= j; k++) {
        let g = 0;
        for (let o = 0; o < d; o++) g += w2[j * d + o] * w2[k * d + o];
        gram[j * s + k] = gram[k * s + j] = g;
      }
    }
    for (let t = 0; t < n; t++) {
      const ht = hidden.subarray(t * h + e * s, t * h + (e + 1) * s);
      let sq = 0;
      for (let j = 0; j < s; j++) {
        if (ht[j] === 0) continue;
        for (let k = 0; k < s; k++) sq += ht[j] * gram[j * s + k] * ht[k];
      }
      out[t * E + e] = Math.sqrt(Math.max(sq, 0));
    }
  }
  return out;
}

/**
 * Converts every block's attention projections.
 * @param model Dense model (its attention is unchanged by this call).
 * @param batches Calibration batches (the training split).
 * @param opts Granularity, distillation and router options.
 * @returns Per block: the four converted projections.
 */
export async function convertAttention(
  model: Model,
  batches: CalibBatch[],
  opts: AttentionConvertOptions,
): Promise<ConvertedAttentionLayer[]> {
  const progress = opts.onProgress ?? (() => {});
  const be = model.backend, d = model.config.hidden;
  const s = opts.expertSize ?? 8;
  if (!Number.isInteger(s) || s < 1) {
    throw new RangeError(`attention expert size must be a positive integer, got ${s}`);
  }
  const f = opts.flopsFactor ?? 1;
  if (!(f > 0 && f <= 16)) throw new RangeError(`attention flops factor must be in (0, 16], got ${f}`);
  const h = projectionHidden(d, s, f), E = h / s;
  const inputs = await collectProjectionInputs(model, batches, progress);
  const blocks = model.net.blocks as { attn: AttentionParams }[];
  const out: ConvertedAttentionLayer[] = [];
  let routerDevice = opts.routerDevice;
  for (const [i, b] of blocks.entries()) {
    const dense = await denseProjections(be, b.attn);
    const layer = {} as ConvertedAttentionLayer;
    for (const [j, name] of PROJECTIONS.entries()) {
      const { x, n } = name === "o" ? inputs[i].o : inputs[i].qkv;
      const label = `layer ${i + 1}/${blocks.length} ${name}`;
      const seed = opts.seed + 1000 * (i + 1) + j;
      const dopts = {
        hidden: h,
        epochs: opts.epochs,
        sparsity: opts.sparsity,
        seed,
        label: `distil ${label}`,
        onProgress: progress,
      };
      // Distillation trains where the routers do (the GPU when it is a hardware adapter).
      const distillDevice = trainsOnGpu(be, opts.routerDevice, distillationFits(be, n, d, d)) ? "gpu" : "cpu";
      const { mlp, ...distill } = distillDevice === "gpu"
        ? await distillProjectionOnBackend(be, x, n, dense[name].w, dense[name].b, dopts)
        : await distillProjection(x, n, dense[name].w, dense[name].b, dopts);
      const split = splitFfn(mlp, E, seed);
      const norms = await expertNorms(
        x,
        n,
        split.weights,
        distillDevice === "gpu" ? backendMatmul(be) : cpuMatmul,
      );
      const ropts: RouterTrainOptions = {
        width: opts.routerWidth,
        epochs: opts.routerEpochs,
        lr: opts.routerLr,
        underWeight: opts.routerUnderWeight,
        seed,
        onProgress: (p) => progress({ step: `router ${label}`, done: p.step, total: p.steps }),
      };
      const targets = routerTargets(norms, opts.routerTarget ?? "norm");
      const r = await fitRouter(be, x, targets, n, d, E, ropts, routerDevice);
      if (r.stall) routerDevice = "cpu"; // the GPU trainer stalled: the remaining routers train on the CPU
      layer[name] = {
        experts: split.weights,
        router: r.router,
        distill,
        routerValLoss: r.valLoss,
        routerValBaseline: r.valBaselineLoss,
        kmeansCost: split.report.cost,
        routerDevice: r.device,
        distillDevice,
      };
    }
    out.push(layer);
  }
  return out;
}

/**
 * Uploads converted projections as MoE layers (site "attn", ReLU experts).
 * @param be Backend.
 * @param layer The four projections.
 * @param upload Uploads one weight (the caller decides who frees it).
 * @returns The projections for `AttentionParams.proj`.
 */
export function projectionLayers(
  be: Backend,
  layer: Record<ProjectionName, { experts: ExpertWeights; router: RouterWeights }>,
  upload: (data: Float32Array, shape: number[]) => Tensor,
): AttentionProjections {
  const one = (p: { experts: ExpertWeights; router: RouterWeights }) =>
    uploadMoeLayer(be, p.experts, p.router, "relu", upload, "attn");
  return { q: one(layer.q), k: one(layer.k), v: one(layer.v), o: one(layer.o) };
}
