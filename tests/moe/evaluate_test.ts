/**
 * Perplexity evaluation (`evaluatePerplexity`, `d2d eval`): the windowed NLL against a reference computed from
 * the model's own logits, token-id input for models without a tokenizer, and the CLI's table, JSON and plot.
 */
import assert from "node:assert/strict";
import { runD2d as d2d } from "../helpers/cli.ts";
import { fileURLToPath } from "node:url";
import { loadModel } from "../../src/model/load.ts";
import { InvalidInputError } from "../../src/model/errors.ts";
import { evaluatePerplexity } from "../../src/moe/evaluate.ts";
import { Rng } from "../../src/util/rng.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/hf-tiny/tiny-gpt2-relu", import.meta.url));
const VOCAB = 512; // the fixture's vocab_size

/** Deterministic token ids in the fixture's vocabulary. */
function ids(n: number, seed = 1): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Math.floor(rng.next() * VOCAB));
}

/** Reference NLL of one window from the model's logits: log-softmax in float64, next-token targets. */
function windowNll(logits: Float32Array, w: number[]): number {
  let nll = 0;
  for (let t = 0; t + 1 < w.length; t++) {
    const row = logits.subarray(t * VOCAB, (t + 1) * VOCAB);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    nll += Math.log(sum) + max - row[w[t + 1]];
  }
  return nll;
}

Deno.test("evaluatePerplexity: windows of the given ids, NLL as the model's own logits give it", async () => {
  using model = await loadModel(FIXTURE, { backend: "cpu" });
  const tokens = ids(41); // windows of 16: 16 + 16 + 9 tokens, the last one short
  const [row] = await evaluatePerplexity(model, tokens, [{ tau: 0 }], { context: 16 });
  let nll = 0, predicted = 0;
  for (let i = 0; i < tokens.length - 1; i += 16) {
    const w = tokens.slice(i, i + 16);
    const out = await model.forward({ input_ids: [w] });
    nll += windowNll(out.logits!.data, w);
    predicted += w.length - 1;
  }
  assert.equal(predicted, 38);
  const want = Math.exp(nll / predicted);
  assert.ok(Math.abs(row.ppl! / want - 1) < 1e-5, `ppl ${row.ppl} against reference ${want}`);
  assert.equal(row.tau, 0);
  assert.equal(row.ffn_fraction, 1, "a dense model runs its whole FFN");
  // --max-tokens cuts the ids before windowing
  const [cut] = await evaluatePerplexity(model, tokens, [{ tau: 0 }], { context: 16, maxTokens: 16 });
  const first = tokens.slice(0, 16);
  const wantCut = Math.exp(
    windowNll((await model.forward({ input_ids: [first] })).logits!.data, first) / 15,
  );
  assert.ok(Math.abs(cut.ppl! / wantCut - 1) < 1e-5);
});

Deno.test("evaluatePerplexity: bad input is named", async () => {
  using model = await loadModel(FIXTURE, { backend: "cpu" });
  await assert.rejects(
    evaluatePerplexity(model, [1, 2, VOCAB], [{ tau: 0 }]),
    (e) => e instanceof InvalidInputError && /token id 512 at position 2 is outside/.test(e.message),
  );
  await assert.rejects(
    evaluatePerplexity(model, "plain text", [{ tau: 0 }]),
    (e) => e instanceof InvalidInputError && /no tokenizer.*token ids as JSON/.test(e.message),
  );
  await assert.rejects(
    evaluatePerplexity(model, [7], [{ tau: 0 }]),
    (e) => e instanceof InvalidInputError && /fewer than 2 tokens/.test(e.message),
  );
});

Deno.test("d2d eval: token ids from JSON, a table, JSON rows and an SVG plot for a converted model", async () => {
  const dir = await Deno.makeTempDir({ prefix: "d2d-eval-test-" });
  try {
    const conv = await d2d([
      "convert",
      ...["--model", FIXTURE, "--out", `${dir}/m`, "--experts", "4", "--calib-tokens", "256"],
      ...["--taus", "0,0.5", "--backend", "cpu", "--router-device", "cpu"],
    ]);
    assert.equal(conv.code, 0, conv.stderr);
    await Deno.writeTextFile(`${dir}/ids.json`, JSON.stringify({ input_ids: [ids(30, 2), ids(20, 3)] }));
    const base = ["eval", "--model", `${dir}/m`, "--text", `${dir}/ids.json`, "--backend", "cpu", "-q"];
    const json = await d2d([...base, "--taus", "0,1", "--json", "--plot", `${dir}/curve.svg`]);
    assert.equal(json.code, 0, json.stderr);
    const rows = JSON.parse(json.stdout) as { tau: number; ppl: number; ffn_fraction: number }[];
    assert.deepEqual(rows.map((r) => r.tau), [0, 1]);
    assert.equal(rows[0].ffn_fraction, 1, "τ = 0 runs every expert");
    assert.ok(rows[1].ffn_fraction < 1, "τ = 1 skips experts");
    assert.ok(rows.every((r) => Number.isFinite(r.ppl) && r.ppl > 1));
    assert.match(await Deno.readTextFile(`${dir}/curve.svg`), /^<svg[\s\S]*<\/svg>\s*$/);
    // the table: one row per τ of the model's calibration grid (the default), dense first
    const tableRun = await d2d(base);
    assert.equal(tableRun.code, 0, tableRun.stderr);
    assert.match(tableRun.stdout, /^0\.000\s+\S+\s+0\.00%\s+1\.000\s/m);
    assert.match(tableRun.stdout, /^0\.500\s/m);
    const bad = await d2d([...base.slice(0, 3), "--text", `${dir}/missing.json`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /text file not found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
