import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32, randomU32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { crossEntropyRef, NO_TARGET } from "../../src/ops/cross_entropy_ref.ts";

const be = await testGpu();

Deno.test({
  name:
    "cross_entropy: GPU equals reference (vocab not a multiple of 256, large logits, rows without target)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const rows = 5, vocab = 517;
    const logits = randomF32(rows * vocab, 1, 30);
    const targets = randomU32(rows, vocab, 2);
    targets[4] = NO_TARGET;
    const tl = be!.input(logits, [rows, vocab]), tt = be!.input(targets, [rows]);
    const loss = be!.crossEntropy(tl, tt);
    const [got] = await be!.read([loss]);
    const want = crossEntropyRef(logits, targets, rows, vocab);
    assertClose(got, want, { atol: 1e-4, rtol: 1e-5 }, "cross entropy");
    assert.equal(got[4], 0);
    be!.release(tl, tt, loss);
  },
});

Deno.test("cross_entropy reference: uniform logits give log(vocab)", () => {
  const l = crossEntropyRef(new Float32Array(2 * 10), new Uint32Array([3, 7]), 2, 10);
  assertClose(l, [Math.log(10), Math.log(10)], { atol: 1e-6 });
});
