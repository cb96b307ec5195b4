import { assertClose } from "../helpers/close.ts";
import { randomF32, uniform } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { moeExpertFfnGpu } from "../../src/ops/moe_expert_ffn.ts";
import { moeExpertFfnRef } from "../../src/ops/moe_expert_ffn_ref.ts";
import type { GpuTensor } from "../../src/ops/tensor.ts";
import { TUNING } from "../../src/ops/tuning.ts";

const be = await testGpu();
const g = (t: unknown) => t as GpuTensor;

Deno.test({
  name:
    "moe_expert_ffn: fused up/down partials by neuron chunk equal the reference (T = 1 … 5, idle experts)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    let seed = 1;
    for (
      const [T, E, d, s, chunk, wg] of [[1, 4, 12, 8, 4, 256], [3, 5, 36, 16, 8, 64], [5, 3, 20, 32, 16, 128]]
    ) {
      TUNING.moeDecode.ffnWG = wg;
      const u = uniform(seed++);
      const counts = new Uint32Array(E), lists = new Uint32Array(E * T);
      for (let e = 0; e < E - 1; e++) {
        const toks = Array.from({ length: T }, (_, t) => t).filter(() => u() < 0.6);
        counts[e] = toks.length;
        lists.set(toks, e * T);
      }
      const x = randomF32(T * d, seed++), w1 = randomF32(E * d * s, seed++), b1 = randomF32(E * s, seed++);
      const w2 = randomF32(E * s * d, seed++);
      const sh = { E, cap: T, d, s, chunk, act: "gelu_tanh" as const };
      const tx = g(be!.input(x, [T, d])), tl = g(be!.input(lists, [E * T])), tc = g(be!.input(counts, [E]));
      const tw1 = g(be!.input(w1, [E * d, s])),
        tb1 = g(be!.input(b1, [E * s])),
        tw2 = g(be!.input(w2, [E * s, d]));
      const out = moeExpertFfnGpu(be!.ctx, tx, tl, tc, 0, tw1, tb1, tw2, sh);
      const [got] = await be!.read([out]);
      const want = moeExpertFfnRef(x, lists, counts, w1, b1, w2, sh);
      const nch = s / chunk;
      const used = (a: Float32Array) =>
        Array.from(
          { length: E },
          (_, e) => Array.from(a.subarray(e * T * nch * d, (e * T + counts[e]) * nch * d)),
        )
          .flat();
      assertClose(
        used(got as Float32Array),
        used(want),
        { atol: 1e-5, rtol: 1e-4 },
        `T ${T} E ${E} d ${d} s ${s}`,
      );
      be!.release(tx, tl, tc, tw1, tb1, tw2, out);
    }
    TUNING.moeDecode.ffnWG = 256;
  },
});
