import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { trainRouter } from "../../src/moe/router_train.ts";
import { setSimdOff, simdModule } from "../../src/ops/sgemm_wasm.ts";

Deno.test("trainRouter: the JavaScript products (no WebAssembly SIMD) train the same router as the WebAssembly ones", () => {
  // odd sizes: the 2 × 4 blocks of abt and the 4-row axpy of the W1 gradient both have remainders
  const n = 203, d = 19, E = 7;
  const x = randomF32(n * d, 1);
  const targets = randomF32(n * E, 2).map(Math.abs);
  const opts = { width: 13, epochs: 3, batchSize: 37, seed: 5 };
  assert.ok(simdModule(), "this runtime has WebAssembly SIMD");
  const simd = trainRouter(x, targets, n, d, E, opts);
  setSimdOff(true);
  let js;
  try {
    assert.equal(simdModule(), null, "turned off");
    js = trainRouter(x, targets, n, d, E, opts);
  } finally {
    setSimdOff(false);
  }
  // float64 sums in another order: equal to far below float32 rounding
  assertClose(js.router.w1, simd.router.w1, { atol: 1e-6, rtol: 1e-6 }, "W1");
  assertClose(js.router.w2, simd.router.w2, { atol: 1e-6, rtol: 1e-6 }, "W2");
  assertClose(
    [js.trainLoss, js.valLoss],
    [simd.trainLoss, simd.valLoss],
    { atol: 1e-9, rtol: 1e-9 },
    "losses",
  );
  assert.notEqual(js.trainLoss, 0);
});
