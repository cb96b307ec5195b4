import assert from "node:assert/strict";
import { join } from "node:path";
import { assertClose } from "../helpers/close.ts";
import { fixture } from "../helpers/fixtures.ts";
import { loadModel } from "../../src/model/load.ts";
import type { Model } from "../../src/model/model.ts";
import type { DenseFfn } from "../../src/model/layers.ts";
import { calibrationSet } from "../../src/moe/calib_data.ts";
import { collectRouterData } from "../../src/moe/calibrate.ts";
import { splitFfn } from "../../src/moe/expert_split.ts";
import { FORMAT_VERSION } from "../../src/moe/manifest.ts";
import { uploadMoeLayer } from "../../src/moe/moe_ffn.ts";
import { MoeRouting } from "../../src/moe/routing.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import { findUseModelDir } from "../../src/model/use/tfjs_weights.ts";
import {
  bertConfig,
  bertTensors,
  gpt2Config,
  gpt2Tensors,
  writeDenseFolder,
} from "../../bench/random_models.ts";
import { QUICK_SHAPES } from "../../bench/shapes.ts";
import { Rng } from "../../src/util/rng.ts";

Deno.test("collectRouterData (cpu): the dense-with-norms fast path records what the generic path records", async () => {
  for (const name of ["tiny-bert-relu", "tiny-gpt2-relu"] as const) {
    const be = new CpuBackend();
    using model = await loadModel(fixture(name), { backend: be });
    const dense = model.ffnLayers as DenseFfn[];
    const E = 8, d = model.config.hidden;
    const layers = [];
    for (const [i, f] of dense.entries()) {
      const [w1, b1, w2, b2] = (await be.read([f.w1, f.b1, f.w2, f.b2])) as Float32Array[];
      const { weights } = splitFfn({ w1, b1, w2, b2, d, dff: f.w1.shape[1] }, E, i);
      const router = { d, width: 4, experts: E, w1: new Float32Array(d * 4), w2: new Float32Array(4 * E) };
      layers.push(uploadMoeLayer(be, weights, router, f.act, (x, s) => be.input(x, s)));
    }
    const info = {
      formatVersion: FORMAT_VERSION,
      layers: layers.map(() => ({ experts: E, expertSize: model.config.ffn / E })),
      routerWidth: 4,
      defaultTau: 0,
    };
    const { batches } = await calibrationSet(model, { files: [], tokens: 120, seed: 0 });
    const dims = layers.map(() => ({ d, experts: E }));
    model.replaceFfns(layers, new MoeRouting(info));
    assert.equal(typeof be.moeFfnNorms, "function", "the CPU backend has the fast path");
    const fast = await collectRouterData(model, batches, dims, info);
    // The generic path: expert matmuls into per-pair rows, their norms, the merge.
    Object.defineProperty(be, "moeFfnNorms", { value: undefined });
    const generic = await collectRouterData(model, batches, dims, info);
    for (const [l, g] of generic.entries()) {
      assert.ok(g.n > 0 && g.n === fast[l].n, `${name} layer ${l}: ${fast[l].n} rows, generic ${g.n}`);
      assertClose(fast[l].x, g.x, { atol: 1e-5, rtol: 1e-5 }, `${name} layer ${l} inputs`);
      assertClose(fast[l].y, g.y, { atol: 1e-5, rtol: 1e-4 }, `${name} layer ${l} expert norms`);
      assert.ok(g.y.some((v) => v > 0), "some expert outputs are nonzero");
    }
  }
});

Deno.test("calibrationSet: text paragraphs are drawn across the whole file, in an order the seed decides", async () => {
  using model = await loadModel(findUseModelDir(), { backend: "cpu" });
  const dir = await Deno.makeTempDir({ prefix: "d2d-calib-test-" });
  try {
    const file = join(dir, "calib.txt");
    const paragraphs = Array.from(
      { length: 200 },
      (_, i) => `Paragraph ${i} of the file, about item ${i * 7}.`,
    );
    await Deno.writeTextFile(file, paragraphs.join("\n\n"));
    const index = new Map(paragraphs.map((p, i) => [JSON.stringify(model.tokenizer!.encode(p)), i]));
    const drawn = async (seed: number) => {
      const set = await calibrationSet(model, { files: [file], tokens: 300, seed });
      assert.equal(set.kind, "text");
      assert.ok(set.tokens >= 300, `budget met: ${set.tokens} tokens`);
      return set.batches.flatMap((b) => (b as { rows: number[][] }).rows).map((r) =>
        index.get(JSON.stringify(r))!
      );
    };
    const a = await drawn(0);
    assert.ok(a.every((i) => i !== undefined), "every row is one whole paragraph");
    assert.ok(
      a.length < paragraphs.length / 2,
      `a budget smaller than the file takes a part of it (${a.length})`,
    );
    assert.ok(a.some((i) => i >= paragraphs.length / 2), "the sample reaches the second half of the file");
    assert.deepEqual(await drawn(0), a, "same seed, same sample");
    assert.notDeepEqual(await drawn(1), a, "another seed, another sample");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs `f` on a random-weight model without a tokenizer (calibration falls back to seeded ids). */
async function withRandomModel(
  family: "gpt2" | "bert",
  positions: number,
  f: (model: Model) => Promise<void>,
) {
  const s = { ...QUICK_SHAPES[family], layers: 1, hidden: 16, heads: 2, ffn: 32, vocab: 40, positions };
  const dir = await Deno.makeTempDir({ prefix: "d2d-calib-rows-" });
  try {
    const rng = new Rng(3);
    if (family === "gpt2") await writeDenseFolder(dir, gpt2Config(s), gpt2Tensors(s, rng));
    else await writeDenseFolder(dir, bertConfig(s), bertTensors(s, rng));
    using model = await loadModel(dir, { backend: "cpu", tokenizer: false });
    await f(model);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("calibrationSet (GPT-2): rows span the model's context, shorter only for small budgets", async () => {
  await withRandomModel("gpt2", 512, async (model) => {
    const rowLengths = async (tokens: number) => {
      const set = await calibrationSet(model, { files: [], tokens, seed: 0 });
      assert.equal(set.kind, "random");
      return [...new Set(set.batches.flatMap((b) => (b as { rows: number[][] }).rows.map((r) => r.length)))];
    };
    // Positions 128 … 511 are where a model with 512 positions also runs: the routers must see them.
    assert.deepEqual(await rowLengths(8192), [512]);
    // 8 rows at least: 2048 tokens give rows of 256; never shorter than 128.
    assert.deepEqual(await rowLengths(2048), [256]);
    assert.deepEqual(await rowLengths(300), [128]);
  });
});

Deno.test("calibrationSet (BERT): rows reach up to 512 positions, not 128", async () => {
  await withRandomModel("bert", 600, async (model) => {
    const set = await calibrationSet(model, { files: [], tokens: 4096, seed: 0 });
    assert.equal(set.kind, "random");
    const widths = new Set(set.batches.map((b) => (b as { ids: number[][] }).ids[0].length));
    assert.deepEqual([...widths], [512]);
  });
});
