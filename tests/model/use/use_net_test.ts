/**
 * USE lite on our Backend (`UseNet`) against the plain CPU forward `useEmbedCpu` (itself checked against
 * the reference runtime in use_parity_test.ts): one padded batch per backend, then other batch
 * compositions of the same sentences, which must not change any row.
 */
import assert from "node:assert/strict";
import { CpuBackend } from "../../../src/ops/cpu_backend.ts";
import type { Backend } from "../../../src/ops/backend.ts";
import { MacTally } from "../../../src/model/stats.ts";
import { extractUseWeights, useEmbedCpu } from "../../../src/model/use/reference_forward.ts";
import { findUseModelDir, loadTfjsWeights } from "../../../src/model/use/tfjs_weights.ts";
import { loadUseTokenizer, USE_MAX_TOKENS } from "../../../src/model/use/tokenizer.ts";
import { padUseBatch, useEmbedBatch, UseNet } from "../../../src/model/use/use_net.ts";
import { maxDiff } from "../../helpers/close.ts";
import { gpuTestOptions, testGpu } from "../../helpers/gpu.ts";
import { cosine } from "../../../src/util/cosine.ts";

const gpu = await testGpu();
const weights = extractUseWeights(await loadTfjsWeights(findUseModelDir()));
const tokenizer = await loadUseTokenizer();

const LONG = "This sentence is repeated until the text is far longer than the token limit of the encoder. "
  .repeat(12);

/** One character, empty, short, unknown-only, punctuation runs, non-Latin, and one past 128 tokens. */
const TEXTS = [
  "a",
  "",
  "ok",
  "The quick brown fox jumps over the lazy dog.",
  "😀",
  ": colon first, then 5:30 and 17:00!!!!",
  "Café naïve résumé",
  "日本語のテキスト",
  "The movie was surprisingly good, although the ending felt rushed and the dialogue was sometimes stiff.",
  LONG,
];
const IDS = TEXTS.map((t) => tokenizer.encode(t));
/** The reference, one unpadded sentence at a time. */
const t0 = performance.now();
const WANT = useEmbedCpu(weights, IDS);
console.log(`useEmbedCpu: ${((performance.now() - t0) / 1000).toFixed(1)} s`);

/** Asserts every row against the reference; returns the worst cosine and max abs diff. */
function compare(got: Float32Array[], label: string): { minCos: number; maxAbs: number } {
  assert.equal(got.length, WANT.length);
  let minCos = Infinity, maxAbs = 0;
  for (const [i, g] of got.entries()) {
    assert.equal(g.length, 512);
    const c = cosine(g, WANT[i]), d = maxDiff(g, WANT[i]).maxDiff;
    const what = `${label}: ${JSON.stringify(TEXTS[i].slice(0, 40))} (${IDS[i].length} tokens)`;
    assert.ok(c >= 0.9999, `${what}: cosine ${c}`);
    assert.ok(d <= 1e-4, `${what}: max abs diff ${d}`);
    minCos = Math.min(minCos, c);
    maxAbs = Math.max(maxAbs, d);
  }
  console.log(
    `${label}: min cosine ${minCos.toFixed(9)} (1 - min = ${(1 - minCos).toExponential(2)}), ` +
      `max abs diff ${maxAbs.toExponential(2)}`,
  );
  return { minCos, maxAbs };
}

/** Re-embeds the short sentences in other compositions; rows must equal the full batch's rows. */
async function checkBatching(net: UseNet, full: Float32Array[], label: string): Promise<void> {
  const compositions = [[3, 0, 8], [1], [6, 2, 5, 7, 4]]; // reordered, alone, other padding lengths
  for (const idx of compositions) {
    const got = await useEmbedBatch(net, idx.map((i) => IDS[i]));
    for (const [j, i] of idx.entries()) {
      const d = maxDiff(got[j], full[i]).maxDiff;
      assert.ok(d <= 2e-6, `${label}: sentence ${i} in batch [${idx}] differs by ${d}`);
    }
  }
}

async function run(be: Backend, label: string): Promise<void> {
  const net = UseNet.load(weights, be);
  try {
    assert.equal(net.hidden, 512);
    assert.equal(net.layers, 2);
    assert.equal(net.maxTokens, USE_MAX_TOKENS);
    assert.equal(net.blocks.length, 2);
    const tally = new MacTally();
    const t0 = performance.now();
    const full = await useEmbedBatch(net, IDS, { tally });
    const ms = performance.now() - t0;
    compare(full, `${label} (${(ms / 1000).toFixed(1)} s for ${IDS.length}×${USE_MAX_TOKENS})`);
    // Accounting: padded tokens, every FFN counted by the seam, the rest by macs().
    assert.equal(tally.tokens, IDS.length * USE_MAX_TOKENS);
    assert.equal(tally.denseFfn, 2 * IDS.length * USE_MAX_TOKENS * 2 * 512 * 1536);
    assert.equal(tally.other, net.macs(IDS.length, USE_MAX_TOKENS));
    await checkBatching(net, full, label);
  } finally {
    net.freeAll();
  }
}

Deno.test("UseNet: inputs cover the edge cases", () => {
  assert.equal(IDS[0].length, 1);
  assert.equal(IDS[1].length, 0);
  assert.ok(tokenizer.encodeUntruncated(LONG).length > USE_MAX_TOKENS);
  assert.equal(IDS[9].length, USE_MAX_TOKENS);
  const b = padUseBatch(IDS);
  assert.equal(b.seq, USE_MAX_TOKENS);
  assert.deepEqual(b.lengths, IDS.map((r) => r.length));
  assert.throws(() => padUseBatch([[8002]]), RangeError);
  assert.throws(() => padUseBatch([]), RangeError);
});

Deno.test("UseNet on the CPU backend equals useEmbedCpu per sentence, in any batch", async () => {
  await run(new CpuBackend(), "UseNet CPU");
});

Deno.test({
  name: "UseNet on the GPU backend equals useEmbedCpu per sentence, in any batch",
  ignore: !gpu,
  ...gpuTestOptions,
  async fn() {
    await run(gpu!, `UseNet GPU (${gpu!.info.description})`);
  },
});

Deno.test("UseNet: encode rejects shapes that disagree with the pass", () => {
  const be = new CpuBackend();
  const net = UseNet.load(weights, be);
  try {
    const ids = be.input(new Uint32Array(6), [6]);
    const mask = be.input(new Uint32Array(6).fill(1), [2, 3]);
    const pass = (batch: number, seq: number) => ({ be, batch, seq, layer: 0, tally: new MacTally() });
    assert.throws(() => net.encode(pass(3, 2), ids, mask), RangeError);
    assert.throws(() => net.encode(pass(1, 200), ids, mask), RangeError);
    assert.throws(() => net.encode(pass(2, 3), mask, mask), RangeError);
  } finally {
    net.freeAll();
  }
});
