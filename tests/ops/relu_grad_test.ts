import assert from "node:assert/strict";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { reluGradRef } from "../../src/ops/relu_grad_ref.ts";

const be = await testGpu();

Deno.test("relu_grad reference: masks on y > 0 (ReLU'(0) = 0) and transposes", () => {
  const dy = Float32Array.of(1, 2, 3, 4, 5, 6), y = Float32Array.of(0, 1, -0, 2, 0, 3);
  assert.deepEqual(Array.from(reluGradRef(dy, y, 2, 3)), [0, 2, 0, 4, 0, 6]);
  assert.deepEqual(Array.from(reluGradRef(dy, y, 2, 3, true)), [0, 4, 2, 0, 0, 6]);
});

Deno.test({
  name: "relu_grad: GPU equals reference, plain and transposed (1x1, 1 row, > 256 elements, odd shapes)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const live = be!.ctx.pool.stats.live;
    for (const [rows, cols] of [[1, 1], [1, 9], [7, 1], [33, 65], [300, 3]]) {
      const dy = randomF32(rows * cols, rows), y = randomF32(rows * cols, cols).map((v) => Math.max(v, 0));
      const tdy = be!.input(dy, [rows, cols]), ty = be!.input(y, [rows, cols]);
      const a = be!.reluGrad(tdy, ty), b = be!.reluGrad(tdy, ty, true);
      assert.deepEqual(b.shape, [cols, rows]);
      const [ga, gb] = await be!.read([a, b]);
      // A mask moves values: exact.
      assert.deepEqual(ga, reluGradRef(dy, y, rows, cols), `plain ${rows}x${cols}`);
      assert.deepEqual(gb, reluGradRef(dy, y, rows, cols, true), `transposed ${rows}x${cols}`);
      be!.release(tdy, ty, a, b);
    }
    assert.equal(be!.ctx.pool.stats.live, live);
  },
});
