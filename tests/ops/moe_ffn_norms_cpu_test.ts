import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import type { Activation } from "../../src/ops/activation.ts";
import { moeExpertMatmulRef } from "../../src/ops/moe_expert_matmul_ref.ts";
import { expertNormsJs, expertNormsWasm, moeFfnNormsCpu } from "../../src/ops/moe_ffn_norms_cpu.ts";
import { moeMergeRef } from "../../src/ops/moe_merge_ref.ts";
import { moeSelectRef } from "../../src/ops/moe_select_ref.ts";
import { rowNormRef } from "../../src/ops/row_norm_ref.ts";

Deno.test("moeFfnNormsCpu: every expert's output norm and the dense output equal the generic path", () => {
  const cases: [number, number, number, number, Activation, boolean][] = [
    [23, 12, 7, 4, "relu", true], // ReLU: many zero neurons, some experts silent (the WebAssembly path)
    [5, 9, 3, 5, "gelu", false], // fewer tokens than WASM_MIN_ROWS: the JavaScript path
    [1, 8, 300, 2, "relu", true], // many tiny experts
  ];
  let seed = 300;
  for (const [T, d, E, s, act, withRes] of cases) {
    const x = randomF32(T * d, seed++), res = withRes ? randomF32(T * d, seed++) : undefined;
    const w1 = randomF32(E * d * s, seed++), b1 = randomF32(E * s, seed++);
    const w2 = randomF32(E * s * d, seed++), b2 = randomF32(d, seed++);
    const got = moeFfnNormsCpu(x, res, w1, b1, w2, b2, { T, d, E, s }, act);
    // The generic path: select every expert, expert matmuls into pair rows, their norms, the merge.
    const sel = moeSelectRef(new Float32Array(T * E).fill(1), T, E, T, { mode: "dynk", tau: 0 });
    const up = { E, cap: T, K: d, N: s, gather: true, act };
    const h = moeExpertMatmulRef(x, sel.lists, sel.counts, w1, b1, up);
    const down = { E, cap: T, K: s, N: d, gather: false, act: "none" as const };
    const pairOut = moeExpertMatmulRef(h, sel.lists, sel.counts, w2, undefined, down);
    const what = `T ${T} d ${d} E ${E} s ${s} ${act}`;
    assert.deepEqual(Array.from(got.tokRows), Array.from(sel.tokRows), `${what}: pair rows`);
    assertClose(got.norms, rowNormRef(pairOut, E * T, d), { atol: 1e-5, rtol: 1e-5 }, `${what}: norms`);
    assertClose(got.y, moeMergeRef(pairOut, sel.tokRows, sel.tokK, b2, res, T, E, d), {
      atol: 1e-5,
      rtol: 1e-5,
    }, `${what}: output`);
  }
});

Deno.test("expertNormsWasm equals expertNormsJs: two token passes, a width off the 8-lane rows, silent experts", () => {
  const [T, d, E, s] = [2051, 12, 5, 3];
  const h = randomF32(T * E * s, 7).map((v) => (v < 0.3 ? 0 : v)); // mostly zero, as after a ReLU
  h.fill(0, 0, E * s); // token 0: every expert silent
  const w2 = randomF32(E * s * d, 8);
  const want = expertNormsJs(h, w2, { T, d, E, s });
  const got = expertNormsWasm(h, w2, { T, d, E, s });
  assert.ok(got, "module available");
  assertClose(got.norms, want.norms, { atol: 1e-5, rtol: 1e-5 }, "norms");
  assertClose(got.sums, want.sums, { atol: 1e-5, rtol: 1e-5 }, "sums");
  for (let e = 0; e < E; e++) assert.equal(got.norms[e * T], 0, `token 0, expert ${e}`);
});
