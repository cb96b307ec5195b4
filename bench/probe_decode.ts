// Where a GPT-2 decode step's wall time goes on this device: readback round trips, queue sync,
// and generate() split into recording and waiting. Run on the GPU machine:
//   deno run -A --node-modules-dir=none --cached-only bench/probe_decode.ts [--quick]
import { join } from "node:path";
import "../src/moe/load_converted.ts";
import { loadModel } from "../src/model/load.ts";
import { createBackend } from "../src/ops/select_backend.ts";
import type { GpuBackend } from "../src/ops/gpu_backend.ts";
import { Rng } from "../src/util/rng.ts";
import { installDawnTicks } from "../src/gpu/dawn_ticks.ts";
import { gpt2Config, gpt2Tensors, writeDenseFolder } from "./random_models.ts";
import { FULL_SHAPES, QUICK_SHAPES } from "./shapes.ts";

const quick = Deno.args.includes("--quick");
const be = await createBackend(quick ? "auto" : "dawn") as GpuBackend;
console.log(`device: ${be.info.provider} ${be.info.description}`);
const ctx = be.ctx;
const x = be.input(new Float32Array(1024).fill(1), [1024]);
const lat = async (label: string, n: number, f: () => Promise<unknown>) => {
  for (let i = 0; i < 3; i++) await f();
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  console.log(
    `${label}: median ${t[n >> 1].toFixed(3)} ms, p10 ${t[Math.floor(n / 10)].toFixed(3)}, p90 ${
      t[Math.floor(n * 0.9)].toFixed(3)
    }`,
  );
};
await lat("add + read 4 KB", 40, async () => {
  const y = be.add(x, x);
  await be.read([y]);
  be.release(y);
});
await lat("onSubmittedWorkDone", 40, () => ctx.sync());
await lat("read only", 40, () => be.read([x]));

const s = quick ? QUICK_SHAPES.gpt2 : FULL_SHAPES.gpt2;
const dir = await Deno.makeTempDir();
await writeDenseFolder(join(dir, "m"), gpt2Config(s), gpt2Tensors(s, new Rng(0)));
using model = await loadModel(join(dir, "m"), { backend: be });
let readMs = 0, reads = 0;
const orig = be.read.bind(be);
be.read = async (ts) => {
  const t0 = performance.now();
  const r = await orig(ts);
  readMs += performance.now() - t0;
  reads++;
  return r;
};
// the installed pacer's report ("off" installs nothing and only asks): were decode's readbacks paced?
const ticks = installDawnTicks("off");
const tickLine = (() => {
  let last = ticks?.();
  return () => {
    const now = ticks?.();
    if (!now || !last) return "";
    const d = {
      chains: now.chains - last.chains,
      paced: now.paced - last.paced,
      ticks: now.scheduled - last.scheduled,
    };
    last = now;
    return `; Dawn ticks ${d.ticks} in ${d.chains} chains, ${d.paced} paced`;
  };
})();
const prompt = Array.from({ length: 16 }, (_, i) => (i * 7) % s.vocab);
await model.generate(prompt, { maxTokens: 8, greedy: true, eosTokenId: null });
tickLine();
for (const n of quick ? [16, 32] : [32, 64]) {
  readMs = 0;
  reads = 0;
  const t0 = performance.now();
  await model.generate(prompt, { maxTokens: n, greedy: true, eosTokenId: null });
  const ms = performance.now() - t0;
  console.log(
    `generate ${n}: ${(ms / n).toFixed(2)} ms/token (${(1000 * n / ms).toFixed(1)} tok/s); in read(): ${
      (readMs / reads).toFixed(2)
    } ms/read over ${reads} reads; recording+other ${((ms - readMs) / n).toFixed(2)} ms/token${tickLine()}`,
  );
}
const d0 = ctx.dispatchCount;
await model.generate(prompt, { maxTokens: 4, greedy: true, eosTokenId: null });
console.log(`dispatches per token ≈ ${((ctx.dispatchCount - d0) / 4).toFixed(1)}`);
if (ticks) console.log(`Dawn ticks: ${JSON.stringify(ticks())}`);
