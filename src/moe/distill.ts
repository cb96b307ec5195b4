/**
 * Distilling a linear projection y = x·W + b into a two-layer ReLU MLP d → h → d_out (D2DMoE §6), so
 * the projection can then be split into experts and routed like an FFN.
 *
 * Initialisation: the best rank-r linear approximation of the projection on the calibration inputs
 * (the top r = ⌊h/2⌋ principal directions V of the centred outputs), written with ReLU pairs:
 * relu(z) − relu(−z) = z, so hidden units 2j and 2j+1 carry +z_j and −z_j with z = (x·W − μ)·V. The MLP
 * starts as that rank-r approximation (exact when h ≥ 2·d_out), and Adam then fits it to the
 * projection's outputs by MSE (teacher forcing: the original inputs, the original outputs), with an
 * optional L1 penalty on the hidden activations that favours sparser experts. The paper trains from a
 * random initialisation on a whole dataset; a few thousand calibration tokens are too few for that.
 * @module
 */
import { transpose } from "../model/weight_loader.ts";
import { matmulCpu } from "../ops/matmul_cpu.ts";
import type { MatmulOptions } from "../ops/matmul_ref.ts";
import type { ProgressCallback } from "../util/progress.ts";
import { Rng } from "../util/rng.ts";
import type { DenseFfnWeights } from "./expert_split.ts";

/**
 * Hidden width of a projection MLP that costs what the projection cost, rounded to whole experts.
 * @param d Projection width (d → d).
 * @param expertSize Neurons per expert; the width is rounded to a multiple of it (at least one expert).
 * @param flopsFactor MLP MACs relative to the projection's (the paper's 1.0).
 * @returns round(f·(d² + d)/(2d + 1)) rounded to a multiple of `expertSize`.
 */
export function projectionHidden(d: number, expertSize: number, flopsFactor = 1): number {
  const h = Math.round(flopsFactor * (d * d + d) / (2 * d + 1));
  return Math.max(1, Math.round(h / expertSize)) * expertSize;
}

/** C = act(A·B + bias) for row-major A [m, k] and B [k, n] (or [n, k] with `transB`), wherever it runs. */
export type MatmulFn = (
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  opts?: MatmulOptions,
  bias?: Float32Array,
) => Promise<Float32Array>;

/** The blocked CPU matmul as a {@link MatmulFn}. */
export const cpuMatmul: MatmulFn = (a, b, m, k, n, opts, bias) =>
  Promise.resolve(matmulCpu(a, b, m, k, n, opts, bias));

/** Options of {@link distillProjection}. */
export interface DistillOptions {
  /** Hidden width h. */
  hidden: number;
  /** Adam epochs over the training rows (default 20; 0 keeps the initialisation). */
  epochs?: number;
  /** Peak learning rate (default 1e-2, cosine decay). */
  lr?: number;
  /** Mini-batch rows (default 256). */
  batch?: number;
  /** Weight of the mean hidden activation (L1) in the loss (default 0). */
  sparsity?: number;
  /** Seed of the split, the shuffles and the spare units' init (default 0). */
  seed?: number;
  /** Fraction of rows held out to measure the error (default 0.1). */
  heldOut?: number;
  /** Progress updates. */
  onProgress?: ProgressCallback;
  /** Progress step name. */
  label?: string;
}

/** A distilled projection and how well it reproduces the original. */
export interface DistillResult {
  /** The MLP as an FFN (w1 [d, h], b1 [h], w2 [h, d_out], b2 [d_out]). */
  mlp: DenseFfnWeights;
  /**
   * Unexplained variance on held-out rows: Σ‖ŷ − y‖² / Σ‖y − ȳ‖² (0 is exact, 1 is no better than
   * predicting the mean output).
   */
  valError: number;
  /** The same measure right after the initialisation (before Adam). */
  initValError: number;
  /** The same measure on the training rows. */
  trainError: number;
  /** Mean fraction of hidden units that are positive on held-out rows. */
  activeFraction: number;
}

/** Rows `idx` of x [n, c] → [idx.length, c]. */
function gather(x: Float32Array, c: number, idx: Int32Array | number[], from = 0, to = idx.length) {
  const out = new Float32Array((to - from) * c);
  for (let i = from; i < to; i++) out.set(x.subarray(idx[i] * c, idx[i] * c + c), (i - from) * c);
  return out;
}

/** Orthonormalises the rows of q [r, n] in place (modified Gram–Schmidt, float64 sums). */
function orthonormaliseRows(q: Float32Array, r: number, n: number, rng: Rng): void {
  for (let j = 0; j < r; j++) {
    const qj = q.subarray(j * n, (j + 1) * n);
    for (let k = 0; k < j; k++) {
      const qk = q.subarray(k * n, (k + 1) * n);
      let dot = 0;
      for (let i = 0; i < n; i++) dot += qj[i] * qk[i];
      for (let i = 0; i < n; i++) qj[i] -= dot * qk[i];
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += qj[i] * qj[i];
    norm = Math.sqrt(norm);
    if (norm < 1e-6) {
      // A direction the matrix annihilates: any unit vector orthogonal to the others will do.
      for (let i = 0; i < n; i++) qj[i] = rng.normal();
      j--;
      continue;
    }
    for (let i = 0; i < n; i++) qj[i] /= norm;
  }
}

/**
 * Top-r eigenvectors of a symmetric positive semi-definite matrix by orthogonal iteration.
 * @param m The matrix [n, n].
 * @param n Its size.
 * @param r Eigenvectors wanted (≤ n).
 * @param seed Seed of the starting subspace.
 * @param iterations Power iterations.
 * @param mm Where the products run.
 * @returns V [n, r] with orthonormal columns.
 */
export async function topEigenvectors(
  m: Float32Array,
  n: number,
  r: number,
  seed = 0,
  iterations = 40,
  mm: MatmulFn = cpuMatmul,
): Promise<Float32Array> {
  const rng = new Rng(seed);
  let q: Float32Array = Float32Array.from({ length: r * n }, () => rng.normal()); // rows: the basis
  orthonormaliseRows(q, r, n, rng);
  for (let it = 0; it < iterations; it++) {
    q = transpose(await mm(m, q, n, n, r, { transB: true }), n, r); // (M·Qᵀ)ᵀ: [r, n]
    orthonormaliseRows(q, r, n, rng);
  }
  return transpose(q, r, n);
}

/** Unexplained variance of `pred` against `y` [rows, c]. */
function unexplained(pred: Float32Array, y: Float32Array, c: number): number {
  const rows = y.length / c;
  const mean = new Float64Array(c);
  for (let i = 0; i < y.length; i++) mean[i % c] += y[i] / rows;
  let err = 0, vari = 0;
  for (let i = 0; i < y.length; i++) {
    err += (pred[i] - y[i]) ** 2;
    vari += (y[i] - mean[i % c]) ** 2;
  }
  return vari > 0 ? err / vari : err > 0 ? Infinity : 0;
}

/**
 * The MLP's forward pass.
 * @param f The MLP.
 * @param x Inputs [rows, d].
 * @param rows Rows.
 * @param mm Where the products run.
 * @returns Hidden activations [rows, h] and outputs [rows, d_out].
 */
export async function mlpForward(
  f: DenseFfnWeights,
  x: Float32Array,
  rows: number,
  mm: MatmulFn = cpuMatmul,
) {
  const h = await mm(x, f.w1, rows, f.d, f.dff, { act: "relu" }, f.b1);
  const out = f.w2.length / f.dff;
  return { hidden: h, y: await mm(h, f.w2, rows, f.dff, out, {}, f.b2) };
}

/** The ReLU-pair initialisation described in the module comment. */
async function pairInit(
  yTrain: Float32Array,
  n: number,
  d: number,
  w: Float32Array,
  b: Float32Array,
  dOut: number,
  h: number,
  seed: number,
  mm: MatmulFn,
): Promise<DenseFfnWeights> {
  const y = yTrain.map((v, i) => v - b[i % dOut]); // x·W
  const mu = new Float64Array(dOut);
  for (let i = 0; i < y.length; i++) mu[i % dOut] += y[i] / n;
  for (let i = 0; i < y.length; i++) y[i] -= mu[i % dOut];
  const cov = await mm(transpose(y, n, dOut), y, dOut, n, dOut); // Σ (y − μ)ᵀ(y − μ)
  const r = Math.min(Math.floor(h / 2), dOut);
  const v = await topEigenvectors(cov, dOut, r, seed, 40, mm); // [dOut, r]
  const a = await mm(w, v, d, dOut, r); // W·V: [d, r]
  const w1 = new Float32Array(d * h), b1 = new Float32Array(h), w2 = new Float32Array(h * dOut);
  for (let j = 0; j < r; j++) {
    // z_j = x·(W·v_j) − μ·v_j; units 2j, 2j+1 carry ±z_j; their output rows are ±v_j.
    let c = 0;
    for (let o = 0; o < dOut; o++) c += mu[o] * v[o * r + j];
    for (let i = 0; i < d; i++) {
      w1[i * h + 2 * j] = a[i * r + j];
      w1[i * h + 2 * j + 1] = -a[i * r + j];
    }
    b1[2 * j] = -c;
    b1[2 * j + 1] = c;
    for (let o = 0; o < dOut; o++) {
      w2[2 * j * dOut + o] = v[o * r + j];
      w2[(2 * j + 1) * dOut + o] = -v[o * r + j];
    }
  }
  // Spare units (odd h, or h > 2·d_out): small random inputs, zero outputs, so Adam can recruit them.
  const rng = new Rng(seed + 1);
  for (let u = 2 * r; u < h; u++) for (let i = 0; i < d; i++) w1[i * h + u] = rng.normal() / Math.sqrt(d);
  const b2 = Float32Array.from(mu, (m, o) => m + b[o]);
  return { w1, b1, w2, b2, d, dff: h };
}

/** Adam state of one parameter. */
class AdamSlot {
  readonly m: Float32Array;
  readonly v: Float32Array;
  constructor(readonly p: Float32Array) {
    this.m = new Float32Array(p.length);
    this.v = new Float32Array(p.length);
  }
  step(g: Float32Array, lr: number, t: number): void {
    const b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const c1 = 1 - b1 ** t, c2 = 1 - b2 ** t;
    for (let i = 0; i < g.length; i++) {
      this.m[i] = b1 * this.m[i] + (1 - b1) * g[i];
      this.v[i] = b2 * this.v[i] + (1 - b2) * g[i] * g[i];
      this.p[i] -= lr * (this.m[i] / c1) / (Math.sqrt(this.v[i] / c2) + eps);
    }
  }
}

/** Column sums of a [rows, c]. */
function colSum(a: Float32Array, c: number): Float32Array {
  const s = new Float32Array(c);
  for (let i = 0; i < a.length; i++) s[i % c] += a[i];
  return s;
}

/** Everything a distillation run needs: the split, the targets, the initial MLP and the schedule. */
export interface DistillPlan {
  /** Input width. */
  d: number;
  /** Output width. */
  dOut: number;
  /** Hidden width. */
  h: number;
  /** Training rows [nTrain, d] and their targets [nTrain, dOut]. */
  xTrain: Float32Array;
  /** Targets of the training rows. */
  yTrain: Float32Array;
  /** Training rows. */
  nTrain: number;
  /** Held-out rows [nVal, d]. */
  xVal: Float32Array;
  /** Targets of the held-out rows. */
  yVal: Float32Array;
  /** Held-out rows. */
  nVal: number;
  /** The MLP, trained in place. */
  mlp: DenseFfnWeights;
  /** Held-out error of the initialisation. */
  initValError: number;
  /** Copies of the initial w1, b1, w2, b2. */
  init: Float32Array[];
  /** Shuffles. */
  rng: Rng;
  /** Epochs. */
  epochs: number;
  /** Mini-batch rows. */
  batch: number;
  /** L1 weight. */
  lambda: number;
  /** Optimiser steps in all. */
  steps: number;
  /** Peak learning rate. */
  lr: number;
}

/**
 * Splits the rows, computes the projection's outputs and the initial MLP (see the module comment).
 * @param x Calibration inputs [n, d].
 * @param n Rows (at least 2).
 * @param w Projection [d, d_out].
 * @param b Bias [d_out].
 * @param opts Hidden width and training options.
 * @param mm Where the products run (the targets, the covariance, the subspace iteration).
 * @returns The plan.
 * @throws {RangeError} On fewer than 2 rows or a non-positive hidden width.
 */
export async function planDistillation(
  x: Float32Array,
  n: number,
  w: Float32Array,
  b: Float32Array,
  opts: DistillOptions,
  mm: MatmulFn = cpuMatmul,
): Promise<DistillPlan> {
  const d = x.length / n, dOut = w.length / d, h = opts.hidden;
  if (n < 2) throw new RangeError(`distillation needs at least 2 calibration rows, got ${n}`);
  if (!Number.isInteger(h) || h < 1) {
    throw new RangeError(`hidden width must be a positive integer, got ${h}`);
  }
  const seed = opts.seed ?? 0;
  const rng = new Rng(seed);
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  rng.shuffle(perm);
  const nVal = Math.max(1, Math.min(n - 1, Math.round(n * (opts.heldOut ?? 0.1))));
  const nTrain = n - nVal;
  const xTrain = gather(x, d, perm, 0, nTrain), xVal = gather(x, d, perm, nTrain, n);
  const target = (xs: Float32Array, rows: number) => mm(xs, w, rows, d, dOut, {}, b);
  const yTrain = await target(xTrain, nTrain), yVal = await target(xVal, nVal);
  const mlp = await pairInit(yTrain, nTrain, d, w, b, dOut, h, seed, mm);
  const initValError = unexplained((await mlpForward(mlp, xVal, nVal, mm)).y, yVal, dOut);
  const epochs = opts.epochs ?? 20, batch = Math.min(opts.batch ?? 256, nTrain);
  return {
    d,
    dOut,
    h,
    xTrain,
    yTrain,
    nTrain,
    xVal,
    yVal,
    nVal,
    mlp,
    initValError,
    init: [mlp.w1, mlp.b1, mlp.w2, mlp.b2].map((p) => p.slice()),
    rng,
    epochs,
    batch,
    lambda: opts.sparsity ?? 0,
    steps: epochs * Math.ceil(nTrain / batch),
    lr: opts.lr ?? 1e-2,
  };
}

/**
 * Learning rate of 1-based step `step` (cosine decay to 0).
 * @param p Plan.
 * @param step Step.
 * @returns The rate.
 */
export function distillLearningRate(p: DistillPlan, step: number): number {
  return p.lr * 0.5 * (1 + Math.cos(Math.PI * (step - 1) / p.steps));
}

/**
 * The result of a trained plan: held-out errors, keeping the initialisation when training made it worse.
 * @param p Plan after training.
 * @param mm Where the products run.
 * @returns The result.
 */
export async function finishDistillation(p: DistillPlan, mm: MatmulFn = cpuMatmul): Promise<DistillResult> {
  const { mlp, xVal, yVal, nVal, dOut } = p;
  let val = await mlpForward(mlp, xVal, nVal, mm);
  if (unexplained(val.y, yVal, dOut) > p.initValError) {
    // Training overfitted the few calibration rows: keep the initialisation.
    [mlp.w1, mlp.b1, mlp.w2, mlp.b2].forEach((w, k) => w.set(p.init[k]));
    val = await mlpForward(mlp, xVal, nVal, mm);
  }
  let active = 0;
  for (const v of val.hidden) if (v > 0) active++;
  // The training error on at most 4,096 rows (a full pass costs as much as an epoch).
  const nT = Math.min(p.nTrain, 4096);
  return {
    mlp,
    valError: unexplained(val.y, yVal, dOut),
    initValError: p.initValError,
    trainError: unexplained(
      (await mlpForward(mlp, p.xTrain.subarray(0, nT * p.d), nT, mm)).y,
      p.yTrain.subarray(0, nT * dOut),
      dOut,
    ),
    activeFraction: active / val.hidden.length,
  };
}

/**
 * Distils y = x·W + b into a ReLU MLP (see the module comment), training on the CPU.
 * @param x Calibration inputs [n, d].
 * @param n Rows (at least 2).
 * @param w Projection [d, d_out].
 * @param b Bias [d_out].
 * @param opts Hidden width and training options.
 * @returns The MLP and its errors.
 * @throws {RangeError} On fewer than 2 rows or a non-positive hidden width.
 */
export async function distillProjection(
  x: Float32Array,
  n: number,
  w: Float32Array,
  b: Float32Array,
  opts: DistillOptions,
): Promise<DistillResult> {
  const p = await planDistillation(x, n, w, b, opts);
  const { d, dOut, h, mlp, xTrain, yTrain, nTrain, epochs, batch, rng } = p;
  const slots = [mlp.w1, mlp.b1, mlp.w2, mlp.b2].map((q) => new AdamSlot(q));
  const order = Int32Array.from({ length: nTrain }, (_, i) => i);
  let step = 0;
  for (let ep = 0; ep < epochs; ep++) {
    rng.shuffle(order);
    for (let s0 = 0; s0 < nTrain; s0 += batch) {
      const B = Math.min(batch, nTrain - s0);
      const xb = gather(xTrain, d, order, s0, s0 + B), yb = gather(yTrain, dOut, order, s0, s0 + B);
      const hidden = matmulCpu(xb, mlp.w1, B, d, h, { act: "relu" }, mlp.b1);
      const y = matmulCpu(hidden, mlp.w2, B, h, dOut, {}, mlp.b2);
      // d(mean squared error)/dŷ.
      const g = new Float32Array(y.length);
      const scale = 2 / (B * dOut);
      for (let i = 0; i < g.length; i++) g[i] = scale * (y[i] - yb[i]);
      const gW2 = matmulCpu(transpose(hidden, B, h), g, h, B, dOut);
      const gB2 = colSum(g, dOut);
      const gH = matmulCpu(g, mlp.w2, B, dOut, h, { transB: true });
      const l1 = p.lambda / (B * h);
      for (let i = 0; i < gH.length; i++) gH[i] = hidden[i] > 0 ? gH[i] + l1 : 0;
      const gW1 = matmulCpu(transpose(xb, B, d), gH, d, B, h);
      const gB1 = colSum(gH, h);
      step++;
      const lr = distillLearningRate(p, step);
      [gW1, gB1, gW2, gB2].forEach((gr, k) => slots[k].step(gr, lr, step));
      opts.onProgress?.({
        step: opts.label ?? "distillation",
        done: step,
        total: p.steps,
        detail: `epoch ${ep + 1}/${epochs}`,
      });
    }
  }
  return await finishDistillation(p);
}
