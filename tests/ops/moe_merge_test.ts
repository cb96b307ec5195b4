import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { moeMergeRef } from "../../src/ops/moe_merge_ref.ts";
import { moeSelectRef } from "../../src/ops/moe_select_ref.ts";
import { moeMergeGpu } from "../../src/ops/moe_merge.ts";
import type { GpuTensor } from "../../src/ops/tensor.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import type { Backend } from "../../src/ops/backend.ts";

const be = await testGpu();

for (const d of [37, 44]) {
  Deno.test({
    name:
      `moe_merge: GPU equals reference bit for bit (pairs summed in expert order, + b2 + residual), d ${d} (${
        d % 4 ? "scalar" : "vec4"
      } path)`,
    ignore: !be,
    ...gpuTestOptions,
    async fn() {
      const T = 13, E = 6, cap = T;
      const sel = moeSelectRef(randomF32(T * E, 1).map(Math.abs), T, E, cap, { mode: "dynk", tau: 0.4 });
      const pairs = randomF32(E * cap * d, 2), b2 = randomF32(d, 3), res = randomF32(T * d, 4);
      const ts = [
        be!.input(pairs, [E * cap, d]),
        be!.input(sel.tokRows, [T * E]),
        be!.input(sel.tokK, [T]),
        be!.input(b2, [d]),
        be!.input(res, [T, d]),
      ];
      const y = be!.moeMerge(ts[0], ts[1], ts[2], ts[3], ts[4], T, E);
      const yNoRes = be!.moeMerge(ts[0], ts[1], ts[2], ts[3], undefined, T, E);
      const [g1, g2] = await be!.read([y, yNoRes]);
      assertClose(
        g1,
        moeMergeRef(pairs, sel.tokRows, sel.tokK, b2, res, T, E, d),
        { atol: 0, rtol: 0 },
        "merge",
      );
      assertClose(
        g2,
        moeMergeRef(pairs, sel.tokRows, sel.tokK, b2, undefined, T, E, d),
        { atol: 0, rtol: 0 },
        "merge, no residual",
      );
      be!.release(...ts, y, yNoRes);
    },
  });
}

Deno.test({
  name: "moe_merge: R partial rows per pair (decode path), in order and with the split tree",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const T = 3, E = 5, d = 44, cap = T, R = 4;
    const sel = moeSelectRef(randomF32(T * E, 5).map(Math.abs), T, E, cap, { mode: "dynk", tau: 0.3 });
    const parts = randomF32(E * cap * R * d, 6), b2 = randomF32(d, 7), res = randomF32(T * d, 8);
    const ts = [
      be!.input(parts, [E * cap * R, d]),
      be!.input(sel.tokRows, [T * E]),
      be!.input(sel.tokK, [T]),
      be!.input(b2, [d]),
      be!.input(res, [T, d]),
    ];
    const g = (t: unknown) => t as GpuTensor;
    const [t0, t1, t2, t3, t4] = ts.map(g);
    const y = moeMergeGpu(be!.ctx, t0, t1, t2, t3, t4, T, E, R, false);
    const ySplit = moeMergeGpu(be!.ctx, t0, t1, t2, t3, t4, T, E, R, true);
    const [got, gotSplit] = await be!.read([y, ySplit]);
    const want = moeMergeRef(parts, sel.tokRows, sel.tokK, b2, res, T, E, d, R);
    assertClose(got, want, { atol: 0, rtol: 0 }, "merge R");
    assertClose(gotSplit, want, { atol: 1e-6, rtol: 1e-6 }, "merge R (split)");
    be!.release(...ts, y, ySplit);
  },
});

Deno.test({
  name:
    "moe_merge: into rows row0 … of a bigger output (a token chunk), residual rows alike, the rest untouched",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const T = 7, E = 4, d = 12, cap = T, rows = 20, row0 = 9;
    const sel = moeSelectRef(randomF32(T * E, 31).map(Math.abs), T, E, cap, { mode: "dynk", tau: 0.5 });
    const pairs = randomF32(E * cap * d, 32), b2 = randomF32(d, 33), res = randomF32(rows * d, 34);
    const chunk = moeMergeRef(
      pairs,
      sel.tokRows,
      sel.tokK,
      b2,
      res.subarray(row0 * d, (row0 + T) * d),
      T,
      E,
      d,
    );
    const want = new Float32Array(rows * d).fill(-5);
    want.set(chunk, row0 * d);
    for (const b of [be!, new CpuBackend()] as Backend[]) {
      const ts = [
        b.input(pairs, [E * cap, d]),
        b.input(sel.tokRows, [T * E]),
        b.input(sel.tokK, [T]),
        b.input(b2, [d]),
        b.input(res, [rows, d]),
      ];
      const y = b.input(new Float32Array(rows * d).fill(-5), [rows, d]);
      const out = b.moeMerge(ts[0], ts[1], ts[2], ts[3], ts[4], T, E, 1, { y, row0 });
      assert.equal(out, y, "returns the output it wrote into");
      const [got] = await b.read([y]);
      assertClose(got, want, { atol: 0, rtol: 0 }, `${b.info.kind}: merge into rows ${row0}…`);
      assert.throws(
        () => b.moeMerge(ts[0], ts[1], ts[2], ts[3], ts[4], T, E, 1, { y, row0: 14 }),
        /do not fit/,
      );
      b.release(...ts, y);
    }
  },
});
