// bench/tune.ts in-process at tiny shapes: every candidate row is checked against its reference (`ok`),
// the live TUNING is restored afterwards, and the suggestions render. Speed is never asserted.
import assert from "node:assert/strict";
import { renderTune, runTune, suggestTuning } from "../../bench/tune.ts";
import { DEFAULT_TUNING, TUNING } from "../../src/ops/tuning.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";

const gpu = await testGpu();

Deno.test({
  name: "tune --quick (decode): candidates agree with their references and TUNING is restored",
  ignore: !gpu,
  ...gpuTestOptions,
  async fn() {
    const out = await Deno.makeTempFile({ suffix: ".jsonl" });
    try {
      const { rows, best, text } = await runTune({
        quick: true,
        only: /^decode$/,
        budgetS: 120,
        out,
        backend: "webgpu",
        log: () => {},
        print: () => {},
      });
      const measured = rows.filter((r) => typeof r.ms === "number");
      assert.ok(measured.some((r) => r.section === "decode"));
      for (const r of measured) assert.notEqual(r.ok, false, `${r.section} ${r.shape} ${r.config}`);
      assert.ok(Object.keys(best).some((k) => k.startsWith("decode ")));
      assert.match(text, /Suggested DEFAULT_TUNING/);
      const lines = (await Deno.readTextFile(out)).trim().split("\n");
      assert.equal(lines.length, rows.length, "one JSON line per row");
      assert.deepEqual(TUNING, DEFAULT_TUNING, "the tuner leaves the live configuration as it found it");
    } finally {
      await Deno.remove(out).catch(() => {});
      await Deno.remove(out.replace(/\.jsonl$/, ".txt")).catch(() => {});
    }
  },
});

Deno.test("tune: suggestions list winning matmul tiles largest first and keep a small fallback", () => {
  const t = (BM: number, BN: number) => ({ BM, BN, BK: 8, TM: 8, TN: 8, GROUP_M: 8 });
  const best = {
    "matmul square": { config: "a", params: t(128, 64), metric: 3 },
    "matmul bert_o": { config: "b", params: t(64, 64), metric: 1 },
    "matmul ffn_up": { config: "c", params: t(128, 128), metric: 2 },
  };
  const s = suggestTuning(best, {
    square: 1,
    ffn: { T: 1, d: 1, dff: 1 },
    bert: { T: 1, d: 1, dff: 1 },
    decode: { d: 1, dff: 1, vocab: 1, batch: 1 },
    layouts: [],
    fractions: [1],
    decodeFraction: 1,
    readBytes: 1,
  });
  const tiles = JSON.parse(s.match(/matmulTiles: (\[.*\]),/)![1]) as { BM: number; BN: number }[];
  assert.deepEqual(tiles.slice(0, 3).map((x) => x.BM * x.BN), [128 * 128, 128 * 64, 64 * 64]);
  const last = DEFAULT_TUNING.matmulTiles.at(-1)!;
  assert.deepEqual(tiles.at(-1), last);
  assert.match(renderTune([{ section: "matmul", shape: "s", config: "a", ms: 1 }], best), /best per shape/);
});
