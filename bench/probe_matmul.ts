/**
 * Probe for matmul_fast candidates on the GPU machine (issue 6, matmul ≥ 0.8× cuBLAS): times a WGSL file
 * in place of `kernels/matmul_fast.wgsl` at 4096³, the batched FFN and BERT-base shapes, with optional
 * Dawn toggles and GROUP_M swizzle, after checking it against the CPU reference at awkward shapes.
 *
 *     deno run -A bench/probe_matmul.ts [--kernel FILE] [--flags a,b] [--group N] [--bn 128|96|auto] [--quick]
 *
 * `--bn` is matmul_fast's column-tile width: fixed, or `auto` (the product's choice, `fastTileWidth`).
 *
 * Prints one JSON line per shape. Not part of the product: a winner would replace matmul_fast.wgsl.
 * Results so far: docs/kernels.md (matmul_fast.wgsl).
 * @module
 */
import { parseArgs } from "node:util";
import { GpuContext } from "../src/gpu/context.ts";
import { KERNEL_SOURCES } from "../src/gpu/kernels.ts";
import { Params } from "../src/gpu/uniform_arena.ts";
import { allocTensor } from "../src/ops/gpu_util.ts";
import { fastTileWidth } from "../src/ops/matmul.ts";
import { GpuBackend } from "../src/ops/gpu_backend.ts";
import { matmulRef } from "../src/ops/matmul_ref.ts";
import type { GpuTensor } from "../src/ops/tensor.ts";
import { Rng } from "../src/util/rng.ts";
import { maxAbsDiff } from "./compare.ts";
import { randomF32 } from "./random.ts";
import { timeIt } from "./timing.ts";

const { values: o } = parseArgs({
  args: Deno.args,
  options: {
    kernel: { type: "string" },
    flags: { type: "string", default: "" },
    group: { type: "string" },
    bn: { type: "string", default: "128" },
    quick: { type: "boolean", default: false },
  },
});
if (o.kernel) {
  (KERNEL_SOURCES as Record<string, string>).matmul_fast = Deno.readTextFileSync(o.kernel);
}
const flags = o.flags ? [`enable-dawn-features=${o.flags}`] : [];
const ctx = await GpuContext.create({ preference: o.quick ? "auto" : "dawn", dawnFlags: flags });
const be = new GpuBackend(ctx);
if (!["128", "96", "auto"].includes(o.bn!)) throw new RangeError(`--bn must be 128, 96 or auto, got ${o.bn}`);
const label = `${o.kernel ?? "matmul_fast"}${o.flags ? " +" + o.flags : ""}${
  o.group ? " G" + o.group : ""
} BN ${o.bn}`;

// matmulGpu's fast path, dispatched here because candidates may take override constants (GROUP_M) it does not pass.
function run(a: GpuTensor, b: GpuTensor, m: number, k: number, n: number, transB: boolean, bias?: GpuTensor) {
  const out = allocTensor(ctx, [m, n]);
  const bn = o.bn === "auto" ? fastTileWidth(m, n) : Number(o.bn);
  const params = new Params().u32(m).u32(n).u32(k).u32(transB ? 1 : 0).u32(bias ? 1 : 0)
    .u32(bias ? 1 : 0).u32(0).u32(0);
  ctx.dispatch({
    kernel: "matmul_fast",
    constants: { TRANS_B: transB ? 1 : 0, BN: bn, ...(o.group ? { GROUP_M: Number(o.group) } : {}) },
    params: params.bytes(),
    buffers: [a.buffer, b.buffer, bias?.buffer ?? ctx.placeholder, ctx.placeholder, out.buffer],
    workgroups: [Math.ceil(n / bn), Math.ceil(m / 128)],
  });
  return out;
}

// Correctness at awkward shapes (relu + bias epilogue, both B layouts).
let worst = 0;
for (const [m, k, n, t] of [[133, 40, 260, false], [200, 72, 131, true], [257, 520, 388, false]] as const) {
  const rng = new Rng(m + n);
  const a = randomF32(m * k, rng), b = randomF32(k * n, rng), bias = randomF32(n, rng);
  const ta = be.upload(a, [m, k]) as GpuTensor, tb = be.upload(b, t ? [n, k] : [k, n]) as GpuTensor;
  const tbias = be.upload(bias, [n]) as GpuTensor;
  const out = run(ta, tb, m, k, n, t, tbias);
  const [got] = await be.read([out]);
  const want = matmulRef(a, b, m, k, n, { transB: t, act: "relu" }, bias);
  worst = Math.max(worst, maxAbsDiff(got as Float32Array, want));
  be.release(out);
  for (const x of [ta, tb, tbias]) be.free(x);
}
console.log(JSON.stringify({ label, check_max_abs_diff: worst }));

const shapes: [string, number, number, number][] = o.quick ? [["tiny", 256, 256, 256]] : [
  ["square", 4096, 4096, 4096],
  ["ffn_up", 50432, 768, 3072],
  ["ffn_down", 50432, 3072, 768],
  ["bert_qkv", 4096, 768, 2304],
  ["bert_o", 4096, 768, 768],
  ["bert_up", 4096, 768, 3072],
  ["bert_down", 4096, 3072, 768],
];
const rng = new Rng(7);
for (const [name, m, k, n] of shapes) {
  const a = be.upload(randomF32(m * k, rng), [m, k]) as GpuTensor;
  const b = be.upload(randomF32(k * n, rng, 1 / Math.sqrt(k)), [k, n]) as GpuTensor;
  const bias = be.upload(randomF32(n, rng, 0.02), [n]) as GpuTensor;
  const t = await timeIt(
    () => {
      ctx.pool.release(run(a, b, m, k, n, false, bias).buffer);
      ctx.flush();
    },
    () => ctx.sync(),
    { warmup: 3, repeats: 7, minBatchMs: 60, maxBatch: 100, budgetMs: 3000 },
  );
  console.log(JSON.stringify({
    label,
    shape: `${name} ${m}x${k}x${n}`,
    bn: o.bn === "auto" ? fastTileWidth(m, n) : Number(o.bn),
    ms: +t.median.toFixed(4),
    tflops: +((2 * m * k * n) / t.median / 1e9).toFixed(2),
  }));
  for (const x of [a, b, bias]) be.free(x);
  await ctx.sync();
  ctx.pool.trim();
}
ctx.destroy();
