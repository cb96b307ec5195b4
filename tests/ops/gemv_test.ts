import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { gemvGpu } from "../../src/ops/gemv.ts";
import { gemvRef } from "../../src/ops/gemv_ref.ts";
import type { Activation } from "../../src/ops/activation.ts";
import type { CopySpec } from "../../src/ops/strided_copy_ref.ts";
import type { GpuTensor } from "../../src/ops/tensor.ts";
import type { GemvConfig } from "../../src/ops/tuning.ts";

const be = await testGpu();
const g = (t: unknown) => t as GpuTensor;

// M = 1 (decode) … 11 (two row groups), K and N not multiples of 4, K long enough to stage A in chunks.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 67],
  [2, 64, 130],
  [3, 130, 5],
  [5, 33, 64],
  [8, 800, 36],
  [11, 20, 9],
];
const CONFIGS: GemvConfig[] = [
  { WG: 256, CQ: 4, TPR: 32 },
  { WG: 64, CQ: 1, TPR: 64 },
  { WG: 128, CQ: 8, TPR: 8 },
];

Deno.test({
  name: "gemv: equals the reference for small M, both B layouts, every config and epilogue",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    let seed = 1;
    const acts: Activation[] = ["none", "relu", "gelu", "gelu_tanh", "tanh"];
    for (const cfg of CONFIGS) {
      for (const [m, k, n] of SHAPES) {
        for (const transB of [false, true]) {
          const act = acts[seed % acts.length];
          const a = randomF32(m * k, seed++), b = randomF32(k * n, seed++);
          const bias = randomF32(n, seed++), res = randomF32(m * n, seed++);
          const ta = g(be!.input(a, [m, k])), tb = g(be!.input(b, transB ? [n, k] : [k, n]));
          const tbias = g(be!.input(bias, [n])), tres = g(be!.input(res, [m, n]));
          const out = gemvGpu(be!.ctx, ta, tb, m, k, n, { transB, act }, tbias, tres, {}, cfg);
          const plain = gemvGpu(be!.ctx, ta, tb, m, k, n, { transB }, undefined, undefined, {}, cfg);
          const [got, gotPlain] = await be!.read([out, plain]);
          const what = `gemv ${m}x${k}x${n} transB=${transB} act=${act} ${JSON.stringify(cfg)}`;
          assertClose(
            got,
            gemvRef(a, b, m, k, n, { transB, act }, bias, res),
            { atol: 1e-5, rtol: 1e-4 },
            what,
          );
          assertClose(
            gotPlain,
            gemvRef(a, b, m, k, n, { transB }),
            { atol: 1e-5, rtol: 1e-4 },
            `plain ${what}`,
          );
          be!.release(ta, tb, tbias, tres, out, plain);
        }
      }
    }
    be!.flush();
    const s = be!.ctx.pool.stats;
    if (s.live !== 0) throw new Error(`pool still has ${s.live} live buffers`);
  },
});

Deno.test({
  name: "gemv: LayerNorm prologue and KV-append copy epilogue equal LN → matmul → strided copy",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    let seed = 500;
    // [batch·seq, 3C] QKV rows; the copy appends K,V (columns C…3C) at position `past` of a [batch·maxT, 2C] cache.
    for (const [batch, seq, C, past, maxT] of [[1, 1, 12, 3, 6], [2, 3, 8, 1, 5], [1, 1, 7, 0, 2]]) {
      const m = batch * seq, k = C, n = 3 * C;
      const a = randomF32(m * k, seed++).map((v) => 3 * v + 1), b = randomF32(k * n, seed++);
      const gamma = randomF32(k, seed++), beta = randomF32(k, seed++), bias = randomF32(n, seed++);
      const cache = randomF32(batch * maxT * 2 * C, seed++);
      const spec: CopySpec = {
        nb: batch,
        nt: seq,
        nc: 2 * C,
        srcOffset: C,
        srcB: seq * 3 * C,
        srcT: 3 * C,
        dstOffset: past * 2 * C,
        dstB: maxT * 2 * C,
        dstT: 2 * C,
      };
      // A copy the epilogue cannot express (a row subset) runs as a separate strided copy.
      const odd: CopySpec = { ...spec, nb: 1, nt: 1, srcOffset: (m - 1) * n + C, srcT: 0, srcB: 0 };
      for (const [copySpec, transB] of [[spec, false], [spec, true], [odd, false]] as const) {
        const ta = g(be!.input(a, [m, k])), tb = g(be!.input(b, transB ? [n, k] : [k, n]));
        const tg = g(be!.input(gamma, [k])), tbe = g(be!.input(beta, [k])), tbias = g(be!.input(bias, [n]));
        const tc = g(be!.input(cache, [batch * maxT, 2 * C]));
        const ln = { gamma: tg, beta: tbe, eps: 1e-5 };
        const out = gemvGpu(be!.ctx, ta, tb, m, k, n, { transB }, tbias, undefined, {
          ln,
          copy: { dst: tc, spec: copySpec },
        });
        const [got, gotCache] = await be!.read([out, tc]);
        const wantCache = cache.slice();
        const want = gemvRef(a, b, m, k, n, { transB }, bias, undefined, {
          ln: { gamma, beta, eps: 1e-5 },
          copy: { dst: wantCache, spec: copySpec },
        });
        const what = `ln+copy batch ${batch} seq ${seq} C ${C} transB=${transB}`;
        assertClose(got, want, { atol: 2e-5, rtol: 1e-4 }, what);
        assertClose(gotCache, wantCache, { atol: 2e-5, rtol: 1e-4 }, `${what} cache`);
        be!.release(ta, tb, tg, tbe, tbias, tc, out);
      }
    }
  },
});
