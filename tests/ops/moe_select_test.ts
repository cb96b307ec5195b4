import assert from "node:assert/strict";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { moeSelectRef, type RoutingRule } from "../../src/ops/moe_select_ref.ts";
import { moeRouterRef } from "../../src/ops/moe_router_ref.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import { moeRouteSelectGpu } from "../../src/ops/moe_select.ts";
import type { GpuTensor } from "../../src/ops/tensor.ts";
import type { Backend } from "../../src/ops/backend.ts";

const be = await testGpu();

/** Rebuilds the [T, E] mask and per-expert token sets from GPU outputs, checking their consistency. */
function decode(
  T: number,
  E: number,
  cap: number,
  counts: Uint32Array,
  lists: Uint32Array,
  rows: Uint32Array,
  k: Uint32Array,
  start = 0,
) {
  const mask = new Uint8Array(T * E);
  const sets: number[][] = Array.from({ length: E }, () => []);
  for (let t = 0; t < T; t++) {
    let prev = -1;
    for (let j = 0; j < k[t]; j++) {
      const row = rows[t * E + j];
      const e = Math.floor(row / cap), slot = row % cap;
      assert.ok(e > prev, "pairs of a token are in ascending expert order");
      prev = e;
      assert.ok(slot < counts[e], "slot within the expert's count");
      assert.equal(lists[row], start + t, "list slot points back at the token (a batch index)");
      mask[t * E + e] = 1;
    }
  }
  for (let e = 0; e < E; e++) {
    sets[e] = Array.from(lists.subarray(e * cap, e * cap + counts[e]), (v) => v - start).sort((a, b) =>
      a - b
    );
  }
  return { mask, sets };
}

async function check(scores: Float32Array, T: number, E: number, rule: RoutingRule) {
  const cap = T;
  const want = moeSelectRef(scores, T, E, cap, rule);
  const ts = be!.input(scores, [T, E]);
  const counts = be!.input(new Uint32Array(E), [E]);
  const sel = be!.moeSelect(ts, counts, 0, cap, rule);
  const [c, lists, rows, k] = (await be!.read([counts, sel.lists, sel.tokRows, sel.tokK])) as Uint32Array[];
  be!.release(ts, counts, sel.lists, sel.tokRows, sel.tokK);
  assert.deepEqual(Array.from(c), Array.from(want.counts), "counts");
  const got = decode(T, E, cap, c, lists, rows, k);
  assert.deepEqual(got.mask, want.selected, "selection mask equals the reference exactly");
  for (let e = 0; e < E; e++) {
    assert.deepEqual(
      got.sets[e],
      Array.from(want.lists.subarray(e * cap, e * cap + want.counts[e])),
      `token set of expert ${e}`,
    );
  }
  return want;
}

Deno.test({
  name: "moe_select: masks equal the reference, lists equal as sets (E=70 not a multiple of 64, T=1, top-k)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const T = 37, E = 70;
    const s = randomF32(T * E, 3).map(Math.abs);
    for (const tau of [0, 0.3, 0.9, 1]) await check(s, T, E, { mode: "dynk", tau });
    await check(s.slice(0, E), 1, E, { mode: "dynk", tau: 0.5 });
    await check(s, T, E, { mode: "topk", k: 5 });
  },
});

Deno.test({
  name:
    "moe_select: τ=0 runs every expert, τ=1 at least one, ties inclusive, all-zero scores run every expert",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const T = 4, E = 9;
    const s = randomF32(T * E, 8).map(Math.abs);
    s.fill(0, 0, E); // token 0: all-zero router output
    s.set([1, 3, 3, 0, 2, 3, 1, 0, 0], E); // token 1: a three-way tie at the max
    const dense = await check(s, T, E, { mode: "dynk", tau: 0 });
    assert.ok(dense.tokK.every((k) => k === E), "τ = 0 is dense");
    const top = await check(s, T, E, { mode: "dynk", tau: 1 });
    assert.ok(top.tokK.every((k) => k >= 1), "τ = 1 keeps at least one expert");
    assert.equal(top.tokK[0], E, "all-zero scores select every expert");
    assert.equal(top.tokK[1], 3, "ties with the max are all selected");
  },
});

Deno.test({
  name:
    "moeRouteSelectGpu (decode path): router hidden on the matmul + output layer in the selection kernel equal the references",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    for (
      const [T, d, w, E, rule] of [
        [1, 12, 8, 5, { mode: "topk", k: 2 }],
        [37, 20, 9, 70, { mode: "dynk", tau: 0.6 }],
        [13, 64, 128, 24, { mode: "topk", k: 7 }],
      ] as [number, number, number, number, RoutingRule][]
    ) {
      const x = randomF32(T * d, T), r1 = randomF32(d * w, w), r2 = randomF32(w * E, E);
      const scores = moeRouterRef(x, r1, r2, { T, d, w, E });
      const want = moeSelectRef(scores, T, E, T, rule);
      const tx = be!.input(x, [T, d]), t1 = be!.input(r1, [d, w]), t2 = be!.input(r2, [w, E]);
      const counts = be!.input(new Uint32Array(E + 1).fill(5), [E + 1]);
      const g = (t: unknown) => t as GpuTensor;
      const sel = moeRouteSelectGpu(be!.ctx, g(tx), g(t1), g(t2), g(counts), 1, T, rule);
      const [c, lists, rows, k] =
        (await be!.read([counts, sel.lists, sel.tokRows, sel.tokK])) as Uint32Array[];
      assert.equal(c[0], 5, "counter before the offset untouched");
      const cc = c.subarray(1);
      assert.deepEqual(Array.from(cc), Array.from(want.counts), `counts T ${T} E ${E}`);
      const got = decode(T, E, T, cc, lists, rows, k);
      assert.deepEqual(got.mask, want.selected, `mask T ${T} E ${E}`);
      be!.release(tx, t1, t2, counts, sel.lists, sel.tokRows, sel.tokK);
    }
  },
});

Deno.test({
  name: "moeSelectRange: a token range of raw router products (h·R2, signs kept) selects like the reference",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const T = 31, E = 70, start = 5, count = 20, cap = count;
    const raw = randomF32(T * E, 21); // signed: the selection takes |·|
    raw.fill(0, (start + 3) * E, (start + 4) * E); // one all-zero row: every expert
    for (const rule of [{ mode: "dynk", tau: 0.6 }, { mode: "topk", k: 3 }] as RoutingRule[]) {
      const want = moeSelectRef(raw.slice(start * E, (start + count) * E).map(Math.abs), count, E, cap, rule);
      for (const b of [be!, new CpuBackend()] as Backend[]) {
        const ts = b.input(raw, [T, E]);
        const counts = b.input(new Uint32Array(E).fill(3), [E]);
        const sel = b.moeSelectRange(ts, counts, 0, cap, rule, start, count);
        const [c, lists, rows, k] =
          (await b.read([counts, sel.lists, sel.tokRows, sel.tokK])) as Uint32Array[];
        const what = `${b.info.kind} ${rule.mode}`;
        assert.deepEqual(Array.from(c), Array.from(want.counts), `${what}: counts (zeroed first)`);
        const got = decode(count, E, cap, c, lists, rows, k, start);
        assert.deepEqual(got.mask, want.selected, `${what}: mask`);
        assert.equal(k[3], rule.mode === "dynk" ? E : 3, `${what}: the all-zero row`);
        assert.throws(() => b.moeSelectRange(ts, counts, 0, cap, rule, 20, 12), /not within the batch's 31/);
        b.release(ts, counts, sel.lists, sel.tokRows, sel.tokK);
      }
    }
  },
});
