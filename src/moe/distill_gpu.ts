/**
 * Projection distillation (`distill.ts`) with the Adam loop on a backend: the same plan, split,
 * initialisation, schedule and result as {@link distillProjection}, the mini-batch arithmetic in our
 * kernels (matmul with bias / ReLU / residual epilogues, `reluGrad` for the masked transposes,
 * `gatherRows`, `adamW`). A ViT-base projection takes seconds on a GPU instead of minutes in TypeScript.
 *
 * Gradients are those of the CPU trainer times B·d_out/2 (the residual epilogue gives ŷ − y directly):
 * Adam is invariant to a gradient's scale, so the L1 term is scaled to match (λ·d_out/(2h) per unit).
 * @module
 */
import { transpose } from "../model/weight_loader.ts";
import type { Backend } from "../ops/backend.ts";
import type { Tensor } from "../ops/tensor.ts";
import {
  distillLearningRate,
  type DistillOptions,
  type DistillResult,
  finishDistillation,
  type MatmulFn,
  planDistillation,
} from "./distill.ts";
import { FLUSH_BYTES, STEPS_PER_SUBMIT } from "./router_train_gpu.ts";

/**
 * The backend's matmul as a {@link MatmulFn}: uploads the operands, multiplies, reads the product back.
 * @param be Backend.
 * @returns The function.
 */
export function backendMatmul(be: Backend): MatmulFn {
  return async (a, b, m, k, n, opts = {}, bias) => {
    const ta = be.input(a, [m, k]), tb = be.input(b, opts.transB ? [n, k] : [k, n]);
    const tBias = bias ? be.input(bias, [n]) : undefined;
    const c = be.matmul(ta, tb, { ...opts, bias: tBias });
    try {
      return (await be.read([c]))[0] as Float32Array;
    } finally {
      be.release(ta, tb, tBias, c);
    }
  };
}

/**
 * True when a distillation of n rows of width d (and outputs d_out) fits the backend's bindings.
 * @param be Backend.
 * @param n Rows.
 * @param d Input width.
 * @param dOut Output width.
 * @returns Whether the inputs and targets fit one binding each.
 */
export function distillationFits(be: Backend, n: number, d: number, dOut: number): boolean {
  return 4 * n * Math.max(d, dOut) <= be.info.maxTensorBytes;
}

/**
 * Distils y = x·W + b into a ReLU MLP with the training on `be` (see the module comment).
 * @param be Backend (a GPU for speed; the CPU backend gives the same function).
 * @param x Calibration inputs [n, d].
 * @param n Rows (at least 2).
 * @param w Projection [d, d_out].
 * @param b Bias [d_out].
 * @param opts Hidden width and training options.
 * @returns The MLP and its errors.
 * @throws {RangeError} On fewer than 2 rows, a non-positive hidden width, or rows that do not fit a binding.
 */
export async function distillProjectionOnBackend(
  be: Backend,
  x: Float32Array,
  n: number,
  w: Float32Array,
  b: Float32Array,
  opts: DistillOptions,
): Promise<DistillResult> {
  const mm = backendMatmul(be);
  const p = await planDistillation(x, n, w, b, opts, mm);
  const { d, dOut, h, mlp, nTrain, epochs, batch, rng } = p;
  if (!distillationFits(be, nTrain, d, dOut)) {
    throw new RangeError(`distillation: ${nTrain} rows of width ${Math.max(d, dOut)} exceed one binding`);
  }
  const owned: Tensor[] = [];
  const up = (a: Float32Array | Uint32Array, shape: number[]) => {
    const t = be.upload(a, shape);
    owned.push(t);
    return t;
  };
  const zerosLike = (t: Tensor) => up(new Float32Array(t.shape.reduce((a, c) => a * c, 1)), [...t.shape]);
  try {
    // Parameters as the kernels want them: W1 transposed ([h, d]) so its gradient is a plain product.
    const params = [
      up(transpose(mlp.w1, d, h), [h, d]),
      up(mlp.b1, [h]),
      up(mlp.w2, [h, dOut]),
      up(mlp.b2, [dOut]),
    ];
    const [w1t, b1, w2, b2] = params;
    const m1 = params.map(zerosLike), m2 = params.map(zerosLike); // Adam's first and second moments
    const tx = up(p.xTrain, [nTrain, d]);
    const negY = up(p.yTrain.map((v) => -v), [nTrain, dOut]);
    const l1 = p.lambda > 0 ? up(new Float32Array(h).fill(p.lambda * dOut / (2 * h)), [h]) : undefined;
    const ones = new Map<number, { row: Tensor; col: Tensor }>();
    const onesOf = (B: number) => {
      if (!ones.has(B)) {
        const one = new Float32Array(B).fill(1);
        ones.set(B, { row: up(one, [1, B]), col: up(one, [B, 1]) });
      }
      return ones.get(B)!;
    };
    const order = Uint32Array.from({ length: nTrain }, (_, i) => i);
    const perStep = 4 * batch * (2 * d + 3 * dOut + 4 * h) + 12 * (h * d + h * dOut);
    let step = 0, recorded = 0;
    for (let ep = 0; ep < epochs; ep++) {
      rng.shuffle(order);
      const idx = be.input(order, [nTrain]);
      for (let s0 = 0; s0 < nTrain; s0 += batch) {
        const B = Math.min(batch, nTrain - s0);
        const xb = be.gatherRows(tx, idx, s0, B);
        const ny = be.gatherRows(negY, idx, s0, B);
        const hid = be.matmul(xb, w1t, { transB: true, bias: b1, act: "relu" });
        const g = be.matmul(hid, w2, { bias: b2, residual: ny }); // ŷ − y
        const hT = be.reluGrad(hid, hid, true); // hidden ≥ 0, so this is its transpose
        const gW2 = be.matmul(hT, g);
        const gB2 = be.matmul(onesOf(B).row, g);
        const gH = be.matmul(g, w2, { transB: true, bias: l1 });
        const gZT = be.reluGrad(gH, hid, true);
        const gW1T = be.matmul(gZT, xb);
        const gB1 = be.matmul(gZT, onesOf(B).col);
        step++;
        const hp = { lr: distillLearningRate(p, step), weightDecay: 0, step };
        [gW1T, gB1, gW2, gB2].forEach((gr, k) => be.adamW(params[k], gr, m1[k], m2[k], hp));
        be.release(xb, ny, hid, g, hT, gW2, gB2, gH, gZT, gW1T, gB1);
        recorded += perStep;
        if (step % STEPS_PER_SUBMIT === 0 || recorded > FLUSH_BYTES) {
          be.flush();
          recorded = 0;
        }
        opts.onProgress?.({
          step: opts.label ?? "distillation",
          done: step,
          total: p.steps,
          detail: `epoch ${ep + 1}/${epochs}`,
        });
      }
      be.release(idx);
    }
    const [w1tOut, b1Out, w2Out, b2Out] = (await be.read(params)) as Float32Array[];
    mlp.w1.set(transpose(w1tOut, h, d));
    mlp.b1.set(b1Out);
    mlp.w2.set(w2Out);
    mlp.b2.set(b2Out);
  } finally {
    try {
      be.flush(); // recorded work may still use these buffers: submit it before they are destroyed
    } catch {
      // The original error (e.g. a lost device) is the one to report.
    }
    for (const t of owned) be.free(t);
  }
  return await finishDistillation(p, mm);
}
