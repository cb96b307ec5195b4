/**
 * `convert()`: a dense model folder → a D2DMoE folder. Steps (D2DMoE §3–§5):
 * 1. split every FFN into E equal experts by balanced k-means on its neurons' input weights; with
 *    `attention`, also distil every attention projection into a ReLU MLP, split and route it
 *    (`convert_attention.ts`);
 * 2. run calibration data through the model with every expert active (exactly the dense function),
 *    recording each token's FFN input and each expert's output norm;
 * 3. train one router per layer (MSE regression of those norms);
 * 4. measure quality and FFN fraction over a τ grid on held-out calibration data: the calibration
 *    table (compute budget → τ) and the default τ;
 * 5. write the folder (atomically).
 * @module
 */
import { resolve } from "node:path";
import type { DenseFfn } from "../model/layers.ts";
import { loadModel } from "../model/load.ts";
import type { Model } from "../model/model.ts";
import { type ComputeStats, mergeStats } from "../model/stats.ts";
import { InvalidInputError } from "../model/errors.ts";
import type { Backend } from "../ops/backend.ts";
import type { BackendChoice } from "../ops/select_backend.ts";
import type { Tensor } from "../ops/tensor.ts";
import type { ProgressCallback } from "../util/progress.ts";
import { type CalibBatch, calibrationSet } from "./calib_data.ts";
import { collectRouterData, runBatch } from "./calibrate.ts";
import { type DenseFfnWeights, type ExpertWeights, resolveExperts, splitFfn } from "./expert_split.ts";
import {
  type CalibrationRow,
  FORMAT_VERSION,
  type Manifest,
  type ManifestAttention,
  MAX_ROUTER_WIDTH,
} from "./manifest.ts";
import {
  convertAttention,
  type ConvertedAttentionLayer,
  projectionLayers,
  PROJECTIONS,
} from "./convert_attention.ts";
import { uploadMoeLayer } from "./moe_ffn.ts";
import { MoeRouting } from "./routing.ts";
import type { RouterTrainOptions, RouterWeights } from "./router_train.ts";
import { DEFAULT_ROUTER_TARGET, ROUTER_TARGETS, type RouterTarget, routerTargets } from "./router_target.ts";
import { fitRouter, type RouterDevice, trainsOnGpu } from "./router_fit.ts";
import { defaultTrainWorkers, trainRoutersParallel } from "./router_parallel.ts";
import { routerTrainingFits } from "./router_train_gpu.ts";
import { type ConvertedLayer, sourceChecksum, writeConverted } from "./write_converted.ts";
import { cosine } from "../util/cosine.ts";

/** Options of {@link convert}. */
export interface ConvertOptions {
  /** Destination folder. */
  out: string;
  /** Number of experts per layer (or give `expertSize`). */
  experts?: number;
  /** Neurons per expert (or give `experts`). */
  expertSize?: number;
  /** Router hidden width (default 128, at most {@link MAX_ROUTER_WIDTH}). */
  routerWidth?: number;
  /** Calibration files: text, JSON token ids, or JSON pixel_values (default: built-in text or random). */
  calib?: string[];
  /**
   * Real calibration tokens (default {@link defaultCalibTokens}: 8192 to 131072 by model size); 15% of the
   * batches (at most about 8192 tokens) are held out for the τ table.
   */
  calibTokens?: number;
  /** Seed of k-means, router init/shuffles and random calibration inputs (default 0). */
  seed?: number;
  /** Backend (default: auto). */
  backend?: BackendChoice | Backend;
  /** Router training epochs (default 20). */
  routerEpochs?: number;
  /** Router learning rate (default 3e-3). */
  routerLr?: number;
  /**
   * What routers regress: "sqrt_norm" (default; the square root of each expert's output norm) or "norm"
   * (the paper's target). τ means the same with both (see router_target.ts).
   */
  routerTarget?: RouterTarget;
  /**
   * Weight on a router's squared error where it under-predicts (default {@link DEFAULT_UNDER_WEIGHT}; 1 is
   * plain MSE). Under-predicting skips an expert that mattered, over-predicting only runs an idle one.
   */
  routerUnderWeight?: number;
  /** τ grid of the calibration table (default {@link DEFAULT_TAUS}: steps of 0.005 up to 0.1, then coarser, to 1). */
  taus?: readonly number[];
  /** Largest relative perplexity increase for the default τ (language models; default 0.01). */
  maxPplIncrease?: number;
  /** Smallest mean cosine to dense outputs for the default τ (encoders; default 0.99). */
  minCosine?: number;
  /**
   * Where routers train and attention projections are distilled: "auto" (the GPU of a hardware adapter,
   * else the float64 CPU trainer, in workers), "gpu" (whenever the backend is one) or "cpu".
   */
  routerDevice?: RouterDevice;
  /**
   * Layers whose routers train on the CPU at once, each in a Web Worker (default: the core count; 1 trains
   * them one after another in this thread). The routers are the same either way.
   */
  routerWorkers?: number;
  /** Fix the default τ instead of choosing it from the calibration table (e.g. from a task evaluation). */
  defaultTau?: number;
  /** Extra provenance recorded in the manifest (e.g. the recipe of a cached default model). */
  provenance?: Record<string, unknown>;
  /**
   * Also convert every block's attention projections Q, K, V, O (D2DMoE §6): each is distilled into a
   * d → h → d ReLU MLP costing what the projection cost, then split and routed like an FFN. BERT, GPT-2, ViT.
   */
  attention?: boolean;
  /** Router hidden width of the attention projections (default: `routerWidth`; at most {@link MAX_ROUTER_WIDTH}). */
  attentionRouterWidth?: number;
  /** Neurons per attention-projection expert (default 8). */
  attentionExpertSize?: number;
  /** Projection MLP MACs relative to the projection's (default 1). */
  attentionFlopsFactor?: number;
  /** L1 weight on the projection MLPs' hidden activations while distilling (default 0). */
  attentionSparsity?: number;
  /** Distillation epochs (default 20). */
  distillEpochs?: number;
  /** Replace an existing destination. */
  overwrite?: boolean;
  /** Progress updates. */
  onProgress?: ProgressCallback;
}

/** Result of {@link convert}. */
export interface ConvertResult {
  /** Destination folder. */
  out: string;
  /** The written manifest. */
  manifest: Manifest;
}

/**
 * Default router under-prediction weight: on the ReLU GPT-2 of docs/conversion.md, 2.5–4 cut the output
 * energy of wrongly skipped experts by about a tenth against unweighted √norm targets at the same executed
 * fraction (8 no further).
 */
export const DEFAULT_UNDER_WEIGHT = 3;

/**
 * Default τ grid of the calibration table: steps of 0.005 up to 0.1, where the executed fraction of a sparse
 * model falls fastest (ReLU GPT-2 of docs/conversion.md: 1 at τ 0, 0.75 at 0.01, 0.58 at 0.05, 0.47 at 0.1,
 * about 0.02 per 0.01 of τ near half the MACs), so the table (`d2d eval` without `--taus`, and the server's
 * budget → τ mapping) resolves compute in steps of about one percent there; coarser above.
 */
export const DEFAULT_TAUS: readonly number[] = [
  ...Array.from({ length: 21 }, (_, i) => i / 200), // 0, 0.005, …, 0.1 (i / 200 is the literal's double)
  ...[0.12, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
];

const VERSION = "0.1.0";

/** The manifest entry of a block's converted attention. */
function manifestAttention(l: ConvertedAttentionLayer, routerWidth: number): ManifestAttention {
  const x = l.q.experts;
  return {
    hidden: x.experts * x.size,
    experts: x.experts,
    expert_size: x.size,
    router_width: routerWidth,
    projections: Object.fromEntries(PROJECTIONS.map((p) => [p, {
      distill_val_error: l[p].distill.valError,
      distill_init_error: l[p].distill.initValError,
      active_fraction: l[p].distill.activeFraction,
      router_val_loss: l[p].routerValLoss,
      router_val_baseline: l[p].routerValBaseline,
      kmeans_cost: l[p].kmeansCost,
    }])),
  };
}

/** Reads a dense layer's weights back from the backend. */
async function denseWeights(be: Backend, f: DenseFfn): Promise<DenseFfnWeights> {
  const [w1, b1, w2, b2] = (await be.read([f.w1, f.b1, f.w2, f.b2])) as Float32Array[];
  return { w1, b1, w2, b2, d: f.w1.shape[0], dff: f.w1.shape[1] };
}

/** An upload function that records what it uploads in `keep`. */
function keeper(be: Backend, keep: Tensor[]) {
  return (a: Float32Array, shape: number[]) => {
    const t = be.upload(a, shape);
    keep.push(t);
    return t;
  };
}

/** A router whose scores are all zero: every expert runs (the dense function). */
function zeroRouter(d: number, experts: number): RouterWeights {
  return { d, width: 1, experts, w1: new Float32Array(d), w2: new Float32Array(experts) };
}

/** Router multiply-adds per calibration pass that the default calibration size aims for (see below). */
export const CALIB_ROUTER_WORK = 22e9;

/**
 * Default calibration tokens: as many as keep one pass of router training over them to about
 * {@link CALIB_ROUTER_WORK} multiply-adds (layers × (d·w + w·E) per token), a multiple of 1024 in
 * [8192, 131072]. Routers keep improving with data well past a few thousand tokens, and their training (20
 * epochs, on the CPU when there is no GPU) is what the data costs, so small models get much more: a 4-layer
 * d 256 model with 64 experts gets 131,072 tokens, GPT-2 small or BERT-base with 96 experts 16,384.
 * @param layers Converted FFN layers.
 * @param d Router input width.
 * @param width Router hidden width.
 * @param experts Experts per layer.
 * @returns Calibration tokens.
 */
export function defaultCalibTokens(layers: number, d: number, width: number, experts: number): number {
  const perToken = layers * (d * width + width * experts);
  const tokens = Math.floor(CALIB_ROUTER_WORK / perToken / 1024) * 1024;
  return Math.min(131072, Math.max(8192, tokens));
}

/** Most held-out tokens the τ table is measured on: more data trains routers, this bounds the table's cost. */
export const MAX_HELD_OUT_TOKENS = 8192;

/**
 * How many trailing calibration batches are held out for the τ table: 15%, at most about
 * {@link MAX_HELD_OUT_TOKENS} tokens, at least one when there are two or more batches.
 * @param batches Calibration batches.
 * @param tokens Real tokens over all of them.
 * @returns Batches to hold out.
 */
export function heldOutBatches(batches: number, tokens: number): number {
  if (batches < 2) return 0;
  const cap = Math.ceil(MAX_HELD_OUT_TOKENS / Math.max(1, tokens / batches));
  return Math.max(1, Math.min(Math.round(batches * 0.15), cap));
}

/** Quality at one τ over held-out batches: perplexity (lm) or mean cosine to the dense outputs. */
async function measure(model: Model, batches: CalibBatch[], tau: number, dense: Float32Array[][] | null) {
  let nll = 0, tokens = 0, cos = 0, n = 0;
  const outputs: Float32Array[][] = [], stats: ComputeStats[] = [];
  for (const [i, b] of batches.entries()) {
    const r = await runBatch(model, b, { tau });
    nll += r.nll;
    tokens += r.tokens;
    outputs.push(r.outputs);
    if (dense) r.outputs.forEach((o, j) => (cos += cosine(o, dense[i][j]), n++));
    stats.push(r.stats);
  }
  const s = mergeStats(stats);
  return {
    perplexity: tokens ? Math.exp(nll / tokens) : NaN,
    cosine: n ? cos / n : NaN,
    ffnFraction: s.ffn_fraction,
    attentionFraction: s.dense_attention_macs > 0 ? s.attention_fraction : undefined,
    computeFraction: s.compute_fraction,
    outputs,
  };
}

/**
 * Converts a dense model folder into a D2DMoE folder.
 * @param source Folder (or URL) of the dense model.
 * @param opts Destination, expert granularity, calibration, router training, τ grid.
 * @returns The destination and its manifest.
 * @throws {RangeError} When the FFN width is not divisible into the requested experts.
 * @throws {InvalidInputError} When calibration files are invalid or the model is already converted.
 *
 * @example
 * ```ts ignore
 * import { convert } from "@d2dmoe/d2dmoe";
 * const { manifest } = await convert("./gpt2-relu", { out: "./gpt2-relu-d2d", expertSize: 16 });
 * console.log(manifest.default_tau, manifest.calibration);
 * ```
 */
export async function convert(source: string, opts: ConvertOptions): Promise<ConvertResult> {
  const progress = opts.onProgress ?? (() => {});
  const seed = opts.seed ?? 0;
  const width = opts.routerWidth ?? 128;
  if (!Number.isInteger(width) || width < 1 || width > MAX_ROUTER_WIDTH) {
    throw new RangeError(`router width must be an integer in [1, ${MAX_ROUTER_WIDTH}], got ${width}`);
  }
  const target = opts.routerTarget ?? DEFAULT_ROUTER_TARGET;
  if (!ROUTER_TARGETS.includes(target)) {
    throw new RangeError(`router target must be one of ${ROUTER_TARGETS.join(", ")}, got ${target}`);
  }
  const underWeight = opts.routerUnderWeight ?? DEFAULT_UNDER_WEIGHT;
  if (!(Number.isFinite(underWeight) && underWeight >= 1)) {
    throw new RangeError(`router under-prediction weight must be a number ≥ 1, got ${underWeight}`);
  }
  const workers = opts.routerWorkers ?? defaultTrainWorkers();
  if (!Number.isInteger(workers) || workers < 1) {
    throw new RangeError(`routerWorkers must be a positive integer, got ${opts.routerWorkers}`);
  }
  const taus = [...new Set([0, ...(opts.taus ?? DEFAULT_TAUS)])].sort((a, b) => a - b);
  if (taus.some((t) => !(t >= 0 && t <= 1))) throw new RangeError("every τ of the grid must be in [0, 1]");
  using model = await loadModel(source, { backend: opts.backend });
  if (model.moe) {
    throw new InvalidInputError("model", `${source} is already converted (it has a d2dmoe.json)`);
  }
  const cfg = model.config;
  const be = model.backend;
  if (opts.attention && cfg.family === "use") {
    throw new InvalidInputError(
      "attention",
      "attention projections can be converted for BERT, GPT-2 and ViT, not USE",
    );
  }
  const E = resolveExperts(cfg.ffn, { experts: opts.experts, expertSize: opts.expertSize });
  const dense = model.ffnLayers as DenseFfn[];
  const act = dense[0].act;

  // 1. Expert split.
  const split: { weights: ExpertWeights; report: { cost: number; iterations: number } }[] = [];
  for (const [i, f] of dense.entries()) {
    progress({
      step: "expert split",
      done: i,
      total: dense.length,
      detail: `layer ${i + 1}/${dense.length}`,
    });
    split.push(splitFfn(await denseWeights(be, f), E, seed + i));
  }
  progress({ step: "expert split", done: dense.length, total: dense.length });

  // 2. Calibration with every expert active.
  const set = await calibrationSet(model, {
    files: opts.calib ?? [],
    tokens: opts.calibTokens ?? defaultCalibTokens(dense.length, cfg.hidden, width, E),
    seed,
  });
  const nHeld = heldOutBatches(set.batches.length, set.tokens);
  const trainBatches = set.batches.slice(0, set.batches.length - nHeld);
  const heldBatches = nHeld ? set.batches.slice(set.batches.length - nHeld) : set.batches;
  const keep: Tensor[] = [];
  const upload = keeper(be, keep); // every weight uploaded for calibration and the τ table, freed at the end
  const d = cfg.hidden;
  // The dense model's held-out outputs: the reference every τ is measured against.
  const denseRef = await measure(model, heldBatches, 0, null);

  // 1b. Attention projections (optional): distilled from the dense model, then installed so the FFN
  // calibration below sees the inputs the converted model will produce (every expert runs at τ = 0).
  const attnWidth = opts.attentionRouterWidth ?? width;
  if (!Number.isInteger(attnWidth) || attnWidth < 1 || attnWidth > MAX_ROUTER_WIDTH) {
    throw new RangeError(
      `attention router width must be an integer in [1, ${MAX_ROUTER_WIDTH}], got ${attnWidth}`,
    );
  }
  const attention = opts.attention
    ? await convertAttention(model, trainBatches, {
      expertSize: opts.attentionExpertSize,
      flopsFactor: opts.attentionFlopsFactor,
      sparsity: opts.attentionSparsity,
      epochs: opts.distillEpochs,
      routerWidth: attnWidth,
      routerEpochs: opts.routerEpochs ?? 20,
      routerLr: opts.routerLr ?? 3e-3,
      routerTarget: target,
      routerUnderWeight: underWeight,
      routerDevice: opts.routerDevice,
      seed,
      onProgress: progress,
    })
    : null;
  if (attention) {
    model.setAttentionProjections(attention.map((l) => projectionLayers(be, l, upload)));
  }
  const calibLayers = split.map((s) => uploadMoeLayer(be, s.weights, zeroRouter(d, E), act, upload));
  const info = {
    formatVersion: FORMAT_VERSION,
    layers: split.map(() => ({ experts: E, expertSize: cfg.ffn / E })),
    routerWidth: width,
    routerTarget: target,
    defaultTau: 0,
  };
  model.replaceFfns(calibLayers, new MoeRouting(info));
  const data = (await collectRouterData(
    model,
    trainBatches,
    split.map(() => ({ d, experts: E })),
    info,
    progress,
  )).map((l) => ({ ...l, y: routerTargets(l.y, target) }));

  // 3. Routers.
  const routers: { router: RouterWeights; valLoss: number; valBaselineLoss: number; trainLoss: number }[] =
    [];
  // On a hardware GPU one layer after another; else the float64 CPU trainer, several layers at once in
  // workers when there are cores to spare.
  const routerDevices = new Set<"gpu" | "cpu">();
  const epochs = opts.routerEpochs ?? 20;
  const trainOpts = (i: number) => ({
    width,
    epochs,
    lr: opts.routerLr ?? 3e-3,
    underWeight,
    seed: seed + i,
  });
  const allCpu = data.every((l) => !trainsOnGpu(be, opts.routerDevice, routerTrainingFits(be, l.n, d, E)));
  if (allCpu && workers > 1 && data.length > 1) {
    const steps = new Array<number>(data.length).fill(0), total = new Array<number>(data.length).fill(1);
    const results = await trainRoutersParallel(
      data.map((l, i) => ({ x: l.x, y: l.y, n: l.n, d, experts: E, opts: trainOpts(i) })),
      (i, p) => {
        steps[i] = p.step;
        total[i] = p.steps;
        const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
        progress({
          step: `routers (${data.length} layers, ${Math.min(workers, data.length)} at once)`,
          done: sum(steps),
          total: sum(total),
          detail: `layer ${i + 1} epoch ${p.epoch}/${p.epochs} loss ${p.trainLoss.toPrecision(3)}`,
        });
      },
      workers,
    );
    routers.push(...results);
    routerDevices.add("cpu");
  } else {
    // A GPU trainer that stalls (fitRouter's `stall`) sends this layer and the rest to the CPU trainer.
    let device = opts.routerDevice;
    for (const [i, l] of data.entries()) {
      const ropts: RouterTrainOptions = {
        ...trainOpts(i),
        onProgress: (p) =>
          progress({
            step: `router ${i + 1}/${data.length}`,
            done: p.step,
            total: p.steps,
            detail: `epoch ${p.epoch}/${p.epochs} loss ${p.trainLoss.toPrecision(3)}`,
          }),
      };
      const r = await fitRouter(be, l.x, l.y, l.n, d, E, ropts, device);
      if (r.stall) {
        device = "cpu";
        progress({
          step: `router ${i + 1}/${data.length}`,
          done: 1,
          total: 1,
          detail: `${r.stall}: trained on the CPU instead, and so will the remaining routers`,
        });
      }
      routerDevices.add(r.device);
      routers.push(r);
    }
  }

  // 4. τ table on held-out batches.
  const layers = split.map((s, i) => uploadMoeLayer(be, s.weights, routers[i].router, act, upload));
  model.replaceFfns(layers, new MoeRouting(info));
  const lm = cfg.family === "gpt2";
  const calibration: CalibrationRow[] = [];
  const denseOut = denseRef.outputs, base = lm ? denseRef.perplexity : 1;
  for (const [i, tau] of taus.entries()) {
    progress({ step: "τ calibration", done: i, total: taus.length, detail: `τ=${tau}` });
    const m = await measure(model, heldBatches, tau, denseOut);
    calibration.push({
      tau,
      ffn_fraction: m.ffnFraction,
      ...(m.attentionFraction !== undefined && { attention_fraction: m.attentionFraction }),
      compute_fraction: m.computeFraction,
      quality: lm ? m.perplexity : m.cosine,
    });
  }
  progress({ step: "τ calibration", done: taus.length, total: taus.length });
  const maxPpl = base * (1 + (opts.maxPplIncrease ?? 0.01));
  const minCos = opts.minCosine ?? 0.99;
  const ok = calibration.filter((c) => (lm ? c.quality! <= maxPpl : c.quality! >= minCos));
  const chosen = ok.length ? ok[ok.length - 1].tau : 0;
  const defaultTau = opts.defaultTau ?? chosen;
  for (const t of keep) be.free(t);

  const manifest: Manifest = {
    format: "d2dmoe",
    format_version: FORMAT_VERSION,
    family: cfg.family,
    layers: split.map((s, i) => ({
      experts: E,
      expert_size: s.weights.size,
      router_width: width,
      router_val_loss: routers[i].valLoss,
      router_val_baseline: routers[i].valBaselineLoss,
      kmeans_cost: s.report.cost,
      ...(attention && { attention: manifestAttention(attention[i], attnWidth) }),
    })),
    router_target: target,
    default_tau: defaultTau,
    default_tau_rule: opts.defaultTau !== undefined
      ? "given by the caller"
      : lm
      ? `largest τ of the grid with held-out perplexity ≤ ${
        (1 + (opts.maxPplIncrease ?? 0.01)).toFixed(3)
      } × dense`
      : `largest τ of the grid with mean output cosine to dense ≥ ${minCos}`,
    quality_metric: lm ? "perplexity" : "cosine",
    calibration,
    provenance: {
      ...opts.provenance,
      source: resolve(model.dir),
      source_sha256: await sourceChecksum(model.dir),
      source_family: cfg.family,
      tool: `d2dmoe ${VERSION}`,
      created: new Date().toISOString(),
      seed,
      device: `${be.info.kind} [${be.info.provider}] ${be.info.description}`,
      calibration: {
        kind: set.kind,
        sources: set.sources,
        tokens: set.tokens,
        train_tokens: data[0]?.n ?? 0,
        held_out_batches: heldBatches.length,
      },
      router: {
        width,
        epochs: opts.routerEpochs ?? 20,
        lr: opts.routerLr ?? 3e-3,
        optimizer: "AdamW, cosine schedule",
        loss: `${
          target === "norm" ? "MSE to expert output norms" : "MSE to square roots of expert output norms"
        }${underWeight !== 1 ? `, under-predictions weighted ${underWeight}×` : ""}`,
        under_weight: underWeight,
        device: [...routerDevices].join("+"),
      },
      ...(attention && {
        attention: {
          expert_size: attention[0].q.experts.size,
          flops_factor: opts.attentionFlopsFactor ?? 1,
          sparsity: opts.attentionSparsity ?? 0,
          distill_epochs: opts.distillEpochs ?? 20,
          distillation:
            "MSE to the dense projection's outputs on its calibration inputs (teacher forcing), " +
            "Adam with cosine decay, from the rank-⌊h/2⌋ ReLU-pair initialisation",
          router_device: [...new Set(attention.flatMap((l) => PROJECTIONS.map((p) => l[p].routerDevice)))]
            .join("+"),
          distill_device: [...new Set(attention.flatMap((l) => PROJECTIONS.map((p) => l[p].distillDevice)))]
            .join("+"),
        },
      }),
    },
  };
  const converted: ConvertedLayer[] = split.map((s, i) => ({
    experts: s.weights,
    router: routers[i].router,
    ...(attention && { attention: attention[i] }),
  }));
  progress({ step: "writing", done: 0, total: 1 });
  await writeConverted(model.dir, opts.out, cfg, converted, manifest, opts.overwrite ?? false);
  progress({ step: "writing", done: 1, total: 1 });
  return { out: opts.out, manifest };
}
