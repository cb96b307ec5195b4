/**
 * BERT forward end to end (`bert_forward`): a random-weight BertModel at real shapes, dense and
 * D2DMoE at forced executed fractions, timed device-resident (inputs uploaded each iteration, the last
 * hidden state left on the device, as PyTorch is timed with CUDA events), plus the onnxruntime-web
 * peers on the same weights.
 * @module
 */
import { join } from "node:path";
import { loadModel } from "../../src/model/load.ts";
import "../../src/moe/load_converted.ts";
import type { BertNet } from "../../src/model/bert.ts";
import type { PassContext } from "../../src/model/layers.ts";
import type { Model } from "../../src/model/model.ts";
import { MacTally } from "../../src/model/stats.ts";
import type { MoePassState } from "../../src/moe/moe_ffn.ts";
import type { Tensor } from "../../src/ops/tensor.ts";
import { Rng } from "../../src/util/rng.ts";
import type { Backend } from "../../src/ops/backend.ts";
import { maxAbsDiff } from "../compare.ts";
import type { RowMeta, RunContext, Variant } from "../context.ts";
import { ROUTER_WIDTH } from "../ffn_layers.ts";
import { bertOnnx } from "../onnx/bert_onnx.ts";
import { ortRun, ortRunRead, ortSession, ortSync } from "../ort_session.ts";
import { randomIds } from "../random.ts";
import { bertConfig, bertTensors, writeConvertedFolder, writeDenseFolder } from "../random_models.ts";
import { topKFor } from "../shapes.ts";

const round = (x: number) => Number(x.toPrecision(4));

/** A loaded BERT with a reusable pass. */
interface BertRun {
  model: Model;
  /** Sets top-k routing (D2DMoE) for the next passes. */
  setK(k: number): void;
  /** Records one forward and releases everything. */
  record(): void;
  /** Runs one forward and reads the last hidden state and the executed pairs. */
  readOnce(): Promise<{ hidden: Float32Array; pairs: number }>;
  dispose(): void;
}

async function bertRun(
  be: Backend,
  dir: string,
  ids: Uint32Array,
  batch: number,
  seq: number,
): Promise<BertRun> {
  const model = await loadModel(dir, { backend: be, tokenizer: false });
  const net = model.net as BertNet;
  const routing: MoePassState | undefined = model.moe
    ? { rule: { mode: "topk", k: 1 }, counters: [] }
    : undefined;
  const tally = new MacTally();
  const n = batch * seq;
  const pos = Uint32Array.from({ length: n }, (_, i) => i % seq);
  const types = new Uint32Array(n), mask = new Uint32Array(n).fill(1);
  const forward = (): { hidden: Tensor; counts: Tensor[] } => {
    const pass: PassContext = { be, batch, seq, layer: 0, tally, routing };
    const t = {
      ids: be.input(ids, [n]),
      positions: be.input(pos, [n]),
      types: be.input(types, [n]),
      mask: be.input(mask, [batch, seq]),
    };
    const hidden = net.encode(pass, t);
    const { pooled, logits } = net.head(be, hidden, batch, seq);
    be.release(t.ids, t.positions, t.types, t.mask, pooled, logits);
    return { hidden, counts: routing?.counters.splice(0).map((c) => c.counts) ?? [] };
  };
  return {
    model,
    setK(k) {
      if (routing) routing.rule = { mode: "topk", k };
    },
    record() {
      const { hidden, counts } = forward();
      be.release(hidden, ...counts);
      be.flush();
    },
    async readOnce() {
      const { hidden, counts } = forward();
      const got = await be.read([hidden, ...counts]);
      be.release(hidden, ...counts);
      let pairs = 0;
      for (const c of got.slice(1)) for (const v of c) pairs += v;
      return { hidden: got[0] as Float32Array, pairs };
    },
    dispose: () => model.dispose(),
  };
}

/**
 * Runs the BERT case.
 * @param cx Run context.
 */
export async function bertCase(cx: RunContext): Promise<void> {
  const s = cx.shapes.bert;
  const { batch, seq } = s;
  const rng = new Rng(cx.options.seed);
  cx.log(
    `  bert_forward: writing random BERT (${s.layers}×${s.hidden}, vocab ${s.vocab}) and its D2DMoE version`,
  );
  const tensors = bertTensors(s, rng);
  const tmp = await Deno.makeTempDir({ prefix: "d2d-bench-bert-" });
  try {
    const denseDir = join(tmp, "dense"), moeDir = join(tmp, "d2dmoe");
    await writeDenseFolder(denseDir, bertConfig(s), tensors);
    await writeConvertedFolder(moeDir, denseDir, "bert", s, tensors, rng);
    const ids = randomIds(batch * seq, s.vocab - 1, rng).map((v) => v + 1);
    const shape = { batch, seq, layers: s.layers, hidden: s.hidden, d_ff: s.ffn, act: s.act };
    const C = s.hidden, I = s.ffn, tokens = batch * seq;
    const attnFlops = tokens * s.layers * 2 * (4 * C * C + 2 * seq * C);
    const ffnFlops = tokens * s.layers * 4 * C * I;
    let dense: Float32Array | null = null;

    await cx.group((be) => bertRun(be, denseDir, ids, batch, seq), [{
      meta: { case: "bert_forward", impl: "ours", model: "dense", ffn_fraction: 1, ...shape },
      step: (r) => () => r.record(),
      after: async (r) => {
        dense = (await r.readOnce()).hidden;
        return {};
      },
      derive: (ms) => ({ tflops: round((attnFlops + ffnFlops) / ms / 1e9) }),
    }]);

    const { experts: E, size } = s.moe;
    const variants: Variant<BertRun>[] = cx.shapes.fractions.map((f) => {
      const k = topKFor(f, E);
      const routerFlops = tokens * s.layers * 2 * (C * ROUTER_WIDTH + ROUTER_WIDTH * E);
      const meta: RowMeta = {
        case: "bert_forward",
        impl: "ours",
        model: `d2dmoe-${E}x${size}`,
        ffn_fraction: round(k / E),
        ffn_fraction_nominal: f,
        top_k: k,
        experts: E,
        expert_size: size,
        ...shape,
      };
      return {
        meta,
        step: (r) => {
          r.setK(k);
          return () => r.record();
        },
        after: async (r) => {
          r.setK(k);
          const { hidden, pairs } = await r.readOnce();
          const out: Record<string, number> = {
            ffn_fraction_measured: round(pairs / (tokens * E * s.layers)),
          };
          if (k === E && dense) out.max_abs_diff = maxAbsDiff(hidden, dense);
          return out;
        },
        derive: (ms) => ({ tflops: round((attnFlops + ffnFlops * k / E + routerFlops) / ms / 1e9) }),
      };
    });
    await cx.group((be) => bertRun(be, moeDir, ids, batch, seq), variants);

    if (!cx.options.ort) return;
    const bytes = bertOnnx(s, tensors, seq);
    for (const ep of ["wasm", "webgpu"] as const) {
      const meta: RowMeta = {
        case: "bert_forward",
        impl: `ort-${ep}`,
        model: "dense",
        ffn_fraction: 1,
        ...shape,
      };
      await cx.peer(meta, async () => {
        const o = await ortSession(ep, bytes, cx.ortGpu);
        const i64 = (a: Uint32Array) =>
          new o.ort.Tensor("int64", BigInt64Array.from(a, (v) => BigInt(v)), [batch, seq]);
        const feeds = {
          input_ids: i64(ids),
          attention_mask: i64(new Uint32Array(tokens).fill(1)),
          token_type_ids: i64(new Uint32Array(tokens)),
        };
        return {
          device: o.name,
          step: () => ortRun(o, feeds),
          sync: () => ortSync(o),
          after: async () => (dense
            ? { max_abs_diff: maxAbsDiff(await ortRunRead(o, feeds, "last_hidden_state"), dense) }
            : {}),
          plan: ep === "wasm" ? { warmup: 1, repeats: 3, minRepeats: 1, budgetMs: 8000 } : {},
          note: o.device ? "output left in a GPU buffer" : undefined,
          dispose: () =>
            o.session.release(),
        };
      }, (ms) => ({ tflops: round((attnFlops + ffnFlops) / ms / 1e9) }));
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
