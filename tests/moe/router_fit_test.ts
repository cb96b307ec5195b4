import assert from "node:assert/strict";
import { GpuStallError } from "../../src/gpu/errors.ts";
import { fitRouter, trainsOnGpu } from "../../src/moe/router_fit.ts";
import { trainRouter } from "../../src/moe/router_train.ts";
import { trainRouterOnBackend } from "../../src/moe/router_train_gpu.ts";
import type { Backend } from "../../src/ops/backend.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import { Rng } from "../../src/util/rng.ts";

const backend = (kind: "gpu" | "cpu", fallback: boolean) =>
  ({ info: { kind, fallback } }) as unknown as Backend;

Deno.test("trainsOnGpu: a hardware GPU on auto, any GPU when asked, never one the samples do not fit", () => {
  const hw = backend("gpu", false), sw = backend("gpu", true), cpu = backend("cpu", false);
  assert.equal(trainsOnGpu(hw), true, "auto: the hardware GPU");
  assert.equal(trainsOnGpu(sw), false, "auto: not a software adapter (slower than the CPU trainer)");
  assert.equal(trainsOnGpu(hw, "cpu"), false);
  assert.equal(trainsOnGpu(sw, "gpu"), true, "asked for: also a software adapter");
  assert.equal(trainsOnGpu(hw, "gpu", false), false, "samples that do not fit one binding");
  assert.equal(trainsOnGpu(cpu, "gpu"), false, "no GPU");
});

/** A CPU backend that passes for a hardware GPU and whose readbacks never settle (the H200 stall). */
function stallingBackend(): Backend {
  const cpu = new CpuBackend();
  return new Proxy(cpu, {
    get(target, key) {
      if (key === "info") return { ...target.info, kind: "gpu", fallback: false };
      if (key === "read") return () => new Promise(() => {});
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as Backend;
}

function teacherData(n: number, d: number, e: number) {
  const rng = new Rng(11);
  const x = Float32Array.from({ length: n * d }, () => rng.normal());
  const y = Float32Array.from({ length: n * e }, (_, i) => Math.abs(x[Math.floor(i / e) * d + (i % d)]));
  return { x, y };
}

Deno.test("trainRouterOnBackend: a readback that never settles is a GpuStallError after stallMs, not a hang", async () => {
  const n = 40, d = 6, e = 3;
  const { x, y } = teacherData(n, d, e);
  const t0 = performance.now();
  await assert.rejects(
    trainRouterOnBackend(stallingBackend(), x, y, n, d, e, { epochs: 2, stallMs: 50 }),
    (err: Error) => err instanceof GpuStallError && /epoch 1's readback did not complete/.test(err.message),
  );
  assert.ok(performance.now() - t0 < 5000, "gave up soon after the limit");
  await assert.rejects(
    trainRouterOnBackend(new CpuBackend(), x, y, n, d, e, { stallMs: 0 }),
    /stallMs must be a positive number/,
  );
});

Deno.test("fitRouter: when the GPU trainer stalls, the router trains on the CPU and says why", async () => {
  const n = 40, d = 6, e = 3;
  const { x, y } = teacherData(n, d, e);
  const opts = { epochs: 3, seed: 5, stallMs: 50 };
  const r = await fitRouter(stallingBackend(), x, y, n, d, e, opts, "gpu");
  assert.equal(r.device, "cpu");
  assert.match(r.stall ?? "", /did not complete in 0 s/);
  const ref = trainRouter(x, y, n, d, e, opts);
  assert.deepEqual(r.router, ref.router, "the CPU trainer's router, as if asked for the CPU");
  const direct = await fitRouter(stallingBackend(), x, y, n, d, e, opts, "cpu");
  assert.equal(direct.stall, undefined, "no GPU asked for: no stall");
});
