// Where a GPT-2 decode step's wall time goes: recording (decode + LM head), submit, the wait for the
// readback, and the rest; then per-kernel GPU times (profiled device). Run on the GPU machine:
//   deno run -A --node-modules-dir=none --cached-only bench/probe_decode_steps.ts [--quick]
import { join } from "node:path";
import { loadModel } from "../src/model/load.ts";
import { Gpt2Net } from "../src/model/gpt2.ts";
import { createBackend } from "../src/ops/select_backend.ts";
import type { GpuBackend } from "../src/ops/gpu_backend.ts";
import { Rng } from "../src/util/rng.ts";
import "../src/moe/load_converted.ts";
import { gpt2Config, gpt2Tensors, writeConvertedFolder, writeDenseFolder } from "./random_models.ts";
import { FULL_SHAPES, QUICK_SHAPES, topKFor } from "./shapes.ts";
import { quantile } from "./timing.ts";

const quick = Deno.args.includes("--quick");
const s = quick ? QUICK_SHAPES.gpt2 : FULL_SHAPES.gpt2;
const dir = await Deno.makeTempDir();
const tensors = gpt2Tensors(s, new Rng(0));
await writeDenseFolder(join(dir, "m"), gpt2Config(s), tensors);
await writeConvertedFolder(join(dir, "moe"), join(dir, "m"), "gpt2", s, tensors, new Rng(1));
const k = topKFor(0.3, s.moe.experts);
const prompt = Array.from({ length: 16 }, (_, i) => (i * 7) % s.vocab);
const n = quick ? 24 : 128;

/** Accumulated milliseconds per phase. */
const acc = new Map<string, number>();
function timed<A extends unknown[], R>(name: string, f: (...a: A) => R): (...a: A) => R {
  return function (this: unknown, ...a: A): R {
    const t0 = performance.now();
    const r = f.apply(this, a);
    if (r instanceof Promise) {
      return r.finally(() => acc.set(name, (acc.get(name) ?? 0) + performance.now() - t0)) as R;
    }
    acc.set(name, (acc.get(name) ?? 0) + performance.now() - t0);
    return r;
  };
}
Gpt2Net.prototype.decode = timed("record decode", Gpt2Net.prototype.decode);
Gpt2Net.prototype.logits = timed("record lm head", Gpt2Net.prototype.logits);

const runs: [string, boolean][] = [["m", false], ["m", true], ["m", false], ["moe", false], ["moe", true]];
for (const [name, profile] of runs) {
  const be = await createBackend(quick ? "gpu" : "dawn", { profile }) as GpuBackend;
  using model = await loadModel(join(dir, name), { backend: be, tokenizer: false });
  const opts = { maxTokens: n, greedy: true, eosTokenId: null, ...(name === "moe" ? { moeTopK: k } : {}) };
  const reads: number[] = [];
  const read = be.read.bind(be);
  be.read = timed("read (submit + wait)", async (ts) => {
    const t0 = performance.now();
    const r = await read(ts);
    reads.push(performance.now() - t0);
    return r;
  });
  be.ctx.flush = timed("  of which flush/submit", be.ctx.flush.bind(be.ctx));
  await model.generate(prompt, { ...opts, maxTokens: 8 });
  const d0 = be.ctx.dispatchCount;
  const before = new Map(be.ctx.profile().map((e) => [e.label, e.totalMs]));
  acc.clear();
  reads.length = 0;
  const t0 = performance.now();
  await model.generate(prompt, opts);
  const ms = performance.now() - t0;
  const q = (x: number) => quantile(reads, x).toFixed(2);
  console.log(
    `${name === "moe" ? `d2dmoe top-${k}/${s.moe.experts}` : "dense"} ${profile ? "profiled" : "plain"}: ${
      (ms / n).toFixed(3)
    } ms/token wall, ${((be.ctx.dispatchCount - d0) / n).toFixed(1)} dispatches/token; read ms p10 ${
      q(0.1)
    } p50 ${q(0.5)} p90 ${q(0.9)} max ${q(1)}`,
  );
  for (const [k, v] of acc) console.log(`  ${k}: ${(v / n).toFixed(3)} ms/token`);
  if (profile) {
    const rows = be.ctx.profile().map((e) => ({ ...e, totalMs: e.totalMs - (before.get(e.label) ?? 0) }))
      .sort((a, b) => b.totalMs - a.totalMs);
    let sum = 0;
    for (const e of rows) {
      sum += e.totalMs;
      console.log(`  gpu ${e.label}: ${e.count} dispatches, ${(e.totalMs / n).toFixed(4)} ms/token`);
    }
    console.log(`  gpu total: ${(sum / n).toFixed(3)} ms/token`);
  }
  be[Symbol.dispose]();
}
