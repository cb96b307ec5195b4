// Conversion invariants on every fixture family: τ = 0 reproduces the dense logits (within 1e-4 of
// transformers' own outputs) on the CPU and WebGPU backends; higher τ executes fewer experts and the
// stats say so; the folder is complete and reloadable.
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertClose } from "../helpers/close.ts";
import { fixture } from "../helpers/fixtures.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { convert, DEFAULT_TAUS, defaultCalibTokens, heldOutBatches } from "../../src/moe/convert.ts";
import { loadModel } from "../../src/model/load.ts";
import "../../src/moe/load_converted.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import type { Backend } from "../../src/ops/backend.ts";
import { GpuBackend } from "../../src/ops/gpu_backend.ts";

const gpu = await testGpu();
const tmp = await Deno.makeTempDir({ prefix: "d2d-convert-test-" });
const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);

const converted = new Map<string, string>();
async function convertedFixture(name: "tiny-gpt2-relu" | "tiny-bert-relu" | "tiny-vit") {
  if (!converted.has(name)) {
    const out = join(tmp, name);
    await convert(fixture(name), {
      out,
      expertSize: 16,
      calibTokens: 600,
      routerEpochs: 3,
      backend: new CpuBackend(),
      taus: [0, 0.5, 1],
    });
    converted.set(name, out);
  }
  return converted.get(name)!;
}

for (const name of ["tiny-gpt2-relu", "tiny-bert-relu", "tiny-vit"] as const) {
  for (const [kind, be] of [["cpu", new CpuBackend()], ["gpu", gpu]] as [string, Backend | null][]) {
    Deno.test({
      name:
        `convert ${name}, run on ${kind}: τ = 0 matches transformers within 1e-4; τ = 1 runs fewer experts`,
      ignore: !be,
      ...gpuTestOptions,
      async fn() {
        const dir = await convertedFixture(name);
        const inputs = JSON.parse(await Deno.readTextFile(`${fixture(name)}/inputs.json`));
        const expected = JSON.parse(await Deno.readTextFile(`${fixture(name)}/expected.json`));
        using model = await loadModel(dir, { backend: be! });
        assert.ok(model.moe, "converted model reports its experts");
        assert.ok(model.ffnLayers.every((f) => f.kind === "d2dmoe"));
        const dense = await model.forward(inputs, { tau: 0 });
        assertClose(dense.logits!.data, flat(expected.logits), { atol: 1e-4, rtol: 0 }, `${name} τ=0 logits`);
        assert.equal(dense.stats.ffn_fraction, 1);
        assert.ok(dense.stats.layers!.every((l) => l.ffn_fraction === 1));
        const sparse = await model.forward(inputs, { tau: 1 });
        assert.ok(
          sparse.stats.ffn_fraction < 1,
          `τ = 1 executes fewer experts (${sparse.stats.ffn_fraction})`,
        );
        const tokens = sparse.stats.tokens;
        for (const l of sparse.stats.layers!) {
          assert.ok(l.executed_pairs >= tokens, "at least one expert per token");
        }
        const top = await model.forward(inputs, { moeTopK: 2 });
        const E = model.moe!.layers[0].experts;
        assertClose(top.stats.layers!.map((l) => l.ffn_fraction), model.moe!.layers.map(() => 2 / E), {
          atol: 1e-9,
        }, "top-2 fraction");
      },
    });
  }
}

Deno.test({
  name: "converted folder: manifest, files, provenance; bad τ is rejected with a clear error",
  ...gpuTestOptions,
  async fn() {
    const dir = await convertedFixture("tiny-gpt2-relu");
    const files = [];
    for await (const e of Deno.readDir(dir)) files.push(e.name);
    assert.deepEqual(files.sort(), [
      "config.json",
      "d2dmoe.json",
      "d2dmoe.safetensors",
      "generation_config.json",
      "model.safetensors",
    ]);
    const m = JSON.parse(await Deno.readTextFile(join(dir, "d2dmoe.json")));
    assert.equal(m.format_version, 1);
    assert.equal(m.layers.length, 2);
    assert.equal(m.layers[0].experts, 16);
    assert.ok(m.provenance.source_sha256.length === 64);
    assert.equal(m.provenance.seed, 0);
    assert.ok(Number.isFinite(m.layers[0].router_val_loss));
    assert.equal(m.router_target, "sqrt_norm", "routers regress square-root norms by default");
    assert.deepEqual(m.calibration.map((c: { tau: number }) => c.tau), [0, 0.5, 1]);
    using model = await loadModel(dir, { backend: "cpu" });
    assert.equal(model.moe!.routerTarget, "sqrt_norm");
    await assert.rejects(
      model.forward({ input_ids: [[1, 2]] }, { tau: 1.5 }),
      /tau: must be a number in \[0, 1\]/,
    );
    await assert.rejects(
      model.forward({ input_ids: [[1, 2]] }, { moeTopK: 99 }),
      /moeTopK: must be an integer in \[1, 16\]/,
    );
  },
});

Deno.test("heldOutBatches: 15% of the batches, at most about 8192 tokens, at least one of two or more", () => {
  assert.equal(heldOutBatches(1, 100), 0);
  assert.equal(heldOutBatches(2, 100), 1);
  assert.equal(heldOutBatches(20, 20 * 256), 3);
  assert.equal(heldOutBatches(512, 512 * 256), 32, "131072 tokens: 32 batches of 256 = 8192 tokens");
  assert.equal(heldOutBatches(100, 100 * 100_000), 1);
});

Deno.test("defaultCalibTokens: more tokens for smaller routers, multiples of 1024 within [8192, 131072]", () => {
  assert.equal(defaultCalibTokens(4, 256, 128, 64), 131072, "the 4-layer ReLU GPT-2 of docs/conversion.md");
  assert.equal(defaultCalibTokens(12, 768, 128, 96), 16384, "GPT-2 small, expert size 32");
  assert.equal(defaultCalibTokens(24, 1024, 128, 128), 8192, "large models keep the floor");
  assert.equal(defaultCalibTokens(6, 384, 128, 48) % 1024, 0);
});

Deno.test("DEFAULT_TAUS: 0 to 1, increasing, steps of at most 0.005 up to 0.1", () => {
  assert.equal(DEFAULT_TAUS[0], 0);
  assert.equal(DEFAULT_TAUS.at(-1), 1);
  for (let i = 1; i < DEFAULT_TAUS.length; i++) {
    const [a, b] = [DEFAULT_TAUS[i - 1], DEFAULT_TAUS[i]];
    assert.ok(b > a, `not increasing at ${a}, ${b}`);
    // The fraction of a sparse model falls ~0.02 per 0.01 of τ near half the MACs (docs/conversion.md).
    if (b <= 0.1) assert.ok(b - a <= 0.005 + 1e-12, `step ${a} → ${b} is coarser than 0.005`);
  }
  assert.ok(DEFAULT_TAUS.includes(0.085), "0.085 is the literal's double, so --taus 0.085 matches the table");
});

Deno.test("convert: an FFN width not divisible by the expert size, or bad routerWorkers, is a clear RangeError", async () => {
  await assert.rejects(
    convert(fixture("tiny-gpt2-relu"), { out: join(tmp, "bad"), expertSize: 48, backend: "cpu" }),
    (e: Error) =>
      e instanceof RangeError && /FFN width 256 cannot be split into expert size 48/.test(e.message),
  );
  for (const routerWorkers of [0, 1.5]) {
    await assert.rejects(
      convert(fixture("tiny-gpt2-relu"), { out: join(tmp, "bad"), routerWorkers, backend: "cpu" }),
      new RegExp(`routerWorkers must be a positive integer, got ${routerWorkers}`),
    );
  }
});

Deno.test("convert: seeded conversion is deterministic, routers trained in workers or in this thread", async () => {
  const a = join(tmp, "det-a"), b = join(tmp, "det-b");
  const steps: string[] = [];
  for (const [out, routerWorkers] of [[a, 2], [b, 1]] as const) {
    await convert(fixture("tiny-bert-relu"), {
      out,
      experts: 8,
      calibTokens: 200,
      routerEpochs: 1,
      backend: "cpu",
      taus: [0, 1],
      routerWorkers,
      onProgress: (p) => steps.push(p.step),
    });
  }
  assert.ok(steps.some((s) => s.startsWith("routers (2 layers, 2 at once)")), "the first run used workers");
  assert.ok(steps.includes("router 1/2"), "the second trained in this thread");
  const bytes = async (d: string) => await Deno.readFile(join(d, "d2dmoe.safetensors"));
  assert.deepEqual(await bytes(a), await bytes(b));
});

for (const [kind, be] of [["cpu", new CpuBackend()], ["gpu", gpu]] as [string, Backend | null][]) {
  Deno.test({
    name: `generate on ${kind}: greedy (argmax on the device, one step ahead) equals top-1 sampling, ` +
      "tokens and stats, when it stops early too",
    ignore: !be,
    ...gpuTestOptions,
    async fn() {
      const dir = await convertedFixture("tiny-gpt2-relu");
      using model = await loadModel(dir, { backend: be! });
      const live = () => (be instanceof GpuBackend ? be.ctx.pool.stats.live : 0);
      const live0 = live();
      const prompt = [3, 1, 4, 1, 5];
      const top1 = { temperature: 1, topK: 1, seed: 0 };
      for (const tau of [0, 0.5]) {
        const full = await model.generate(prompt, { maxTokens: 6, greedy: true, eosTokenId: null, tau });
        const ref = await model.generate(prompt, { maxTokens: 6, ...top1, eosTokenId: null, tau });
        assert.deepEqual(full.token_ids, ref.token_ids, `τ ${tau}`);
        assert.deepEqual(full.stats, ref.stats, `τ ${tau} stats`);
        assert.equal(full.finish_reason, "length");
        // Stopped by onToken after 3 tokens: the step recorded ahead is neither returned nor counted.
        let n = 0;
        const cut = await model.generate(prompt, {
          maxTokens: 6,
          greedy: true,
          eosTokenId: null,
          tau,
          onToken: () => ++n < 3,
        });
        n = 0;
        const cutRef = await model.generate(prompt, {
          maxTokens: 6,
          ...top1,
          eosTokenId: null,
          tau,
          onToken: () => ++n < 3,
        });
        assert.deepEqual(cut.token_ids, full.token_ids.slice(0, 3));
        assert.deepEqual(cut.stats, cutRef.stats, `τ ${tau} stats after an early stop`);
        const eos = await model.generate(prompt, {
          maxTokens: 6,
          greedy: true,
          eosTokenId: full.token_ids[1],
          tau,
        });
        assert.equal(eos.finish_reason, "eos");
        assert.deepEqual(eos.token_ids, full.token_ids.slice(0, full.token_ids.indexOf(full.token_ids[1])));
      }
      assert.equal(live(), live0, "no pooled buffer left live");
    },
  });
}
