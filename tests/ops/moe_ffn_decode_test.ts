import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import type { Backend } from "../../src/ops/backend.ts";
import { moeFfnDecodeRef } from "../../src/ops/moe_ffn_decode_ref.ts";
import type { RoutingRule } from "../../src/ops/moe_select_ref.ts";
import { DEFAULT_TUNING, TUNING } from "../../src/ops/tuning.ts";

const gpu = await testGpu();

function layer(be: Backend, d: number, w: number, E: number, s: number, seed: number) {
  const host = {
    r1: randomF32(d * w, seed),
    r2: randomF32(w * E, seed + 1),
    w1: randomF32(E * d * s, seed + 2),
    b1: randomF32(E * s, seed + 3),
    w2: randomF32(E * s * d, seed + 4),
    b2: randomF32(d, seed + 5),
  };
  const t = {
    r1: be.input(host.r1, [d, w]),
    r2: be.input(host.r2, [w, E]),
    w1: be.input(host.w1, [E * d, s]),
    b1: be.input(host.b1, [E * s]),
    w2: be.input(host.w2, [E * s, d]),
    b2: be.input(host.b2, [d]),
  };
  return { host, t };
}

const runs = [["cpu", new CpuBackend(), "gemv"], ["gpu", gpu, "gemv"], ["gpu", gpu, "fused"]] as const;
for (const [kind, be, routeMode] of runs) {
  Deno.test({
    name:
      `moeFfnDecode (${kind}, router ${routeMode}): the decode layer equals router → select → experts → merge`,
    ignore: !be,
    ...gpuTestOptions,
    async fn() {
      TUNING.moeDecode.routeMode = routeMode;
      // Decode-kernel shapes, then shapes that fall back to the batched kernels (s not a multiple of 4);
      // the last two without a residual (converted attention projections Q, K, V).
      const cases: [number, number, number, number, number, RoutingRule, boolean, boolean][] = [
        [1, 16, 8, 6, 8, { mode: "topk", k: 2 }, true, true],
        [4, 20, 12, 5, 16, { mode: "dynk", tau: 0.4 }, false, true],
        [2, 12, 6, 3, 6, { mode: "dynk", tau: 0.2 }, true, true],
        [1, 24, 8, 3, 8, { mode: "dynk", tau: 0.3 }, false, false],
        [3, 12, 6, 3, 6, { mode: "dynk", tau: 0.1 }, true, false],
        [2, 16, 300, 5, 8, { mode: "dynk", tau: 0.3 }, true, true], // router wider than the decode kernels
      ];
      let seed = 10;
      for (const [T, d, w, E, s, rule, withLn, withRes] of cases) {
        const { host, t } = layer(be!, d, w, E, s, seed);
        seed += 10;
        const x = randomF32(T * d, seed++), res = randomF32(T * d, seed++);
        const gamma = randomF32(d, seed++), beta = randomF32(d, seed++);
        const ln = withLn ? { gamma, beta, eps: 1e-5 } : undefined;
        const tx = be!.input(x, [T, d]), tr = withRes ? be!.input(res, [T, d]) : undefined;
        const tg = be!.input(gamma, [d]), tb = be!.input(beta, [d]);
        const counts = be!.alloc([E], "u32");
        const y = be!.moeFfnDecode(
          tx,
          tr,
          t,
          "relu",
          counts,
          rule,
          withLn ? { gamma: tg, beta: tb, eps: 1e-5 } : undefined,
        );
        const [gy, gc] = await be!.read([y, counts]);
        const want = moeFfnDecodeRef(x, withRes ? res : undefined, host, { T, d, w, E, s }, "relu", rule, ln);
        const what = `${kind} T ${T} d ${d} E ${E} s ${s}${withRes ? "" : " no residual"}`;
        assert.deepEqual(Array.from(gc), Array.from(want.counts), `${what} counts`);
        assertClose(gy, want.y, { atol: 1e-4, rtol: 1e-4 }, what);
        be!.release(tx, tr, tg, tb, counts, y, ...Object.values(t));
      }
      TUNING.moeDecode.routeMode = DEFAULT_TUNING.moeDecode.routeMode;
    },
  });
}
