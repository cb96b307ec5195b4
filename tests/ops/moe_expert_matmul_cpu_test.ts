import { assertClose } from "../helpers/close.ts";
import { randomF32, uniform } from "../helpers/data.ts";
import { moeExpertMatmulCpu } from "../../src/ops/moe_expert_matmul_cpu.ts";
import { moeExpertMatmulRef } from "../../src/ops/moe_expert_matmul_ref.ts";

Deno.test("moe_expert_matmul_cpu equals the reference (gather + bias + act, and pair rows)", () => {
  const T = 23, E = 5, K = 13, N = 7, cap = T;
  const u = uniform(3);
  const counts = new Uint32Array(E), lists = new Uint32Array(E * cap);
  for (let e = 0; e < E - 1; e++) {
    const toks = Array.from({ length: T }, (_, t) => t).filter(() => u() < 0.5);
    counts[e] = toks.length;
    lists.set(toks, e * cap);
  }
  const x = randomF32(T * K, 1),
    w = randomF32(E * K * N, 2),
    b = randomF32(E * N, 3),
    h = randomF32(E * cap * K, 4);
  const up = { E, cap, K, N, gather: true, act: "relu" as const };
  const down = { E, cap, K, N, gather: false, act: "none" as const };
  assertClose(
    moeExpertMatmulCpu(x, lists, counts, w, b, up),
    moeExpertMatmulRef(x, lists, counts, w, b, up),
    { atol: 1e-5 },
    "up",
  );
  assertClose(
    moeExpertMatmulCpu(h, lists, counts, w, undefined, down),
    moeExpertMatmulRef(h, lists, counts, w, undefined, down),
    { atol: 1e-5 },
    "down",
  );
});
