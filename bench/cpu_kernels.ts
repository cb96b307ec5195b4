/**
 * The CPU backend's WebAssembly SIMD kernels against their JavaScript baselines, in one run on this host:
 * `deno run -A bench/cpu_kernels.ts [--quick]`. Prints, per kernel and shape, the best of several timings
 * of each and the speedup. Timings on a busy or 2-core machine move by ±15% from run to run; the ratios
 * move less. Not part of `deno task bench`, whose cases time the backend a model runs on.
 * @module
 */
import { parseArgs } from "node:util";
import { attentionCpu } from "../src/ops/attention_cpu.ts";
import { attentionRef } from "../src/ops/attention_ref.ts";
import { crossEntropyCpu } from "../src/ops/cross_entropy_cpu.ts";
import { crossEntropyRef } from "../src/ops/cross_entropy_ref.ts";
import { matmulJs } from "../src/ops/matmul_cpu.ts";
import { moeExpertsWasm } from "../src/ops/moe_experts_wasm.ts";
import { moeExpertsJs } from "../src/ops/moe_ffn_cpu.ts";
import { expertNormsJs, expertNormsWasm } from "../src/ops/moe_ffn_norms_cpu.ts";
import { sgemmWasm, sgemmWasmAvailable } from "../src/ops/sgemm_wasm.ts";
import { Rng } from "../src/util/rng.ts";
import { randomF32 } from "./random.ts";

const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
const quick = values.quick!;
const rng = new Rng(1);
const rows: string[][] = [];

/** Best of `reps` wall times of `fn`, in ms, after one warm-up call. */
function best(fn: () => unknown, reps = quick ? 2 : 4): number {
  fn();
  let b = Infinity;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    fn();
    b = Math.min(b, performance.now() - t);
  }
  return b;
}

function row(kernel: string, shape: string, js: () => unknown, wasm: () => unknown) {
  const j = best(js), w = best(wasm);
  rows.push([kernel, shape, j.toFixed(1), w.toFixed(1), (j / w).toFixed(2) + "×"]);
  console.error(`  ${kernel} ${shape}: JavaScript ${j.toFixed(1)} ms, WebAssembly ${w.toFixed(1)} ms`);
}

if (!sgemmWasmAvailable()) throw new Error("this runtime cannot run the WebAssembly SIMD module");

// Products: an LM head (B as [N, K]), an FFN up-projection, a ReLU down-projection (A 90% zeros).
const M = quick ? 64 : 512;
// (|v| < 1.645 holds for 90% of N(0, 1) draws.)
for (
  const [k, n, transB, zeroBelow, what] of [
    [768, quick ? 4096 : 50257, true, 0, "LM head"],
    [768, 3072, false, 0, "FFN up"],
    [3072, 768, false, 1.645, "ReLU FFN down"],
  ] as const
) {
  const a = randomF32(M * k, rng, 1).map((v) => (Math.abs(v) < zeroBelow ? 0 : v));
  const b = randomF32(k * n, rng, 1);
  const sparse = zeroBelow > 0;
  row(
    `matmul (${what})`,
    `${M}×${k}×${n}`,
    () => matmulJs(a, b, M, k, n, transB, sparse),
    () => sgemmWasm(a, b, M, k, n, transB, sparse),
  );
}

// Causal attention of GPT-2 small's shape, and the cross-entropy of its vocabulary.
{
  const [batch, heads, dh, t] = [quick ? 1 : 4, 12, 64, quick ? 128 : 256], C = heads * dh;
  const q = randomF32(batch * t * 3 * C, rng, 1);
  const v = (o: number) => ({ offset: o, rowStride: 3 * C, batchStride: t * 3 * C });
  const s = { batch, heads, headDim: dh, tq: t, tk: t, qPos0: 0, causal: true, scale: 1 / 8 };
  row(
    "attention",
    `${batch}×${heads} heads×${t}`,
    () => attentionRef(q, q, q, s, v(0), v(C), v(2 * C)),
    () => attentionCpu(q, q, q, s, v(0), v(C), v(2 * C)),
  );
  const [r, vocab] = [quick ? 64 : 512, 50257];
  const logits = randomF32(r * vocab, rng, 4), targets = Uint32Array.from({ length: r }, (_, i) => i * 97);
  row(
    "cross-entropy",
    `${r}×${vocab}`,
    () => crossEntropyRef(logits, targets, r, vocab),
    () => crossEntropyCpu(logits, targets, r, vocab),
  );
}

// The D2DMoE layer at about half the experts, and calibration's every-expert layer (ReLU GPT-2 shapes).
{
  const [T, d, E, s] = [quick ? 512 : 4096, 256, 64, 16];
  const w1 = randomF32(E * d * s, rng, 0.1),
    b1 = randomF32(E * s, rng, 0.1),
    w2 = randomF32(E * s * d, rng, 0.1);
  const x = randomF32(T * d, rng, 1);
  const lists = new Uint32Array(E * T), counts = new Uint32Array(E);
  for (let e = 0; e < E; e++) {
    for (let t = 0; t < T; t++) if (rng.next() < 0.5) lists[e * T + counts[e]++] = t;
  }
  const dims = { T, d, E, s };
  row(
    "D2DMoE experts (f 0.5)",
    `${T} tokens, ${E}×${s}, d ${d}`,
    () => moeExpertsJs(x, w1, b1, w2, lists, counts, dims, "relu"),
    () => moeExpertsWasm(x, w1, b1, w2, lists, counts, dims, "relu"),
  );
  const h = randomF32(T * E * s, rng, 1).map((v) => (v > 1.405 ? v : 0)); // 8% active, as after a ReLU
  row(
    "calibration norms",
    `${T} tokens, ${E}×${s}, d ${d}`,
    () => expertNormsJs(h, w2, dims),
    () => expertNormsWasm(h, w2, dims),
  );
}

const head = ["kernel", "shape", "JavaScript ms", "WebAssembly ms", "speedup"];
const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => r.map((c, i) => c.padEnd(width[i])).join("  ");
console.log(line(head));
console.log(width.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
