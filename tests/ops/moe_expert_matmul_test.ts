import { assertClose } from "../helpers/close.ts";
import { randomF32, uniform } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { moeExpertMatmulRef } from "../../src/ops/moe_expert_matmul_ref.ts";

const be = await testGpu();

/** Random lists: each expert gets a random subset of tokens in shuffled slot order. */
function randomLists(T: number, E: number, cap: number, p: number, seed: number) {
  const u = uniform(seed);
  const counts = new Uint32Array(E), lists = new Uint32Array(E * cap);
  for (let e = 0; e < E; e++) {
    const toks = Array.from({ length: T }, (_, t) => t).filter(() => u() < p).sort(() => u() - 0.5);
    counts[e] = toks.length;
    lists.set(toks, e * cap);
  }
  return { counts, lists };
}

Deno.test({
  name: "moe_expert_matmul: up (gather + bias + act) and down equal the reference; idle experts untouched",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    for (const [T, E, d, s, p] of [[1, 3, 8, 4, 1], [70, 5, 33, 20, 0.4], [9, 7, 16, 65, 0.5]]) {
      const cap = T;
      const { counts, lists } = randomLists(T, E, cap, p, T * E);
      counts[E - 1] = 0; // one expert with no tokens
      const x = randomF32(T * d, 1),
        w1 = randomF32(E * d * s, 2),
        b1 = randomF32(E * s, 3),
        w2 = randomF32(E * s * d, 4);
      const tx = be!.input(x, [T, d]), tl = be!.input(lists, [E * cap]), tc = be!.input(counts, [E]);
      const tw1 = be!.input(w1, [E * d, s]), tb1 = be!.input(b1, [E * s]), tw2 = be!.input(w2, [E * s, d]);
      const up = { E, cap, K: d, N: s, gather: true, act: "gelu" as const };
      const down = { E, cap, K: s, N: d, gather: false, act: "none" as const };
      const h = be!.moeExpertMatmul(tx, tl, tc, 0, tw1, tb1, up);
      const y = be!.moeExpertMatmul(h, tl, tc, 0, tw2, undefined, down);
      const [gh, gy] = await be!.read([h, y]);
      const wh = moeExpertMatmulRef(x, lists, counts, w1, b1, up);
      const wy = moeExpertMatmulRef(wh, lists, counts, w2, undefined, down);
      // Compare only used slots: unused rows of pooled outputs are undefined.
      const used = (rows: Float32Array, n: number) =>
        Array.from({ length: E }, (_, e) => Array.from(rows.subarray(e * cap * n, (e * cap + counts[e]) * n)))
          .flat();
      assertClose(
        used(gh as Float32Array, s),
        used(wh, s),
        { atol: 1e-5, rtol: 1e-4 },
        `up ${T}x${E}x${d}x${s}`,
      );
      assertClose(
        used(gy as Float32Array, d),
        used(wy, d),
        { atol: 1e-4, rtol: 1e-4 },
        `down ${T}x${E}x${d}x${s}`,
      );
      be!.release(tx, tl, tc, tw1, tb1, tw2, h, y);
    }
  },
});
