/**
 * FFN layers at benchmark shapes from random weights: a dense FFN (our `DenseFfn`: two matmuls) and the
 * D2DMoE layer made from it (`MoeFfn`): experts are contiguous neuron slices (the split only matters for
 * quality, not speed) and the router is random, so any executed fraction can be forced with top-k.
 * @module
 */
import type { Activation } from "../src/ops/activation.ts";
import type { Backend } from "../src/ops/backend.ts";
import type { Tensor } from "../src/ops/tensor.ts";
import { DenseFfn, type PassContext } from "../src/model/layers.ts";
import { MacTally } from "../src/model/stats.ts";
import { type DenseFfnWeights, type ExpertWeights, sliceExperts } from "../src/moe/expert_split.ts";
import { MoeFfn, type MoePassState } from "../src/moe/moe_ffn.ts";
import type { Rng } from "../src/util/rng.ts";
import { randomF32 } from "./random.ts";
import type { ExpertLayout } from "./shapes.ts";

/** Router hidden width (as the converter uses). */
export const ROUTER_WIDTH = 128;

/** A D2DMoE layer's host weights. */
export interface HostMoe {
  /** Experts (expert-major). */
  experts: ExpertWeights;
  /** Router [d, w]. */
  r1: Float32Array;
  /** Router [w, E]. */
  r2: Float32Array;
  /** Router width w. */
  width: number;
}

/**
 * A random dense FFN: W1 [d, dff] and W2 [dff, d] with fan-in scaled weights, small non-zero biases.
 * @param d Model width.
 * @param dff Hidden width.
 * @param rng Generator.
 * @returns Host weights.
 */
export function randomFfn(d: number, dff: number, rng: Rng): DenseFfnWeights {
  return {
    w1: randomF32(d * dff, rng, 1 / Math.sqrt(d)),
    b1: randomF32(dff, rng, 0.02),
    w2: randomF32(dff * d, rng, 1 / Math.sqrt(dff)),
    b2: randomF32(d, rng, 0.02),
    d,
    dff,
  };
}

/**
 * The D2DMoE version of a dense FFN: contiguous expert slices and a random router.
 * @param f Dense weights.
 * @param layout Experts and neurons per expert (experts × size = dff).
 * @param rng Generator.
 * @returns Host weights; with every expert selected it computes exactly the dense FFN.
 * @throws {RangeError} When the layout does not tile d_ff.
 */
export function moeFromDense(f: DenseFfnWeights, layout: ExpertLayout, rng: Rng): HostMoe {
  if (layout.experts * layout.size !== f.dff) {
    throw new RangeError(`${layout.experts} experts × ${layout.size} neurons ≠ d_ff ${f.dff}`);
  }
  const order = Int32Array.from({ length: f.dff }, (_, i) => i);
  return {
    experts: sliceExperts(f, order, layout.experts),
    r1: randomF32(f.d * ROUTER_WIDTH, rng, 1 / Math.sqrt(f.d)),
    r2: randomF32(ROUTER_WIDTH * layout.experts, rng, 1 / Math.sqrt(ROUTER_WIDTH)),
    width: ROUTER_WIDTH,
  };
}

/** A layer on a backend with its input and pass context, ready to run. */
export interface LayerRun {
  /** Backend. */
  be: Backend;
  /** The layer. */
  ffn: DenseFfn | MoeFfn;
  /** Input (also the residual) [T, d]. */
  x: Tensor;
  /** Pass context (routing state for D2DMoE layers). */
  pass: PassContext;
  /** Records one forward and releases its output; submits every `flushEvery` calls. */
  record(): void;
  /** Forwards recorded per submit: 1 for big batches (the pool recycles buffers only after a submit), more at
   * decode, where a real step records every layer into one submit. */
  flushEvery: number;
  /** Runs one forward and reads the output (and executed pairs for D2DMoE layers). */
  readOnce(): Promise<{ y: Float32Array; pairs: number | null }>;
  /** Frees weights and input. */
  dispose(): void;
}

function makeRun(be: Backend, ffn: DenseFfn | MoeFfn, x: Tensor, weights: Tensor[], T: number): LayerRun {
  const routing: MoePassState | undefined = ffn instanceof MoeFfn
    ? { rule: { mode: "topk", k: ffn.dims.experts }, counters: [] }
    : undefined;
  const pass: PassContext = { be, batch: 1, seq: T, layer: 0, tally: new MacTally(), routing };
  const takeCounters = () => routing?.counters.splice(0).map((c) => c.counts) ?? [];
  let recorded = 0;
  return {
    be,
    ffn,
    x,
    pass,
    flushEvery: T === 1 ? 12 : 1,
    record() {
      const y = ffn.forward(pass, x, x);
      be.release(y, ...takeCounters());
      if (++recorded % this.flushEvery === 0) be.flush();
    },
    async readOnce() {
      const y = ffn.forward(pass, x, x);
      const counts = takeCounters();
      const got = await be.read([y, ...counts]);
      be.release(y, ...counts);
      let pairs: number | null = null;
      if (counts.length) {
        pairs = 0;
        for (const c of got.slice(1)) for (const v of c) pairs += v;
      }
      return { y: got[0] as Float32Array, pairs };
    },
    dispose() {
      for (const t of [...weights, x]) be.free(t);
    },
  };
}

/**
 * Uploads a dense FFN and an input.
 * @param be Backend.
 * @param f Host weights.
 * @param act Hidden activation.
 * @param x Input [T, d].
 * @param T Tokens.
 * @returns The runnable layer.
 */
export function denseRun(
  be: Backend,
  f: DenseFfnWeights,
  act: Activation,
  x: Float32Array,
  T: number,
): LayerRun {
  const w1 = be.upload(f.w1, [f.d, f.dff], "w1"), b1 = be.upload(f.b1, [f.dff], "b1");
  const w2 = be.upload(f.w2, [f.dff, f.d], "w2"), b2 = be.upload(f.b2, [f.d], "b2");
  const xt = be.upload(x, [T, f.d], "x");
  return makeRun(be, new DenseFfn(w1, b1, w2, b2, act), xt, [w1, b1, w2, b2], T);
}

/**
 * Uploads a D2DMoE layer and an input.
 * @param be Backend.
 * @param m Host weights.
 * @param d Model width.
 * @param act Expert hidden activation.
 * @param x Input [T, d].
 * @param T Tokens.
 * @returns The runnable layer; set `routing.rule` (top-k) before recording.
 */
export function moeRun(
  be: Backend,
  m: HostMoe,
  d: number,
  act: Activation,
  x: Float32Array,
  T: number,
): LayerRun {
  const { experts: E, size: s } = m.experts;
  const t = {
    r1: be.upload(m.r1, [d, m.width], "r1"),
    r2: be.upload(m.r2, [m.width, E], "r2"),
    w1: be.upload(m.experts.w1, [E * d, s], "experts.w1"),
    b1: be.upload(m.experts.b1, [E * s], "experts.b1"),
    w2: be.upload(m.experts.w2, [E * s, d], "experts.w2"),
    b2: be.upload(m.experts.b2, [d], "experts.b2"),
  };
  const ffn = new MoeFfn(t, { d, experts: E, size: s, width: m.width }, act, be.info.maxTensorBytes);
  const xt = be.upload(x, [T, d], "x");
  return makeRun(be, ffn, xt, Object.values(t), T);
}

/**
 * Forces top-k routing on a D2DMoE run (no-op for dense layers).
 * @param run The layer run.
 * @param k Experts per token.
 */
export function forceTopK(run: LayerRun, k: number): void {
  const st = run.pass.routing as MoePassState | undefined;
  if (st) st.rule = { mode: "topk", k };
}
