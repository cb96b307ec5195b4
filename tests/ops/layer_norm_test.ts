import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { layerNormRef } from "../../src/ops/layer_norm_ref.ts";

const be = await testGpu();

Deno.test({
  name: "layer_norm: GPU equals reference (rows 1..67, widths below/above the workgroup, large offsets)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    for (const [rows, cols, offset] of [[1, 1, 0], [1, 7, 0], [3, 130, 100], [67, 64, -3], [2, 1000, 0]]) {
      const x = randomF32(rows * cols, rows * 31 + cols).map((v) => v + offset);
      const g = randomF32(cols, 7);
      const b = randomF32(cols, 8);
      const want = layerNormRef(x, g, b, rows, cols, 1e-5);
      const tx = be!.input(x, [rows, cols]);
      const tg = be!.input(g, [cols]);
      const tb = be!.input(b, [cols]);
      const out = be!.layerNorm(tx, tg, tb, 1e-5);
      const [got] = await be!.read([out]);
      assertClose(got, want, { atol: 2e-5, rtol: 1e-4 }, `layer_norm ${rows}x${cols}`);
      be!.release(tx, tg, tb, out);
    }
  },
});

Deno.test("layer_norm reference: unit variance and zero mean with gamma=1, beta=0", () => {
  const x = randomF32(3 * 50, 5, 4);
  const y = layerNormRef(x, new Float32Array(50).fill(1), new Float32Array(50), 3, 50, 0);
  for (let r = 0; r < 3; r++) {
    const row = y.subarray(r * 50, r * 50 + 50);
    const mean = row.reduce((s, v) => s + v, 0) / 50;
    const v = row.reduce((s, x) => s + (x - mean) ** 2, 0) / 50;
    assertClose([mean, v], [0, 1], { atol: 1e-5 });
  }
});
