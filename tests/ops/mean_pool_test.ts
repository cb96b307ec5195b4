import { assertClose } from "../helpers/close.ts";
import { randomF32, randomU32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { meanPoolRef } from "../../src/ops/mean_pool_ref.ts";

const be = await testGpu();

Deno.test({
  name: "mean_pool: GPU equals reference, including an entry with every token masked",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const B = 3, T = 11, C = 300;
    const x = randomF32(B * T * C, 1);
    const mask = randomU32(B * T, 2, 2);
    mask.fill(0, 2 * T, 3 * T);
    const tx = be!.input(x, [B * T, C]), tm = be!.input(mask, [B, T]);
    const out = be!.meanPool(tx, tm, B, T);
    const [got] = await be!.read([out]);
    const want = meanPoolRef(x, mask, B, T, C);
    assertClose(got, want, { atol: 1e-6, rtol: 1e-5 }, "mean pool");
    assertClose(got.subarray(2 * C), new Float32Array(C), { atol: 0, rtol: 0 }, "all-masked entry");
    be!.release(tx, tm, out);
  },
});
