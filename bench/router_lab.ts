// Router-quality lab for the embedded default (issue 4), on the CPU, outside the product: compare router
// recipes (calibration rows, text granularity, width, epochs, learning rate) by what the check measures,
// mean cosine to dense embeddings and ffn_fraction on unseen UCI sentences. Scratch files go to /tmp/exp.
//   deno run -A bench/router_lab.ts collect MODE TOKENS   (MODE: para | sent | mix) router inputs + targets
//   deno run -A bench/router_lab.ts train NAME DATA WIDTH EPOCHS LR [BATCH] [LIMIT]   (~75 s/layer per 16k rows)
//   deno run -A bench/router_lab.ts eval NAME [N] [TAUS]  (N shuffled sentiment sentences; dense cached)
//   deno run -A bench/router_lab.ts retarget DATA NEWDATA (NEWDATA_L*_y for LAB_E experts from DATA's inputs)
// E = LAB_E experts (default 96, of 16: the default recipe's split).
import "../src/moe/load_converted.ts";
import { loadModel } from "../src/model/load.ts";
import { findUseModelDir } from "../src/model/use/tfjs_weights.ts";
import { splitFfn } from "../src/moe/expert_split.ts";
import { uploadMoeLayer } from "../src/moe/moe_ffn.ts";
import { MoeRouting } from "../src/moe/routing.ts";
import { collectRouterData } from "../src/moe/calibrate.ts";
import { defaultCalibrationText } from "../src/moe/corpora.ts";
import { sentimentDataset } from "../src/moe/datasets.ts";
import { trainRouter } from "../src/moe/router_train.ts";
import type { RouterWeights } from "../src/moe/router_train.ts";
import type { DenseFfn } from "../src/model/layers.ts";
import { cosine } from "../src/util/cosine.ts";
import { FORMAT_VERSION } from "../src/moe/manifest.ts";
import { Rng } from "../src/util/rng.ts";

const E = Number(Deno.env.get("LAB_E") ?? 96);
const W = "/tmp/exp";
await Deno.mkdir(W, { recursive: true });
const [cmd, ...a] = Deno.args;
const model = await loadModel(findUseModelDir(), { backend: "cpu" });
const be = model.backend;
const dense = model.ffnLayers as DenseFfn[];
const splits = [];
for (const [i, f] of dense.entries()) {
  const [w1, b1, w2, b2] = (await be.read([f.w1, f.b1, f.w2, f.b2])) as Float32Array[];
  splits.push(splitFfn({ w1, b1, w2, b2, d: f.w1.shape[0], dff: f.w1.shape[1] }, E, i).weights);
}
const d = 512;
const info = {
  formatVersion: FORMAT_VERSION,
  layers: splits.map(() => ({ experts: E, expertSize: 1536 / E })),
  routerWidth: 256,
  defaultTau: 0,
};
const save = (p: string, x: Float32Array) =>
  Deno.writeFileSync(p, new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
const load = (p: string) => new Float32Array(Deno.readFileSync(p).buffer);

function sentences(paras: string[]): string[] {
  const out: string[] = [];
  for (const p of paras) for (const s of p.split(/(?<=[.!?])\s+/)) if (s.length > 3) out.push(s);
  return out;
}

if (cmd === "collect") {
  const mode = a[0], tokens = Number(a[1]);
  const { paragraphs } = await defaultCalibrationText();
  let texts = mode === "para" ? paragraphs : mode === "sent" ? sentences(paragraphs) : [];
  if (mode === "mix") {
    const s = sentences(paragraphs);
    texts = [];
    for (let i = 0; i < paragraphs.length; i++) {
      texts.push(paragraphs[i], s[3 * i], s[3 * i + 1], s[3 * i + 2]);
    }
  }
  // skip the first 20k paragraphs region? no: shuffle deterministically
  const rng = new Rng(1);
  rng.shuffle(texts);
  const rows: number[][] = [];
  let n = 0;
  for (const t of texts) {
    if (n >= tokens) break;
    const ids = model.tokenizer!.encode(t);
    if (ids.length < 2) continue;
    rows.push(ids);
    n += Math.min(ids.length, 128);
  }
  const batches = [];
  for (let i = 0; i < rows.length; i += 32) {
    batches.push({ kind: "use" as const, rows: rows.slice(i, i + 32) });
  }
  const zero = (): RouterWeights => ({
    d,
    width: 1,
    experts: E,
    w1: new Float32Array(d),
    w2: new Float32Array(E),
  });
  const layers = splits.map((s) => uploadMoeLayer(be, s, zero(), "relu", (x, sh) => be.upload(x, sh)));
  model.replaceFfns(layers, new MoeRouting(info));
  const data = await collectRouterData(model, batches, splits.map(() => ({ d, experts: E })), info);
  for (const [l, dd] of data.entries()) {
    save(`${W}/${mode}${tokens}_L${l}_x.bin`, dd.x);
    save(`${W}/${mode}${tokens}_L${l}_y.bin`, dd.y);
    console.log(`layer ${l}: ${dd.n} rows`);
  }
} else if (cmd === "retarget") {
  // Expert output norms recomputed from the stored FFN inputs (x̂ after the LayerNorm) for this split.
  const [src, dst] = a;
  for (let l = 0; l < 2; l++) {
    const x = load(`${W}/${src}_L${l}_x.bin`);
    const n = x.length / d, sp = splits[l], S = sp.size;
    const y = new Float32Array(n * E);
    const out = new Float32Array(d);
    for (let r = 0; r < n; r++) {
      const xr = x.subarray(r * d, (r + 1) * d);
      for (let e = 0; e < E; e++) {
        out.fill(0);
        let any = false;
        for (let j = 0; j < S; j++) {
          let v = sp.b1[e * S + j];
          for (let k = 0; k < d; k++) v += xr[k] * sp.w1[(e * d + k) * S + j];
          if (v > 0) {
            any = true;
            const w2 = sp.w2.subarray((e * S + j) * d, (e * S + j + 1) * d);
            for (let k = 0; k < d; k++) out[k] += v * w2[k];
          }
        }
        let sq = 0;
        if (any) { for (let k = 0; k < d; k++) sq += out[k] * out[k]; }
        y[r * E + e] = Math.sqrt(sq);
      }
    }
    save(`${W}/${dst}_L${l}_y.bin`, y);
    try {
      Deno.removeSync(`${W}/${dst}_L${l}_x.bin`);
    } catch { /* none yet */ }
    Deno.symlinkSync(`${W}/${src}_L${l}_x.bin`, `${W}/${dst}_L${l}_x.bin`);
    console.log(`layer ${l}: ${n} rows, ${E} experts of ${S}`);
  }
} else if (cmd === "train") {
  const [name, data, width, epochs, lr, batch, limit] = a;
  for (let l = 0; l < 2; l++) {
    let x = load(`${W}/${data}_L${l}_x.bin`), y = load(`${W}/${data}_L${l}_y.bin`);
    const n = Math.min(x.length / d, Number(limit ?? 1e9));
    x = x.subarray(0, n * d);
    y = y.subarray(0, n * E);
    // LAB_NORM=max|l2: targets divided per token by their max / L2 norm (the selection rule only sees ratios
    // within a token, so this keeps what matters and stops high-norm tokens from dominating the loss).
    const norm = Deno.env.get("LAB_NORM");
    if (norm) {
      y = y.slice();
      for (let r = 0; r < n; r++) {
        const row = y.subarray(r * E, (r + 1) * E);
        let m = 0;
        for (const v of row) m = norm === "max" ? Math.max(m, v) : m + v * v;
        if (norm !== "max") m = Math.sqrt(m);
        if (m > 0) { for (let e = 0; e < E; e++) row[e] /= m; }
      }
    }
    const t0 = performance.now();
    const r = trainRouter(x, y, n, d, E, {
      width: Number(width),
      epochs: Number(epochs),
      lr: Number(lr),
      batchSize: Number(batch ?? 64),
      seed: l,
    });
    console.log(
      `${name} L${l}: n ${n} val ${r.valLoss.toFixed(5)} base ${r.valBaselineLoss.toFixed(5)} ratio ${
        (r.valLoss / r.valBaselineLoss).toFixed(3)
      } train ${r.trainLoss.toFixed(5)} ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
    Deno.writeTextFileSync(
      `${W}/r_${name}_L${l}.json`,
      JSON.stringify({ width: r.router.width, w1: [...r.router.w1], w2: [...r.router.w2] }),
    );
  }
} else if (cmd === "eval") {
  const name = a[0], N = Number(a[1] ?? 600);
  const ds = await sentimentDataset();
  const rng = new Rng(7);
  const idx = Array.from({ length: ds.texts.length }, (_, i) => i);
  rng.shuffle(idx);
  const texts = idx.slice(0, N).map((i) => ds.texts[i]);
  const densePath = `${W}/dense_${N}.bin`;
  let denseE: Float32Array;
  try {
    denseE = load(densePath);
  } catch {
    const r = await model.embed(texts);
    denseE = new Float32Array(r.embeddings.flatMap((e) => [...e]));
    save(densePath, denseE);
  }
  const routers: RouterWeights[] = [0, 1].map((l) => {
    if (name === "oracle") throw new Error("no oracle");
    const j = JSON.parse(Deno.readTextFileSync(`${W}/r_${name}_L${l}.json`));
    return { d, width: j.width, experts: E, w1: Float32Array.from(j.w1), w2: Float32Array.from(j.w2) };
  });
  const layers = splits.map((s, i) => uploadMoeLayer(be, s, routers[i], "relu", (x, sh) => be.upload(x, sh)));
  model.replaceFfns(layers, new MoeRouting({ ...info, routerWidth: routers[0].width }));
  const line: string[] = [];
  for (const tau of (a[2] ?? "0.05,0.1,0.15").split(",").map(Number)) {
    const r = await model.embed(texts, { tau });
    let c = 0;
    r.embeddings.forEach((e, i) => c += cosine(e, denseE.subarray(i * 512, (i + 1) * 512)));
    line.push(`τ${tau}: cos ${(c / N).toFixed(4)} f ${r.stats.ffn_fraction.toFixed(3)}`);
  }
  console.log(`${name}: ${line.join(" | ")}`);
}
