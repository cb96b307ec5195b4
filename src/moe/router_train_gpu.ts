/**
 * The D2DMoE router trainer on a compute backend: the same router (Linear(d→w) → ReLU → Linear(w→E) → abs),
 * loss (MSE onto expert output norms), optimiser (AdamW, cosine or constant LR), init, split and shuffles as
 * {@link trainRouter} (`router_train.ts`; both get them from {@link planRouterTraining}), but in float32 on the
 * backend's device, so on the GPU when there is one.
 *
 * Layout and data flow, and why:
 * - x and the targets are uploaded once. Each epoch uploads only its shuffled row indices (4 bytes a row);
 *   `gatherRows` picks each mini-batch from them on the device.
 * - Weights live transposed, as W1ᵀ [w, d] and W2ᵀ [E, w] (PyTorch's layout). Then the forward products are
 *   `matmul(…, transB)`, dh = g·W2ᵀ is a plain matmul, and both weight gradients are "Aᵀ·B" products whose
 *   transposed left operand comes straight out of the kernel before them (`routerGrad` writes gᵀ,
 *   `reluGrad` can write its output transposed): no separate transpose dispatch.
 * - One step is 11 dispatches and no readback: 2 gathers, 2 forward matmuls, router_grad, 3 gradient
 *   matmuls, relu_grad, 2 AdamW updates. The learning rate and bias corrections change every step, so they
 *   travel in each dispatch's uniform.
 * - Steps are submitted {@link STEPS_PER_SUBMIT} at a time (fewer if their transient buffers would pass
 *   {@link FLUSH_BYTES}), so that bind groups are reused rather than created per dispatch (see there).
 *   The only readback per epoch is the per-row losses for the progress report; the next epoch is recorded
 *   after it completes (one sync per epoch; overlapping them saved little and was one more thing in
 *   flight while the H200 hangs were being chased).
 * - Row losses come back as float32 row sums and are added up in float64 on the host.
 * @module
 */

import { GpuStallError } from "../gpu/errors.ts";
import { describeDawnTicks } from "../gpu/dawn_ticks.ts";
import type { AdamWStep } from "../ops/adam_ref.ts";
import type { Backend } from "../ops/backend.ts";
import type { Tensor } from "../ops/tensor.ts";
import {
  planRouterTraining,
  routerLearningRate,
  type RouterTrainOptions,
  type RouterTrainResult,
  routerValBaseline,
  type RouterWeights,
} from "./router_train.ts";

/**
 * Recorded-but-unsubmitted transient bytes after which an epoch is submitted early (without waiting), so that
 * the buffer pool can recycle them: pooled buffers are only reused after the submit that used them.
 */
export const FLUSH_BYTES = 128 << 20;

/**
 * Training steps recorded per submit. Each submit hands the pooled transient buffers and the uniform
 * arena's offsets back, so the next one records the same bindings in the same order and every bind group
 * is a cache hit (~350 dispatches per submit against a 4096-entry cache). One submit per epoch instead
 * created a new bind group for nearly every dispatch once an epoch passed ~370 steps: about 20,000 native
 * objects per epoch for GPT-2-sized calibration sets, and the GPU conversions that hung on the H200 did
 * so during this phase.
 */
export const STEPS_PER_SUBMIT = 32;

/** How long the first readback (pipeline compilation included) may take before it counts as a stall. */
export const FIRST_READ_STALL_MS = 300_000;

/** Later readbacks count as stalled past this many times the slowest one so far (and at least 30 s). */
export const STALL_FACTOR = 20;

/** {@link trainRouterOnBackend}'s options: the trainers' common ones plus the stall limit. */
export interface BackendRouterTrainOptions extends RouterTrainOptions {
  /**
   * Fixed limit in ms for each readback (an epoch's losses, the final scoring); past it the trainer throws
   * {@link GpuStallError}. Default: {@link FIRST_READ_STALL_MS} for the first, then {@link STALL_FACTOR}
   * times the slowest so far (at least 30 s). `Infinity` waits for ever.
   */
  stallMs?: number;
}

/**
 * Awaits a readback, or throws {@link GpuStallError} after `ms`. The abandoned read may still settle later;
 * its outcome is then ignored.
 */
async function readWithin<T>(read: Promise<T>, ms: number, what: string): Promise<T> {
  if (!Number.isFinite(ms)) return await read;
  read.catch(() => {}); // settles after the timeout at most: nothing is listening then
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        // where Dawn's ticks stood (src/gpu/dawn_ticks.ts): one left queued, or not waiting at all
        const ticks = describeDawnTicks();
        const why = `${what} did not complete in ${(ms / 1000).toFixed(0)} s`;
        reject(new GpuStallError(ticks ? `${why} (${ticks})` : why));
      },
      ms,
    );
  });
  try {
    return await Promise.race([read, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/** Router parameters and AdamW moments on the device, in the trainer's transposed layout. */
interface DeviceRouter {
  d: number;
  w: number;
  e: number;
  /** W1ᵀ [w, d]. */
  w1t: Tensor;
  /** W2ᵀ [E, w]. */
  w2t: Tensor;
  m1: Tensor;
  v1: Tensor;
  m2: Tensor;
  v2: Tensor;
}

/** A [rows, cols] row-major matrix transposed to [cols, rows]. */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

function uploadRouter(be: Backend, r: RouterWeights): DeviceRouter {
  const { d, width: w, experts: e } = r;
  return {
    d,
    w,
    e,
    w1t: be.input(transpose(r.w1, d, w), [w, d]),
    w2t: be.input(transpose(r.w2, w, e), [e, w]),
    m1: be.input(new Float32Array(w * d), [w * d]),
    v1: be.input(new Float32Array(w * d), [w * d]),
    m2: be.input(new Float32Array(e * w), [e * w]),
    v2: be.input(new Float32Array(e * w), [e * w]),
  };
}

function releaseRouter(be: Backend, s: DeviceRouter): void {
  be.release(s.w1t, s.w2t, s.m1, s.v1, s.m2, s.v2);
}

/** Router weights in the public layout from the device's W1ᵀ, W2ᵀ read back. */
function routerFrom(s: DeviceRouter, w1t: Float32Array, w2t: Float32Array): RouterWeights {
  return { d: s.d, width: s.w, experts: s.e, w1: transpose(w1t, s.w, s.d), w2: transpose(w2t, s.e, s.w) };
}

/**
 * Records the forward pass and the loss backward for rows `idx[start … start+B)`: the row losses (under-
 * predictions weighted by `underWeight`) go to `rowLoss[lossOffset … +B)`. Returns the intermediates the
 * weight gradients need (caller releases).
 */
function recordForward(
  be: Backend,
  s: DeviceRouter,
  x: Tensor,
  t: Tensor,
  idx: Tensor,
  start: number,
  B: number,
  rowLoss: Tensor,
  lossOffset: number,
  underWeight = 1,
) {
  const xb = be.gatherRows(x, idx, start, B); // [B, d]
  const tb = be.gatherRows(t, idx, start, B); // [B, E]
  const h = be.matmul(xb, s.w1t, { transB: true, act: "relu" }); // [B, w]
  const z = be.matmul(h, s.w2t, { transB: true }); // [B, E], before abs
  const { g, gT } = be.routerGrad(z, tb, rowLoss, lossOffset, underWeight); // [B, E], [E, B]
  be.release(tb, z);
  return { xb, h, g, gT };
}

/**
 * Records one training step (forward, backward, AdamW on both layers). Returns the weight gradients
 * dW1ᵀ [w, d] and dW2ᵀ [E, w] (the caller releases them).
 */
function recordStep(
  be: Backend,
  s: DeviceRouter,
  x: Tensor,
  t: Tensor,
  idx: Tensor,
  start: number,
  B: number,
  rowLoss: Tensor,
  hp: AdamWStep,
  underWeight: number,
): { dw1t: Tensor; dw2t: Tensor } {
  const { xb, h, g, gT } = recordForward(be, s, x, t, idx, start, B, rowLoss, start, underWeight);
  const dw2t = be.matmul(gT, h); // [E, w] = gᵀ·h
  const dh = be.matmul(g, s.w2t); // [B, w] = g·W2ᵀ, recorded before the update of W2ᵀ
  const dpreT = be.reluGrad(dh, h, true); // [w, B]
  const dw1t = be.matmul(dpreT, xb); // [w, d]
  be.adamW(s.w1t, dw1t, s.m1, s.v1, hp);
  be.adamW(s.w2t, dw2t, s.m2, s.v2, hp);
  be.release(xb, h, g, gT, dh, dpreT);
  return { dw1t, dw2t };
}

/** Bytes of the transient tensors one step allocates (for {@link FLUSH_BYTES}). */
function stepBytes(B: number, d: number, w: number, e: number): number {
  return 4 * (B * d + 2 * B * e + 2 * B * w + 2 * e * B + e * w + 2 * B * w + w * d);
}

function checkFits(fn: string, be: Backend, what: string, bytes: number): void {
  if (bytes > be.info.maxTensorBytes) {
    throw new RangeError(
      `${fn}: ${what} takes ${bytes} bytes, more than this backend binds at once (${be.info.maxTensorBytes}); ` +
        `train on the CPU (trainRouter) or with fewer samples`,
    );
  }
}

/**
 * Whether {@link trainRouterOnBackend} can hold a training set of this size on `be` (x and the targets must
 * each fit one binding).
 * @param be The backend.
 * @param n Number of samples.
 * @param d Input size.
 * @param experts Number of experts.
 * @returns True when both fit.
 */
export function routerTrainingFits(be: Backend, n: number, d: number, experts: number): boolean {
  return 4 * n * Math.max(d, experts) <= be.info.maxTensorBytes;
}

/**
 * Trains a D2DMoE router on a backend (the GPU when `be` is one), with the semantics of {@link trainRouter}:
 * the same validation and error messages (prefixed `trainRouterOnBackend`), the same seeded init, split and
 * per-epoch shuffles, and the same result fields; arithmetic is float32 on the device, so the router differs
 * from the CPU trainer's by rounding (on the tests' teacher data the final losses agree within 0.1%).
 *
 * Differences in behaviour: `onProgress` is called once per epoch (with `step` = the epoch's last step and
 * `trainLoss` = the epoch's mean batch loss), not after every step; `signal` is checked before every step is
 * recorded, but recording runs ahead of the device by up to an epoch, so an abort takes effect at the next
 * epoch boundary at the latest.
 *
 * @example
 * ```ts ignore
 * import { GpuContext } from "../gpu/context.ts";
 * import { GpuBackend } from "../ops/gpu_backend.ts";
 * using be = new GpuBackend(await GpuContext.create());
 * const res = await trainRouterOnBackend(be, x, targets, n, d, experts, { epochs: 20, lr: 3e-3 });
 * console.log(res.valLoss / res.valBaselineLoss);
 * ```
 *
 * @param be Backend to train on; every tensor it allocates is released (or freed) before this returns.
 * @param x Router inputs (the FFN inputs), [n, d] row-major.
 * @param targets Per-expert output L2 norms, [n, experts] row-major.
 * @param n Number of samples.
 * @param d Input size.
 * @param experts Number of experts.
 * @param opts Width, epochs, batch size, learning rate and schedule, weight decay, seed, validation
 *   fraction, progress callback, abort signal (see {@link RouterTrainOptions}) and the readback stall limit.
 * @returns The router, final train and validation losses, the validation baseline, and split sizes.
 * @throws {TypeError} If `x` or `targets` is not a Float32Array, or `signal` is not an AbortSignal.
 * @throws {RangeError} If a size or option is out of range, a length does not match, a value is not finite,
 *   the training split would be empty, or x or the targets are larger than the backend can bind.
 * @throws {GpuStallError} When a readback takes longer than the stall limit (`opts.stallMs`).
 * @throws {unknown} `opts.signal.reason` when the signal aborts; a device error if the GPU fails.
 */
export async function trainRouterOnBackend(
  be: Backend,
  x: Float32Array,
  targets: Float32Array,
  n: number,
  d: number,
  experts: number,
  opts: BackendRouterTrainOptions = {},
): Promise<RouterTrainResult> {
  const fn = "trainRouterOnBackend";
  if (opts.stallMs !== undefined && !(opts.stallMs > 0)) {
    throw new RangeError(`${fn}: stallMs must be a positive number of ms, got ${opts.stallMs}`);
  }
  // Readback limits: fixed when given, else adaptive (see BackendRouterTrainOptions.stallMs).
  let slowestRead = 0;
  const readLimit = () =>
    opts.stallMs ?? (slowestRead === 0 ? FIRST_READ_STALL_MS : Math.max(30_000, STALL_FACTOR * slowestRead));
  const timedRead = async (tensors: Tensor[], what: string) => {
    const t0 = performance.now();
    const out = await readWithin(be.read(tensors), readLimit(), `GPU router training: ${what}`);
    slowestRead = Math.max(slowestRead, performance.now() - t0);
    return out;
  };
  const plan = planRouterTraining(fn, x, targets, n, d, experts, opts);
  const { signal, nTrain, nVal, trainRows, valRows, rng, epochs, steps, stepsPerEpoch, batchSize: maxB } =
    plan;
  checkFits(fn, be, "x", 4 * n * d);
  checkFits(fn, be, "targets", 4 * n * experts);
  signal?.throwIfAborted();

  const tx = be.upload(x, [n, d], "router-train-x");
  const tt = be.upload(targets, [n, experts], "router-train-targets");
  let s: DeviceRouter | null = null;
  // Work in flight: tensors to give back once it is submitted.
  const transient: Tensor[] = [];
  try {
    s = uploadRouter(be, plan.init);
    const perStep = stepBytes(maxB, d, s.w, experts);
    let recorded = 0;
    let step = 0;
    for (let epoch = 1; epoch <= epochs; epoch++) {
      rng.shuffle(trainRows);
      const idx = be.input(Uint32Array.from(trainRows), [nTrain]);
      const rowLoss = be.alloc([nTrain]);
      transient.push(idx, rowLoss);
      for (let start = 0; start < nTrain; start += maxB) {
        signal?.throwIfAborted();
        const B = Math.min(maxB, nTrain - start);
        const lr = routerLearningRate(plan, step);
        step++;
        const { dw1t, dw2t } = recordStep(be, s, tx, tt, idx, start, B, rowLoss, {
          lr,
          weightDecay: plan.weightDecay,
          step,
        }, plan.underWeight);
        be.release(dw1t, dw2t);
        recorded += perStep;
        if ((step % STEPS_PER_SUBMIT === 0 || recorded > FLUSH_BYTES) && start + maxB < nTrain) {
          be.flush();
          recorded = 0;
        }
      }
      // Submits the epoch and waits for it before recording the next one (see the module note).
      const [losses] = await timedRead([rowLoss], `epoch ${epoch}'s readback`);
      recorded = 0;
      be.release(...transient.splice(0));
      let sum = 0;
      for (let i = 0; i < nTrain; i++) sum += losses[i];
      const done = epoch * stepsPerEpoch;
      opts.onProgress?.({ epoch, epochs, step: done, steps, trainLoss: sum / (nTrain * experts) });
    }

    // Final scoring of the float32 router, in chunks, rows ordered validation first.
    const evalIdx = be.input(Uint32Array.from([...valRows, ...trainRows]), [n]);
    const lossAll = be.alloc([n]);
    transient.push(evalIdx, lossAll);
    const chunk = Math.max(
      1,
      Math.min(n, Math.max(maxB, 1024), Math.floor(be.info.maxTensorBytes / (4 * Math.max(d, s.w, experts)))),
    );
    for (let start = 0; start < n; start += chunk) {
      const C = Math.min(chunk, n - start);
      const f = recordForward(be, s, tx, tt, evalIdx, start, C, lossAll, start);
      be.release(f.xb, f.h, f.g, f.gT);
    }
    const [rowLoss, w1t, w2t] =
      (await timedRead([lossAll, s.w1t, s.w2t], "the final readback")) as Float32Array[];
    let valSum = 0, trainSum = 0;
    for (let i = 0; i < nVal; i++) valSum += rowLoss[i];
    for (let i = nVal; i < n; i++) trainSum += rowLoss[i];
    return {
      router: routerFrom(s, w1t, w2t),
      trainLoss: trainSum / (nTrain * experts),
      valLoss: nVal > 0 ? valSum / (nVal * experts) : NaN,
      valBaselineLoss: routerValBaseline(targets, experts, trainRows, valRows),
      epochs,
      samples: { train: nTrain, val: nVal },
    };
  } finally {
    be.release(...transient);
    if (s) releaseRouter(be, s);
    // Recorded work may still use x and the targets: submit it before their buffers are destroyed.
    try {
      be.flush();
    } catch {
      // The original error (e.g. a lost device) is the one to report.
    }
    be.free(tx);
    be.free(tt);
  }
}

/** Result of {@link routerStepOnBackend}. */
export interface RouterStepResult {
  /** Loss of the batch before the step (mean over rows and experts). */
  loss: number;
  /** dL/dW1, [d, width] (the public layout). */
  gradW1: Float32Array;
  /** dL/dW2, [width, experts]. */
  gradW2: Float32Array;
  /** The router after one AdamW step from zero moments. */
  router: RouterWeights;
}

/**
 * One training step of {@link trainRouterOnBackend} on one batch, from zero optimiser moments, by the same
 * recorded kernels (exposed for gradient checks against the CPU trainer's `routerLossAndGrad`).
 * @param be Backend.
 * @param router Router before the step.
 * @param x Batch inputs, [n, d] row-major.
 * @param targets Batch targets, [n, experts] row-major.
 * @param n Rows in the batch.
 * @param hp AdamW learning rate, weight decay and 1-based step count (for the bias corrections).
 * @param underWeight Weight on squared errors of under-predictions (default 1: plain MSE).
 * @returns The batch loss, both gradients and the updated router.
 * @throws {RangeError} If `n` is not a positive integer or a length does not match the router's sizes.
 */
export async function routerStepOnBackend(
  be: Backend,
  router: RouterWeights,
  x: Float32Array,
  targets: Float32Array,
  n: number,
  hp: AdamWStep,
  underWeight = 1,
): Promise<RouterStepResult> {
  const { d, width, experts } = router;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`routerStepOnBackend: n must be ≥ 1, got ${n}`);
  if (x.length !== n * d || targets.length !== n * experts) {
    throw new RangeError(
      `routerStepOnBackend: x and targets must hold n·d = ${n * d} and n·experts = ${n * experts} values`,
    );
  }
  if (router.w1.length !== d * width || router.w2.length !== width * experts) {
    throw new RangeError("routerStepOnBackend: router weights do not match its sizes");
  }
  const tx = be.input(x, [n, d]), tt = be.input(targets, [n, experts]);
  const idx = be.input(Uint32Array.from({ length: n }, (_, i) => i), [n]);
  const rowLoss = be.alloc([n]);
  const s = uploadRouter(be, router);
  try {
    const { dw1t, dw2t } = recordStep(be, s, tx, tt, idx, 0, n, rowLoss, hp, underWeight);
    try {
      const [l, g1t, g2t, w1t, w2t] = (await be.read([rowLoss, dw1t, dw2t, s.w1t, s.w2t])) as Float32Array[];
      let sum = 0;
      for (const v of l) sum += v;
      return {
        loss: sum / (n * experts),
        gradW1: transpose(g1t, width, d),
        gradW2: transpose(g2t, experts, width),
        router: routerFrom(s, w1t, w2t),
      };
    } finally {
      be.release(dw1t, dw2t);
    }
  } finally {
    be.release(tx, tt, idx, rowLoss);
    releaseRouter(be, s);
  }
}
