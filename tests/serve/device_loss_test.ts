/**
 * Device loss: in-flight requests end with 503, requests during the reload get 503 + Retry-After,
 * `/health` says "recovering" then "ok", the model is reloaded through the server's own loader, and
 * later requests succeed. On the CPU with a simulated loss signal (always runs), and on a real WebGPU
 * device destroyed with `device.destroy()` (software adapter; `D2D_REQUIRE_GPU=1` makes it mandatory).
 * @module
 */
import assert from "node:assert/strict";
import { DeviceLostError } from "../../src/gpu/errors.ts";
import { loadModel } from "../../src/model/load.ts";
import type { Model } from "../../src/model/model.ts";
import type { GpuBackend } from "../../src/ops/gpu_backend.ts";
import { createApp } from "../../src/serve/app.ts";
import { type HostedModel, ModelHost } from "../../src/serve/host.ts";
import { startServer } from "../../src/serve/server.ts";
import { fixture } from "../helpers/fixtures.ts";
import { GPU_REQUIRED, gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { expectError, Gate, model, post } from "./helpers.ts";

/** A CPU model whose "device" can be lost on demand. */
interface Fake extends HostedModel {
  lose(): void;
  failNext: boolean;
  disposed: boolean;
}

function fake(m: Model): Fake {
  let lose!: () => void;
  const lost = new Promise<void>((r) => lose = r);
  const f: Fake = {
    id: m.id,
    config: m.config,
    tokenizer: m.tokenizer,
    capabilities: m.capabilities,
    device: m.device,
    moe: m.moe,
    failNext: false,
    disposed: false,
    lose,
    embed: (...a) => m.embed(...a),
    classify: (...a) => m.classify(...a),
    generate: async (...a) => {
      if (f.failNext) {
        f.failNext = false;
        await new Promise((r) => setTimeout(r, 5));
        lose(); // the device goes; the call fails with something that is not DeviceLostError
        throw new Error("readback failed: validation error occurred");
      }
      return await m.generate(...a);
    },
    [Symbol.dispose]() {
      f.disposed = true;
      lose();
    },
  };
  lostSignals.set(f, lost);
  return f;
}
const lostSignals = new WeakMap<HostedModel, Promise<void>>();
const lostSignal = (m: HostedModel) => lostSignals.get(m) ?? null;

Deno.test("device loss (simulated): in-flight 503, reload through the loader, health recovering → ok", async () => {
  const cpu = await model("gpt2");
  const loaded: Fake[] = [];
  let gate: Gate | null = null;
  const load = async () => {
    if (gate) await gate.wait();
    const f = fake(cpu);
    loaded.push(f);
    return f;
  };
  const logs: string[] = [];
  using host = await ModelHost.create(load, { lostSignal, log: (l) => logs.push(l), retryAfterSeconds: 3 });
  const app = createApp(host, { health: () => host.health(), log: () => {} });
  const ok = await post(app, "/v1/completions", { prompt: [1, 2], max_tokens: 2 });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();

  gate = new Gate();
  loaded[0].failNext = true;
  const inflight = await post(app, "/v1/completions", { prompt: [1, 2], max_tokens: 2 });
  assert.equal(inflight.headers.get("retry-after"), "3");
  assert.equal((await expectError(inflight, 503)).code, "device_lost");

  const h = await app.request("/health");
  assert.equal(h.status, 503);
  const hb = await h.json();
  assert.equal(hb.status, "recovering");
  assert.match(hb.error.message, /reloading/);
  const during = await post(app, "/v1/completions", { prompt: [1, 2], max_tokens: 2 });
  assert.equal(during.headers.get("retry-after"), "3");
  assert.equal((await expectError(during, 503)).code, "device_lost");
  // Validation still answers 4xx while recovering: the request is wrong whatever the device does.
  await expectError(await post(app, "/v1/completions", { prompt: "x", max_tokens: -1 }), 400);

  gate.open();
  await host.ready();
  assert.equal(loaded.length, 2);
  assert.ok(loaded[0].disposed, "the lost model was disposed");
  const after = await app.request("/health");
  assert.equal(after.status, 200);
  const ab = await after.json();
  assert.equal(ab.status, "ok");
  assert.equal(ab.recoveries, 1);
  assert.equal(typeof ab.last_recovery_ms, "number");
  const again = await post(app, "/v1/completions", { prompt: [1, 2], max_tokens: 2 });
  assert.equal(again.status, 200);
  await again.body?.cancel();
  assert.ok(
    logs.some((l) => /device lost/.test(l)) && logs.some((l) => /recovered in/.test(l)),
    logs.join("\n"),
  );
});

Deno.test("device loss (simulated): the loss signal alone triggers recovery; failed reloads are retried", async () => {
  const cpu = await model("bert");
  const loaded: Fake[] = [];
  let failures = 0;
  const load = () => {
    if (loaded.length > 0 && failures < 2) {
      failures++;
      return Promise.reject(new Error(`no adapter yet (${failures})`));
    }
    const f = fake(cpu);
    loaded.push(f);
    return Promise.resolve(f);
  };
  using host = await ModelHost.create(load, { lostSignal, retryDelaysMs: [0, 5] });
  loaded[0].lose();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(host.state, "recovering");
  await host.ready();
  assert.equal(host.state, "ok");
  assert.equal(failures, 2);
  assert.equal(loaded.length, 2);
  assert.equal(host.recoveries, 1);
  const r = await host.embed([[2, 10, 3]]);
  assert.equal(r.embeddings.length, 1);
  // DeviceLostError from a call is a loss even without the signal.
  const h2 = await ModelHost.create(() => Promise.resolve(fake(cpu)), { lostSignal });
  const broken = h2.current as Fake;
  broken.embed = () => Promise.reject(new DeviceLostError("unknown", "driver reset"));
  await assert.rejects(h2.embed([[2, 3]]), (e: Error & { status?: number }) => e.status === 503);
  await h2.ready();
  assert.equal(h2.recoveries, 1);
  h2[Symbol.dispose]();
});

Deno.test("device loss (simulated): closing the host stops a recovery that keeps failing", async () => {
  const cpu = await model("bert");
  let calls = 0;
  const host = await ModelHost.create(() => {
    if (calls++ === 0) return Promise.resolve(fake(cpu));
    return Promise.reject(new Error("still no device"));
  }, { lostSignal, retryDelaysMs: [0, 10_000] });
  const done = host.recover("test");
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(host.health().status, "recovering");
  assert.match(host.health().message ?? "", /attempt 1 failed: still no device/);
  host[Symbol.dispose]();
  await done; // the 10 s back-off is cut short
  assert.equal(host.state, "closed");
  await assert.rejects(host.embed([[2, 3]]), (e: Error & { status?: number }) => e.status === 503);
});

const gpu = await testGpu();

Deno.test({
  name: "device loss (WebGPU): device.destroy() → in-flight 503 → recovering → reloaded → 200",
  ignore: !gpu && !GPU_REQUIRED,
  ...gpuTestOptions,
  async fn() {
    const backend = Deno.env.get("D2D_TEST_PROVIDER") === "dawn" ? "dawn" : "webgpu";
    const dir = fixture("tiny-gpt2-relu");
    let gate: Gate | null = null;
    let destroyAfterTokens = -1;
    let loads = 0;
    // The server's loader, plus a hook that destroys the device in the middle of a generation.
    const load = async (): Promise<HostedModel> => {
      if (gate) await gate.wait();
      const m = await loadModel(dir, { backend });
      loads++;
      const ctx = (m.backend as GpuBackend).ctx;
      const hosted: HostedModel = {
        id: m.id,
        config: m.config,
        tokenizer: m.tokenizer,
        capabilities: m.capabilities,
        device: m.device,
        moe: m.moe,
        backend: m.backend,
        embed: (...a: Parameters<Model["embed"]>) => m.embed(...a),
        classify: (...a: Parameters<Model["classify"]>) => m.classify(...a),
        generate: (prompt: number[] | string, o: Parameters<Model["generate"]>[1] = {}) =>
          m.generate(prompt, {
            ...o,
            onToken: (id) => {
              if (destroyAfterTokens >= 0 && destroyAfterTokens-- === 0) ctx.device.destroy();
              return o.onToken?.(id);
            },
          }),
        [Symbol.dispose]: () => m[Symbol.dispose](),
      };
      return hosted;
    };
    using host = await ModelHost.create(load, { retryAfterSeconds: 2 });
    await using server = startServer(createApp(host, { health: () => host.health(), log: () => {} }), {
      hostname: "127.0.0.1",
      port: 0,
    });
    const complete = () =>
      fetch(`${server.url}/v1/completions`, {
        method: "POST",
        body: JSON.stringify({ prompt: [10, 336, 491], max_tokens: 8, temperature: 0 }),
      });
    const first = await complete();
    assert.equal(first.status, 200, await first.clone().text());
    const want = (await first.json()).choices[0].token_ids;

    // 1. Lost in the middle of a generation: that request ends with 503; new ones get 503 + Retry-After.
    gate = new Gate();
    destroyAfterTokens = 2;
    const inflight = await complete();
    assert.equal((await expectError(inflight, 503)).code, "device_lost");
    assert.equal(inflight.headers.get("retry-after"), "2");
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 503);
    assert.equal((await health.json()).status, "recovering");
    const during = await complete();
    assert.equal(during.headers.get("retry-after"), "2");
    await expectError(during, 503);
    gate.open();
    gate = null;
    await host.ready();
    const back = await complete();
    assert.equal(back.status, 200);
    assert.deepEqual((await back.json()).choices[0].token_ids, want);

    // 2. Lost while idle: `device.lost` alone starts the reload. Time it to the first good answer.
    const t0 = performance.now();
    const device = (host.current.backend as GpuBackend).ctx.device;
    device.destroy();
    await device.lost;
    let status = 0;
    const seen = new Set<number>();
    while ((status !== 200 || host.recoveries < 2) && performance.now() - t0 < 30_000) {
      const r = await fetch(`${server.url}/health`);
      status = r.status;
      seen.add(status);
      await r.body?.cancel();
      if (status !== 200) await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok([...seen].every((s) => s === 200 || s === 503), [...seen].join());
    const healthyMs = performance.now() - t0;
    const ok = await complete();
    const firstAnswerMs = performance.now() - t0;
    assert.equal(ok.status, 200);
    assert.deepEqual((await ok.json()).choices[0].token_ids, want);
    assert.equal(host.recoveries, 2);
    assert.equal(loads, 3);
    console.log(
      `device-loss recovery (${host.device.description}): reload ${host.lastRecoveryMs?.toFixed(0)} ms, ` +
        `/health 200 after ${healthyMs.toFixed(0)} ms, first completion after ${
          firstAnswerMs.toFixed(0)
        } ms ` +
        `(health statuses seen: ${[...seen].join(", ")})`,
    );
  },
});
