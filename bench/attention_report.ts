/**
 * `convert --attention` on ViTs: the fixture and a larger random ViT. For each it reports the held-out
 * distillation error of every projection (unexplained variance), the τ = 0 logit agreement with the
 * dense model, and at a few τ the attention / FFN / whole-model compute fractions with logit cosine and
 * top-1 agreement against dense, on images the conversion never saw. Quality figures, not timings: it
 * runs anywhere (`--backend cpu` by default).
 *
 *   deno run -A bench/attention_report.ts [--backend cpu|gpu] [--models LIST] [--out report.json] [--quick]
 *
 * `--models`: any of fixture, random (d = 192, 6 layers), random-f2 (the same at flops factor 2) and
 * vit-base (ViT-B/16 shapes, random weights, the paper's granularity: FFN experts of 128 and projection
 * experts of 6, routers 128 wide; for a GPU machine). Default: fixture,random,random-f2.
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { convert } from "../src/moe/convert.ts";
import "../src/moe/load_converted.ts";
import { loadModel } from "../src/model/load.ts";
import { type BackendChoice, createBackend } from "../src/ops/select_backend.ts";
import { Rng } from "../src/util/rng.ts";
import { vitConfig, type VitShape, vitTensors, writeDenseFolder } from "./random_models.ts";
import { cosine } from "../src/util/cosine.ts";

const { values } = parseArgs({
  options: {
    backend: { type: "string", default: "cpu" },
    out: { type: "string" },
    quick: { type: "boolean" },
    models: { type: "string", default: "fixture,random,random-f2" },
  },
});
const quick = values.quick ?? false;
const TAUS = [0, 0.1, 0.2, 0.3, 0.5];
const tmp = await Deno.makeTempDir({ prefix: "d2d-attn-report-" });
const be = await createBackend(values.backend as BackendChoice);
console.error(`backend: ${be.info.provider} ${be.info.description}`);

/** Per-image argmax agreement of two [images, labels] logit arrays. */
function top1(a: Float32Array, b: Float32Array, labels: number): number {
  let same = 0;
  const n = a.length / labels;
  for (let i = 0; i < n; i++) {
    const ra = a.subarray(i * labels, (i + 1) * labels), rb = b.subarray(i * labels, (i + 1) * labels);
    if (ra.indexOf(Math.max(...ra)) === rb.indexOf(Math.max(...rb))) same++;
  }
  return same / n;
}

/** Converts `src` with `--attention` and measures it against the dense model on fresh random images. */
async function report(
  name: string,
  src: string,
  image: number,
  opts: {
    flopsFactor: number;
    expertSize: number;
    attentionExpertSize?: number;
    routerWidth?: number;
    attentionRouterWidth?: number;
    calibTokens?: number;
  },
) {
  const out = join(tmp, `${name}-f${opts.flopsFactor}`);
  const t0 = performance.now();
  const { manifest } = await convert(src, {
    out,
    expertSize: opts.expertSize,
    calibTokens: opts.calibTokens ?? (quick ? 1024 : 2048),
    routerEpochs: quick ? 5 : 20,
    routerWidth: opts.routerWidth ?? 64,
    attentionRouterWidth: opts.attentionRouterWidth ?? 16,
    attentionExpertSize: opts.attentionExpertSize,
    attention: true,
    attentionFlopsFactor: opts.flopsFactor,
    distillEpochs: quick ? 5 : 10,
    backend: be,
    taus: TAUS,
  });
  const convertSeconds = (performance.now() - t0) / 1000;
  const errors: Record<string, number[]> = { q: [], k: [], v: [], o: [] };
  for (const l of manifest.layers) {
    for (const [p, e] of Object.entries(l.attention!.projections!)) errors[p].push(e.distill_val_error!);
  }
  const rng = new Rng(12345);
  const images = quick ? 8 : 16;
  const pixels = Array.from(
    { length: images },
    () =>
      Array.from(
        { length: 3 },
        () => Array.from({ length: image }, () => Array.from({ length: image }, () => rng.normal())),
      ),
  );
  using dense = await loadModel(src, { backend: be });
  using moe = await loadModel(out, { backend: be });
  const ref = (await dense.forward({ pixel_values: pixels })).logits!;
  const labels = ref.shape.at(-1)!;
  const rows = [];
  for (const tau of TAUS) {
    const r = await moe.forward({ pixel_values: pixels }, { tau });
    rows.push({
      tau,
      attention_fraction: r.stats.attention_fraction,
      ffn_fraction: r.stats.ffn_fraction,
      compute_fraction: r.stats.compute_fraction,
      logit_cosine: cosine(r.logits!.data, ref.data),
      top1_agreement: top1(r.logits!.data, ref.data, labels),
    });
  }
  const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
  return {
    model: name,
    flops_factor: opts.flopsFactor,
    attention: manifest.layers[0].attention,
    convert_seconds: convertSeconds,
    distill_error_mean: Object.fromEntries(Object.entries(errors).map(([p, e]) => [p, mean(e)])),
    distill_error_max: Math.max(...Object.values(errors).flat()),
    rows,
  };
}

const larger: VitShape = quick
  ? { layers: 4, hidden: 128, heads: 4, ffn: 512, image: 32, patch: 8, labels: 10 }
  : { layers: 6, hidden: 192, heads: 3, ffn: 768, image: 64, patch: 8, labels: 10 };
const base: VitShape = { layers: 12, hidden: 768, heads: 12, ffn: 3072, image: 224, patch: 16, labels: 1000 };
const wanted = new Set(values.models!.split(","));
const results = [];
if (wanted.has("fixture")) {
  const fixture = new URL("../tests/fixtures/hf-tiny/tiny-vit", import.meta.url).pathname;
  results.push(await report("tiny-vit (fixture, d=64)", fixture, 32, { flopsFactor: 1, expertSize: 32 }));
}
const largerName = `random ViT d=${larger.hidden} L=${larger.layers}`;
const largerDir = join(tmp, "random-vit");
if (wanted.has("random") || wanted.has("random-f2")) {
  await writeDenseFolder(largerDir, vitConfig(larger), vitTensors(larger, new Rng(7)));
}
if (wanted.has("random")) {
  results.push(await report(largerName, largerDir, larger.image, { flopsFactor: 1, expertSize: 32 }));
}
if (wanted.has("random-f2")) {
  results.push(await report(largerName, largerDir, larger.image, { flopsFactor: 2, expertSize: 32 }));
}
if (wanted.has("vit-base")) {
  const dir = join(tmp, "vit-base");
  await writeDenseFolder(dir, vitConfig(base), vitTensors(base, new Rng(8)));
  results.push(
    await report("random ViT-B/16 (d=768, L=12)", dir, base.image, {
      flopsFactor: 1,
      expertSize: 128,
      attentionExpertSize: 6,
      routerWidth: 128,
      attentionRouterWidth: 128,
      calibTokens: quick ? 2048 : 4096,
    }),
  );
}
for (const r of results) {
  console.log(
    `\n${r.model}, flops factor ${r.flops_factor}: h = ${r.attention!.hidden} (${
      r.attention!.experts
    } experts × ${r.attention!.expert_size}), converted in ${r.convert_seconds.toFixed(0)} s`,
  );
  console.log(
    `  held-out distillation error (unexplained variance), mean over layers: ${
      Object.entries(r.distill_error_mean).map(([p, e]) => `${p} ${e.toFixed(3)}`).join(", ")
    }; max ${r.distill_error_max.toFixed(3)}`,
  );
  console.log("   tau  attention  ffn    compute  logit-cos  top1-vs-dense");
  for (const x of r.rows) {
    console.log(
      `  ${x.tau.toFixed(2)}  ${x.attention_fraction.toFixed(3)}      ${x.ffn_fraction.toFixed(3)}  ${
        x.compute_fraction.toFixed(3)
      }    ${x.logit_cosine.toFixed(4)}     ${(100 * x.top1_agreement).toFixed(0)}%`,
    );
  }
}
if (values.out) await Deno.writeTextFile(values.out, JSON.stringify(results, null, 2) + "\n");
be[Symbol.dispose]();
await Deno.remove(tmp, { recursive: true });
