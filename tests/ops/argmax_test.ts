import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { argmaxRef } from "../../src/ops/argmax_ref.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";

const be = await testGpu();

/** Rows that stress the reduction: ties across threads, NaN (first or inside), infinities, one column. */
function awkwardCases(): [string, Float32Array, number, number][] {
  const cases: [string, Float32Array, number, number][] = [];
  for (const [rows, cols] of [[1, 1], [3, 257], [2, 50257], [5, 7]]) {
    cases.push([`random ${rows}x${cols}`, randomF32(rows * cols, rows * 31 + cols), rows, cols]);
  }
  const tie = new Float32Array(600).fill(-1);
  tie[300] = 2;
  tie[555] = 2;
  tie[44] = 2; // the first of three equal maxima, owned by different threads
  cases.push(["ties", tie, 1, 600]);
  cases.push(["all equal", new Float32Array(513).fill(0.5), 1, 513]);
  const nanMid = randomF32(300, 9);
  nanMid[17] = NaN;
  nanMid[270] = NaN;
  cases.push(["NaN inside", nanMid, 1, 300]);
  const nanFirst = randomF32(300, 10);
  nanFirst[0] = NaN;
  cases.push(["NaN first", nanFirst, 1, 300]);
  cases.push(["all NaN", new Float32Array(40).fill(NaN), 1, 40]);
  const inf = new Float32Array(90).fill(-Infinity);
  inf[60] = Infinity;
  cases.push(["infinities", inf, 1, 90]);
  cases.push(["all -Infinity", new Float32Array(90).fill(-Infinity), 1, 90]);
  return cases;
}

Deno.test("argmax reference: the sampler's rule (first max, NaN only at index 0)", () => {
  assertEquals([...argmaxRef(Float32Array.of(1, 3, 3, 2), 1, 4)], [1]);
  assertEquals([...argmaxRef(Float32Array.of(NaN, 3, 4), 1, 3)], [0]);
  assertEquals([...argmaxRef(Float32Array.of(1, NaN, 4, 0, 9, 9), 2, 3)], [2, 1]);
  const cpu = new CpuBackend();
  const t = cpu.input(Float32Array.of(0, 5, 1, 7, 7, 2), [2, 3]);
  assertEquals(t.dtype, "f32");
  const out = cpu.argmax(t);
  assertEquals(out.dtype, "u32");
  assertEquals(out.shape, [2]);
});

Deno.test({
  name: "argmax: GPU equals reference at awkward sizes, ties, NaN and infinities",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    for (const [name, x, rows, cols] of awkwardCases()) {
      const t = be!.input(x, [rows, cols]);
      const i = be!.argmax(t);
      const [got] = await be!.read([i]);
      assertEquals([...got as Uint32Array], [...argmaxRef(x, rows, cols)], name);
      be!.release(t, i);
    }
  },
});
