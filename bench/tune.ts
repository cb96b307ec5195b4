/**
 * One-shot kernel tuning for the GPU machine: times every candidate configuration of our kernels at the
 * shapes that matter (issue 6) in one run, prints a table per section and JSON lines (stdout and
 * `$OUT/tune.jsonl`), names the best configuration per shape and prints the `src/ops/tuning.ts` values to
 * set. Nothing in the product changes by itself: the lead copies the suggested values.
 *
 * On the GPU machine (after `bench/pack.sh` here, `.devpack` carried; ≈ 3–4 minutes):
 *
 *     source .devpack/setup.sh && deno run -A --node-modules-dir=none --cached-only bench/tune.ts
 *
 * Sections (`--only` takes a regular expression over these names):
 * - `device`: limits, features, read bandwidth, cost of one small dispatch (wall and GPU);
 * - `matmul`: tiled-matmul tiles at 4096³, the FFN shapes (50,432 × 768 × 3072 and back) and BERT-base's;
 * - `gemv`: small-M layouts at GPT-2 decode shapes (768×2304, 768×768, 768×3072, 3072×768, LM head);
 * - `expert`: expert-matmul tiles for 24×128 and 96×32 experts at f = 1, 0.3, 0.1 (50,432 tokens), with the
 *   dense layer and the D2DMoE layer time against the (f + 0.1) × dense target;
 * - `decode`: the T = 1 D2DMoE FFN path (router placement, neuron chunk, threads) at f = 0.3 against the
 *   dense decode FFN;
 * - `toggles`: Dawn toggles (`disable_robustness`, `skip_validation`) on a big matmul and on dispatch cost.
 *
 * Timing: warm-up (pipeline compilation), then batches of iterations with one sync per batch (median);
 * per-kernel GPU times come from timestamp queries on a second, profiling device. Every candidate is also
 * checked against a CPU reference or the default configuration (`ok`), so a fast but wrong one is visible.
 * @module
 */
import { parseArgs } from "node:util";
import { GpuContext } from "../src/gpu/context.ts";
import { gemvGpu } from "../src/ops/gemv.ts";
import { gemvRef } from "../src/ops/gemv_ref.ts";
import { GpuBackend } from "../src/ops/gpu_backend.ts";
import { matmulGpu } from "../src/ops/matmul.ts";
import { matmulRef } from "../src/ops/matmul_ref.ts";
import type { GpuTensor } from "../src/ops/tensor.ts";
import {
  DEFAULT_TUNING,
  type GemvConfig,
  type MatmulTile,
  type MoeDecodeConfig,
  type TileConfig,
  tileProblem,
  TUNING,
} from "../src/ops/tuning.ts";
import { Rng } from "../src/util/rng.ts";
import { maxAbsDiff } from "./compare.ts";
import { denseRun, forceTopK, type LayerRun, moeFromDense, moeRun, randomFfn } from "./ffn_layers.ts";
import { profileSteps } from "./profile.ts";
import { randomF32 } from "./random.ts";
import { readRun } from "./read_bandwidth.ts";
import { topKFor } from "./shapes.ts";
import { timeIt, type TimingPlan } from "./timing.ts";

// ---------------------------------------------------------------------------------------------------
// Candidates. Edit freely: invalid ones (per the device's limits) are skipped with a note.

/** Tiled-matmul tiles tried at every matmul shape. */
export const MATMUL_CANDIDATES: MatmulTile[] = [
  { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8, GROUP_M: 8 },
  { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8, GROUP_M: 1 },
  { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8, GROUP_M: 8 },
  { BM: 128, BN: 128, BK: 4, TM: 8, TN: 8, GROUP_M: 8 },
  { BM: 128, BN: 64, BK: 8, TM: 8, TN: 8, GROUP_M: 8 },
  { BM: 64, BN: 128, BK: 8, TM: 8, TN: 8, GROUP_M: 8 },
  { BM: 64, BN: 64, BK: 8, TM: 8, TN: 8, GROUP_M: 8 },
  { BM: 64, BN: 64, BK: 8, TM: 8, TN: 4, GROUP_M: 8 },
  { BM: 128, BN: 256, BK: 8, TM: 8, TN: 8, GROUP_M: 8 },
  { BM: 256, BN: 128, BK: 8, TM: 8, TN: 8, GROUP_M: 8 },
  { BM: 32, BN: 64, BK: 8, TM: 4, TN: 4, GROUP_M: 8 },
];

/** GEMV layouts tried with B stored [K, N] (CQ matters) and [N, K] (TPR matters). */
export const GEMV_CANDIDATES: GemvConfig[] = [
  { WG: 256, CQ: 1, TPR: 32 },
  { WG: 256, CQ: 2, TPR: 16 },
  { WG: 256, CQ: 4, TPR: 64 },
  { WG: 256, CQ: 8, TPR: 128 },
  { WG: 128, CQ: 1, TPR: 32 },
  { WG: 128, CQ: 2, TPR: 16 },
  { WG: 512, CQ: 2, TPR: 64 },
  { WG: 512, CQ: 4, TPR: 32 },
];

/** Expert tiles by expert size, zipped pairwise (candidate i = up[i] with down[i]). */
export const EXPERT_CANDIDATES: Record<number, { up: TileConfig[]; down: TileConfig[] }> = {
  128: {
    up: [
      { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 },
      { BM: 128, BN: 64, BK: 8, TM: 8, TN: 8 },
      { BM: 64, BN: 128, BK: 8, TM: 8, TN: 8 },
      { BM: 64, BN: 64, BK: 8, TM: 8, TN: 4 },
      { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 },
    ],
    down: [
      { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 },
      { BM: 128, BN: 64, BK: 8, TM: 8, TN: 8 },
      { BM: 64, BN: 128, BK: 8, TM: 8, TN: 8 },
      { BM: 64, BN: 64, BK: 8, TM: 8, TN: 4 },
      { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 },
    ],
  },
  32: {
    up: [
      { BM: 128, BN: 32, BK: 8, TM: 8, TN: 4 },
      { BM: 64, BN: 32, BK: 8, TM: 8, TN: 4 },
      { BM: 256, BN: 32, BK: 8, TM: 8, TN: 4 },
      { BM: 128, BN: 32, BK: 16, TM: 8, TN: 4 },
      { BM: 128, BN: 32, BK: 8, TM: 4, TN: 4 },
    ],
    down: [
      { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 },
      { BM: 128, BN: 64, BK: 8, TM: 8, TN: 8 },
      { BM: 64, BN: 128, BK: 8, TM: 8, TN: 8 },
      { BM: 64, BN: 64, BK: 8, TM: 8, TN: 4 },
      { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 },
    ],
  },
};

/** Decode-path variants (each changes the default in one or two places). */
export const DECODE_CANDIDATES: Partial<MoeDecodeConfig>[] = [
  {},
  { routeMode: "fused", routeWG: 256 },
  { routeMode: "fused", routeWG: 1024 },
  { chunk: 4 },
  { chunk: 16 },
  { chunk: 32 },
  { ffnWG: 128 },
  { ffnWG: 512 },
];

/** Dawn `create()` flag sets compared in the `toggles` section. */
export const TOGGLE_CANDIDATES: string[][] = [
  [],
  ["enable-dawn-features=disable_robustness"],
  ["enable-dawn-features=skip_validation"],
  ["enable-dawn-features=disable_workgroup_init"],
  ["enable-dawn-features=allow_unsafe_apis,disable_robustness,skip_validation,disable_workgroup_init"],
];

// ---------------------------------------------------------------------------------------------------

/** Shapes of one run. */
export interface TuneShapes {
  /** Square matmul. */
  square: number;
  /** FFN: tokens, width, hidden. */
  ffn: { T: number; d: number; dff: number };
  /** BERT-base products at 32 × 128 tokens. */
  bert: { T: number; d: number; dff: number };
  /** Decode sizes: width, hidden, vocabulary. */
  decode: { d: number; dff: number; vocab: number; batch: number };
  /** Expert layouts. */
  layouts: { experts: number; size: number }[];
  /** Executed fractions of the expert section. */
  fractions: number[];
  /** Decode-path fraction. */
  decodeFraction: number;
  /** Bytes streamed by the read-bandwidth probe. */
  readBytes: number;
}

const FULL: TuneShapes = {
  square: 4096,
  ffn: { T: 256 * 197, d: 768, dff: 3072 },
  bert: { T: 32 * 128, d: 768, dff: 3072 },
  decode: { d: 768, dff: 3072, vocab: 50257, batch: 8 },
  layouts: [{ experts: 24, size: 128 }, { experts: 96, size: 32 }],
  fractions: [1, 0.3, 0.1],
  decodeFraction: 0.3,
  readBytes: 1 << 30,
};

const QUICK: TuneShapes = {
  square: 192,
  ffn: { T: 197, d: 64, dff: 256 },
  bert: { T: 64, d: 64, dff: 256 },
  decode: { d: 64, dff: 256, vocab: 509, batch: 3 },
  layouts: [{ experts: 4, size: 64 }, { experts: 8, size: 32 }],
  fractions: [1, 0.3],
  decodeFraction: 0.3,
  readBytes: 8 << 20,
};

/** One measurement (a JSON line). */
export interface TuneRow {
  /** Section. */
  section: string;
  /** Shape label, e.g. `4096x4096x4096`. */
  shape: string;
  /** Configuration label. */
  config: string;
  /** The configuration itself. */
  params?: unknown;
  /** Wall-clock ms per iteration (median of batches, one sync per batch). */
  ms?: number;
  /** GPU ms per iteration from timestamps (sum of the kernels named in `kernels`). */
  gpu_ms?: number;
  /** Per-kernel GPU ms per iteration. */
  kernels?: Record<string, number>;
  /** Throughput of the wall time. */
  tflops?: number;
  /** Bytes per second of the GPU time (or wall time when no GPU time), in GB/s. */
  gbps?: number;
  /** Largest difference to the reference (CPU or the default configuration). */
  max_abs_diff?: number;
  /** Within tolerance of the reference. */
  ok?: boolean;
  /** Extra facts. */
  [k: string]: unknown;
}

/** The best configuration per key (e.g. `matmul square`): its label, parameters and time. */
export type TuneBest = Record<string, { config: string; params: unknown; metric: number }>;

/** Options of a tuning run. */
export interface TuneOptions {
  /** Tiny shapes (CPU machines). */
  quick: boolean;
  /** Sections to run. */
  only?: RegExp;
  /** Seconds after which remaining candidates are skipped. */
  budgetS: number;
  /** JSON-lines file. */
  out: string;
  /** `auto`, `dawn` or `webgpu`. */
  backend: "auto" | "dawn" | "webgpu";
  /** Progress messages (default stderr). */
  log?: (line: string) => void;
  /** Each JSON line as it is measured (default stdout). */
  print?: (line: string) => void;
}

const round = (x: number, d = 4) => Number(x.toPrecision(d));

/** A tile's label, e.g. `128x128x8 8x8 g8`. */
function tileLabel(t: TileConfig & { GROUP_M?: number }): string {
  return `${t.BM}x${t.BN}x${t.BK} ${t.TM}x${t.TN}${t.GROUP_M !== undefined ? ` g${t.GROUP_M}` : ""}`;
}

/** Random floats: a random block repeated (fast at hundreds of MB; values never zero). */
function fillRandom(n: number, rng: Rng, std = 1): Float32Array {
  const block = randomF32(Math.min(n, 1 << 20), rng, std);
  const out = new Float32Array(n);
  for (let at = 0; at < n; at += block.length) out.set(block.subarray(0, Math.min(block.length, n - at)), at);
  return out;
}

class Tuner {
  readonly rows: TuneRow[] = [];
  readonly best: TuneBest = {};
  #t0 = performance.now();
  #file: Deno.FsFile;
  #enc = new TextEncoder();
  #plan: TimingPlan;

  constructor(
    readonly be: GpuBackend,
    readonly prof: GpuBackend | null,
    readonly shapes: TuneShapes,
    readonly o: TuneOptions,
  ) {
    this.#file = Deno.openSync(o.out, { write: true, create: true, truncate: true });
    this.#plan = o.quick
      ? { warmup: 1, repeats: 3, minBatchMs: 5, maxBatch: 5, budgetMs: 200 }
      : { warmup: 1, repeats: 3, minBatchMs: 30, maxBatch: 100, budgetMs: 500, minRepeats: 3 };
  }

  log(line: string): void {
    (this.o.log ?? ((l: string) => console.error(l)))(line);
  }

  get elapsedS(): number {
    return (performance.now() - this.#t0) / 1000;
  }

  /** Past the run's budget, or past the current section's share of it. */
  get overBudget(): boolean {
    return this.elapsedS > this.o.budgetS || this.elapsedS > this.sectionEndS;
  }

  /** When the current section must stop starting candidates (seconds since the start). */
  sectionEndS = Infinity;

  emit(r: TuneRow): void {
    this.rows.push(r);
    const line = JSON.stringify(r);
    (this.o.print ?? ((l: string) => console.log(l)))(line);
    this.#file.writeSync(this.#enc.encode(line + "\n"));
  }

  /** Remembers the lowest metric per key. */
  consider(key: string, config: string, params: unknown, metric: number | undefined): void {
    if (metric === undefined || !Number.isFinite(metric)) return;
    const b = this.best[key];
    if (!b || metric < b.metric) this.best[key] = { config, params, metric };
  }

  async time(step: () => void | Promise<void>, plan: Partial<TimingPlan> = {}): Promise<number> {
    const t = await timeIt(step, () => this.be.ctx.sync(), { ...this.#plan, ...plan });
    return t.median;
  }

  /** GPU ms per iteration per kernel label on the profiling device. */
  async gpuTimes(step: () => void | Promise<void>, iters = 3): Promise<Record<string, number> | undefined> {
    if (!this.prof) return undefined;
    const k = await profileSteps(this.prof, step, this.o.quick ? 1 : iters);
    return Object.fromEntries(k.map((x) => [x.label, round(x.ms, 5)]));
  }

  limits() {
    const l = this.be.ctx.device.limits;
    return { storage: l.maxComputeWorkgroupStorageSize, invocations: l.maxComputeInvocationsPerWorkgroup };
  }

  close(): void {
    this.#file.close();
  }
}

// ---------------------------------------------------------------------------------------------------

async function deviceSection(t: Tuner): Promise<void> {
  const { be } = t;
  const l = be.ctx.device.limits;
  t.emit({
    section: "device",
    shape: "-",
    config: be.ctx.info.description,
    provider: be.ctx.info.provider,
    features: be.ctx.info.features,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
  });
  const r = readRun(be, t.shapes.readBytes, new Rng(1));
  try {
    const ms = await t.time(() => r.step(), { minBatchMs: 100 });
    t.emit({
      section: "device",
      shape: `read ${r.bytes} B`,
      config: "read_bandwidth",
      ms: round(ms),
      gbps: round(r.bytes / ms / 1e6),
    });
  } finally {
    r.dispose();
  }
  t.emit(await dispatchCost(be, t, "default"));
}

/** Wall and GPU time of one tiny dispatch (a 1×64×64 GEMV) recorded N to a submit. */
async function dispatchCost(be: GpuBackend, t: Tuner, config: string): Promise<TuneRow> {
  const n = t.o.quick ? 20 : 400;
  const a = be.upload(randomF32(64, new Rng(2)), [1, 64]) as GpuTensor;
  const b = be.upload(randomF32(64 * 64, new Rng(3)), [64, 64]) as GpuTensor;
  try {
    const step = () => {
      for (let i = 0; i < n; i++) be.ctx.pool.release(gemvGpu(be.ctx, a, b, 1, 64, 64).buffer);
      be.ctx.flush();
    };
    const ms = await timeIt(step, () => be.ctx.sync(), {
      warmup: 1,
      repeats: 5,
      minBatchMs: 1,
      maxBatch: 1,
      budgetMs: 2000,
    });
    let gpu: number | undefined;
    if (t.prof && be === t.be) {
      const pa = t.prof.upload(randomF32(64, new Rng(2)), [1, 64]) as GpuTensor;
      const pb = t.prof.upload(randomF32(64 * 64, new Rng(3)), [64, 64]) as GpuTensor;
      const k = await t.gpuTimes(() => {
        for (let i = 0; i < 20; i++) t.prof!.ctx.pool.release(gemvGpu(t.prof!.ctx, pa, pb, 1, 64, 64).buffer);
      });
      gpu = k ? (Object.values(k).reduce((s, x) => s + x, 0) / 20) * 1000 : undefined;
      t.prof.free(pa);
      t.prof.free(pb);
    }
    return {
      section: "device",
      shape: "1x64x64 gemv",
      config,
      dispatch_wall_us: round((ms.median / n) * 1000),
      dispatch_gpu_us: gpu === undefined ? undefined : round(gpu),
      ms: round(ms.median),
      dispatches: n,
    };
  } finally {
    be.free(a);
    be.free(b);
  }
}

// ---------------------------------------------------------------------------------------------------

interface MatShape {
  name: string;
  m: number;
  k: number;
  n: number;
  epilogue: "none" | "bias_relu" | "bias_res";
}

function matmulShapes(s: TuneShapes): MatShape[] {
  const { ffn, bert } = s;
  return [
    { name: "square", m: s.square, k: s.square, n: s.square, epilogue: "none" },
    { name: "ffn_up", m: ffn.T, k: ffn.d, n: ffn.dff, epilogue: "bias_relu" },
    { name: "ffn_down", m: ffn.T, k: ffn.dff, n: ffn.d, epilogue: "bias_res" },
    { name: "bert_qkv", m: bert.T, k: bert.d, n: 3 * bert.d, epilogue: "bias_relu" },
    { name: "bert_o", m: bert.T, k: bert.d, n: bert.d, epilogue: "bias_res" },
    { name: "bert_up", m: bert.T, k: bert.d, n: bert.dff, epilogue: "bias_relu" },
    { name: "bert_down", m: bert.T, k: bert.dff, n: bert.d, epilogue: "bias_res" },
  ];
}

/** A candidate tile's result on a small awkward problem against the CPU reference. */
async function tileCorrect(be: GpuBackend, tile: MatmulTile): Promise<number> {
  let worst = 0;
  for (const [m, k, n, transB] of [[133, 36, 70, false], [70, 21, 131, true]] as const) {
    const rng = new Rng(m + n);
    const a = randomF32(m * k, rng), b = randomF32(k * n, rng), bias = randomF32(n, rng);
    const ta = be.upload(a, [m, k]) as GpuTensor, tb = be.upload(b, transB ? [n, k] : [k, n]) as GpuTensor;
    const tbias = be.upload(bias, [n]) as GpuTensor;
    const out = matmulGpu(be.ctx, ta, tb, { transB, act: "relu" }, tbias, undefined, {}, {
      kernel: "tiled",
      tile,
    });
    const [got] = await be.read([out]);
    be.release(out);
    for (const x of [ta, tb, tbias]) be.free(x);
    const want = matmulRef(a, b, m, k, n, { transB, act: "relu" }, bias);
    worst = Math.max(worst, maxAbsDiff(got as Float32Array, want));
  }
  return worst;
}

async function matmulSection(t: Tuner): Promise<void> {
  const { be } = t;
  const lim = t.limits();
  const valid: MatmulTile[] = [];
  for (const tile of MATMUL_CANDIDATES) {
    const why = tileProblem(tile, lim);
    if (why) {
      t.emit({
        section: "matmul",
        shape: "-",
        config: tileLabel(tile),
        params: tile,
        note: `skipped: ${why}`,
      });
      continue;
    }
    try {
      const d = await tileCorrect(be, tile);
      if (d > 1e-3) {
        t.emit({
          section: "matmul",
          shape: "check",
          config: tileLabel(tile),
          params: tile,
          max_abs_diff: d,
          ok: false,
        });
        continue;
      }
      valid.push(tile);
    } catch (e) {
      t.emit({
        section: "matmul",
        shape: "check",
        config: tileLabel(tile),
        note: `error: ${(e as Error).message}`,
      });
    }
  }
  const rng = new Rng(7);
  for (const s of matmulShapes(t.shapes)) {
    if (t.overBudget) break;
    const a = be.upload(fillRandom(s.m * s.k, rng), [s.m, s.k]) as GpuTensor;
    const b = be.upload(fillRandom(s.k * s.n, rng, 1 / Math.sqrt(s.k)), [s.k, s.n]) as GpuTensor;
    const bias = be.upload(fillRandom(s.n, rng, 0.02), [s.n]) as GpuTensor;
    const res = s.epilogue === "bias_res"
      ? be.upload(fillRandom(s.m * s.n, rng), [s.m, s.n]) as GpuTensor
      : undefined;
    const shape = `${s.m}x${s.k}x${s.n}`;
    try {
      for (const tile of valid) {
        if (t.overBudget) {
          t.emit({ section: "matmul", shape, config: tileLabel(tile), note: "skipped: budget" });
          continue;
        }
        const opts = s.epilogue === "bias_relu" ? { act: "relu" as const } : {};
        const step = () => {
          const out = matmulGpu(be.ctx, a, b, opts, s.epilogue === "none" ? undefined : bias, res, {}, {
            kernel: "tiled",
            tile,
          });
          be.ctx.pool.release(out.buffer);
          be.ctx.flush();
        };
        const ms = await t.time(step);
        const tflops = (2 * s.m * s.k * s.n) / ms / 1e9;
        t.emit({
          section: "matmul",
          shape: `${s.name} ${shape}`,
          config: tileLabel(tile),
          params: tile,
          ms: round(ms),
          tflops: round(tflops),
        });
        t.consider(`matmul ${s.name}`, tileLabel(tile), tile, ms);
      }
    } finally {
      for (const x of [a, b, bias, res]) if (x) be.free(x);
      await be.ctx.sync();
      be.ctx.pool.trim();
    }
  }
}

// ---------------------------------------------------------------------------------------------------

interface GemvShape {
  name: string;
  m: number;
  k: number;
  n: number;
  transB: boolean;
  ln?: boolean;
}

function gemvShapes(s: TuneShapes): GemvShape[] {
  const { d, dff, vocab, batch } = s.decode;
  return [
    { name: "qkv+ln", m: 1, k: d, n: 3 * d, transB: false, ln: true },
    { name: "attn_out", m: 1, k: d, n: d, transB: false },
    { name: "ffn_up+ln", m: 1, k: d, n: dff, transB: false, ln: true },
    { name: "ffn_down", m: 1, k: dff, n: d, transB: false },
    { name: "lm_head+ln", m: 1, k: d, n: vocab, transB: true, ln: true },
    { name: `ffn_up b${batch}`, m: batch, k: d, n: dff, transB: false },
    { name: `ffn_down b${batch}`, m: batch, k: dff, n: d, transB: false },
  ];
}

async function gemvSection(t: Tuner): Promise<void> {
  const lim = t.limits();
  const reps = t.o.quick ? 4 : 50;
  for (const s of gemvShapes(t.shapes)) {
    if (t.overBudget) break;
    const rng = new Rng(s.n + s.k);
    const host = {
      a: randomF32(s.m * s.k, rng),
      b: fillRandom(s.k * s.n, rng, 1 / Math.sqrt(s.k)),
      bias: randomF32(s.n, rng, 0.02),
      g: randomF32(s.k, rng),
      beta: randomF32(s.k, rng, 0.1),
    };
    const up = (be: GpuBackend) => ({
      a: be.upload(host.a, [s.m, s.k]) as GpuTensor,
      b: be.upload(host.b, s.transB ? [s.n, s.k] : [s.k, s.n]) as GpuTensor,
      bias: be.upload(host.bias, [s.n]) as GpuTensor,
      g: be.upload(host.g, [s.k]) as GpuTensor,
      beta: be.upload(host.beta, [s.k]) as GpuTensor,
    });
    const main = up(t.be);
    const prof = t.prof ? up(t.prof) : null;
    const ln = (x: typeof main) => (s.ln ? { ln: { gamma: x.g, beta: x.beta, eps: 1e-5 } } : {});
    const want = gemvRef(host.a, host.b, s.m, s.k, s.n, { transB: s.transB }, host.bias, undefined, {
      ln: s.ln ? { gamma: host.g, beta: host.beta, eps: 1e-5 } : undefined,
    });
    const bytes = 4 * s.k * s.n;
    const shape = `${s.name} ${s.m}x${s.k}x${s.n}${s.transB ? "T" : ""}`;
    const configs: (GemvConfig | "tiled")[] = [...GEMV_CANDIDATES, "tiled"];
    try {
      for (const cfg of configs) {
        if (t.overBudget) break;
        if (cfg !== "tiled" && (cfg.WG > lim.invocations || cfg.CQ > cfg.WG || cfg.TPR > cfg.WG)) continue;
        const label = cfg === "tiled"
          ? "tiled (default tile)"
          : s.transB
          ? `wg${cfg.WG} tpr${cfg.TPR}`
          : `wg${cfg.WG} cq${cfg.CQ}`;
        const run = (be: GpuBackend, x: typeof main) => {
          const out = cfg === "tiled"
            ? matmulGpu(be.ctx, x.a, x.b, { transB: s.transB }, x.bias, undefined, ln(x), { kernel: "tiled" })
            : gemvGpu(be.ctx, x.a, x.b, s.m, s.k, s.n, { transB: s.transB }, x.bias, undefined, ln(x), cfg);
          return out;
        };
        try {
          const out = run(t.be, main);
          const [got] = await t.be.read([out]);
          t.be.release(out);
          const diff = maxAbsDiff(got as Float32Array, want);
          const ms = await t.time(() => {
            for (let i = 0; i < reps; i++) t.be.ctx.pool.release(run(t.be, main).buffer);
            t.be.ctx.flush();
          });
          const k = prof
            ? await t.gpuTimes(() => {
              for (let i = 0; i < 10; i++) t.prof!.ctx.pool.release(run(t.prof!, prof).buffer);
            })
            : undefined;
          const gpuMs = k ? Object.values(k).reduce((x, y) => x + y, 0) / 10 : undefined;
          const row: TuneRow = {
            section: "gemv",
            shape,
            config: label,
            params: cfg,
            ms: round(ms / reps, 4),
            gpu_ms: gpuMs === undefined ? undefined : round(gpuMs, 4),
            kernels: k,
            gbps: round(bytes / (gpuMs ?? ms / reps) / 1e6),
            max_abs_diff: round(diff, 3),
            ok: diff <= 1e-3 * Math.max(1, ...Array.from(want.subarray(0, 64), Math.abs)),
          };
          t.emit(row);
          if (row.ok && cfg !== "tiled") t.consider(`gemv ${s.name}`, label, cfg, gpuMs ?? ms / reps);
        } catch (e) {
          t.emit({ section: "gemv", shape, config: label, note: `error: ${(e as Error).message}` });
        }
      }
    } finally {
      for (const x of Object.values(main)) t.be.free(x);
      if (prof) { for (const x of Object.values(prof)) t.prof!.free(x); }
    }
  }
}

// ---------------------------------------------------------------------------------------------------

/** Sets the expert tiles of one expert size. */
function setExpertTiles(size: number, up: TileConfig, down: TileConfig): void {
  TUNING.expertUp[size] = up;
  TUNING.expertDown[size] = down;
}

async function expertSection(t: Tuner): Promise<void> {
  const { T, d, dff } = t.shapes.ffn;
  const rng = new Rng(11);
  const host = randomFfn(d, dff, rng);
  const x = fillRandom(T * d, rng);
  const lim = t.limits();
  // The dense layer (our tiled matmul at the current tiles) is every ratio's denominator.
  let denseMs = NaN, denseY: Float32Array | null = null;
  {
    const run = denseRun(t.be, host, "relu", x, T);
    try {
      denseMs = await t.time(() => run.record());
      denseY = (await run.readOnce()).y;
      const k = t.prof
        ? await withRun(denseRun(t.prof, host, "relu", x, T), (r) => t.gpuTimes(() => r.record(), 2))
        : undefined;
      t.emit({
        section: "expert",
        shape: `dense ${T}x${d}x${dff}`,
        config: "dense",
        ms: round(denseMs),
        kernels: k,
        tflops: round((4 * T * d * dff) / denseMs / 1e9),
      });
    } finally {
      run.dispose();
    }
  }
  for (const layout of t.shapes.layouts) {
    const { experts: E, size } = layout;
    const moe = moeFromDense(host, layout, new Rng(20 + E));
    const cands = EXPERT_CANDIDATES[size] ??
      { up: [TUNING.expertUp.default], down: [TUNING.expertDown.default] };
    const n = Math.max(cands.up.length, cands.down.length);
    const saved = { up: TUNING.expertUp[size], down: TUNING.expertDown[size] };
    const run = moeRun(t.be, moe, d, "relu", x, T);
    const prun = t.prof ? moeRun(t.prof, moe, d, "relu", x, T) : null;
    try {
      for (let i = 0; i < n; i++) {
        const up = cands.up[i] ?? cands.up[0], down = cands.down[i] ?? cands.down[0];
        const why = tileProblem(up, lim) ?? tileProblem(down, lim);
        const config = `up ${tileLabel(up)} | down ${tileLabel(down)}`;
        if (why) {
          t.emit({ section: "expert", shape: `${E}x${size}`, config, note: `skipped: ${why}` });
          continue;
        }
        setExpertTiles(size, up, down);
        let checked = false;
        for (const f of t.shapes.fractions) {
          if (t.overBudget) break;
          const k = topKFor(f, E);
          const shape = `${E}x${size} f=${round(k / E, 3)} T=${T}`;
          try {
            forceTopK(run, k);
            const ms = await t.time(() => run.record(), { minBatchMs: 30, maxBatch: 10 });
            let diff: number | undefined;
            if (k === E && !checked && denseY) {
              diff = maxAbsDiff((await run.readOnce()).y, denseY);
              checked = true;
            }
            let kernels: Record<string, number> | undefined;
            if (prun) {
              forceTopK(prun, k);
              kernels = await t.gpuTimes(() => prun.record(), 2);
            }
            const frac = k / E;
            t.emit({
              section: "expert",
              shape,
              config,
              params: { up, down },
              ms: round(ms),
              kernels,
              ratio_to_dense: round(ms / denseMs),
              target_ratio: round(frac + 0.1),
              meets_target: ms / denseMs <= frac + 0.1,
              max_abs_diff: diff,
              ok: diff === undefined ? undefined : diff < 1e-3,
            });
            // Per-kernel GPU times pick up and down separately; without timestamps, the layer's wall time.
            t.consider(`expert up ${size} f=${f}`, tileLabel(up), up, kernels?.moe_expert_up ?? ms);
            t.consider(`expert down ${size} f=${f}`, tileLabel(down), down, kernels?.moe_expert_down ?? ms);
          } catch (e) {
            t.emit({ section: "expert", shape, config, note: `error: ${(e as Error).message}` });
          }
        }
      }
    } finally {
      setExpertTiles(size, saved.up, saved.down);
      run.dispose();
      prun?.dispose();
      await t.be.ctx.sync();
      t.be.ctx.pool.trim();
      if (t.prof) {
        await t.prof.ctx.sync();
        t.prof.ctx.pool.trim();
      }
    }
  }
}

async function withRun<R>(run: LayerRun, f: (r: LayerRun) => Promise<R>): Promise<R> {
  try {
    return await f(run);
  } finally {
    run.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------

async function decodeSection(t: Tuner): Promise<void> {
  const { d, dff } = t.shapes.decode;
  const rng = new Rng(31);
  const host = randomFfn(d, dff, rng);
  const x = randomF32(d, rng);
  const plan = { minBatchMs: 20, maxBatch: 200 };
  let denseMs = NaN;
  {
    const run = denseRun(t.be, host, "relu", x, 1);
    try {
      denseMs = await t.time(() => run.record(), plan);
      const k = t.prof
        ? await withRun(denseRun(t.prof, host, "relu", x, 1), (r) => t.gpuTimes(() => r.record(), 5))
        : undefined;
      t.emit({
        section: "decode",
        shape: `dense 1x${d}x${dff}`,
        config: "dense (gemv)",
        ms: round(denseMs),
        kernels: k,
        gpu_ms: k ? round(Object.values(k).reduce((a, b) => a + b, 0)) : undefined,
      });
    } finally {
      run.dispose();
    }
  }
  const f = t.shapes.decodeFraction;
  for (const layout of t.shapes.layouts) {
    const { experts: E, size } = layout;
    const k = topKFor(f, E);
    const moe = moeFromDense(host, layout, new Rng(40 + E));
    const run = moeRun(t.be, moe, d, "relu", x, 1);
    const prun = t.prof ? moeRun(t.prof, moe, d, "relu", x, 1) : null;
    forceTopK(run, k);
    if (prun) forceTopK(prun, k);
    const saved = { ...TUNING.moeDecode };
    const shape = `${E}x${size} f=${round(k / E, 3)} T=1`;
    try {
      // The batched kernels at T = 1, for reference and as the correctness baseline.
      TUNING.moeDecode.maxTokens = 0;
      const base = (await run.readOnce()).y;
      const batchedMs = await t.time(() => run.record(), plan);
      t.emit({
        section: "decode",
        shape,
        config: "batched kernels",
        ms: round(batchedMs),
        ratio_to_dense: round(batchedMs / denseMs),
      });
      for (const c of DECODE_CANDIDATES) {
        if (t.overBudget) break;
        Object.assign(TUNING.moeDecode, saved, c);
        if (size % TUNING.moeDecode.chunk) continue;
        const config = JSON.stringify({ ...c });
        try {
          const diff = maxAbsDiff((await run.readOnce()).y, base);
          const ms = await t.time(() => run.record(), plan);
          const kernels = prun ? await t.gpuTimes(() => prun.record(), 5) : undefined;
          const gpu = kernels ? Object.values(kernels).reduce((a, b) => a + b, 0) : undefined;
          t.emit({
            section: "decode",
            shape,
            config: config === "{}" ? "default" : config,
            params: { ...TUNING.moeDecode },
            ms: round(ms),
            gpu_ms: gpu === undefined ? undefined : round(gpu),
            kernels,
            ratio_to_dense: round(ms / denseMs),
            meets_target: ms / denseMs <= 0.5,
            max_abs_diff: round(diff, 3),
            ok: diff < 1e-4,
          });
          if (diff < 1e-4) t.consider(`decode ${E}x${size}`, config, { ...TUNING.moeDecode }, ms);
        } catch (e) {
          t.emit({ section: "decode", shape, config, note: `error: ${(e as Error).message}` });
        }
      }
    } finally {
      Object.assign(TUNING.moeDecode, saved);
      run.dispose();
      prun?.dispose();
    }
  }
}

// ---------------------------------------------------------------------------------------------------

async function togglesSection(t: Tuner): Promise<void> {
  if (t.be.ctx.info.provider !== "dawn") {
    t.emit({
      section: "toggles",
      shape: "-",
      config: "-",
      note: "skipped: Dawn toggles need the Dawn provider",
    });
    return;
  }
  const n = t.o.quick ? 128 : 2048;
  for (const flags of TOGGLE_CANDIDATES) {
    if (t.overBudget) break;
    const config = flags.length ? flags.join(" ") : "(none)";
    let be: GpuBackend | null = null;
    try {
      be = new GpuBackend(await GpuContext.create({ preference: "dawn", dawnFlags: flags }));
      const rng = new Rng(5);
      const a = be.upload(fillRandom(n * n, rng), [n, n]) as GpuTensor;
      const b = be.upload(fillRandom(n * n, rng, 1 / Math.sqrt(n)), [n, n]) as GpuTensor;
      const out = matmulGpu(be.ctx, a, b);
      await be.read([out]);
      be.release(out);
      const ctx = be.ctx;
      const ms = await timeIt(
        () => {
          ctx.pool.release(matmulGpu(ctx, a, b).buffer);
          ctx.flush();
        },
        () => ctx.sync(),
        { warmup: 2, repeats: 5, minBatchMs: 40, maxBatch: 50, budgetMs: 800 },
      );
      const cost = await dispatchCost(be, t, config);
      t.emit({
        section: "toggles",
        shape: `matmul ${n}^3 + 1x64x64 gemv chain`,
        config,
        params: flags,
        ms: round(ms.median),
        tflops: round((2 * n ** 3) / ms.median / 1e9),
        dispatch_wall_us: cost.dispatch_wall_us,
      });
      t.consider("toggles matmul", config, flags, ms.median);
      t.consider("toggles dispatch", config, flags, cost.dispatch_wall_us as number);
      be.free(a);
      be.free(b);
    } catch (e) {
      t.emit({ section: "toggles", shape: "-", config, note: `error: ${(e as Error).message}` });
    } finally {
      be?.[Symbol.dispose]();
    }
  }
}

// ---------------------------------------------------------------------------------------------------

/** Sections in run order, with each one's share of the budget. */
const SECTIONS: [string, (t: Tuner) => Promise<void>, number][] = [
  ["device", deviceSection, 0.05],
  ["matmul", matmulSection, 0.3],
  ["gemv", gemvSection, 0.15],
  ["decode", decodeSection, 0.1],
  ["expert", expertSection, 0.28],
  ["toggles", togglesSection, 0.12],
];

/** Readable summary: one table per section, then the best configuration per key. */
export function renderTune(rows: TuneRow[], best: TuneBest): string {
  const out: string[] = [];
  for (const [name] of SECTIONS) {
    const rs = rows.filter((r) => r.section === name);
    if (rs.length === 0) continue;
    out.push(`\n== ${name}`);
    for (const r of rs) {
      const cols = [
        r.shape.padEnd(34),
        r.config.padEnd(38),
        r.ms !== undefined ? `${r.ms} ms` : "",
        r.gpu_ms !== undefined ? `gpu ${r.gpu_ms} ms` : "",
        r.tflops !== undefined ? `${r.tflops} TFLOP/s` : "",
        r.gbps !== undefined ? `${r.gbps} GB/s` : "",
        r.ratio_to_dense !== undefined ? `×dense ${r.ratio_to_dense}` : "",
        r.dispatch_wall_us !== undefined ? `${r.dispatch_wall_us} µs/dispatch` : "",
        r.ok === false ? "WRONG" : "",
        typeof r.note === "string" ? r.note : "",
      ];
      out.push(cols.filter(Boolean).join("  "));
    }
  }
  out.push("\n== best per shape (lowest time)");
  for (const [key, b] of Object.entries(best)) {
    out.push(`${key.padEnd(28)} ${b.config}   (${round(b.metric)})`);
  }
  return out.join("\n");
}

/** The `src/ops/tuning.ts` values the measurements suggest (only where a winner was measured). */
export function suggestTuning(best: TuneBest, shapes: TuneShapes): string {
  const lines: string[] = ["// Suggested DEFAULT_TUNING entries (src/ops/tuning.ts) from this run:"];
  // pickMatmulTile takes the first tile whose grid fills the device: the winners by area, largest first,
  // then the smallest default tile as the last resort for tiny outputs.
  const winners = Object.entries(best).filter(([k]) => k.startsWith("matmul "));
  if (winners.length) {
    const uniq = new Map<string, MatmulTile>();
    const tiles = winners.map(([, b]) => b.params as MatmulTile).sort((a, b) => b.BM * b.BN - a.BM * a.BN);
    for (const w of tiles) uniq.set(tileLabel(w), w);
    const last = DEFAULT_TUNING.matmulTiles[DEFAULT_TUNING.matmulTiles.length - 1];
    uniq.set(tileLabel(last), last);
    lines.push(`matmulTiles: ${JSON.stringify([...uniq.values()])},`);
    for (const [k, b] of winners) lines.push(`//   ${k}: ${b.config}`);
  }
  const gv = (best["gemv ffn_up+ln"] ?? best["gemv qkv+ln"])?.params as GemvConfig | undefined;
  const gt = best["gemv lm_head+ln"]?.params as GemvConfig | undefined;
  if (gv || gt) {
    const g = { ...DEFAULT_TUNING.gemv, ...(gv ?? {}), ...(gt ? { TPR: gt.TPR } : {}) };
    lines.push(
      `gemv: ${JSON.stringify(g)},  // down (N=768) picked: ${best["gemv ffn_down"]?.config ?? "-"}`,
    );
  }
  for (const { size } of shapes.layouts) {
    const f = shapes.fractions.includes(0.3) ? 0.3 : shapes.fractions[0];
    const up = best[`expert up ${size} f=${f}`]?.params, down = best[`expert down ${size} f=${f}`]?.params;
    if (up) lines.push(`expertUp[${size}] = ${JSON.stringify(up)};`);
    if (down) lines.push(`expertDown[${size}] = ${JSON.stringify(down)};`);
  }
  for (const { experts, size } of shapes.layouts) {
    const dcd = best[`decode ${experts}x${size}`]?.params;
    if (dcd) lines.push(`moeDecode (${experts}x${size}): ${JSON.stringify(dcd)},`);
  }
  const tg = best["toggles dispatch"];
  if (tg) {
    lines.push(
      `dawnFlags: ${JSON.stringify(tg.params)},  // also fastest matmul: ${best["toggles matmul"]?.config}`,
    );
  }
  return lines.join("\n");
}

/**
 * Runs the tuner.
 * @param o Options.
 * @returns Rows measured and the best configuration per key.
 */
export async function runTune(
  o: TuneOptions,
): Promise<{ rows: TuneRow[]; best: TuneBest; text: string }> {
  const pref = o.backend === "webgpu" ? "deno" : o.backend;
  const be = new GpuBackend(await GpuContext.create({ preference: pref, dawnFlags: TUNING.dawnFlags }));
  let prof: GpuBackend | null = null;
  try {
    const p = new GpuBackend(
      await GpuContext.create({
        preference: be.ctx.info.provider,
        profile: true,
        dawnFlags: TUNING.dawnFlags,
      }),
    );
    if (p.ctx.profiling) prof = p;
    else p[Symbol.dispose]();
  } catch {
    prof = null;
  }
  const shapes = o.quick ? QUICK : FULL;
  const t = new Tuner(be, prof, shapes, o);
  t.log(
    `tune: ${be.ctx.info.provider} ${be.ctx.info.description}; profiling ${
      prof ? "on" : "off"
    }; budget ${o.budgetS} s`,
  );
  try {
    const chosen = SECTIONS.filter(([name]) => !o.only || o.only.test(name));
    let shares = chosen.reduce((a, [, , f]) => a + f, 0);
    for (const [name, run, share] of chosen) {
      if (t.elapsedS > o.budgetS) {
        t.emit({ section: name, shape: "-", config: "-", note: "skipped: budget" });
        continue;
      }
      // Each section may use its share of what is left (so time an earlier section left unused carries over).
      t.sectionEndS = t.elapsedS + (o.budgetS - t.elapsedS) * share / shares;
      shares -= share;
      t.log(`tune: ${name} (at ${t.elapsedS.toFixed(0)} s, until ${t.sectionEndS.toFixed(0)} s)`);
      try {
        await run(t);
      } catch (e) {
        t.emit({ section: name, shape: "-", config: "-", note: `error: ${(e as Error).message}` });
      }
      await be.ctx.sync().catch(() => {});
      be.ctx.pool.trim();
    }
    const text = `${renderTune(t.rows, t.best)}\n\n${suggestTuning(t.best, shapes)}\n`;
    return { rows: t.rows, best: t.best, text };
  } finally {
    t.close();
    prof?.[Symbol.dispose]();
    be[Symbol.dispose]();
  }
}

/** Usage text. */
export const TUNE_HELP = `deno run -A bench/tune.ts [options]

Times candidate kernel configurations on this machine's GPU and suggests src/ops/tuning.ts values.

      --quick          tiny shapes (CPU machines with a software adapter)
      --only REGEX     sections: device, matmul, gemv, decode, expert, toggles
      --budget S       seconds after which remaining candidates are skipped (default 200)
      --out FILE       JSON lines (default $OUT/tune.jsonl, else out/tune.jsonl)
      --backend B      auto (default) | dawn | webgpu
  -h, --help           this text`;

/**
 * Command-line entry.
 * @param args Arguments.
 * @returns Exit code.
 */
export async function tuneMain(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      budget: { type: "string", default: "200" },
      out: { type: "string" },
      backend: { type: "string", default: "auto" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (v.help) {
    console.log(TUNE_HELP);
    return 0;
  }
  const backend = v.backend as TuneOptions["backend"];
  if (!["auto", "dawn", "webgpu"].includes(backend)) {
    console.error(`error: --backend must be auto, dawn or webgpu; got ${backend}`);
    return 2;
  }
  const dir = Deno.env.get("OUT") ?? "out";
  await Deno.mkdir(dir, { recursive: true });
  const out = v.out ?? `${dir}/tune.jsonl`;
  const { text } = await runTune({
    quick: v.quick,
    only: v.only ? new RegExp(v.only) : undefined,
    budgetS: Number(v.budget),
    out,
    backend,
  });
  console.log(text);
  await Deno.writeTextFile(out.replace(/\.jsonl$/, "") + ".txt", text);
  return 0;
}

if (import.meta.main) Deno.exit(await tuneMain(Deno.args));
