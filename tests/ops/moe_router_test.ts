import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { moeRouterRef } from "../../src/ops/moe_router_ref.ts";

const be = await testGpu();

Deno.test({
  name:
    "moe_router: GPU equals reference (T=1, partial token tile, width not a multiple of 128) and zeroes counters",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    for (const [T, d, w, E] of [[1, 5, 3, 2], [11, 70, 130, 67], [17, 33, 256, 9]]) {
      const x = randomF32(T * d, T + d), r1 = randomF32(d * w, w), r2 = randomF32(w * E, E);
      const tx = be!.input(x, [T, d]), t1 = be!.input(r1, [d, w]), t2 = be!.input(r2, [w, E]);
      const counts = be!.input(new Uint32Array(E + 3).fill(7), [E + 3]);
      const scores = be!.moeRouter(tx, t1, t2, counts, 3);
      const [got, c] = await be!.read([scores, counts]);
      assertClose(
        got,
        moeRouterRef(x, r1, r2, { T, d, w, E }),
        { atol: 1e-4, rtol: 1e-4 },
        `router ${T}x${d}x${w}x${E}`,
      );
      assert.ok(got.every((v) => v >= 0), "scores are non-negative");
      assert.deepEqual(Array.from(c), [7, 7, 7, ...new Array(E).fill(0)]);
      be!.release(tx, t1, t2, counts, scores);
    }
  },
});
