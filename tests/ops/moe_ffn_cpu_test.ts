import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import type { Activation } from "../../src/ops/activation.ts";
import { CHUNK_TOKENS, moeFfnCpu } from "../../src/ops/moe_ffn_cpu.ts";
import { moeFfnDecodeRef } from "../../src/ops/moe_ffn_decode_ref.ts";
import type { RoutingRule } from "../../src/ops/moe_select_ref.ts";

Deno.test("moeFfnCpu: the expert-major layer equals router → select → experts → merge, many tiny experts too", () => {
  const cases: [number, number, number, number, number, RoutingRule, Activation, boolean, boolean][] = [
    [37, 24, 8, 300, 2, { mode: "dynk", tau: 0.3 }, "relu", true, true], // E above the decode kernels' 256
    [37, 24, 8, 300, 2, { mode: "dynk", tau: 0 }, "relu", false, true], // τ = 0: every expert
    [9, 16, 12, 6, 8, { mode: "dynk", tau: 1 }, "gelu", true, false], // τ = 1: the maxima only
    [20, 12, 6, 4, 3, { mode: "topk", k: 2 }, "gelu_tanh", false, false],
    [1, 8, 4, 2, 4, { mode: "dynk", tau: 0.5 }, "relu", true, true],
    [CHUNK_TOKENS + 5, 8, 4, 5, 6, { mode: "dynk", tau: 0.4 }, "relu", false, true], // two chunks; s = 4 + 2
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
