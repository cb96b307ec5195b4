import assert from "node:assert/strict";
import { join } from "node:path";
import { assertClose } from "../helpers/close.ts";
import { fixture } from "../helpers/fixtures.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { convert } from "../../src/moe/convert.ts";
import {
  initRouter,
  routerForward,
  routerLossAndGrad,
  type RouterTrainOptions,
  trainRouter,
} from "../../src/moe/router_train.ts";
import { routerStepOnBackend, trainRouterOnBackend } from "../../src/moe/router_train_gpu.ts";
import type { Backend } from "../../src/ops/backend.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import type { GpuBackend } from "../../src/ops/gpu_backend.ts";
import { Rng } from "../../src/util/rng.ts";

const gpu = await testGpu();
const cpu = new CpuBackend();
const backends: [string, Backend | null][] = [["cpu", cpu], ["gpu", gpu]];

function randn(len: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: len }, () => scale * rng.normal());
}

/** Runs `f` and checks the backend's pool and weight memory are back where they started. */
async function noLeaks<T>(be: Backend, f: () => Promise<T>): Promise<T> {
  const ctx = (be as GpuBackend).ctx;
  const live = ctx?.pool.stats.live, weights = ctx?.weightBytes;
  try {
    return await f();
  } finally {
    if (ctx) {
      assert.equal(ctx.pool.stats.live, live, "every pooled tensor released");
      assert.equal(ctx.weightBytes, weights, "every uploaded tensor freed");
    }
  }
}

for (const [name, be] of backends) {
  Deno.test({
    name:
      `routerStepOnBackend (${name}): gradients match the CPU trainer (under-predictions weighted), the update is AdamW's`,
    ignore: !be,
    ...gpuTestOptions,
    async fn() {
      const d = 9, w = 17, e = 5, n = 13;
      const r = initRouter(d, w, e, 3);
      const x = randn(n * d, 4), t = randn(n * e, 5, 0.5).map(Math.abs);
      const hp = { lr: 1e-2, weightDecay: 0.1, step: 1 };
      const got = await noLeaks(be!, () => routerStepOnBackend(be!, r, x, t, n, hp, 2.5));
      const ref = routerLossAndGrad(r, x, t, n, 2.5);
      assert.ok(Math.abs(got.loss - ref.loss) <= 1e-6 * ref.loss, `loss ${got.loss} vs ${ref.loss}`);
      assertClose(got.gradW1, ref.gradW1, { atol: 1e-7, rtol: 1e-4 }, "gradW1");
      assertClose(got.gradW2, ref.gradW2, { atol: 1e-7, rtol: 1e-4 }, "gradW2");
      // First AdamW step from zero moments, in float64, on the backend's own gradient.
      const adam = (p: Float32Array, g: Float32Array) =>
        Array.from(p, (v, i) => {
          const m = 0.1 * g[i], vv = 0.001 * g[i] * g[i];
          return v * (1 - hp.lr * hp.weightDecay) - hp.lr * (m / 0.1) / (Math.sqrt(vv / 0.001) + 1e-8);
        });
      assertClose(got.router.w1, adam(r.w1, got.gradW1), { atol: 1e-6, rtol: 1e-6 }, "w1 after");
      assertClose(got.router.w2, adam(r.w2, got.gradW2), { atol: 1e-6, rtol: 1e-6 }, "w2 after");
    },
  });

  Deno.test({
    name: `trainRouterOnBackend (${name}): one full-batch step equals the CPU trainer's`,
    ignore: !be,
    ...gpuTestOptions,
    async fn() {
      const d = 6, e = 3, n = 40;
      const x = randn(n * d, 6), t = randn(n * e, 7).map(Math.abs);
      const opts: RouterTrainOptions = {
        width: 10,
        epochs: 1,
        batchSize: 64,
        lr: 1e-2,
        weightDecay: 0.01,
        seed: 9,
        valFraction: 0.25,
      };
      const a = await noLeaks(be!, () => trainRouterOnBackend(be!, x, t, n, d, e, opts));
      const b = trainRouter(x, t, n, d, e, opts);
      assert.deepEqual(a.samples, b.samples);
      assert.equal(a.valBaselineLoss, b.valBaselineLoss);
      // An Adam step from zero moments moves each weight by ≈ lr·sign(g): where |g| is tiny, rounding may
      // flip the sign, so a few weights may differ by up to 2·lr.
      for (const [got, want] of [[a.router.w1, b.router.w1], [a.router.w2, b.router.w2]]) {
        let loose = 0;
        for (let i = 0; i < want.length; i++) {
          const diff = Math.abs(got[i] - want[i]);
          if (diff > 1e-6) loose++;
          assert.ok(diff <= 2 * 1e-2 + 1e-6, `${i}: ${got[i]} vs ${want[i]}`);
        }
        assert.ok(loose <= 2, `${loose} weights differ by more than 1e-6`);
      }
      assert.ok(
        Math.abs(a.trainLoss - b.trainLoss) <= 1e-3 * b.trainLoss,
        `${a.trainLoss} vs ${b.trainLoss}`,
      );
      assert.ok(Math.abs(a.valLoss - b.valLoss) <= 1e-3 * b.valLoss, `${a.valLoss} vs ${b.valLoss}`);
    },
  });

  Deno.test({
    name: `trainRouterOnBackend (${name}): learns a teacher router, close to the CPU trainer, no leaks`,
    ignore: !be,
    ...gpuTestOptions,
    async fn() {
      // As in router_train_test.ts: a 2× wider student of a random teacher.
      const d = 16, w = 32, e = 8, n = 3000;
      const teacher = initRouter(d, w, e, 77);
      const x = randn(n * d, 8);
      const t = routerForward(teacher, x, n);
      const progress: { epoch: number; step: number; steps: number; trainLoss: number }[] = [];
      const opts: RouterTrainOptions = { width: 2 * w, epochs: 30, batchSize: 32, lr: 3e-3, seed: 1 };
      const res = await noLeaks(be!, () =>
        trainRouterOnBackend(be!, x, t, n, d, e, {
          ...opts,
          onProgress: (p) =>
            progress.push({ epoch: p.epoch, step: p.step, steps: p.steps, trainLoss: p.trainLoss }),
        }));
      assert.deepEqual(res.samples, { train: 2700, val: 300 });
      assert.equal(res.epochs, 30);
      // Once per epoch, in order, ending at the last step.
      assert.deepEqual(progress.map((p) => p.epoch), Array.from({ length: 30 }, (_, i) => i + 1));
      assert.deepEqual(progress.map((p) => p.step), progress.map((p) => p.epoch * 85));
      assert.equal(progress[29].steps, 30 * 85);
      assert.ok(progress[29].trainLoss < 0.5 * progress[0].trainLoss, "the epoch loss falls");
      assert.ok(
        res.valLoss < 0.1 * res.valBaselineLoss,
        `val ${res.valLoss} vs baseline ${res.valBaselineLoss}`,
      );
      assert.ok(res.trainLoss < 0.1 * res.valBaselineLoss);
      // Reported losses are those of the returned router.
      const out = routerForward(res.router, x, n);
      let all = 0;
      for (let i = 0; i < n * e; i++) all += (out[i] - t[i]) ** 2;
      const pooled = (res.trainLoss * 2700 + res.valLoss * 300) / n;
      assert.ok(Math.abs(all / (n * e) - pooled) < 1e-4 * pooled, `${all / (n * e)} vs ${pooled}`);
      // The CPU trainer on the same data and seed ends in the same place, up to float32 drift.
      const ref = trainRouter(x, t, n, d, e, opts);
      assert.equal(res.valBaselineLoss, ref.valBaselineLoss);
      const ratio = res.valLoss / ref.valLoss;
      assert.ok(ratio > 0.5 && ratio < 2, `val loss ${res.valLoss} vs CPU ${ref.valLoss}`);
    },
  });

  Deno.test({
    name: `trainRouterOnBackend (${name}): input validation and aborts match the CPU trainer`,
    ignore: !be,
    ...gpuTestOptions,
    async fn() {
      const d = 4, e = 3, n = 10;
      const x = randn(n * d, 13);
      const t = randn(n * e, 14).map(Math.abs);
      const xn = x.slice(), tn = t.slice();
      xn[5] = NaN;
      tn[2] = Infinity;
      const cases: [Float32Array, Float32Array, number, number, number, RouterTrainOptions?][] = [
        [x.subarray(1), t, n, d, e],
        [x, t.subarray(1), n, d, e],
        [xn, t, n, d, e],
        [x, tn, n, d, e],
        [Array.from(x) as unknown as Float32Array, t, n, d, e],
        [x, new Float64Array(t) as unknown as Float32Array, n, d, e],
        [x, t, 0, d, e],
        [x, t, n, 2.5, e],
        [x, t, n, d, -1],
        [x, t, n, d, e, { width: 0 }],
        [x, t, n, d, e, { epochs: 1.5 }],
        [x, t, n, d, e, { batchSize: 0 }],
        [x, t, n, d, e, { lr: NaN }],
        [x, t, n, d, e, { weightDecay: -1 }],
        [x, t, n, d, e, { schedule: "linear" as "cosine" }],
        [x, t, n, d, e, { seed: Infinity }],
        [x, t, n, d, e, { valFraction: 1 }],
        [x, t, n, d, e, { signal: {} as AbortSignal }],
        [x.subarray(0, d), t.subarray(0, e), 1, d, e, { valFraction: 0.6 }],
      ];
      await noLeaks(be!, async () => {
        for (const [i, c] of cases.entries()) {
          let want: Error | undefined;
          try {
            trainRouter(...c);
          } catch (err) {
            want = err as Error;
          }
          assert.ok(want, `case ${i} must fail on the CPU trainer`);
          await assert.rejects(trainRouterOnBackend(be!, ...c), (err: Error) => {
            assert.equal(err.constructor, want!.constructor, `case ${i}`);
            assert.equal(
              err.message.replace("trainRouterOnBackend", "trainRouter"),
              want!.message,
              `case ${i}`,
            );
            return true;
          });
        }
        await assert.rejects(
          trainRouterOnBackend(be!, x, t, n, d, e, { signal: AbortSignal.abort() }),
          (err: unknown) => err instanceof DOMException && err.name === "AbortError",
        );
        // Aborted from the progress report: stops within an epoch of it, releasing everything.
        const ac = new AbortController();
        let epochs = 0;
        await assert.rejects(
          trainRouterOnBackend(be!, x, t, n, d, e, {
            width: 4,
            epochs: 6,
            batchSize: 3,
            signal: ac.signal,
            onProgress: (p) => {
              epochs = p.epoch;
              if (p.epoch === 2) ac.abort(new Error("stop here"));
            },
          }),
          /stop here/,
        );
        assert.equal(epochs, 2);
      });
      // A training set the backend cannot bind is refused up front.
      const small = new CpuBackend();
      small.info.maxTensorBytes = 4 * n * d - 4;
      await assert.rejects(trainRouterOnBackend(small, x, t, n, d, e), /x takes 160 bytes, more than/);
    },
  });
}

Deno.test({
  name: "convert: routers train on the GPU backend when the model runs there, and the manifest says so",
  ignore: !gpu,
  ...gpuTestOptions,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "d2d-router-gpu-test-" });
    try {
      const run = (be: Backend, out: string) =>
        convert(fixture("tiny-gpt2-relu"), {
          out: join(tmp, out),
          expertSize: 16,
          calibTokens: 300,
          routerEpochs: 2,
          backend: be,
          routerDevice: "gpu", // the software adapter would otherwise use the (faster) CPU trainer
          taus: [0, 1],
        });
      const g = await noLeaks(gpu!, () => run(gpu!, "gpu"));
      const c = await run(cpu, "cpu");
      const router = (m: typeof g.manifest) => m.provenance.router as Record<string, unknown>;
      assert.equal(router(g.manifest).device, "gpu");
      assert.equal(router(c.manifest).device, "cpu");
      // τ = 0 runs every expert: the τ table's first quality is the dense held-out perplexity on both (an
      // H200 conversion once printed 43.11 there for a model whose dense perplexity was ~16).
      const [g0, c0] = [g.manifest.calibration[0], c.manifest.calibration[0]];
      assert.equal(g0.tau, 0);
      assert.ok(g0.quality !== undefined && c0.quality !== undefined, "the τ table has a quality column");
      assert.ok(
        Math.abs(g0.quality - c0.quality) <= 1e-4 * c0.quality,
        `τ 0: ${g0.quality} vs ${c0.quality}`,
      );
      // Calibration data come from each backend's own forward passes, so they differ by rounding too.
      for (const [i, l] of g.manifest.layers.entries()) {
        const want = c.manifest.layers[i];
        assert.ok(Math.abs(l.router_val_loss! - want.router_val_loss!) <= 1e-3 * want.router_val_loss!);
        assert.ok(
          Math.abs(l.router_val_baseline! - want.router_val_baseline!) <= 1e-5 * want.router_val_baseline!,
        );
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "trainRouterOnBackend (gpu): later epochs reuse their bind groups (no native object per dispatch)",
  ignore: !gpu,
  ...gpuTestOptions,
  async fn() {
    // 500 steps an epoch: 5500 dispatches, more than the context's bind-group cache holds, so recording a
    // whole epoch into one submit would create a bind group for nearly every dispatch of every epoch.
    const d = 4, e = 3, n = 8000;
    const x = randn(n * d, 8), t = randn(n * e, 9).map(Math.abs);
    const device = gpu!.ctx.device;
    const create = device.createBindGroup;
    let created = 0;
    device.createBindGroup = function (desc: GPUBindGroupDescriptor) {
      created++;
      return create.call(this, desc);
    };
    try {
      const perRun: number[] = [];
      for (const epochs of [1, 3]) {
        created = 0;
        await noLeaks(
          gpu!,
          () => trainRouterOnBackend(gpu!, x, t, n, d, e, { width: 4, epochs, batchSize: 16 }),
        );
        perRun.push(created);
      }
      // Warm cache: the per-epoch buffers and the final scoring are the only new bindings.
      assert.ok(perRun[1] < 300, `bind groups created in a 3-epoch run after a 1-epoch run: ${perRun}`);
    } finally {
      device.createBindGroup = create;
    }
  },
});
