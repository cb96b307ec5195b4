import assert from "node:assert/strict";
import { expertFastFits, expertNarrowFits } from "../../src/ops/moe_expert_matmul.ts";
import { assertClose } from "../helpers/close.ts";
import { randomF32, uniform } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { moeExpertMatmulRef } from "../../src/ops/moe_expert_matmul_ref.ts";
import { moeExpertMatmulGpu } from "../../src/ops/moe_expert_matmul.ts";
import type { GpuTensor } from "../../src/ops/tensor.ts";
import { type TileConfig, tileProblem } from "../../src/ops/tuning.ts";

/** The used slots of an expert-major output ([E][cap][n]), flattened: unused rows of pooled outputs are undefined. */
function usedSlots(
  rows: Float32Array,
  n: number,
  E: number,
  cap: number,
  counts: ArrayLike<number>,
): number[] {
  return Array.from(
    { length: E },
    (_, e) => Array.from(rows.subarray(e * cap * n, (e * cap + counts[e]) * n)),
  )
    .flat();
}

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
      const used = (rows: Float32Array, n: number) => usedSlots(rows, n, E, cap, counts);
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

// Tiles the tuner may pick, on experts with full row tiles (interior), partial ones and none; K and N
// aligned and not (vec4 and scalar loads).
const TILES: TileConfig[] = [
  { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 },
  { BM: 128, BN: 32, BK: 8, TM: 8, TN: 4 },
  { BM: 64, BN: 64, BK: 8, TM: 8, TN: 4 },
  { BM: 32, BN: 32, BK: 16, TM: 4, TN: 4 },
  { BM: 64, BN: 16, BK: 8, TM: 4, TN: 4 },
];

Deno.test({
  name: "moe_expert_matmul: every tile config equals the reference (interior, edge and unaligned tiles)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const g = (t: unknown) => t as GpuTensor;
    for (const tile of TILES) {
      if (tileProblem(tile) !== null) throw new Error(`${JSON.stringify(tile)}: ${tileProblem(tile)}`);
      for (const [T, E, d, s] of [[140, 3, 32, 32], [37, 2, 18, 13]]) {
        const cap = T;
        const { counts, lists } = randomLists(T, E, cap, 0.6, 7 * T + E);
        counts[0] = T; // one expert with every token: full row tiles
        lists.set(Array.from({ length: T }, (_, t) => T - 1 - t), 0);
        counts[E - 1] = 0;
        const x = randomF32(T * d, 11), w1 = randomF32(E * d * s, 12), b1 = randomF32(E * s, 13);
        const w2 = randomF32(E * s * d, 14);
        const tx = g(be!.input(x, [T, d])),
          tl = g(be!.input(lists, [E * cap])),
          tc = g(be!.input(counts, [E]));
        const tw1 = g(be!.input(w1, [E * d, s])), tb1 = g(be!.input(b1, [E * s]));
        const tw2 = g(be!.input(w2, [E * s, d]));
        const up = { E, cap, K: d, N: s, gather: true, act: "relu" as const };
        const down = { E, cap, K: s, N: d, gather: false, act: "none" as const };
        const h = moeExpertMatmulGpu(be!.ctx, tx, tl, tc, 0, tw1, tb1, up, tile);
        const y = moeExpertMatmulGpu(be!.ctx, h, tl, tc, 0, tw2, undefined, down, tile);
        const [gh, gy] = await be!.read([h, y]);
        const wh = moeExpertMatmulRef(x, lists, counts, w1, b1, up);
        const wy = moeExpertMatmulRef(wh, lists, counts, w2, undefined, down);
        const used = (rows: Float32Array, n: number) =>
          Array.from(
            { length: E },
            (_, e) => Array.from(rows.subarray(e * cap * n, (e * cap + counts[e]) * n)),
          )
            .flat();
        const what = `${JSON.stringify(tile)} ${T}x${E}x${d}x${s}`;
        assertClose(used(gh as Float32Array, s), used(wh, s), { atol: 1e-5, rtol: 1e-4 }, `up ${what}`);
        assertClose(used(gy as Float32Array, d), used(wy, d), { atol: 1e-4, rtol: 1e-4 }, `down ${what}`);
        be!.release(tx, tl, tc, tw1, tb1, tw2, h, y);
      }
    }
  },
});

Deno.test({
  name: "moe_expert_matmul: the unrolled fast path (K % 8 = 0, N ≥ 64) equals the reference, up and down",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    // d 72: a partial last K step (up) and a partial column tile (down); 300 tokens at density 0.9: three
    // row tiles, the last partial
    for (const [T, density] of [[140, 0.6], [300, 0.9]]) {
      await fastCase(T, density);
    }
  },
});

/** One fast-path check: T tokens, each expert taking a token with probability `density`. */
async function fastCase(T: number, density: number) {
  const E = 3, d = 72, s = 64, cap = T;
  const { counts, lists } = randomLists(T, E, cap, density, 77);
  counts[1] = 0; // an idle expert
  const x = randomF32(T * d, 11),
    w1 = randomF32(E * d * s, 12),
    b1 = randomF32(E * s, 13),
    w2 = randomF32(E * s * d, 14);
  const up = { E, cap, K: d, N: s, gather: true, act: "relu" as const };
  const down = { E, cap, K: s, N: d, gather: false, act: "none" as const };
  assert.ok(expertFastFits(up) && expertFastFits(down), "both shapes take the fast kernel");
  const tx = be!.input(x, [T, d]), tl = be!.input(lists, [E * cap]), tc = be!.input(counts, [E]);
  const tw1 = be!.input(w1, [E * d, s]), tb1 = be!.input(b1, [E * s]), tw2 = be!.input(w2, [E * s, d]);
  const h = be!.moeExpertMatmul(tx, tl, tc, 0, tw1, tb1, up);
  const y = be!.moeExpertMatmul(h, tl, tc, 0, tw2, undefined, down);
  const [gh, gy] = await be!.read([h, y]);
  const wh = moeExpertMatmulRef(x, lists, counts, w1, b1, up);
  const wy = moeExpertMatmulRef(wh, lists, counts, w2, undefined, down);
  const used = (rows: Float32Array, n: number) => usedSlots(rows, n, E, cap, counts);
  assertClose(used(gh as Float32Array, s), used(wh, s), { atol: 1e-4, rtol: 1e-4 }, `fast up, ${T} tokens`);
  assertClose(used(gy as Float32Array, d), used(wy, d), { atol: 1e-4, rtol: 1e-4 }, `fast down, ${T} tokens`);
  be!.release(tx, tl, tc, tw1, tb1, tw2, h, y);
}

Deno.test({
  name: "moe_expert_matmul: the unrolled narrow path (K % 8 = 0, N < 64) equals the reference at odd widths",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    // N = 32 (one full column tile), 12 (a partial one), 48 (one full + one partial); 130 tokens leave a
    // partial second row tile; an idle expert and an expert with every token.
    for (const [T, E, d, s] of [[130, 3, 24, 32], [9, 4, 72, 12], [130, 2, 16, 48]]) {
      const cap = T;
      const { counts, lists } = randomLists(T, E, cap, 0.5, 31 * T + s);
      counts[0] = T;
      lists.set(Array.from({ length: T }, (_, t) => (t * 7) % T), 0);
      counts[E - 1] = 0;
      const x = randomF32(T * d, 21), w1 = randomF32(E * d * s, 22), b1 = randomF32(E * s, 23);
      const up = { E, cap, K: d, N: s, gather: true, act: "gelu_tanh" as const };
      assert.ok(expertNarrowFits(up) && !expertFastFits(up), "the up shape takes the narrow kernel");
      const tx = be!.input(x, [T, d]), tl = be!.input(lists, [E * cap]), tc = be!.input(counts, [E]);
      const tw1 = be!.input(w1, [E * d, s]), tb1 = be!.input(b1, [E * s]);
      const h = be!.moeExpertMatmul(tx, tl, tc, 0, tw1, tb1, up);
      const [gh] = await be!.read([h]);
      const wh = moeExpertMatmulRef(x, lists, counts, w1, b1, up);
      const used = (rows: Float32Array) =>
        Array.from({ length: E }, (_, e) => Array.from(rows.subarray(e * cap * s, (e * cap + counts[e]) * s)))
          .flat();
      assertClose(
        used(gh as Float32Array),
        used(wh),
        { atol: 1e-4, rtol: 1e-4 },
        `narrow up ${T}x${E}x${d}x${s}`,
      );
      be!.release(tx, tl, tc, tw1, tb1, h);
    }
  },
});
