import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { matmulRef } from "../../src/ops/matmul_ref.ts";
import type { Activation } from "../../src/ops/activation.ts";

const be = await testGpu();

// Awkward sizes: T = 1, not multiples of the 64x64x16 tile, K smaller than one k-step.
const SHAPES: [number, number, number][] = [[1, 1, 1], [1, 67, 9], [3, 5, 130], [65, 17, 64], [130, 70, 33]];

Deno.test({
  name: "matmul: GPU equals reference at awkward sizes, both B layouts, every epilogue",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    let seed = 1;
    const acts: Activation[] = ["none", "relu", "gelu", "gelu_tanh", "tanh"];
    for (const [m, k, n] of SHAPES) {
      for (const transB of [false, true]) {
        const act = acts[seed % acts.length];
        const a = randomF32(m * k, seed++);
        const b = randomF32(k * n, seed++);
        const bias = randomF32(n, seed++);
        const res = randomF32(m * n, seed++);
        const want = matmulRef(a, b, m, k, n, { transB, act }, bias, res);
        const ta = be!.input(a, [m, k]);
        const tb = be!.input(b, transB ? [n, k] : [k, n]);
        const tbias = be!.input(bias, [n]);
        const tres = be!.input(res, [m, n]);
        const out = be!.matmul(ta, tb, { transB, act, bias: tbias, residual: tres });
        const plain = be!.matmul(ta, tb, { transB });
        const [got, gotPlain] = await be!.read([out, plain]);
        assertClose(
          got,
          want,
          { atol: 1e-5, rtol: 1e-4 },
          `matmul ${m}x${k}x${n} transB=${transB} act=${act}`,
        );
        assertClose(gotPlain, matmulRef(a, b, m, k, n, { transB }), {}, `plain matmul ${m}x${k}x${n}`);
        be!.release(ta, tb, tbias, tres, out, plain);
      }
    }
    be!.flush();
    const s = be!.ctx.pool.stats;
    if (s.live !== 0) throw new Error(`pool still has ${s.live} live buffers`);
  },
});
