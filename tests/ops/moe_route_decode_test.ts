import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { moeRouteDecodeGpu } from "../../src/ops/moe_route_decode.ts";
import { moeRouteDecodeRef } from "../../src/ops/moe_route_decode_ref.ts";
import { moeSelectRef, type RoutingRule } from "../../src/ops/moe_select_ref.ts";
import type { GpuTensor } from "../../src/ops/tensor.ts";

const be = await testGpu();
const g = (t: unknown) => t as GpuTensor;

Deno.test({
  name: "moe_route_decode: LN + router + selection of T ≤ 8 tokens equal the references (odd widths, top-k)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const cases: [number, number, number, number, RoutingRule, boolean][] = [
      [1, 12, 8, 5, { mode: "dynk", tau: 0.5 }, true],
      [1, 300, 130, 24, { mode: "topk", k: 7 }, false],
      [3, 33, 7, 9, { mode: "dynk", tau: 0.3 }, true],
      [8, 20, 16, 70, { mode: "topk", k: 3 }, true],
    ];
    let seed = 1;
    for (const [T, d, w, E, rule, withLn] of cases) {
      const x = randomF32(T * d, seed++).map((v) => 2 * v + 0.5);
      const r1 = randomF32(d * w, seed++), r2 = randomF32(w * E, seed++);
      const gamma = randomF32(d, seed++), beta = randomF32(d, seed++);
      const ln = withLn ? { gamma, beta, eps: 1e-5 } : undefined;
      const want = moeRouteDecodeRef(x, r1, r2, { T, d, w, E }, T, rule, ln);
      const tx = g(be!.input(x, [T, d])), t1 = g(be!.input(r1, [d, w])), t2 = g(be!.input(r2, [w, E]));
      const tg = g(be!.input(gamma, [d])), tb = g(be!.input(beta, [d]));
      const counts = g(be!.input(new Uint32Array(E + 2).fill(9), [E + 2]));
      const xn = g(be!.alloc([T, d]));
      const gln = withLn ? { gamma: tg, beta: tb, eps: 1e-5 } : undefined;
      // Odd cases: hidden layer inside the kernel; even: from a precomputed h (the GEMV's job in the layer).
      const hidden = seed % 2 ? g(be!.input(want.hidden, [T, w])) : undefined;
      const sel = moeRouteDecodeGpu(be!.ctx, tx, t1, t2, counts, 2, T, rule, gln, xn, hidden);
      be!.release(hidden);
      const [c, gotXn] = await be!.read([counts, xn]);
      const raw = await be!.ctx.read([{ buffer: sel.buffer, size: sel.bytes }]);
      const packed = new Uint32Array(raw[0]);
      const lists = packed.subarray(0, E * T);
      const rows = packed.subarray(sel.rowsOffset / 4, sel.rowsOffset / 4 + T * E);
      const tokK = packed.subarray(sel.kOffset / 4, sel.kOffset / 4 + T);
      const what = `T ${T} d ${d} w ${w} E ${E} ${JSON.stringify(rule)}`;
      if (withLn) assertClose(gotXn, want.xn, { atol: 1e-5, rtol: 1e-4 }, `${what} xn`);
      assert.deepEqual(Array.from(c.subarray(0, 2)), [9, 9], "counters before the offset untouched");
      // The selection equals the reference's on these scores (no near-ties: the gap check guards it).
      const ref = moeSelectRef(want.scores, T, E, T, rule);
      assert.deepEqual(Array.from(c.subarray(2)), Array.from(ref.counts), `${what} counts`);
      assert.deepEqual(Array.from(tokK), Array.from(ref.tokK), `${what} pairs per token`);
      for (let t = 0; t < T; t++) {
        let prev = -1;
        for (let j = 0; j < tokK[t]; j++) {
          const row = rows[t * E + j], e = Math.floor(row / T);
          assert.ok(e > prev, "ascending experts");
          prev = e;
          assert.equal(lists[row], t, "list slot points back at the token");
          assert.equal(ref.selected[t * E + e], 1, `${what}: token ${t} expert ${e} selected`);
        }
      }
      be!.release(tx, t1, t2, tg, tb, counts, xn);
      be!.ctx.pool.release(sel.buffer);
    }
  },
});
