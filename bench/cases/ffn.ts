/**
 * FFN layer cases: dense (our `DenseFfn`) against D2DMoE (`MoeFfn`) at forced executed fractions, for
 * every expert layout, batched (`ffn_batched`: 256 × 197 tokens) and at decode (`ffn_decode`: T = 1),
 * plus the onnxruntime-web peers on the same dense layer and input. Every D2DMoE row with all experts
 * selected is checked against the dense output.
 * @module
 */
import { Rng } from "../../src/util/rng.ts";
import { maxAbsDiff } from "../compare.ts";
import type { RowMeta, RunContext, Variant } from "../context.ts";
import {
  denseRun,
  forceTopK,
  type LayerRun,
  moeFromDense,
  moeRun,
  randomFfn,
  ROUTER_WIDTH,
} from "../ffn_layers.ts";
import { ffnOnnx } from "../onnx/ffn_onnx.ts";
import { floatInput, ortRun, ortRunRead, ortSession, ortSync } from "../ort_session.ts";
import { randomF32 } from "../random.ts";
import { topKFor } from "../shapes.ts";
import type { CaseName } from "../schema.ts";

const round = (x: number) => Number(x.toPrecision(4));

/**
 * Runs one FFN case.
 * @param cx Run context.
 * @param name `ffn_batched` or `ffn_decode`.
 */
export async function ffnCase(
  cx: RunContext,
  name: Extract<CaseName, "ffn_batched" | "ffn_decode">,
): Promise<void> {
  const { d, dff, act, layouts } = cx.shapes.ffn;
  const T = name === "ffn_batched" ? cx.shapes.ffn.tokens : 1;
  const rng = new Rng(cx.options.seed);
  const host = randomFfn(d, dff, rng);
  const x = randomF32(T * d, rng, 1);
  const shape = { tokens: T, d, d_ff: dff, act };
  const batched = name === "ffn_batched";
  // Throughput: batched rows in TFLOP/s of executed matmul work; decode rows in GB/s of weights read.
  const derive = (flops: number, bytes: number) => (ms: number) =>
    batched ? { tflops: round(flops / ms / 1e9) } : { gbps: round(bytes / ms / 1e6) };
  let denseOut: Float32Array | null = null;
  const step = (r: LayerRun) => () => r.record();

  await cx.group((be) => denseRun(be, host, act, x, T), [{
    meta: { case: name, impl: "ours", model: "dense", ffn_fraction: 1, ...shape },
    step,
    after: async (r) => {
      denseOut = (await r.readOnce()).y;
      return {};
    },
    derive: derive(4 * T * d * dff, 4 * (2 * d * dff + dff + d)),
  }]);

  for (const layout of layouts) {
    const moe = moeFromDense(host, layout, new Rng(cx.options.seed + layout.experts));
    const { experts: E, size: s } = layout;
    const variants: Variant<LayerRun>[] = cx.shapes.fractions.map((f) => {
      const k = topKFor(f, E);
      const meta: RowMeta = {
        case: name,
        impl: "ours",
        model: `d2dmoe-${E}x${s}`,
        ffn_fraction: round(k / E),
        ffn_fraction_nominal: f,
        top_k: k,
        experts: E,
        expert_size: s,
        ...shape,
      };
      return {
        meta,
        step: (r) => {
          forceTopK(r, k);
          return () => r.record();
        },
        after: async (r) => {
          forceTopK(r, k);
          const { y, pairs } = await r.readOnce();
          const out: Record<string, number> = {};
          if (pairs !== null) out.ffn_fraction_measured = round(pairs / (T * E));
          if (k === E && denseOut) out.max_abs_diff = maxAbsDiff(y, denseOut);
          return out;
        },
        derive: derive(
          4 * T * d * s * k,
          4 * (k * (2 * d * s + s) + d + d * ROUTER_WIDTH + ROUTER_WIDTH * E),
        ),
      };
    });
    await cx.group((be) => moeRun(be, moe, d, act, x, T), variants);
  }

  if (!cx.options.ort) return;
  const bytes = ffnOnnx(host, act);
  for (const ep of ["wasm", "webgpu"] as const) {
    const meta: RowMeta = { case: name, impl: `ort-${ep}`, model: "dense", ffn_fraction: 1, ...shape };
    await cx.peer(meta, async () => {
      const s = await ortSession(ep, bytes, cx.ortGpu);
      const input = floatInput(s, x, [T, d]);
      const feeds = { x: input.tensor };
      return {
        device: s.name,
        step: () => ortRun(s, feeds),
        sync: () => ortSync(s),
        after: async () => (denseOut
          ? { max_abs_diff: maxAbsDiff(await ortRunRead(s, feeds, "y"), denseOut) }
          : {}),
        plan: ep === "wasm" && batched ? { warmup: 1, repeats: 3, minRepeats: 1, budgetMs: 8000 } : {},
        note: s.device ? "input and output in GPU buffers" : undefined,
        dispose: async () => {
          input.free();
          await s.session.release();
        },
      };
    }, derive(4 * T * d * dff, 4 * (2 * d * dff + dff + d)));
  }
}
