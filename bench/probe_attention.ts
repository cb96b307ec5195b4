// Where the tiled attention kernel's time goes at BERT-base shape (batch 32 × 128 tokens, 12 heads of 64,
// packed QKV rows, a key mask): wall time per dispatch of the kernel as shipped and of variants with one
// phase removed (the variants compute wrong values; they only locate the cost), and of the `rows` kernel.
// Run on the GPU machine:
//   deno run -A --node-modules-dir=none --cached-only bench/probe_attention.ts [--quick]
import { KERNEL_SOURCES } from "../src/gpu/kernels.ts";
import { attentionGpu, type AttentionKernel } from "../src/ops/attention.ts";
import type { AttentionShape } from "../src/ops/attention_ref.ts";
import type { GpuBackend } from "../src/ops/gpu_backend.ts";
import { createBackend } from "../src/ops/select_backend.ts";
import type { GpuTensor } from "../src/ops/tensor.ts";

const quick = Deno.args.includes("--quick");
const [B, T, H, DH] = quick ? [2, 20, 2, 16] : [32, 128, 12, 64];
const C = H * DH;
const shipped = KERNEL_SOURCES.attention_tiled;
const cut = (from: string, to: string) => (s: string) => {
  if (!s.includes(from)) throw new Error(`variant: '${from}' not in the kernel`);
  return s.replace(from, to);
};
const variants: [string, AttentionKernel, (s: string) => string][] = [
  ["tiled", "tiled", (s) => s],
  ["rows", "rows", (s) => s],
  ["tiled, no P·V", "tiled", cut("jj < jn; jj++", "jj < 0u; jj++")],
  [
    "tiled, no Q·K",
    "tiled",
    cut("  let k = jr * R4;\n", "  let k = jr * R4;\n  if (k < 1000000u) { return 0.0; }\n"),
  ],
  [
    "tiled, no K loads",
    "tiled",
    cut("if (src_is_k) { return K[i]; }", "if (src_is_k) { return vec4<f32>(f32(i)) + K[0] * 0.0; }"),
  ],
];
const sources = KERNEL_SOURCES as Record<string, string>;
const qkv = new Float32Array(B * T * 3 * C).map((_, i) => Math.sin(i) * 0.5);
const mask = new Uint32Array(B * T).fill(1);
const s: AttentionShape = {
  batch: B,
  heads: H,
  headDim: DH,
  tq: T,
  tk: T,
  qPos0: 0,
  causal: false,
  scale: 0.125,
};
const view = (o: number) => ({ offset: o, rowStride: 3 * C, batchStride: T * 3 * C });
for (const [name, kernel, edit] of variants) {
  sources.attention_tiled = edit(shipped);
  const be = await createBackend(quick ? "gpu" : "dawn") as GpuBackend;
  const t = be.input(qkv, [B * T, 3 * C]) as GpuTensor, m = be.input(mask, [B, T]) as GpuTensor;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      be.release(attentionGpu(be.ctx, t, t, t, s, view(0), view(C), view(2 * C), m, kernel));
    }
  };
  run(3);
  await be.read([m]);
  const times: number[] = [];
  for (let r = 0; r < 5; r++) {
    const n = quick ? 5 : 100, t0 = performance.now();
    run(n);
    await be.read([m]);
    times.push((performance.now() - t0) / n);
  }
  times.sort((a, b) => a - b);
  console.log(`${name.padEnd(24)} ${times[2].toFixed(4)} ms per call (min ${times[0].toFixed(4)})`);
  be.release(t, m);
}
