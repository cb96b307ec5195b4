/**
 * Calibration: run the dense-equivalent expert layers (every expert selected) over calibration
 * batches and record, per layer, each real token's FFN input (the router's input) and each expert's
 * output L2 norm (the router's regression target, before b2 — D2DMoE §4.3).
 * @module
 */
import type { Model, RoutingHooks, RunOptions } from "../model/model.ts";
import type { Tensor } from "../ops/tensor.ts";
import type { ProgressCallback } from "../util/progress.ts";
import type { CalibBatch } from "./calib_data.ts";
import type { LayerCapture, MoePassState } from "./moe_ffn.ts";
import { counterPass } from "./routing.ts";

/** Router training data of one layer. */
export interface LayerData {
  /** FFN inputs [n, d]. */
  x: Float32Array;
  /** Expert output norms [n, E]. */
  y: Float32Array;
  /** Rows. */
  n: number;
}

/**
 * Runs one calibration batch through the model's public API (whatever its family).
 * @param model The model.
 * @param b The batch.
 * @param opts τ / top-k.
 * @param quality Compute the quality signal (false: only run the layers, e.g. to calibrate).
 * @returns A quality signal: summed NLL (lm), or the flat outputs used for cosine comparisons.
 */
export async function runBatch(model: Model, b: CalibBatch, opts: RunOptions = {}, quality = true) {
  switch (b.kind) {
    case "lm": {
      if (!quality) {
        // Calibration only needs the FFN inputs: skip the LM head (the largest matmul of GPT-2).
        const r = await model.forward({ input_ids: b.rows }, { ...opts, outputs: "hidden" });
        return { nll: 0, tokens: 0, outputs: [] as Float32Array[], stats: r.stats };
      }
      const r = await model.loss(b.rows, opts);
      return { nll: r.nll, tokens: r.tokens, outputs: [] as Float32Array[], stats: r.stats };
    }
    case "encoder": {
      const r = await model.forward({ input_ids: b.ids, attention_mask: b.mask }, opts);
      const outs = r.logits
        ? splitRows(r.logits.data, b.ids.length)
        : maskedRows(r.last_hidden_state!.data, b.mask);
      return { nll: 0, tokens: 0, outputs: outs, stats: r.stats };
    }
    case "use": {
      const r = await model.embed(b.rows, opts);
      return { nll: 0, tokens: 0, outputs: r.embeddings, stats: r.stats };
    }
    case "image": {
      const r = await model.forward({ pixel_values: b.pixels }, opts);
      const data = r.logits?.data ?? r.last_hidden_state!.data;
      return { nll: 0, tokens: 0, outputs: splitRows(data, b.pixels.length), stats: r.stats };
    }
  }
}

function splitRows(data: Float32Array, rows: number): Float32Array[] {
  const w = data.length / rows;
  return Array.from({ length: rows }, (_, i) => data.slice(i * w, (i + 1) * w));
}

/** Hidden states of real tokens only (one vector per token). */
function maskedRows(data: Float32Array, mask: number[][]): Float32Array[] {
  const T = mask[0].length, C = data.length / (mask.length * T);
  const out: Float32Array[] = [];
  mask.forEach((m, b) =>
    m.forEach((v, t) => v && out.push(data.slice((b * T + t) * C, (b * T + t + 1) * C)))
  );
  return out;
}

/** Which flattened token rows of a batch are real (not padding), in the order layers see them. */
export function realTokenMask(b: CalibBatch): Uint8Array {
  switch (b.kind) {
    case "lm":
      return new Uint8Array(b.rows.length * b.rows[0].length).fill(1);
    case "encoder":
      return Uint8Array.from(b.mask.flat());
    case "use": {
      const seq = Math.max(1, ...b.rows.map((r) => Math.min(r.length, 128)));
      const m = new Uint8Array(b.rows.length * seq);
      b.rows.forEach((r, i) => m.fill(1, i * seq, i * seq + Math.min(r.length, 128)));
      return m;
    }
    case "image": {
      return new Uint8Array(0); // every token is real; filled lazily by the caller's count
    }
  }
}

/** Rows of a fixed width collected piecewise, then joined into one array. */
export class Rows {
  #parts: Float32Array[] = [];
  #n = 0;
  /** @param width Floats per row. */
  constructor(readonly width: number) {}
  /** Appends whole rows. */
  push(a: Float32Array): void {
    this.#parts.push(a);
    this.#n += a.length / this.width;
  }
  /** Rows so far. */
  get n(): number {
    return this.#n;
  }
  /** All rows in one array [n, width]. */
  concat(): Float32Array {
    const out = new Float32Array(this.#n * this.width);
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/**
 * Collects router training data. The model's FFNs must be MoE layers with all-zero routers
 * (every expert runs, so the model computes exactly the dense function).
 * @param model Model with calibration layers installed by the caller.
 * @param batches Calibration batches.
 * @param dims Per layer: width d and experts E.
 * @param info MoE info for the routing hooks.
 * @param onProgress Progress callback.
 * @returns Per layer: inputs and expert-norm targets of every real token.
 */
export async function collectRouterData(
  model: Model,
  batches: CalibBatch[],
  dims: { d: number; experts: number }[],
  info: RoutingHooks["info"],
  onProgress?: ProgressCallback,
): Promise<LayerData[]> {
  const be = model.backend;
  let pending: { layer: number; x: Tensor; norms: Tensor; tokRows: Tensor; T: number; cap: number }[] = [];
  const capture = (c: LayerCapture): Tensor[] => {
    const d = dims[c.layer].d;
    const x = be.alloc([c.T, d]);
    be.stridedCopy(c.x, x, {
      nb: 1,
      nt: c.T,
      nc: d,
      srcOffset: 0,
      srcB: 0,
      srcT: d,
      dstOffset: 0,
      dstB: 0,
      dstT: d,
    });
    pending.push({ layer: c.layer, x, norms: c.norms, tokRows: c.tokRows, T: c.T, cap: c.cap });
    return [c.norms, c.tokRows];
  };
  const hooks: RoutingHooks = {
    info,
    begin: () =>
      counterPass({ rule: { mode: "dynk", tau: 0 }, counters: [], capture } as MoePassState, dims.length),
  };
  model.replaceFfns(model.ffnLayers, hooks);
  const xs = dims.map((l) => new Rows(l.d));
  const ys = dims.map((l) => new Rows(l.experts));
  for (const [bi, b] of batches.entries()) {
    pending = [];
    await runBatch(model, b, {}, false);
    const got = await be.read(pending.flatMap((p) => [p.x, p.norms, p.tokRows]));
    // Layer calls arrive in order; chunks of one layer concatenate to the batch's token order.
    const perLayer = new Map<number, { x: Float32Array; y: Float32Array }[]>();
    pending.forEach((p, i) => {
      const x = got[3 * i] as Float32Array,
        norms = got[3 * i + 1] as Float32Array,
        rows = got[3 * i + 2] as Uint32Array;
      const E = dims[p.layer].experts;
      const y = new Float32Array(p.T * E);
      for (let t = 0; t < p.T; t++) for (let e = 0; e < E; e++) y[t * E + e] = norms[rows[t * E + e]];
      if (!perLayer.has(p.layer)) perLayer.set(p.layer, []);
      perLayer.get(p.layer)!.push({ x, y });
    });
    be.release(...pending.flatMap((p) => [p.x, p.norms, p.tokRows]));
    const real = realTokenMask(b);
    for (const [layer, parts] of perLayer) {
      const d = dims[layer].d, E = dims[layer].experts;
      let t = 0;
      for (const { x, y } of parts) {
        const T = x.length / d;
        for (let i = 0; i < T; i++, t++) {
          if (real.length && !real[t]) continue;
          xs[layer].push(x.slice(i * d, (i + 1) * d));
          ys[layer].push(y.slice(i * E, (i + 1) * E));
        }
      }
    }
    onProgress?.({ step: "calibration", done: bi + 1, total: batches.length, detail: `${xs[0].n} tokens` });
  }
  return dims.map((_, l) => ({ x: xs[l].concat(), y: ys[l].concat(), n: xs[l].n }));
}
