/**
 * The D2DMoE router (spec §4): Linear(d→w, no bias) → ReLU → Linear(w→E, no bias) → abs, trained on the CPU
 * by MSE regression onto each expert's output L2 norm, with Adam(W) in mini-batches.
 *
 * Choices, and why:
 * - Init is PyTorch's `nn.Linear` default (kaiming-uniform with a = √5, i.e. U(−1/√fan_in, 1/√fan_in)), drawn
 *   from a seeded {@link Rng}, so a seed reproduces a router exactly.
 * - The optimiser is Adam with decoupled weight decay (AdamW, as in the reference scripts; decay 0 by
 *   default), betas (0.9, 0.999), eps 1e-8. The learning rate follows a cosine decay from `lr` to 0 over
 *   all steps with no warm-up (what the reference scripts use), or stays constant with
 *   `schedule: "constant"`.
 * - Loss = mean over the batch and the experts of u·(|z| − t)², u = `underWeight` where |z| < t (default 1:
 *   plain MSE) and 1 elsewhere. Targets are whatever the caller passes (conversion passes √norms by
 *   default, see router_target.ts). Gradients: d|z|/dz = sign(z) with sign(0) = 0,
 *   and ReLU'(0) = 0, both as in PyTorch.
 * - Weights and optimiser state are float64 internally (results do not depend on summation order quirks of
 *   float32, and determinism is exact); the returned router is float32.
 * - Kernels: every product is either a register-blocked "A·Bᵀ" dot-product kernel (2 rows × 4 columns, 8
 *   accumulators) over contiguous rows, or, for the W1 gradient, row updates that skip the hidden units
 *   ReLU switched off (about half of them). Both run in WebAssembly SIMD, still float64, where the runtime
 *   has it (`router_train_wasm.ts`, about 2× these JavaScript loops, which remain as the fallback).
 * @module
 */

import { abtWasm, reluOuterWasm } from "./router_train_wasm.ts";
import { Rng } from "../util/rng.ts";

/** Router weights, float32, in "x · W" layout. */
export interface RouterWeights {
  /** Input size (the FFN's model dimension). */
  d: number;
  /** Hidden width. */
  width: number;
  /** Number of experts (outputs). */
  experts: number;
  /** First layer, [d, width] row-major: hidden = ReLU(x · w1). */
  w1: Float32Array;
  /** Second layer, [width, experts] row-major: scores = |hidden · w2|. */
  w2: Float32Array;
}

/** Options for {@link trainRouter}. */
export interface RouterTrainOptions {
  /** Hidden width w. Default 128 (spec: ViT, GPT-2, BERT; Gemma used 512). */
  width?: number;
  /** Passes over the training split. Default 10. */
  epochs?: number;
  /** Mini-batch size; the last batch of an epoch may be smaller. Default 64. */
  batchSize?: number;
  /** Peak learning rate. Default 1e-3. */
  lr?: number;
  /** Decoupled (AdamW) weight decay. Default 0. */
  weightDecay?: number;
  /**
   * Weight on the squared error where the router predicts less than the target (≥ 1; default 1, plain MSE).
   * Under-predicting skips an expert that mattered; over-predicting only runs one that did not, so
   * conversion weights the first more (the reported losses stay plain MSE).
   */
  underWeight?: number;
  /** Learning-rate schedule: cosine decay to 0 over all steps, or constant. Default "cosine". */
  schedule?: "cosine" | "constant";
  /** Seed for the init, the train/validation split and the per-epoch shuffles. Default 0. */
  seed?: number;
  /** Fraction of samples held out for validation, in [0, 1). Default 0.1 (rounded to whole samples). */
  valFraction?: number;
  /**
   * Called after every optimiser step. `step` counts from 1 to `steps` over the whole run; `trainLoss` is the
   * mean loss over the batches of the current epoch so far.
   */
  onProgress?: (
    p: { epoch: number; epochs: number; step: number; steps: number; trainLoss: number },
  ) => void;
  /** Aborts training (checked before each step): `trainRouter` throws `signal.reason`. */
  signal?: AbortSignal;
  /** Starting weights (default: PyTorch-style random init from the seed); copied, not modified. */
  init?: RouterWeights;
}

/** Result of {@link trainRouter}. */
export interface RouterTrainResult {
  /** The trained router. */
  router: RouterWeights;
  /** MSE of the final router over the whole training split. */
  trainLoss: number;
  /** MSE of the final router over the validation split (NaN when it is empty). */
  valLoss: number;
  /** MSE on the validation split of predicting each expert's training-split mean (NaN when empty). */
  valBaselineLoss: number;
  /** Epochs completed. */
  epochs: number;
  /** Split sizes. */
  samples: { train: number; val: number };
}

// ---------------------------------------------------------------------------------------------------------
// Validation helpers

function positiveInt(fn: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new RangeError(`${fn}: ${name} must be a positive integer, got ${v}`);
  }
  return v;
}

function checkArray(fn: string, name: string, a: unknown, length: number, lengthExpr: string): Float32Array {
  if (!(a instanceof Float32Array)) throw new TypeError(`${fn}: ${name} must be a Float32Array`);
  if (a.length !== length) {
    throw new RangeError(`${fn}: ${name}.length (${a.length}) must equal ${lengthExpr} (${length})`);
  }
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new RangeError(`${fn}: ${name}[${i}] is not finite (${a[i]})`);
  }
  return a;
}

function checkRouter(fn: string, r: RouterWeights): void {
  positiveInt(fn, "router.d", r.d);
  positiveInt(fn, "router.width", r.width);
  positiveInt(fn, "router.experts", r.experts);
  checkArray(fn, "router.w1", r.w1, r.d * r.width, "d * width");
  checkArray(fn, "router.w2", r.w2, r.width * r.experts, "width * experts");
}

// ---------------------------------------------------------------------------------------------------------
// Kernels (small functions called many times, so V8 optimises them early)

/**
 * out[i, j] = A[i, :] · B[j, :] for A [m, K], B [n, K], out [m, n], all row-major. 2 × 4 register block.
 */
function abt(A: Float64Array, B: Float64Array, out: Float64Array, m: number, n: number, K: number): void {
  const m2 = m & ~1, n4 = n & ~3;
  for (let i = 0; i < m2; i += 2) {
    for (let j = 0; j < n4; j += 4) abt24(A, B, out, i, j, n, K);
    for (let j = n4; j < n; j++) {
      out[i * n + j] = dot(A, i * K, B, j * K, K);
      out[(i + 1) * n + j] = dot(A, (i + 1) * K, B, j * K, K);
    }
  }
  if (m2 < m) { for (let j = 0; j < n; j++) out[m2 * n + j] = dot(A, m2 * K, B, j * K, K); }
}

function abt24(
  A: Float64Array,
  B: Float64Array,
  out: Float64Array,
  i: number,
  j: number,
  n: number,
  K: number,
) {
  const xa = i * K, xb = xa + K;
  const c0 = j * K, c1 = c0 + K, c2 = c1 + K, c3 = c2 + K;
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
  for (let t = 0; t < K; t++) {
    const u = A[xa + t], v = A[xb + t];
    const w0 = B[c0 + t], w1 = B[c1 + t], w2 = B[c2 + t], w3 = B[c3 + t];
    a0 += u * w0;
    a1 += u * w1;
    a2 += u * w2;
    a3 += u * w3;
    b0 += v * w0;
    b1 += v * w1;
    b2 += v * w2;
    b3 += v * w3;
  }
  const o = i * n + j, p = o + n;
  out[o] = a0;
  out[o + 1] = a1;
  out[o + 2] = a2;
  out[o + 3] = a3;
  out[p] = b0;
  out[p + 1] = b1;
  out[p + 2] = b2;
  out[p + 3] = b3;
}

/** {@link abt} in WebAssembly SIMD where the runtime has it (`router_train_wasm.ts`). */
function product(A: Float64Array, B: Float64Array, out: Float64Array, m: number, n: number, K: number): void {
  if (!abtWasm(A, B, out, m, n, K)) abt(A, B, out, m, n, K);
}

function dot(A: Float64Array, a: number, B: Float64Array, b: number, K: number): number {
  let s = 0;
  for (let t = 0; t < K; t++) s += A[a + t] * B[b + t];
  return s;
}

/** out[o .. o+d) += a0·X[r0..] + a1·X[r1..] + a2·X[r2..] + a3·X[r3..]: one store per 4 multiply-adds. */
function axpy4(
  out: Float64Array,
  o: number,
  X: Float64Array,
  r0: number,
  r1: number,
  r2: number,
  r3: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  d: number,
): void {
  for (let t = 0; t < d; t++) out[o + t] += a0 * X[r0 + t] + a1 * X[r1 + t] + a2 * X[r2 + t] + a3 * X[r3 + t];
}

function axpy1(out: Float64Array, o: number, X: Float64Array, r0: number, a0: number, d: number): void {
  for (let t = 0; t < d; t++) out[o + t] += a0 * X[r0 + t];
}

// ---------------------------------------------------------------------------------------------------------
// Core: parameters in the layouts the kernels want, plus batch workspaces

/**
 * Internal router state. W1T is [w, d] (PyTorch's weight layout: one contiguous row per hidden unit), W2T is
 * [E, w] and W2 its [w, E] transpose (kept in sync), so that every product runs over contiguous rows.
 */
class RouterCore {
  readonly d: number;
  readonly w: number;
  readonly e: number;
  readonly maxB: number;
  readonly w1t: Float64Array;
  readonly w2t: Float64Array;
  readonly w2: Float64Array;
  readonly gw1t: Float64Array;
  readonly gw2t: Float64Array;
  // Batch workspaces.
  readonly xb: Float64Array; // [B, d]
  readonly tb: Float64Array; // [B, E]
  readonly h: Float64Array; // [B, w] ReLU output
  readonly hT: Float64Array; // [w, B]
  readonly z: Float64Array; // [B, E] pre-abs output
  readonly g: Float64Array; // [B, E] dL/dz
  readonly gT: Float64Array; // [E, B]
  readonly dh: Float64Array; // [B, w]
  readonly idx: Int32Array;
  readonly val: Float64Array;

  constructor(d: number, w: number, e: number, maxB: number) {
    this.d = d;
    this.w = w;
    this.e = e;
    this.maxB = maxB;
    this.w1t = new Float64Array(w * d);
    this.w2t = new Float64Array(e * w);
    this.w2 = new Float64Array(w * e);
    this.gw1t = new Float64Array(w * d);
    this.gw2t = new Float64Array(e * w);
    this.xb = new Float64Array(maxB * d);
    this.tb = new Float64Array(maxB * e);
    this.h = new Float64Array(maxB * w);
    this.hT = new Float64Array(w * maxB);
    this.z = new Float64Array(maxB * e);
    this.g = new Float64Array(maxB * e);
    this.gT = new Float64Array(e * maxB);
    this.dh = new Float64Array(maxB * w);
    this.idx = new Int32Array(maxB);
    this.val = new Float64Array(maxB);
  }

  static fromWeights(r: RouterWeights, maxB: number): RouterCore {
    const c = new RouterCore(r.d, r.width, r.experts, maxB);
    for (let i = 0; i < r.d; i++) {
      for (let j = 0; j < r.width; j++) c.w1t[j * r.d + i] = r.w1[i * r.width + j];
    }
    for (let j = 0; j < r.width; j++) {
      for (let e = 0; e < r.experts; e++) c.w2t[e * r.width + j] = r.w2[j * r.experts + e];
    }
    c.syncW2();
    return c;
  }

  toWeights(): RouterWeights {
    const { d, w, e } = this;
    const w1 = new Float32Array(d * w);
    for (let j = 0; j < w; j++) for (let i = 0; i < d; i++) w1[i * w + j] = this.w1t[j * d + i];
    return { d, width: w, experts: e, w1, w2: new Float32Array(this.w2) };
  }

  /** W2 ← W2Tᵀ after an update of W2T. */
  syncW2(): void {
    const { w, e, w2, w2t } = this;
    for (let k = 0; k < e; k++) for (let j = 0; j < w; j++) w2[j * e + k] = w2t[k * w + j];
  }

  /** Copies rows `rows[start .. start+B)` of x (and of targets when given) into the batch buffers. */
  gather(x: Float32Array, t: Float32Array | null, rows: Int32Array, start: number, B: number): void {
    const { d, e, xb, tb } = this;
    for (let b = 0; b < B; b++) {
      const r = rows[start + b];
      for (let i = 0, s = r * d, o = b * d; i < d; i++) xb[o + i] = x[s + i];
      if (t) { for (let k = 0, s = r * e, o = b * e; k < e; k++) tb[o + k] = t[s + k]; }
    }
  }

  /** h = ReLU(xb · W1), z = h · W2 (before abs), for the first B batch rows. */
  forward(B: number): void {
    const { d, w, e, h } = this;
    product(this.xb, this.w1t, h, B, w, d);
    for (let i = 0, m = B * w; i < m; i++) if (!(h[i] > 0)) h[i] = 0;
    product(h, this.w2t, this.z, B, e, w);
  }

  /** Mean squared error of |z| against tb over the first B rows (after {@link forward}). */
  loss(B: number): number {
    const { z, tb } = this;
    let s = 0;
    for (let i = 0, m = B * this.e; i < m; i++) {
      const r = Math.abs(z[i]) - tb[i];
      s += r * r;
    }
    return s / (B * this.e);
  }

  /**
   * Forward + backward on the first B batch rows; fills gw1t and gw2t and returns the loss (squared errors
   * of under-predictions weighted by `underWeight`).
   */
  lossAndGrad(B: number, underWeight = 1): number {
    const { d, w, e, z, tb, g, gT, h, hT, dh, xb, gw1t } = this;
    this.forward(B);
    const scale = 2 / (B * e);
    let s = 0;
    for (let i = 0, m = B * e; i < m; i++) {
      const zi = z[i];
      const r = Math.abs(zi) - tb[i];
      const wr = r < 0 ? underWeight * r : r;
      s += wr * r;
      // d|z|/dz = sign(z), taken as 0 at z = 0 (PyTorch's convention).
      g[i] = zi > 0 ? scale * wr : zi < 0 ? -scale * wr : 0;
    }
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < e; k++) gT[k * B + b] = g[b * e + k];
      for (let j = 0; j < w; j++) hT[j * B + b] = h[b * w + j];
    }
    // dW2T[k, j] = Σ_b g[b, k] h[b, j]
    product(gT, hT, this.gw2t, e, w, B);
    // dh[b, j] = Σ_k g[b, k] W2[j, k]
    product(g, this.w2, dh, B, w, e);
    // dW1T[j, :] = Σ_b dh[b, j] · ReLU'(pre[b, j]) · x[b, :], skipping inactive units (ReLU'(0) = 0).
    if (!reluOuterWasm(dh, h, xb, gw1t, B, w, d)) this.reluOuter(B);
    return s / (B * e);
  }

  /** {@link reluOuterWasm} in JavaScript: gw1t from dh, h and xb of the first B batch rows. */
  reluOuter(B: number): void {
    const { d, w, h, dh, idx, val, xb, gw1t } = this;
    gw1t.fill(0);
    for (let j = 0; j < w; j++) {
      let cnt = 0;
      for (let b = 0; b < B; b++) {
        if (h[b * w + j] > 0) {
          idx[cnt] = b * d;
          val[cnt++] = dh[b * w + j];
        }
      }
      const o = j * d;
      let q = 0;
      for (; q + 4 <= cnt; q += 4) {
        axpy4(
          gw1t,
          o,
          xb,
          idx[q],
          idx[q + 1],
          idx[q + 2],
          idx[q + 3],
          val[q],
          val[q + 1],
          val[q + 2],
          val[q + 3],
          d,
        );
      }
      for (; q < cnt; q++) axpy1(gw1t, o, xb, idx[q], val[q], d);
    }
  }

  /** Mean loss over `rows` (in batches of maxB); NaN for an empty set. */
  evalLoss(x: Float32Array, t: Float32Array, rows: Int32Array): number {
    if (rows.length === 0) return NaN;
    let total = 0;
    for (let start = 0; start < rows.length; start += this.maxB) {
      const B = Math.min(this.maxB, rows.length - start);
      this.gather(x, t, rows, start, B);
      this.forward(B);
      total += this.loss(B) * B;
    }
    return total / rows.length;
  }
}

/** One AdamW update of `p` with gradient `g` and moments `m`, `v` (bias-corrected). */
function adamStep(
  p: Float64Array,
  g: Float64Array,
  m: Float64Array,
  v: Float64Array,
  lr: number,
  wd: number,
  c1: number,
  c2: number,
): void {
  const b1 = 0.9, b2 = 0.999, eps = 1e-8;
  const decay = 1 - lr * wd;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    const mi = b1 * m[i] + (1 - b1) * gi;
    const vi = b2 * v[i] + (1 - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - lr * (mi / c1) / (Math.sqrt(vi / c2) + eps);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Public API

/**
 * A freshly initialised router, like PyTorch's `nn.Linear(bias=False)` default: every weight drawn from
 * U(−1/√fan_in, 1/√fan_in) (fan_in = d for w1, width for w2), from a seeded generator.
 * @param d Input size.
 * @param width Hidden width.
 * @param experts Number of experts.
 * @param seed Seed (default 0).
 * @returns The router weights.
 * @throws {RangeError} If a size is not a positive integer or the seed is not finite.
 */
export function initRouter(d: number, width: number, experts: number, seed = 0): RouterWeights {
  positiveInt("initRouter", "d", d);
  positiveInt("initRouter", "width", width);
  positiveInt("initRouter", "experts", experts);
  return initWith(d, width, experts, new Rng(seed));
}

function initWith(d: number, width: number, experts: number, rng: Rng): RouterWeights {
  const w1 = new Float32Array(d * width);
  const w2 = new Float32Array(width * experts);
  // Drawn in PyTorch's [out, in] order so the stream maps onto (hidden unit, input) pairs.
  const b1 = 1 / Math.sqrt(d), b2 = 1 / Math.sqrt(width);
  for (let j = 0; j < width; j++) for (let i = 0; i < d; i++) w1[i * width + j] = rng.uniform(-b1, b1);
  for (let e = 0; e < experts; e++) {
    for (let j = 0; j < width; j++) w2[j * experts + e] = rng.uniform(-b2, b2);
  }
  return { d, width, experts, w1, w2 };
}

/**
 * Router scores |ReLU(x · w1) · w2| for n rows.
 * @param r Router weights.
 * @param x Inputs, [n, d] row-major.
 * @param n Number of rows.
 * @returns Scores, [n, experts] row-major, all ≥ 0.
 * @throws {TypeError} If `x` or a weight array is not a Float32Array.
 * @throws {RangeError} If a size is not a positive integer, a length does not match, or a value is not finite.
 */
export function routerForward(r: RouterWeights, x: Float32Array, n: number): Float32Array {
  const fn = "routerForward";
  checkRouter(fn, r);
  positiveInt(fn, "n", n);
  checkArray(fn, "x", x, n * r.d, "n * router.d");
  const maxB = Math.min(n, 256);
  const core = RouterCore.fromWeights(r, maxB);
  const out = new Float32Array(n * r.experts);
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  for (let start = 0; start < n; start += maxB) {
    const B = Math.min(maxB, n - start);
    core.gather(x, null, rows, start, B);
    core.forward(B);
    const o = start * r.experts;
    for (let i = 0, m = B * r.experts; i < m; i++) out[o + i] = Math.abs(core.z[i]);
  }
  return out;
}

/**
 * Loss and gradients of the router on one batch, by the same code that {@link trainRouter} uses
 * (exposed for gradient checks and diagnostics). Loss = mean over rows and experts of (score − target)².
 * @param r Router weights.
 * @param x Inputs, [n, d] row-major.
 * @param targets Targets (expert output norms), [n, experts] row-major.
 * @param n Number of rows.
 * @param underWeight Weight on squared errors of under-predictions (default 1: plain MSE).
 * @returns The loss and float64 gradients in the public layouts: gradW1 [d, width], gradW2 [width, experts].
 * @throws {TypeError} If an array is not a Float32Array.
 * @throws {RangeError} If a size is not a positive integer, a length does not match, or a value is not finite.
 */
export function routerLossAndGrad(
  r: RouterWeights,
  x: Float32Array,
  targets: Float32Array,
  n: number,
  underWeight = 1,
): { loss: number; gradW1: Float64Array; gradW2: Float64Array } {
  const fn = "routerLossAndGrad";
  checkRouter(fn, r);
  positiveInt(fn, "n", n);
  checkArray(fn, "x", x, n * r.d, "n * router.d");
  checkArray(fn, "targets", targets, n * r.experts, "n * router.experts");
  const core = RouterCore.fromWeights(r, n);
  core.gather(x, targets, Int32Array.from({ length: n }, (_, i) => i), 0, n);
  const loss = core.lossAndGrad(n, underWeight);
  const { d, width, experts } = r;
  const gradW1 = new Float64Array(d * width);
  const gradW2 = new Float64Array(width * experts);
  for (let j = 0; j < width; j++) for (let i = 0; i < d; i++) gradW1[i * width + j] = core.gw1t[j * d + i];
  for (let e = 0; e < experts; e++) {
    for (let j = 0; j < width; j++) gradW2[j * experts + e] = core.gw2t[e * width + j];
  }
  return { loss, gradW1, gradW2 };
}

/**
 * Trains a D2DMoE router by MSE regression of its scores onto per-expert output norms.
 *
 * Steps: seeded init ({@link initRouter}); seeded shuffle and split into train / validation; `epochs` passes
 * over the training split in shuffled mini-batches with AdamW and a cosine (or constant) learning rate;
 * then the final router is scored on both splits, next to the baseline of predicting each expert's
 * training mean. Measured on one core of a 2-core VM: d = 768, w = 128, E = 192, n = 20 000, 10 epochs: 23–29 s
 * (2.1–2.5 s per epoch of 282 steps, plus ≈ 1 s for the final scoring).
 *
 * @param x Router inputs (the FFN inputs), [n, d] row-major.
 * @param targets Per-expert output L2 norms, [n, experts] row-major.
 * @param n Number of samples.
 * @param d Input size.
 * @param experts Number of experts.
 * @param opts Width, epochs, batch size, learning rate and schedule, weight decay, seed, validation
 *   fraction, progress callback and abort signal.
 * @returns The router, final train and validation losses, the validation baseline, and split sizes.
 * @throws {TypeError} If `x` or `targets` is not a Float32Array, or `signal` is not an AbortSignal.
 * @throws {RangeError} If a size or option is out of range, a length does not match, a value is not finite,
 *   or the training split would be empty.
 * @throws {unknown} `opts.signal.reason` when the signal aborts.
 */
export function trainRouter(
  x: Float32Array,
  targets: Float32Array,
  n: number,
  d: number,
  experts: number,
  opts: RouterTrainOptions = {},
): RouterTrainResult {
  const plan = planRouterTraining("trainRouter", x, targets, n, d, experts, opts);
  const { signal, nTrain, nVal, trainRows, valRows, rng, epochs, steps, batchSize: maxB } = plan;
  signal?.throwIfAborted();

  const core = RouterCore.fromWeights(plan.init, maxB);
  const m1 = new Float64Array(core.w1t.length), v1 = new Float64Array(core.w1t.length);
  const m2 = new Float64Array(core.w2t.length), v2 = new Float64Array(core.w2t.length);
  let step = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    rng.shuffle(trainRows);
    let seen = 0, lossSum = 0;
    for (let start = 0; start < nTrain; start += maxB) {
      signal?.throwIfAborted();
      const B = Math.min(maxB, nTrain - start);
      core.gather(x, targets, trainRows, start, B);
      const loss = core.lossAndGrad(B, plan.underWeight);
      const lrNow = routerLearningRate(plan, step);
      step++;
      const c1 = 1 - Math.pow(0.9, step), c2 = 1 - Math.pow(0.999, step);
      adamStep(core.w1t, core.gw1t, m1, v1, lrNow, plan.weightDecay, c1, c2);
      adamStep(core.w2t, core.gw2t, m2, v2, lrNow, plan.weightDecay, c1, c2);
      core.syncW2();
      seen += B;
      lossSum += loss * B;
      opts.onProgress?.({ epoch, epochs, step, steps, trainLoss: lossSum / seen });
    }
  }

  // Score exactly the float32 router we return.
  for (let i = 0; i < core.w1t.length; i++) core.w1t[i] = Math.fround(core.w1t[i]);
  for (let i = 0; i < core.w2t.length; i++) core.w2t[i] = Math.fround(core.w2t[i]);
  core.syncW2();
  const trainLoss = core.evalLoss(x, targets, trainRows);
  const valLoss = core.evalLoss(x, targets, valRows);
  return {
    router: core.toWeights(),
    trainLoss,
    valLoss,
    valBaselineLoss: routerValBaseline(targets, experts, trainRows, valRows),
    epochs,
    samples: { train: nTrain, val: nVal },
  };
}

/** A validated router-training setup: resolved options, the seeded init and the train/validation split. */
export interface RouterTrainPlan {
  /** Hidden width. */
  width: number;
  /** Passes over the training split. */
  epochs: number;
  /** Effective mini-batch size: `min(opts.batchSize, train)`. */
  batchSize: number;
  /** Peak learning rate. */
  lr: number;
  /** Decoupled weight decay. */
  weightDecay: number;
  /** Weight on squared errors of under-predictions. */
  underWeight: number;
  /** Learning-rate schedule. */
  schedule: "cosine" | "constant";
  /** Abort signal, if any. */
  signal: AbortSignal | undefined;
  /** Training-split size. */
  nTrain: number;
  /** Validation-split size. */
  nVal: number;
  /** Optimiser steps per epoch. */
  stepsPerEpoch: number;
  /** Optimiser steps of the whole run. */
  steps: number;
  /** The initial router (drawn first from the seeded stream). */
  init: RouterWeights;
  /** Validation rows (sample indices). */
  valRows: Int32Array;
  /** Training rows; shuffle them in place with {@link rng} at the start of every epoch. */
  trainRows: Int32Array;
  /** The seeded stream after the init and the split, positioned for the per-epoch shuffles. */
  rng: Rng;
}

/**
 * Validates a router-training call and draws its seeded init and split, exactly as {@link trainRouter}
 * does, so other trainers (e.g. the GPU one) see the same router, rows and shuffles for a seed.
 * @param fn Caller's name, used as the prefix of error messages.
 * @param x Router inputs, [n, d] row-major.
 * @param targets Per-expert output norms, [n, experts] row-major.
 * @param n Number of samples.
 * @param d Input size.
 * @param experts Number of experts.
 * @param opts Training options (see {@link RouterTrainOptions}).
 * @returns The resolved options, the initial router, the split and the generator for the shuffles.
 * @throws {TypeError} If `x` or `targets` is not a Float32Array, or `signal` is not an AbortSignal.
 * @throws {RangeError} If a size or option is out of range, a length does not match, a value is not finite,
 *   or the training split would be empty.
 */
export function planRouterTraining(
  fn: string,
  x: Float32Array,
  targets: Float32Array,
  n: number,
  d: number,
  experts: number,
  opts: RouterTrainOptions = {},
): RouterTrainPlan {
  positiveInt(fn, "n", n);
  positiveInt(fn, "d", d);
  positiveInt(fn, "experts", experts);
  checkArray(fn, "x", x, n * d, "n * d");
  checkArray(fn, "targets", targets, n * experts, "n * experts");
  const width = positiveInt(fn, "opts.width", opts.width ?? 128);
  const epochs = positiveInt(fn, "opts.epochs", opts.epochs ?? 10);
  const batchSize = positiveInt(fn, "opts.batchSize", opts.batchSize ?? 64);
  const lr = opts.lr ?? 1e-3;
  if (!(Number.isFinite(lr) && lr > 0)) {
    throw new RangeError(`${fn}: opts.lr must be a positive number, got ${lr}`);
  }
  const weightDecay = opts.weightDecay ?? 0;
  if (!(Number.isFinite(weightDecay) && weightDecay >= 0)) {
    throw new RangeError(`${fn}: opts.weightDecay must be a non-negative number, got ${weightDecay}`);
  }
  const underWeight = opts.underWeight ?? 1;
  if (!(Number.isFinite(underWeight) && underWeight >= 1)) {
    throw new RangeError(`${fn}: opts.underWeight must be a number ≥ 1, got ${underWeight}`);
  }
  const schedule = opts.schedule ?? "cosine";
  if (schedule !== "cosine" && schedule !== "constant") {
    throw new RangeError(`${fn}: opts.schedule must be "cosine" or "constant", got ${schedule}`);
  }
  const seed = opts.seed ?? 0;
  if (!Number.isFinite(seed)) throw new RangeError(`${fn}: opts.seed must be finite, got ${seed}`);
  const valFraction = opts.valFraction ?? 0.1;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new RangeError(`${fn}: opts.valFraction must be in [0, 1), got ${valFraction}`);
  }
  const signal = opts.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`${fn}: opts.signal must be an AbortSignal`);
  }
  const nVal = Math.round(n * valFraction);
  const nTrain = n - nVal;
  if (nTrain < 1) {
    throw new RangeError(`${fn}: no training samples left (n = ${n}, valFraction = ${valFraction})`);
  }
  // Order of draws (init, then split, then one shuffle per epoch) is part of what a seed reproduces.
  const rng = new Rng(seed);
  const random = initWith(d, width, experts, rng);
  const init = opts.init ? checkedInit(fn, opts.init, d, width, experts) : random;
  const perm = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const maxB = Math.min(batchSize, nTrain);
  const stepsPerEpoch = Math.ceil(nTrain / maxB);
  return {
    width,
    epochs,
    batchSize: maxB,
    lr,
    weightDecay,
    underWeight,
    schedule,
    signal,
    nTrain,
    nVal,
    stepsPerEpoch,
    steps: stepsPerEpoch * epochs,
    init,
    valRows: perm.slice(0, nVal),
    trainRows: perm.slice(nVal),
    rng,
  };
}

/** Validates and copies caller-supplied starting weights. */
function checkedInit(fn: string, r: RouterWeights, d: number, width: number, experts: number): RouterWeights {
  if (
    r.d !== d || r.width !== width || r.experts !== experts || r.w1.length !== d * width ||
    r.w2.length !== width * experts
  ) {
    throw new RangeError(
      `${fn}: opts.init must be a ${d}×${width}×${experts} router, got ${r.d}×${r.width}×${r.experts}`,
    );
  }
  return { d, width, experts, w1: r.w1.slice(), w2: r.w2.slice() };
}

/**
 * Learning rate of an optimiser step: cosine decay from `plan.lr` to 0 over `plan.steps` (no warm-up), or
 * constant.
 * @param plan The training plan (its `lr`, `schedule` and `steps`).
 * @param step Steps already taken (0 for the first).
 * @returns The learning rate to use for this step.
 */
export function routerLearningRate(
  plan: Pick<RouterTrainPlan, "lr" | "schedule" | "steps">,
  step: number,
): number {
  return plan.schedule === "cosine" ? plan.lr * 0.5 * (1 + Math.cos(Math.PI * step / plan.steps)) : plan.lr;
}

/**
 * Validation MSE of the trivial predictor that outputs each expert's mean target over the training split
 * (the baseline a router must beat).
 * @param targets Per-expert output norms, [n, experts] row-major.
 * @param experts Number of experts.
 * @param trainRows Training rows.
 * @param valRows Validation rows.
 * @returns The baseline loss, NaN when there are no validation rows.
 */
export function routerValBaseline(
  targets: Float32Array,
  experts: number,
  trainRows: Int32Array,
  valRows: Int32Array,
): number {
  if (valRows.length === 0) return NaN;
  const mean = new Float64Array(experts);
  for (const r of trainRows) for (let e = 0; e < experts; e++) mean[e] += targets[r * experts + e];
  for (let e = 0; e < experts; e++) mean[e] /= trainRows.length;
  let s = 0;
  for (const r of valRows) {
    for (let e = 0; e < experts; e++) {
      const diff = targets[r * experts + e] - mean[e];
      s += diff * diff;
    }
  }
  return s / (valRows.length * experts);
}
