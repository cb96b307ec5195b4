import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { rowNormRef } from "../../src/ops/row_norm_ref.ts";

const be = await testGpu();

Deno.test({
  name: "row_norm: GPU equals reference (1 column, rows wider than the workgroup)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    for (const [rows, cols] of [[1, 1], [5, 200], [70, 3]]) {
      const x = randomF32(rows * cols, rows + cols);
      const t = be!.input(x, [rows, cols]);
      const n = be!.rowNorm(t);
      const [got] = await be!.read([n]);
      assertClose(got, rowNormRef(x, rows, cols), { atol: 1e-6, rtol: 1e-5 }, `row_norm ${rows}x${cols}`);
      be!.release(t, n);
    }
  },
});
