import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import type { Activation } from "../../src/ops/activation.ts";
import { CHUNK_TOKENS, moeExpertsJs, moeFfnCpu, WASM_MIN_TOKENS } from "../../src/ops/moe_ffn_cpu.ts";
import { moeExpertsWasm } from "../../src/ops/moe_experts_wasm.ts";
import { sgemmWasm } from "../../src/ops/sgemm_wasm.ts";
import { moeFfnDecodeRef } from "../../src/ops/moe_ffn_decode_ref.ts";
import type { RoutingRule } from "../../src/ops/moe_select_ref.ts";

Deno.test("moeFfnCpu: the expert-major layer equals router → select → experts → merge, many tiny experts too, both expert paths", () => {
  const cases: [number, number, number, number, number, RoutingRule, Activation, boolean, boolean][] = [
    [37, 24, 8, 300, 2, { mode: "dynk", tau: 0.3 }, "relu", true, true], // E above the decode kernels' 256
    [37, 24, 8, 300, 2, { mode: "dynk", tau: 0 }, "relu", false, true], // τ = 0: every expert
    [9, 16, 12, 6, 8, { mode: "dynk", tau: 1 }, "gelu", true, false], // τ = 1: the maxima only
    [20, 12, 6, 4, 3, { mode: "topk", k: 2 }, "gelu_tanh", false, false],
    [1, 8, 4, 2, 4, { mode: "dynk", tau: 0.5 }, "relu", true, true],
    [CHUNK_TOKENS + 5, 8, 4, 5, 6, { mode: "dynk", tau: 0.4 }, "relu", false, true], // s = 4 + 2
    [WASM_MIN_TOKENS - 1, 12, 4, 7, 6, { mode: "dynk", tau: 0.2 }, "relu", true, true], // the JavaScript experts
  ];
  let seed = 100;
  for (const [T, d, w, E, s, rule, act, withLn, withRes] of cases) {
    const host = {
      r1: randomF32(d * w, seed++),
      r2: randomF32(w * E, seed++),
      w1: randomF32(E * d * s, seed++),
      b1: randomF32(E * s, seed++),
      w2: randomF32(E * s * d, seed++),
      b2: randomF32(d, seed++),
    };
    const x = randomF32(T * d, seed++), res = withRes ? randomF32(T * d, seed++) : undefined;
    const ln = withLn ? { gamma: randomF32(d, seed++), beta: randomF32(d, seed++), eps: 1e-5 } : undefined;
    const dims = { T, d, w, E, s };
    const got = moeFfnCpu(x, res, host, dims, act, rule, ln);
    const want = moeFfnDecodeRef(x, res, host, dims, act, rule, ln);
    const what = `T ${T} E ${E} s ${s} ${JSON.stringify(rule)} ${act}`;
    assert.deepEqual(Array.from(got.counts), Array.from(want.counts), `${what}: counts`);
    assertClose(got.y, want.y, { atol: 1e-5, rtol: 1e-5 }, what);
  }
});

Deno.test("moeExpertsWasm equals moeExpertsJs: token chunks on both sides, widths and expert sizes off the 8-lane blocks, GELU", () => {
  let seed = 500;
  // Fill the module's memory with NaN first: padding it leaves as it is must never reach a result.
  const nan = new Float32Array(256 * 256).fill(NaN);
  sgemmWasm(nan, nan, 256, 256, 256, false, false);
  // [T, d, E, s, act]: d 12 and s 6 / 3 pad to 16 and 8; T spans two chunks of the JavaScript loops.
  const cases: [number, number, number, number, Activation][] = [
    [CHUNK_TOKENS + 7, 12, 5, 6, "relu"],
    [33, 24, 40, 3, "gelu"],
    [16, 8, 2, 16, "relu"],
  ];
  for (const [T, d, E, s, act] of cases) {
    const w1 = randomF32(E * d * s, seed++), b1 = randomF32(E * s, seed++), w2 = randomF32(E * s * d, seed++);
    const x = randomF32(T * d, seed++);
    // Each expert takes a seeded ascending subset of the tokens (some none, one all of them).
    const lists = new Uint32Array(E * T), counts = new Uint32Array(E);
    const pick = randomF32(E * T, seed++);
    for (let e = 0; e < E; e++) {
      for (let tok = 0; tok < T; tok++) {
        if (e === 0 || (e !== 1 && pick[e * T + tok] > 0)) lists[e * T + counts[e]++] = tok;
      }
    }
    const dims = { T, d, E, s };
    const want = moeExpertsJs(x, w1, b1, w2, lists, counts, dims, act);
    for (const chunk of [undefined, 7]) { // one pass, or passes of 7 tokens (the last one short)
      const got = moeExpertsWasm(x, w1, b1, w2, lists, counts, dims, act, chunk);
      assert.ok(got, "module available");
      assertClose(got, want, { atol: 1e-5, rtol: 1e-5 }, `T ${T} d ${d} E ${E} s ${s} ${act} chunk ${chunk}`);
    }
  }
});
