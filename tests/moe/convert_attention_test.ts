// `convert --attention` (D2DMoE §6): Q, K, V, O become distilled ReLU MLPs split into experts. The
// converted ViT at τ = 0 stays close to dense, runs the same on CPU and WebGPU, higher τ executes fewer
// attention experts and the stats say so; GPT-2 generation through the KV cache agrees with a full
// forward pass; the manifest records the distillation errors.
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertClose } from "../helpers/close.ts";
import { fixture } from "../helpers/fixtures.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { convert } from "../../src/moe/convert.ts";
import { loadModel } from "../../src/model/load.ts";
import "../../src/moe/load_converted.ts";
import { parseManifest } from "../../src/moe/manifest.ts";
import { attentionProjectionBlock, isFfnTensor } from "../../src/moe/write_converted.ts";
import { WeightStore } from "../../src/model/weight_store.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import type { Backend } from "../../src/ops/backend.ts";
import { cosine } from "../../src/util/cosine.ts";

const gpu = await testGpu();
const tmp = await Deno.makeTempDir({ prefix: "d2d-attn-test-" });
const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);

const converted = new Map<string, Promise<string>>();
function convertedFixture(name: "tiny-vit" | "tiny-gpt2-relu" | "tiny-bert-relu"): Promise<string> {
  if (!converted.has(name)) {
    const out = join(tmp, name);
    converted.set(
      name,
      convert(fixture(name), {
        out,
        expertSize: 16,
        calibTokens: 600,
        routerEpochs: 3,
        routerWidth: 32,
        backend: new CpuBackend(),
        taus: [0, 0.5, 1],
        attention: true,
        distillEpochs: 5,
      }).then(() => out),
    );
  }
  return converted.get(name)!;
}

Deno.test("convert --attention (tiny-vit): manifest records each projection's distillation", async () => {
  const dir = await convertedFixture("tiny-vit");
  const m = parseManifest(JSON.parse(await Deno.readTextFile(join(dir, "d2dmoe.json"))), "d2dmoe.json");
  for (const l of m.layers) {
    const a = l.attention!;
    assert.equal(a.hidden, 32, "h = round((64² + 64)/129) = 32");
    assert.equal(a.experts * a.expert_size, a.hidden);
    for (const p of ["q", "k", "v", "o"]) {
      const e = a.projections![p].distill_val_error!;
      // Random fixture weights are full rank: half-width MLPs explain most, not all, of the variance.
      assert.ok(e >= 0 && e < 0.6, `${p}: held-out unexplained variance ${e}`);
      assert.ok(e <= a.projections![p].distill_init_error! + 1e-12, `${p}: training never worsens the init`);
    }
  }
  assert.ok(m.calibration.every((c) => c.attention_fraction !== undefined));
  assert.equal(m.calibration[0].attention_fraction, 1);
  assert.ok(m.calibration.at(-1)!.attention_fraction! < 1);
});

for (const [kind, be] of [["cpu", new CpuBackend()], ["gpu", gpu]] as [string, Backend | null][]) {
  Deno.test({
    name:
      `convert --attention (tiny-vit) on ${kind}: τ = 0 close to dense, τ = 1 runs fewer attention experts`,
    ignore: !be,
    ...gpuTestOptions,
    async fn() {
      const dir = await convertedFixture("tiny-vit");
      const inputs = JSON.parse(await Deno.readTextFile(`${fixture("tiny-vit")}/inputs.json`));
      const expected = flat(
        JSON.parse(await Deno.readTextFile(`${fixture("tiny-vit")}/expected.json`)).logits,
      );
      using model = await loadModel(dir, { backend: be! });
      assert.ok(model.moe!.attention!.every((l) => l !== null && l.experts === 4));
      assert.ok(model.attentionProjections.every((p) => p?.q.kind === "d2dmoe"));
      const dense = await model.forward(inputs, { tau: 0 });
      const cos = cosine(dense.logits!.data, expected);
      console.log(`tiny-vit --attention τ = 0 logit cosine to dense (${kind}): ${cos.toFixed(5)}`);
      assert.ok(cos > 0.95, `τ = 0 logit cosine to the dense model ${cos}`);
      assert.equal(dense.stats.attention_fraction, 1);
      assert.equal(dense.stats.ffn_fraction, 1);
      const sparse = await model.forward(inputs, { tau: 1 });
      const s = sparse.stats;
      assert.ok(
        s.attention_fraction < 1 && s.attention_fraction >= 0.25,
        `attention ${s.attention_fraction}`,
      );
      // Whole-model accounting: routers + executed experts + the rest, against the dense model.
      assert.ok(s.dense_attention_macs > 0 && s.attention_macs < s.dense_attention_macs);
      assert.ok(s.compute_fraction < dense.stats.compute_fraction);
      const top = await model.forward(inputs, { moeTopK: 1 });
      assert.equal(top.stats.attention_fraction, 1 / 4);
      await assert.rejects(model.forward(inputs, { moeTopK: 5 }), /moeTopK: must be an integer in \[1, 4\]/);
    },
  });
}

Deno.test("convert --attention (tiny-bert-relu): the same code serves BERT; τ = 0 stays close to dense", async () => {
  const dir = await convertedFixture("tiny-bert-relu");
  const inputs = JSON.parse(await Deno.readTextFile(`${fixture("tiny-bert-relu")}/inputs.json`));
  const expected = JSON.parse(await Deno.readTextFile(`${fixture("tiny-bert-relu")}/expected.json`));
  using model = await loadModel(dir, { backend: new CpuBackend() });
  const r = await model.forward(inputs, { tau: 0 });
  const want = flat(expected.last_hidden_state ?? expected.logits);
  const got = r.last_hidden_state?.data ?? r.logits!.data;
  const cos = cosine(got, want);
  console.log(`tiny-bert-relu --attention τ = 0 output cosine to dense: ${cos.toFixed(5)}`);
  assert.ok(cos > 0.95, `τ = 0 cosine ${cos}`);
  const sparse = await model.forward(inputs, { tau: 1 });
  assert.ok(sparse.stats.attention_fraction < 1);
});

Deno.test({
  name: "convert --attention: the WebGPU kernels give the CPU reference's logits at τ = 0.5",
  ignore: !gpu,
  ...gpuTestOptions,
  async fn() {
    const dir = await convertedFixture("tiny-vit");
    const inputs = JSON.parse(await Deno.readTextFile(`${fixture("tiny-vit")}/inputs.json`));
    using cpu = await loadModel(dir, { backend: new CpuBackend() });
    using onGpu = await loadModel(dir, { backend: gpu! });
    const a = await cpu.forward(inputs, { tau: 0.5 }), b = await onGpu.forward(inputs, { tau: 0.5 });
    assert.equal(a.stats.attention_macs, b.stats.attention_macs, "same experts selected");
    assertClose(b.logits!.data, a.logits!.data, { atol: 1e-4, rtol: 1e-4 }, "GPU vs CPU");
  },
});

for (const [kind, be] of [["cpu", new CpuBackend()], ["gpu", gpu]] as [string, Backend | null][]) {
  Deno.test({
    name: `convert --attention (tiny-gpt2-relu) on ${kind}: KV-cache generation agrees with a full forward`,
    ignore: !be,
    ...gpuTestOptions,
    async fn() {
      const dir = await convertedFixture("tiny-gpt2-relu");
      using model = await loadModel(dir, { backend: be! });
      const prompt = [10, 336, 491, 7];
      for (const tau of [0, 0.5]) {
        const g = await model.generate(prompt, { maxTokens: 4, greedy: true, tau });
        assert.ok(g.stats.dense_attention_macs > 0);
        if (tau > 0) assert.ok(g.stats.attention_fraction < 1, `τ ${tau}: ${g.stats.attention_fraction}`);
        // Each generated token is the argmax of a full forward over everything before it.
        const seq = [...prompt, ...g.token_ids];
        const f = await model.forward({ input_ids: [seq] }, { tau });
        const V = f.logits!.shape.at(-1)!;
        for (let i = 0; i < g.token_ids.length; i++) {
          const at = prompt.length - 1 + i;
          const row = f.logits!.data.subarray(at * V, (at + 1) * V);
          const best = row.indexOf(Math.max(...row));
          assert.equal(g.token_ids[i], best, `τ ${tau} step ${i}`);
        }
      }
    },
  });
}

Deno.test("convert --attention: broken manifests and bad options are refused with clear errors", async () => {
  const dir = await convertedFixture("tiny-vit");
  const m = JSON.parse(await Deno.readTextFile(join(dir, "d2dmoe.json")));
  m.layers[0].attention.experts = 3;
  assert.throws(
    () => parseManifest(m, "d2dmoe.json"),
    /layers\[0\]\.attention: 3 experts × 8 neurons ≠ hidden width 32/,
  );
  m.layers[0].attention = { hidden: 32, experts: 4, expert_size: 8, router_width: 3000 };
  assert.throws(() => parseManifest(m, "d2dmoe.json"), /router_width 3000 exceeds 1024/);
  await assert.rejects(
    convert(fixture("tiny-vit"), {
      out: join(tmp, "bad"),
      expertSize: 16,
      attention: true,
      attentionFlopsFactor: 0,
      backend: "cpu",
    }),
    /attention flops factor must be in \(0, 16\]/,
  );
});

Deno.test({
  name: "convert --attention on the GPU backend: distillation and routers train there; τ = 0 stays close",
  ignore: !gpu,
  ...gpuTestOptions,
  async fn() {
    const out = join(tmp, "vit-gpu");
    const { manifest } = await convert(fixture("tiny-vit"), {
      out,
      expertSize: 16,
      calibTokens: 600,
      routerEpochs: 3,
      routerWidth: 32,
      backend: gpu!,
      routerDevice: "gpu",
      taus: [0, 1],
      attention: true,
      distillEpochs: 5,
    });
    const a = manifest.provenance.attention as Record<string, unknown>;
    assert.equal(a.distill_device, "gpu");
    assert.equal(a.router_device, "gpu");
    for (const l of manifest.layers) {
      for (const p of Object.values(l.attention!.projections!)) {
        assert.ok(p.distill_val_error! <= p.distill_init_error! + 1e-12 && p.distill_val_error! < 0.6);
      }
    }
    const inputs = JSON.parse(await Deno.readTextFile(`${fixture("tiny-vit")}/inputs.json`));
    const expected = flat(JSON.parse(await Deno.readTextFile(`${fixture("tiny-vit")}/expected.json`)).logits);
    using model = await loadModel(out, { backend: gpu! });
    const cos = cosine((await model.forward(inputs, { tau: 0 })).logits!.data, expected);
    assert.ok(cos > 0.95, `τ = 0 logit cosine ${cos}`);
  },
});

Deno.test("convert --attention: the folder leaves out the dense projections it replaced (every family); older folders that have them load the same model; a model cannot drop converted projections it has no dense ones for", async () => {
  // Per block: GPT-2 has c_attn and c_proj (weight, bias); BERT and ViT query, key, value and the output dense.
  const perBlock = { "tiny-gpt2-relu": 4, "tiny-bert-relu": 8, "tiny-vit": 8 } as const;
  for (const [name, n] of Object.entries(perBlock) as [keyof typeof perBlock, number][]) {
    const family = name === "tiny-vit" ? "vit" : name === "tiny-bert-relu" ? "bert" : "gpt2";
    using src = await WeightStore.openFolder(fixture(name));
    using out = await WeightStore.openFolder(await convertedFixture(name));
    const dropped = src.names().filter((t) => !out.has(t));
    const projections = src.names().filter((t) => attentionProjectionBlock(t, family) >= 0);
    const ffn = src.names().filter((t) => isFfnTensor(t, family));
    const layers = new Set(projections.map((t) => attentionProjectionBlock(t, family))).size;
    assert.equal(projections.length, n * layers, `${name}: ${projections}`);
    assert.deepEqual(
      dropped.sort(),
      [...projections, ...ffn].sort(),
      `${name}: only FFNs and projections dropped`,
    );
  }
  const dir = await convertedFixture("tiny-gpt2-relu");
  using model = await loadModel(dir, { backend: new CpuBackend() });
  // A folder written before the projections were left out (its model.safetensors still has every tensor)
  // loads the same model.
  const old = join(tmp, "old-style");
  await Deno.mkdir(old);
  for await (const e of Deno.readDir(dir)) await Deno.copyFile(join(dir, e.name), join(old, e.name));
  await Deno.copyFile(join(fixture("tiny-gpt2-relu"), "model.safetensors"), join(old, "model.safetensors"));
  using oldModel = await loadModel(old, { backend: new CpuBackend() });
  const ids = [[5, 9, 2, 7]];
  const [a, b] = [
    await model.forward({ input_ids: ids }, { tau: 0.5 }),
    await oldModel.forward({ input_ids: ids }, { tau: 0.5 }),
  ];
  assert.deepEqual(Array.from(a.logits!.data), Array.from(b.logits!.data));
  assert.throws(
    () => model.setAttentionProjections(model.attentionProjections.map(() => undefined)),
    (e: Error) => e instanceof RangeError && /no dense projections/.test(e.message),
  );
});
