import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { routerGradRef } from "../../src/ops/router_grad_ref.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";

const be = await testGpu();

Deno.test("router_grad reference: sign(0) = 0, the 2/(B·E) scale and row sums", () => {
  const z = Float32Array.of(0, -2, 3, 1), t = Float32Array.of(1, 1, 1, 4);
  const r = routerGradRef(z, t, 2, 2);
  // |z| − t = [-1, 1, 2, -3]; scale = 2/4.
  assert.deepEqual(Array.from(r.g), [0, -0.5, 1, -1.5]);
  assert.deepEqual(Array.from(r.gT), [0, 1, -0.5, -1.5]);
  assert.deepEqual(Array.from(r.rowLoss), [2, 13]);
  // Under-predictions (residuals −1 and −3) weighted 2×.
  const u = routerGradRef(z, t, 2, 2, 2);
  assert.deepEqual(Array.from(u.g), [0, -0.5, 1, -3]);
  assert.deepEqual(Array.from(u.rowLoss), [3, 22]);
});

Deno.test({
  name:
    "router_grad: GPU equals reference (B=1, E=1, rows past one workgroup, exact zeros, under-prediction weight), losses at an offset",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const live = be!.ctx.pool.stats.live;
    for (
      const [B, E, off, under] of [[1, 1, 0, 1], [1, 7, 2, 1], [65, 3, 0, 1], [130, 48, 5, 1], [67, 5, 1, 3]]
    ) {
      const z = randomF32(B * E, B + E);
      z[0] = 0;
      const t = randomF32(B * E, B * E).map(Math.abs);
      const tz = be!.input(z, [B, E]), tt = be!.input(t, [B, E]);
      const loss = be!.input(new Float32Array(off + B + 1).fill(-1), [off + B + 1]);
      const { g, gT } = be!.routerGrad(tz, tt, loss, off, under);
      assert.deepEqual(g.shape, [B, E]);
      assert.deepEqual(gT.shape, [E, B]);
      const [gg, ggT, gl] = await be!.read([g, gT, loss]);
      const ref = routerGradRef(z, t, B, E, under);
      const tol = { atol: 1e-7, rtol: 1e-5 };
      assertClose(gg, ref.g, tol, `g ${B}x${E}`);
      assertClose(ggT, ref.gT, tol, `gT ${B}x${E}`);
      assert.equal(gg[0], 0, "sign(0) = 0");
      assertClose(gl.subarray(off, off + B), ref.rowLoss, { atol: 1e-6, rtol: 1e-5 }, `loss ${B}x${E}`);
      assert.ok(gl.subarray(0, off).every((v) => v === -1) && gl[off + B] === -1, "writes only its rows");
      be!.release(tz, tt, loss, g, gT);
    }
    assert.equal(be!.ctx.pool.stats.live, live);
  },
});

Deno.test({
  name: "router_grad: both backends reject mismatched shapes and row losses that do not fit",
  ignore: !be,
  ...gpuTestOptions,
  fn() {
    for (const b of [be!, new CpuBackend()]) {
      const z = b.input(randomF32(6, 1), [2, 3]), t = b.input(randomF32(6, 2), [3, 2]);
      const loss = b.alloc([3]);
      assert.throws(() => b.routerGrad(z, t, loss, 0), /targets are \[3,2\]/);
      assert.throws(() => b.routerGrad(z, z, loss, 2), /do not fit a vector of 3/);
      b.release(z, t, loss);
    }
  },
});
