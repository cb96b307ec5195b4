import assert from "node:assert/strict";
import {
  initRouter,
  routerForward,
  routerLossAndGrad,
  type RouterWeights,
  trainRouter,
} from "../../src/moe/router_train.ts";
import { Rng } from "../../src/util/rng.ts";

function randn(len: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: len }, () => scale * rng.normal());
}

/** Independent float64 reference: scores |ReLU(x·w1)·w2| for row-major w1 [d, w], w2 [w, E]. */
function refScores(
  w1: Float64Array,
  w2: Float64Array,
  x: Float32Array,
  n: number,
  d: number,
  w: number,
  e: number,
): Float64Array {
  const out = new Float64Array(n * e);
  for (let b = 0; b < n; b++) {
    const h = new Float64Array(w);
    for (let j = 0; j < w; j++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += x[b * d + i] * w1[i * w + j];
      h[j] = Math.max(0, s);
    }
    for (let k = 0; k < e; k++) {
      let s = 0;
      for (let j = 0; j < w; j++) s += h[j] * w2[j * e + k];
      out[b * e + k] = Math.abs(s);
    }
  }
  return out;
}

function refLoss(
  w1: Float64Array,
  w2: Float64Array,
  x: Float32Array,
  t: Float32Array,
  n: number,
  d: number,
  w: number,
  e: number,
  underWeight = 1,
): number {
  const s = refScores(w1, w2, x, n, d, w, e);
  let l = 0;
  for (let i = 0; i < n * e; i++) l += (s[i] < t[i] ? underWeight : 1) * (s[i] - t[i]) ** 2;
  return l / (n * e);
}

Deno.test("initRouter: PyTorch nn.Linear bounds, seeded", () => {
  const r = initRouter(64, 16, 8, 5);
  assert.equal(r.w1.length, 64 * 16);
  assert.equal(r.w2.length, 16 * 8);
  const b1 = 1 / Math.sqrt(64), b2 = 1 / Math.sqrt(16);
  assert.ok(r.w1.every((v) => Math.abs(v) <= b1));
  assert.ok(r.w2.every((v) => Math.abs(v) <= b2));
  // Uniform on [−b, b] has standard deviation b/√3.
  const std = Math.sqrt(r.w1.reduce((s, v) => s + v * v, 0) / r.w1.length);
  assert.ok(Math.abs(std - b1 / Math.sqrt(3)) < 0.1 * b1);
  assert.deepEqual(initRouter(64, 16, 8, 5), r);
  assert.notDeepEqual(initRouter(64, 16, 8, 6).w1, r.w1);
});

Deno.test("routerForward: matches a float64 reference and is non-negative", () => {
  const d = 7, w = 9, e = 5, n = 11;
  const r = initRouter(d, w, e, 1);
  const x = randn(n * d, 2);
  const out = routerForward(r, x, n);
  const ref = refScores(new Float64Array(r.w1), new Float64Array(r.w2), x, n, d, w, e);
  assert.equal(out.length, n * e);
  for (let i = 0; i < out.length; i++) {
    assert.ok(out[i] >= 0);
    assert.ok(Math.abs(out[i] - ref[i]) < 1e-6, `${i}: ${out[i]} vs ${ref[i]}`);
  }
});

for (const under of [1, 3]) {
  Deno.test(`routerLossAndGrad: gradients match central finite differences (under-prediction weight ${under})`, () => {
    gradientCheck(under);
  });
}

function gradientCheck(under: number) {
  const d = 5, w = 7, e = 4, n = 6;
  const r = initRouter(d, w, e, 3);
  const x = randn(n * d, 4);
  const t = randn(n * e, 5, 0.5).map(Math.abs);
  const { loss, gradW1, gradW2 } = routerLossAndGrad(r, x, t, n, under);
  const w1 = new Float64Array(r.w1), w2 = new Float64Array(r.w2);
  // The weighted loss at the current (possibly perturbed) weights.
  const lossNow = (weight = under) => refLoss(w1, w2, x, t, n, d, w, e, weight);
  assert.ok(Math.abs(loss - lossNow()) < 1e-12);
  if (under !== 1) {
    assert.ok(loss > lossNow(1) * 1.01, "some rows under-predict, so the weighted loss is larger");
  }
  const eps = 1e-6;
  const check = (p: Float64Array, grad: Float64Array, name: string) => {
    for (let i = 0; i < p.length; i++) {
      const orig = p[i];
      p[i] = orig + eps;
      const lp = lossNow();
      p[i] = orig - eps;
      const lm = lossNow();
      p[i] = orig;
      const fd = (lp - lm) / (2 * eps);
      assert.ok(
        Math.abs(fd - grad[i]) <= 1e-6 + 1e-5 * Math.abs(fd),
        `${name}[${i}]: analytic ${grad[i]}, numeric ${fd}`,
      );
    }
  };
  check(w1, gradW1, "gradW1");
  check(w2, gradW2, "gradW2");
  // Some hidden units must be inactive on some rows for the ReLU path to be exercised.
  assert.ok(gradW1.some((v) => v !== 0));
}

Deno.test("trainRouter: an under-prediction weight below 1 is a clear RangeError", () => {
  assert.throws(
    () => trainRouter(new Float32Array(4), new Float32Array(2), 2, 2, 1, { underWeight: 0.5 }),
    /opts.underWeight must be a number ≥ 1, got 0.5/,
  );
});

Deno.test("routerLossAndGrad: abs and ReLU have zero gradient at exactly 0", () => {
  // x = 0 makes every pre-activation and output exactly 0.
  const r = initRouter(3, 4, 2, 1);
  const g = routerLossAndGrad(r, new Float32Array(3), Float32Array.of(1, 2), 1);
  assert.equal(g.loss, (1 + 4) / 2);
  assert.ok(g.gradW1.every((v) => v === 0));
  assert.ok(g.gradW2.every((v) => v === 0));
});

Deno.test("trainRouter: learns a teacher router far below the mean baseline", () => {
  const d = 16, w = 32, e = 8, n = 3000;
  const teacher = initRouter(d, w, e, 77);
  const x = randn(n * d, 8);
  const t = routerForward(teacher, x, n);
  const progress: number[] = [];
  // A 2× wider student: with the teacher's exact width, some seeds strand a few ReLU units and stall near
  // 10–15% of the baseline; at 2× every seed tried (12) ended below 6%.
  const res = trainRouter(x, t, n, d, e, {
    width: 2 * w,
    epochs: 30,
    batchSize: 32,
    lr: 3e-3,
    seed: 1,
    onProgress: (p) => {
      if (p.step === p.steps) progress.push(p.trainLoss);
      assert.ok(p.step >= 1 && p.step <= p.steps && p.epoch <= p.epochs);
    },
  });
  assert.deepEqual(res.samples, { train: 2700, val: 300 });
  assert.equal(res.epochs, 30);
  assert.equal(progress.length, 1);
  assert.ok(res.valLoss < 0.1 * res.valBaselineLoss, `val ${res.valLoss} vs baseline ${res.valBaselineLoss}`);
  assert.ok(res.trainLoss < 0.1 * res.valBaselineLoss);
  // Reported losses are those of the returned float32 router.
  const out = routerForward(res.router, x, n);
  let all = 0;
  for (let i = 0; i < n * e; i++) all += (out[i] - t[i]) ** 2;
  const pooled = (res.trainLoss * 2700 + res.valLoss * 300) / n;
  assert.ok(Math.abs(all / (n * e) - pooled) < 1e-6 * pooled + 1e-12);
});

Deno.test("trainRouter: deterministic for a seed; the seed matters", () => {
  const d = 8, e = 4, n = 200;
  const x = randn(n * d, 9);
  const t = randn(n * e, 10).map(Math.abs);
  const opts = { width: 8, epochs: 2, batchSize: 16, seed: 42 };
  const a = trainRouter(x, t, n, d, e, opts);
  const b = trainRouter(x, t, n, d, e, opts);
  assert.deepEqual(a, b);
  const c = trainRouter(x, t, n, d, e, { ...opts, seed: 43 });
  assert.notDeepEqual(c.router.w1, a.router.w1);
  const k = trainRouter(x, t, n, d, e, { ...opts, schedule: "constant", valFraction: 0 });
  assert.deepEqual(k.samples, { train: 200, val: 0 });
  assert.ok(Number.isNaN(k.valLoss) && Number.isNaN(k.valBaselineLoss));
  assert.ok(Number.isFinite(k.trainLoss));
});

Deno.test("trainRouter: aborts through the signal", () => {
  const d = 4, e = 2, n = 100;
  const x = randn(n * d, 11);
  const t = randn(n * e, 12).map(Math.abs);
  const ac = new AbortController();
  let steps = 0;
  assert.throws(
    () =>
      trainRouter(x, t, n, d, e, {
        width: 4,
        epochs: 5,
        batchSize: 10,
        signal: ac.signal,
        onProgress: (p) => {
          steps = p.step;
          if (p.step === 3) ac.abort(new Error("stop here"));
        },
      }),
    /stop here/,
  );
  assert.equal(steps, 3);
  assert.throws(
    () => trainRouter(x, t, n, d, e, { signal: AbortSignal.abort() }),
    (err: unknown) => err instanceof DOMException && err.name === "AbortError",
  );
});

Deno.test("trainRouter / routerForward: input validation names the argument", () => {
  const d = 4, e = 3, n = 10;
  const x = randn(n * d, 13);
  const t = randn(n * e, 14).map(Math.abs);
  const bad = (f: () => unknown, type: typeof RangeError | typeof TypeError, re: RegExp) =>
    assert.throws(f, (err: unknown) => err instanceof type && re.test((err as Error).message));
  bad(() => trainRouter(x.subarray(1), t, n, d, e), RangeError, /x\.length/);
  bad(() => trainRouter(x, t.subarray(1), n, d, e), RangeError, /targets\.length/);
  const xn = x.slice();
  xn[5] = NaN;
  bad(() => trainRouter(xn, t, n, d, e), RangeError, /x\[5\] is not finite/);
  const tn = t.slice();
  tn[2] = Infinity;
  bad(() => trainRouter(x, tn, n, d, e), RangeError, /targets\[2\] is not finite/);
  bad(
    () => trainRouter(Array.from(x) as unknown as Float32Array, t, n, d, e),
    TypeError,
    /x must be a Float32Array/,
  );
  bad(() => trainRouter(x, new Float64Array(t) as unknown as Float32Array, n, d, e), TypeError, /targets/);
  bad(() => trainRouter(x, t, 0, d, e), RangeError, /\bn must/);
  bad(() => trainRouter(x, t, n, 2.5, e), RangeError, /\bd must/);
  bad(() => trainRouter(x, t, n, d, -1), RangeError, /experts must/);
  bad(() => trainRouter(x, t, n, d, e, { width: 0 }), RangeError, /opts\.width/);
  bad(() => trainRouter(x, t, n, d, e, { epochs: 1.5 }), RangeError, /opts\.epochs/);
  bad(() => trainRouter(x, t, n, d, e, { batchSize: 0 }), RangeError, /opts\.batchSize/);
  bad(() => trainRouter(x, t, n, d, e, { lr: NaN }), RangeError, /opts\.lr/);
  bad(() => trainRouter(x, t, n, d, e, { weightDecay: -1 }), RangeError, /opts\.weightDecay/);
  bad(() => trainRouter(x, t, n, d, e, { valFraction: 1 }), RangeError, /opts\.valFraction/);
  bad(() => trainRouter(x, t, 1, d, e, { valFraction: 0.9 }), RangeError, /x\.length/);
  bad(
    () => trainRouter(x.subarray(0, d), t.subarray(0, e), 1, d, e, { valFraction: 0.6 }),
    RangeError,
    /no training samples/,
  );
  const r: RouterWeights = initRouter(d, 5, e);
  bad(() => routerForward(r, x.subarray(2), n), RangeError, /x\.length/);
  bad(() => routerForward({ ...r, w2: r.w2.subarray(1) }, x, n), RangeError, /router\.w2\.length/);
  bad(() => routerForward(r, xn, n), RangeError, /x\[5\]/);
  bad(() => routerLossAndGrad(r, x, t.subarray(3), n), RangeError, /targets\.length/);
});
