/**
 * `convert()`: a dense model folder → a D2DMoE folder. Steps (D2DMoE §3–§5):
 * 1. split every FFN into E equal experts by balanced k-means on its neurons' input weights;
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
import { InvalidInputError } from "../model/errors.ts";
import type { Backend } from "../ops/backend.ts";
import type { BackendChoice } from "../ops/select_backend.ts";
import type { Tensor } from "../ops/tensor.ts";
import type { ProgressCallback } from "../util/progress.ts";
import { type CalibBatch, calibrationSet } from "./calib_data.ts";
import { collectRouterData, runBatch } from "./calibrate.ts";
import { type DenseFfnWeights, type ExpertWeights, resolveExperts, splitFfn } from "./expert_split.ts";
import { type CalibrationRow, FORMAT_VERSION, type Manifest } from "./manifest.ts";
import { MoeFfn } from "./moe_ffn.ts";
import { MoeRouting } from "./routing.ts";
import { type RouterTrainOptions, type RouterWeights, trainRouter } from "./router_train.ts";
import { routerTrainingFits, trainRouterOnBackend } from "./router_train_gpu.ts";
import { type ConvertedLayer, sourceChecksum, writeConverted } from "./write_converted.ts";

/** Options of {@link convert}. */
export interface ConvertOptions {
  /** Destination folder. */
  out: string;
  /** Number of experts per layer (or give `expertSize`). */
  experts?: number;
  /** Neurons per expert (or give `experts`). */
  expertSize?: number;
  /** Router hidden width (default 128, at most 256). */
  routerWidth?: number;
  /** Calibration files: text, JSON token ids, or JSON pixel_values (default: built-in text or random). */
  calib?: string[];
  /** Real calibration tokens (default 8192); 15% of batches are held out for the τ table. */
  calibTokens?: number;
  /** Seed of k-means, router init/shuffles and random calibration inputs (default 0). */
  seed?: number;
  /** Backend (default: auto). */
  backend?: BackendChoice | Backend;
  /** Router training epochs (default 20). */
  routerEpochs?: number;
  /** Router learning rate (default 3e-3). */
  routerLr?: number;
  /** τ grid of the calibration table (default 0, 0.02, 0.05, 0.1 … 1). */
  taus?: number[];
  /** Largest relative perplexity increase for the default τ (language models; default 0.01). */
  maxPplIncrease?: number;
  /** Smallest mean cosine to dense outputs for the default τ (encoders; default 0.99). */
  minCosine?: number;
  /** Where routers train: "auto" (the GPU when it is a hardware adapter), "gpu" (whenever the backend is one) or "cpu". */
  routerDevice?: "auto" | "gpu" | "cpu";
  /** Fix the default τ instead of choosing it from the calibration table (e.g. from a task evaluation). */
  defaultTau?: number;
  /** Extra provenance recorded in the manifest (e.g. the recipe of a cached default model). */
  provenance?: Record<string, unknown>;
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

/** Default τ grid of the calibration table. */
export const DEFAULT_TAUS = [0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

const VERSION = "0.1.0";

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa === 0 && bb === 0 ? 1 : ab / Math.sqrt(aa * bb || 1e-30);
}

/** Reads a dense layer's weights back from the backend. */
async function denseWeights(be: Backend, f: DenseFfn): Promise<DenseFfnWeights> {
  const [w1, b1, w2, b2] = (await be.read([f.w1, f.b1, f.w2, f.b2])) as Float32Array[];
  return { w1, b1, w2, b2, d: f.w1.shape[0], dff: f.w1.shape[1] };
}

/** Uploads expert weights + a router as an MoE layer (tensors recorded in `keep` for freeing). */
function uploadLayer(
  be: Backend,
  x: ExpertWeights,
  r: RouterWeights,
  act: DenseFfn["act"],
  keep: Tensor[],
): MoeFfn {
  const d = r.d, E = x.experts, s = x.size;
  const up = (a: Float32Array, shape: number[]) => {
    const t = be.upload(a, shape);
    keep.push(t);
    return t;
  };
  const t = {
    r1: up(r.w1, [d, r.width]),
    r2: up(r.w2, [r.width, E]),
    w1: up(x.w1, [E * d, s]),
    b1: up(x.b1, [E * s]),
    w2: up(x.w2, [E * s, d]),
    b2: up(x.b2, [d]),
  };
  return new MoeFfn(t, { d, experts: E, size: s, width: r.width }, act, be.info.maxTensorBytes);
}

/** A router whose scores are all zero: every expert runs (the dense function). */
function zeroRouter(d: number, experts: number): RouterWeights {
  return { d, width: 1, experts, w1: new Float32Array(d), w2: new Float32Array(experts) };
}

/** Quality at one τ over held-out batches: perplexity (lm) or mean cosine to the dense outputs. */
async function measure(model: Model, batches: CalibBatch[], tau: number, dense: Float32Array[][] | null) {
  let nll = 0, tokens = 0, cos = 0, n = 0, ffnMacs = 0, denseFfn = 0, macs = 0, denseMacs = 0;
  const outputs: Float32Array[][] = [];
  for (const [i, b] of batches.entries()) {
    const r = await runBatch(model, b, { tau });
    nll += r.nll;
    tokens += r.tokens;
    outputs.push(r.outputs);
    if (dense) r.outputs.forEach((o, j) => (cos += cosine(o, dense[i][j]), n++));
    ffnMacs += r.stats.ffn_macs;
    denseFfn += r.stats.dense_ffn_macs;
    macs += r.stats.macs;
    denseMacs += r.stats.dense_macs;
  }
  return {
    perplexity: tokens ? Math.exp(nll / tokens) : NaN,
    cosine: n ? cos / n : NaN,
    ffnFraction: denseFfn ? ffnMacs / denseFfn : 1,
    computeFraction: denseMacs ? macs / denseMacs : 1,
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
  if (!Number.isInteger(width) || width < 1 || width > 256) {
    throw new RangeError(`router width must be an integer in [1, 256], got ${width}`);
  }
  const taus = [...new Set([0, ...(opts.taus ?? DEFAULT_TAUS)])].sort((a, b) => a - b);
  if (taus.some((t) => !(t >= 0 && t <= 1))) throw new RangeError("every τ of the grid must be in [0, 1]");
  using model = await loadModel(source, { backend: opts.backend });
  if (model.moe) {
    throw new InvalidInputError("model", `${source} is already converted (it has a d2dmoe.json)`);
  }
  const cfg = model.config;
  const be = model.backend;
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
    tokens: opts.calibTokens ?? 8192,
    seed,
  });
  const nHeld = set.batches.length >= 2 ? Math.max(1, Math.round(set.batches.length * 0.15)) : 0;
  const trainBatches = set.batches.slice(0, set.batches.length - nHeld);
  const heldBatches = nHeld ? set.batches.slice(set.batches.length - nHeld) : set.batches;
  const keep: Tensor[] = [];
  const d = cfg.hidden;
  const calibLayers = split.map((s) => uploadLayer(be, s.weights, zeroRouter(d, E), act, keep));
  const info = {
    formatVersion: FORMAT_VERSION,
    layers: split.map(() => ({ experts: E, expertSize: cfg.ffn / E })),
    routerWidth: width,
    defaultTau: 0,
  };
  model.replaceFfns(calibLayers, new MoeRouting(info));
  const data = await collectRouterData(
    model,
    trainBatches,
    split.map(() => ({ d, experts: E })),
    info,
    progress,
  );

  // 3. Routers.
  const routers: { router: RouterWeights; valLoss: number; valBaselineLoss: number; trainLoss: number }[] =
    [];
  // On the GPU when the model runs on one (and the samples fit one binding), else the float64 CPU trainer.
  const routerDevices = new Set<"gpu" | "cpu">();
  for (const [i, l] of data.entries()) {
    const epochs = opts.routerEpochs ?? 20;
    const ropts: RouterTrainOptions = {
      width,
      epochs,
      lr: opts.routerLr ?? 3e-3,
      seed: seed + i,
      onProgress: (p) =>
        progress({
          step: `router ${i + 1}/${data.length}`,
          done: p.step,
          total: p.steps,
          detail: `epoch ${p.epoch}/${p.epochs} loss ${p.trainLoss.toPrecision(3)}`,
        }),
    };
    // A software adapter (llvmpipe) trains slower than the CPU trainer: "auto" uses the GPU only when it is real.
    const where = opts.routerDevice ?? "auto";
    const onGpu = be.info.kind === "gpu" && (where === "gpu" || (where === "auto" && !be.info.fallback)) &&
      routerTrainingFits(be, l.n, d, E);
    routerDevices.add(onGpu ? "gpu" : "cpu");
    const r = onGpu
      ? await trainRouterOnBackend(be, l.x, l.y, l.n, d, E, ropts)
      : trainRouter(l.x, l.y, l.n, d, E, ropts);
    routers.push(r);
  }

  // 4. τ table on held-out batches.
  const layers = split.map((s, i) => uploadLayer(be, s.weights, routers[i].router, act, keep));
  model.replaceFfns(layers, new MoeRouting(info));
  const lm = cfg.family === "gpt2";
  const calibration: CalibrationRow[] = [];
  let denseOut: Float32Array[][] | null = null;
  let base = NaN;
  for (const [i, tau] of taus.entries()) {
    progress({ step: "τ calibration", done: i, total: taus.length, detail: `τ=${tau}` });
    const m = await measure(model, heldBatches, tau, denseOut);
    if (tau === 0) {
      denseOut = m.outputs;
      base = lm ? m.perplexity : 1;
    }
    calibration.push({
      tau,
      ffn_fraction: m.ffnFraction,
      compute_fraction: m.computeFraction,
      quality: lm ? m.perplexity : (tau === 0 ? 1 : m.cosine),
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
    })),
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
        loss: "MSE",
        device: [...routerDevices].join("+"),
      },
    },
  };
  const converted: ConvertedLayer[] = split.map((s, i) => ({
    experts: s.weights,
    router: routers[i].router,
  }));
  progress({ step: "writing", done: 0, total: 1 });
  await writeConverted(model.dir, opts.out, cfg, converted, manifest, opts.overwrite ?? false);
  progress({ step: "writing", done: 1, total: 1 });
  return { out: opts.out, manifest };
}
