// The benchmark harness in-process at tiny shapes on the CPU backend: every record follows the JSON
// schema, ratios to dense are computed within the run, forced fractions are what the device counted,
// D2DMoE with every expert matches dense, the peers' rows are there, and the report renders.
// Speed is never asserted.
import assert from "node:assert/strict";
import type { BenchOptions } from "../../bench/context.ts";
import { BenchUsageError, parseBenchArgs } from "../../bench/options.ts";
import { renderReport } from "../../bench/report.ts";
import { runBench } from "../../bench/run.ts";
import { type BenchRecord, isTimed, schemaProblems } from "../../bench/schema.ts";
import { quantile } from "../../bench/timing.ts";

const base: BenchOptions = {
  quick: true,
  json: true,
  backend: "cpu",
  profile: false,
  torch: false,
  ort: false,
  seed: 3,
  python: "python3",
  plan: { warmup: 1, repeats: 3, minBatchMs: 1, maxBatch: 3, budgetMs: 50 },
  log: () => {},
};

const opts = { sanitizeOps: false, sanitizeResources: false } as const;

Deno.test({
  name: "bench --quick on the CPU: schema, in-run ratios, forced fractions, f = 1 matches dense",
  ...opts,
  async fn() {
    const streamed: BenchRecord[] = [];
    const { records, targets } = await runBench({
      ...base,
      only: /^(ffn_decode|ceiling_matmul|ceiling_read)$/,
      onRecord: (r) => streamed.push(r),
    });
    for (const r of streamed) {
      assert.deepEqual(schemaProblems(JSON.parse(JSON.stringify(r))), [], JSON.stringify(r));
    }
    const dense = records.find((r) => r.case === "ffn_decode" && r.impl === "ours" && r.model === "dense");
    assert.ok(dense && isTimed(dense), "dense decode row timed");
    const moe = records.filter((r) => r.case === "ffn_decode" && r.model.startsWith("d2dmoe"));
    assert.equal(moe.length, 8, "two layouts × four fractions");
    for (const r of moe) {
      assert.ok(isTimed(r), JSON.stringify(r));
      assert.equal(r.ratio_to_dense, Number((r.ms_median / dense.ms_median!).toPrecision(4)));
      assert.equal(r.ffn_fraction_measured, r.ffn_fraction, "top-k forces the executed fraction");
      if (r.ffn_fraction === 1) {
        assert.ok((r.max_abs_diff as number) < 1e-4, `f = 1 equals dense: ${r.max_abs_diff}`);
      }
    }
    const mm = records.find((r) => r.case === "ceiling_matmul");
    assert.ok(mm && isTimed(mm) && typeof mm.tflops === "number");
    const read = records.find((r) => r.case === "ceiling_read");
    assert.equal(read?.status, "skipped", "read bandwidth needs a GPU");
    // targets: emitted after the rows, each a verdict
    const tLines = streamed.filter((r) => r.case === "target");
    assert.equal(tLines.length, targets.length);
    assert.ok(targets.every((t) => ["pass", "miss", "n/a"].includes(t.verdict)));
    assert.ok(targets.some((t) => t.target.startsWith("D2DMoE decode FFN") && t.ratio !== null));
    const text = renderReport(records, targets);
    assert.match(text, /== ffn_decode/);
    assert.match(text, /== targets/);
  },
});

Deno.test({
  name:
    "bench peers: onnxruntime-web rows on the same FFN agree with our dense output; a missing python is a skip",
  ...opts,
  async fn() {
    const { records } = await runBench({
      ...base,
      only: /^ffn_decode$/,
      ort: true,
      torch: true,
      python: "/nonexistent/python3",
    });
    const wasm = records.find((r) => r.case === "ffn_decode" && r.impl === "ort-wasm");
    assert.ok(wasm && isTimed(wasm), JSON.stringify(wasm));
    assert.ok((wasm.max_abs_diff as number) < 1e-4, `ORT WASM vs ours: ${wasm.max_abs_diff}`);
    assert.ok(typeof wasm.ratio_to_dense === "number");
    const gpu = records.find((r) => r.case === "ffn_decode" && r.impl === "ort-webgpu");
    assert.ok(gpu, "an ort-webgpu row (timed, or an error when there is no adapter)");
    if (isTimed(gpu)) assert.ok((gpu.max_abs_diff as number) < 1e-4);
    const torch = records.find((r) => r.impl === "torch");
    assert.equal(torch?.status, "skipped");
    assert.match(torch?.note ?? "", /not found/);
  },
});

Deno.test("bench flags: defaults, --only as a regular expression, usage errors", () => {
  const o = parseBenchArgs(["--quick", "--only", "ffn_", "--backend", "cpu", "--seed", "7"]);
  assert.ok(o !== "help");
  assert.equal(o.quick, true);
  assert.equal(o.backend, "cpu");
  assert.equal(o.seed, 7);
  assert.ok(o.only?.test("ffn_batched") && !o.only.test("bert_forward"));
  assert.equal(parseBenchArgs(["--help"]), "help");
  assert.throws(() => parseBenchArgs(["--backend", "tpu"]), BenchUsageError);
  assert.throws(() => parseBenchArgs(["--only", "("]), BenchUsageError);
  assert.throws(() => parseBenchArgs(["--frobnicate"]), BenchUsageError);
});

Deno.test("quantile interpolates", () => {
  assert.equal(quantile([3, 1, 2], 0.5), 2);
  assert.equal(quantile([1, 2], 0.1), 1.1);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});
