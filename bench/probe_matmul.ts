/**
 * Probe for fast-matmul candidates on the GPU machine (issue 6, matmul ≥ 0.8× cuBLAS): times WGSL files in
 * place of `kernels/matmul_fast.wgsl` (128×128 tiles) or `kernels/matmul_fast96.wgsl` (128×96) at 4096³, the
 * batched FFN and BERT-base shapes, with optional Dawn toggles, after checking each against the CPU
 * reference at awkward shapes.
 *
 *     deno run -A --v8-flags=--expose-gc bench/probe_matmul.ts [--variant SPEC ...] [--rounds N] [--quick]
 *
 * A SPEC is `label[:bn=128|96|auto][:file=FILE][:flags=a,b][:group=N]`: the tile width (`auto` is the
 * product's choice, `fastTileWidth`), a WGSL file to time in place of that width's kernel (a file with
 * `auto` replaces both), Dawn toggles (each set its own device) and a GROUP_M swizzle. All variants run in one process,
 * interleaved per shape for `--rounds` rounds, because wall times on the lent H200 jump 2–3× now and then:
 * one JSON line per variant and shape gives the best and the median round.
 *
 * Not part of the product: a winner would replace matmul_fast.wgsl. Results so far: docs/kernels.md.
 * @module
 */
import { parseArgs } from "node:util";
import { GpuContext } from "../src/gpu/context.ts";
import { expandIncludes, KERNEL_SOURCES, type KernelName } from "../src/gpu/kernels.ts";
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
    variant: { type: "string", multiple: true, default: ["fast:bn=auto"] },
    rounds: { type: "string", default: "5" },
    quick: { type: "boolean", default: false },
  },
});

interface Variant {
  label: string;
  /** Kernel name per tile width. */
  kernels: Record<number, string>;
  bn: "auto" | number;
  group?: number;
  ctx: GpuContext;
  be: GpuBackend;
}

const contexts = new Map<string, GpuContext>();
const variants: Variant[] = [];
for (const [i, spec] of o.variant!.entries()) {
  const [label, ...parts] = spec.split(":");
  const kv = Object.fromEntries(parts.map((p) => p.split("=") as [string, string]));
  const bn = kv.bn === undefined || kv.bn === "auto" ? "auto" : Number(kv.bn);
  if (bn !== "auto" && bn !== 128 && bn !== 96) throw new RangeError(`${spec}: bn must be 128, 96 or auto`);
  const kernels: Record<number, string> = { 128: "matmul_fast", 96: "matmul_fast96" };
  if (kv.file) {
    const source = expandIncludes(Deno.readTextFileSync(kv.file));
    for (const w of bn === "auto" ? [128, 96] : [bn]) {
      kernels[w] = `matmul_probe_${i}_${w}`;
      (KERNEL_SOURCES as Record<string, string>)[kernels[w]] = source;
    }
  }
  const flags = kv.flags ?? "";
  let ctx = contexts.get(flags);
  if (!ctx) {
    ctx = await GpuContext.create({
      preference: o.quick ? "auto" : "dawn",
      dawnFlags: flags ? [`enable-dawn-features=${flags}`] : [],
    });
    contexts.set(flags, ctx);
  }
  variants.push({
    label,
    kernels,
    bn,
    group: kv.group ? Number(kv.group) : undefined,
    ctx,
    be: new GpuBackend(ctx),
  });
}

// matmulGpu's fast path, dispatched here because candidates may take constants it does not pass.
function run(
  v: Variant,
  a: GpuTensor,
  b: GpuTensor,
  m: number,
  k: number,
  n: number,
  transB: boolean,
  bias?: GpuTensor,
) {
  const { ctx } = v;
  const out = allocTensor(ctx, [m, n]);
  const bn = v.bn === "auto" ? fastTileWidth(m, n) : v.bn;
  const params = new Params().u32(m).u32(n).u32(k).u32(transB ? 1 : 0).u32(bias ? 1 : 0)
    .u32(bias ? 1 : 0).u32(0).u32(0);
  ctx.dispatch({
    kernel: v.kernels[bn] as KernelName,
    constants: { TRANS_B: transB ? 1 : 0, ...(v.group ? { GROUP_M: v.group } : {}) },
    params: params.bytes(),
    buffers: [a.buffer, b.buffer, bias?.buffer ?? ctx.placeholder, ctx.placeholder, out.buffer],
    workgroups: [Math.ceil(n / bn), Math.ceil(m / 128)],
  });
  return out;
}

// Correctness at awkward shapes (relu + bias epilogue, both B layouts, both widths where auto picks 96).
for (const v of variants) {
  let worst = 0;
  for (
    const [m, k, n, t] of [[133, 40, 260, false], [200, 72, 131, true], [257, 520, 388, false], [
      130,
      24,
      192,
      true,
    ]] as const
  ) {
    const rng = new Rng(m + n);
    const a = randomF32(m * k, rng), b = randomF32(k * n, rng), bias = randomF32(n, rng);
    const ta = v.be.upload(a, [m, k]) as GpuTensor, tb = v.be.upload(b, t ? [n, k] : [k, n]) as GpuTensor;
    const tbias = v.be.upload(bias, [n]) as GpuTensor;
    const out = run(v, ta, tb, m, k, n, t, tbias);
    const [got] = await v.be.read([out]);
    const want = matmulRef(a, b, m, k, n, { transB: t, act: "relu" }, bias);
    worst = Math.max(worst, maxAbsDiff(got as Float32Array, want));
    v.be.release(out);
    for (const x of [ta, tb, tbias]) v.be.free(x);
  }
  console.log(JSON.stringify({ label: v.label, check_max_abs_diff: worst }));
}

const shapes: [string, number, number, number][] = o.quick ? [["tiny", 256, 256, 256]] : [
  ["square", 4096, 4096, 4096],
  ["ffn_up", 50432, 768, 3072],
  ["ffn_down", 50432, 3072, 768],
  ["bert_qkv", 4096, 768, 2304],
  ["bert_o", 4096, 768, 768],
  ["bert_up", 4096, 768, 3072],
  ["bert_down", 4096, 3072, 768],
];
const rounds = Number(o.rounds);
for (const [name, m, k, n] of shapes) {
  const rng = new Rng(7);
  const hostA = randomF32(m * k, rng),
    hostB = randomF32(k * n, rng, 1 / Math.sqrt(k)),
    hostBias = randomF32(n, rng, 0.02);
  const perCtx = new Map<GpuContext, { be: GpuBackend; ts: GpuTensor[] }>();
  for (const v of variants) {
    if (!perCtx.has(v.ctx)) {
      perCtx.set(v.ctx, {
        be: v.be,
        ts: [
          v.be.upload(hostA, [m, k]),
          v.be.upload(hostB, [k, n]),
          v.be.upload(hostBias, [n]),
        ] as GpuTensor[],
      });
    }
  }
  const times: number[][] = variants.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, v] of variants.entries()) {
      const [a, b, bias] = perCtx.get(v.ctx)!.ts;
      const t = await timeIt(
        () => {
          v.ctx.pool.release(run(v, a, b, m, k, n, false, bias).buffer);
          v.ctx.flush();
        },
        () => v.ctx.sync(),
        { warmup: r === 0 ? 3 : 1, repeats: 3, minBatchMs: 40, maxBatch: 100, budgetMs: 600 },
      );
      times[i].push(t.median);
    }
  }
  for (const [i, v] of variants.entries()) {
    const ts = [...times[i]].sort((x, y) => x - y);
    const best = ts[0], median = ts[Math.floor(ts.length / 2)];
    console.log(JSON.stringify({
      label: v.label,
      shape: `${name} ${m}x${k}x${n}`,
      bn: v.bn === "auto" ? fastTileWidth(m, n) : v.bn,
      best_ms: +best.toFixed(4),
      median_ms: +median.toFixed(4),
      tflops_best: +((2 * m * k * n) / best / 1e9).toFixed(2),
      tflops_median: +((2 * m * k * n) / median / 1e9).toFixed(2),
    }));
  }
  for (const [ctx, { be, ts }] of perCtx) {
    for (const x of ts) be.free(x);
    await ctx.sync();
    ctx.pool.trim();
  }
}
for (const ctx of contexts.values()) ctx.destroy();
