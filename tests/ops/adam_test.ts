import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { adamWCoefficients, adamWRef } from "../../src/ops/adam_ref.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import type { Tensor } from "../../src/ops/tensor.ts";

const be = await testGpu();

Deno.test("adam reference: first step moves each weight by lr·sign(g), decay is decoupled", () => {
  const p = Float32Array.of(1, -1, 0.5, 2), g = Float32Array.of(0.3, -2, 0, 1e-3);
  const m = new Float32Array(4), v = new Float32Array(4);
  adamWRef(p, g, m, v, { lr: 0.1, weightDecay: 0.5, step: 1 });
  // decay 1 − 0.05; m̂ = g, v̂ = g², so the update is lr·g/(|g| + eps).
  const want = [0.95 - 0.1, -0.95 + 0.1, 0.475, 1.9 - 0.1 * 1e-3 / (1e-3 + 1e-8)];
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(p[i] - want[i]) < 2e-7, `${i}: ${p[i]} vs ${want[i]}`);
  assert.ok(Math.abs(m[1] - -0.2) < 1e-7 && Math.abs(v[1] - 0.004) < 1e-9);
  assert.throws(() => adamWCoefficients({ lr: 1, weightDecay: 0, step: 0 }), /step must be ≥ 1/);
  assert.throws(() => adamWCoefficients({ lr: NaN, weightDecay: 0, step: 1 }), /lr must/);
  assert.throws(() => adamWCoefficients({ lr: 1, weightDecay: -1, step: 1 }), /weightDecay must/);
});

Deno.test({
  name: "adam: GPU equals reference over several steps (n=1, n not a multiple of 256, weight decay)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const live = be!.ctx.pool.stats.live;
    for (const n of [1, 257, 1000]) {
      const p = randomF32(n, n), m = new Float32Array(n), v = new Float32Array(n);
      const tp = be!.input(p, [n]), tm = be!.input(m, [n]), tv = be!.input(v, [n]);
      const grads: Tensor[] = [];
      for (let step = 1; step <= 3; step++) {
        const g = randomF32(n, 100 * n + step, 0.1);
        g[0] = 0;
        const hp = { lr: 1e-2 / step, weightDecay: 0.1, step, beta2: step === 3 ? 0.99 : undefined };
        const tg = be!.input(g, [n]);
        grads.push(tg);
        be!.adamW(tp, tg, tm, tv, hp); // recorded: all three steps go in one submit
        adamWRef(p, g, m, v, hp);
      }
      const [gp, gm, gv] = await be!.read([tp, tm, tv]);
      assertClose(gp, p, { atol: 1e-6, rtol: 1e-5 }, `p n=${n}`);
      assertClose(gm, m, { atol: 1e-9, rtol: 1e-5 }, `m n=${n}`);
      assertClose(gv, v, { atol: 1e-12, rtol: 1e-5 }, `v n=${n}`);
      be!.release(tp, tm, tv, ...grads);
    }
    assert.equal(be!.ctx.pool.stats.live, live);
  },
});

Deno.test({
  name: "adam: both backends reject mismatched lengths",
  ignore: !be,
  ...gpuTestOptions,
  fn() {
    for (const b of [be!, new CpuBackend()]) {
      const a = b.alloc([4]), c = b.alloc([3]);
      assert.throws(() => b.adamW(a, a, a, c, { lr: 1, weightDecay: 0, step: 1 }), /one length/);
      b.release(a, c);
    }
  },
});
