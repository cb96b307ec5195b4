import assert from "node:assert/strict";
import { randomF32, randomU32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { gatherRowsRef } from "../../src/ops/gather_rows_ref.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";

const be = await testGpu();

Deno.test({
  name: "gather_rows: GPU equals reference (1 row, 1 column, offsets, > 256 elements, clamped index)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const live = be!.ctx.pool.stats.live;
    for (const [n, cols, rows, offset] of [[1, 1, 1, 0], [9, 3, 1, 5], [37, 70, 13, 4], [300, 5, 299, 1]]) {
      const src = randomF32(n * cols, n + cols);
      const idx = randomU32(offset + rows + 2, n, rows);
      idx[offset] = n + 5; // out of range: clamped to the last row by both
      const ts = be!.input(src, [n, cols]), ti = be!.input(idx, [idx.length]);
      const out = be!.gatherRows(ts, ti, offset, rows);
      assert.deepEqual(out.shape, [rows, cols]);
      const [got] = await be!.read([out]);
      // A gather moves values: exact.
      assert.deepEqual(
        got,
        gatherRowsRef(src, idx, offset, rows, cols),
        `gather ${n}x${cols} ${rows}@${offset}`,
      );
      be!.release(ts, ti, out);
    }
    assert.equal(be!.ctx.pool.stats.live, live);
  },
});

Deno.test({
  name: "gather_rows: both backends reject an index range past the vector",
  ignore: !be,
  ...gpuTestOptions,
  fn() {
    for (const b of [be!, new CpuBackend()]) {
      const ts = b.input(randomF32(8, 1), [4, 2]), ti = b.input(new Uint32Array(3), [3]);
      assert.throws(() => b.gatherRows(ts, ti, 2, 2), /run past the 3 given/);
      assert.throws(() => b.gatherRows(ts, ti, -1, 1), RangeError);
      b.release(ts, ti);
    }
  },
});
