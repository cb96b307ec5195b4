// The GPU layer: buffer pool reuse rules and counters, pipeline cache keys, device loss as a typed error.
import assert from "node:assert/strict";
import { GpuContext } from "../../src/gpu/context.ts";
import { BufferPool, sizeClass } from "../../src/gpu/buffer_pool.ts";
import { DeviceLostError } from "../../src/gpu/errors.ts";
import { pipelineKey } from "../../src/gpu/pipeline_cache.ts";
import { GpuBackend } from "../../src/ops/gpu_backend.ts";
import { GPU_REQUIRED, gpuTestOptions, testGpu } from "../helpers/gpu.ts";

const shared = await testGpu();

Deno.test("sizeClass: powers of two up to 4 KiB, then quarter steps; never smaller than asked", () => {
  assert.equal(sizeClass(1), 256);
  assert.equal(sizeClass(3000), 4096);
  assert.equal(sizeClass(257), 512);
  assert.equal(sizeClass(5000), 5120);
  for (const n of [4097, 10_000, 123_457, 50_000_000]) {
    const c = sizeClass(n);
    assert.ok(c >= n && c < n * 1.26, `${n} → ${c}`);
  }
});

Deno.test("pipelineKey: constants in any order give the same key", () => {
  assert.equal(pipelineKey("matmul", { B: 2, A: 1 }), pipelineKey("matmul", { A: 1, B: 2 }));
  assert.notEqual(pipelineKey("matmul", { A: 1 }), pipelineKey("matmul", { A: 2 }));
});

Deno.test({
  name: "BufferPool: a released buffer is reused only after a submit; counters return to zero",
  ignore: !shared,
  ...gpuTestOptions,
  fn() {
    const pool = new BufferPool(shared!.ctx.device);
    const a = pool.acquire(1000);
    pool.release(a);
    assert.deepEqual({ ...pool.stats, bytesHeld: 0 }, {
      live: 0,
      pending: 1,
      free: 0,
      created: 1,
      bytesHeld: 0,
    });
    const b = pool.acquire(1000);
    assert.notEqual(b, a, "not reused before the submit");
    pool.release(b);
    pool.onSubmitted();
    const c = pool.acquire(900);
    assert.ok(c === a || c === b, "reused after the submit");
    assert.throws(() => pool.release(a === c ? b : a), /not live/);
    pool.release(c);
    pool.onSubmitted();
    assert.equal(pool.stats.live, 0);
    pool.destroy();
    assert.equal(pool.stats.bytesHeld, 0);
  },
});

Deno.test({
  name:
    "BufferPool: free buffers go out oldest first, so a repeated allocation sequence gets the same buffers",
  ignore: !shared,
  ...gpuTestOptions,
  fn() {
    const pool = new BufferPool(shared!.ctx.device);
    const first = [pool.acquire(1000), pool.acquire(1000), pool.acquire(1000)];
    // Released in an order unlike the allocation order (a decode step frees intermediates as it goes).
    for (const i of [2, 0, 1]) pool.release(first[i]);
    pool.onSubmitted();
    const second = [pool.acquire(1000), pool.acquire(1000), pool.acquire(1000)];
    assert.deepEqual(second.map((b) => first.indexOf(b)), [0, 1, 2]);
    for (const i of [1, 2, 0]) pool.release(second[i]);
    pool.onSubmitted();
    assert.equal(pool.acquire(1000), first[0]);
    pool.destroy();
  },
});

Deno.test({
  name: "device loss: a destroyed device makes the next op throw DeviceLostError",
  ignore: !shared && !GPU_REQUIRED,
  ...gpuTestOptions,
  async fn() {
    const ctx = await GpuContext.create({ preference: "deno" });
    const be = new GpuBackend(ctx);
    const x = be.input(new Float32Array([1, 2, 3, 4]), [2, 2]);
    ctx.device.destroy();
    await ctx.device.lost;
    assert.throws(() => be.add(x, x), DeviceLostError);
    await assert.rejects(be.read([x]), DeviceLostError);
  },
});
