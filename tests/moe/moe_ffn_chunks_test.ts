import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { MoeFfn, type MoePassState } from "../../src/moe/moe_ffn.ts";
import { MacTally } from "../../src/model/stats.ts";
import type { Backend } from "../../src/ops/backend.ts";
import type { RoutingRule } from "../../src/ops/moe_select_ref.ts";
import type { Tensor } from "../../src/ops/tensor.ts";

const be = await testGpu();

/** One D2DMoE FFN forward whose layer takes at most `chunk` tokens per pass; output and per-pass counts. */
async function run(
  b: Backend,
  chunk: number,
  x: Float32Array,
  res: Float32Array,
  dims: { T: number; d: number; E: number; s: number; w: number },
  rule: RoutingRule,
) {
  const { T, d, E, s, w } = dims;
  const t = {
    r1: b.input(randomF32(d * w, 1).map(Math.abs), [d, w]),
    r2: b.input(randomF32(w * E, 2), [w, E]),
    w1: b.input(randomF32(E * d * s, 3), [E * d, s]),
    b1: b.input(randomF32(E * s, 4), [E * s]),
    w2: b.input(randomF32(E * s * d, 5), [E * s, d]),
    b2: b.input(randomF32(d, 6), [d]),
  };
  const ffn = new MoeFfn(t, { d, experts: E, size: s, width: w }, "relu", chunk * 4 * E * Math.max(d, s));
  assert.equal(ffn.maxChunk, chunk);
  const st: MoePassState = { rule, counters: [] };
  const tx = b.input(x, [T, d]), tr = b.input(res, [T, d]);
  const y = ffn.forward({ be: b, batch: 1, seq: T, layer: 0, tally: new MacTally(), routing: st }, tx, tr);
  const got = (await b.read([y, ...st.counters.map((c) => c.counts as Tensor)])) as Float32Array[];
  b.release(tx, tr, y, ...Object.values(t), ...st.counters.map((c) => c.counts));
  const counts = new Array(E).fill(0);
  for (const c of got.slice(1)) c.forEach((v, e) => counts[e] += v);
  return { y: got[0], counts, passes: st.counters.map((c) => c.tokens) };
}

Deno.test({
  name: "MoeFfn: a batch in token chunks (router once, select/gather/merge by offset) equals one pass",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    // 45 tokens in chunks of 16: 16 + 16 + 13; d 72 / s 64 take the unrolled expert kernels
    const dims = { T: 45, d: 72, E: 5, s: 64, w: 8 };
    const x = randomF32(dims.T * dims.d, 7), res = randomF32(dims.T * dims.d, 8);
    for (const rule of [{ mode: "dynk", tau: 0.5 }, { mode: "topk", k: 2 }] as RoutingRule[]) {
      const whole = await run(be!, dims.T, x, res, dims, rule);
      const chunked = await run(be!, 16, x, res, dims, rule);
      assert.deepEqual(chunked.passes, [16, 16, 13], "three chunks");
      assert.deepEqual(whole.passes, [45]);
      assert.deepEqual(chunked.counts, whole.counts, "same (token, expert) pairs");
      assertClose(chunked.y, whole.y, { atol: 1e-5, rtol: 1e-5 }, `chunked output, ${rule.mode}`);
    }
  },
});
