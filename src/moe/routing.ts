/**
 * Routing hooks of a converted model: per call, the rule (τ or top-k) handed to every MoE layer, and
 * the conversion of the device's pair counters into executed MACs once they are read back.
 * @module
 */
import { InvalidInputError } from "../model/errors.ts";
import type { MoeInfo, RoutingHooks, RoutingPass, RunOptions } from "../model/model.ts";
import type { MacTally } from "../model/stats.ts";
import type { RoutingRule } from "../ops/moe_select_ref.ts";
import type { CounterRecord, MoePassState } from "./moe_ffn.ts";
import { scoreThreshold } from "./router_target.ts";

/**
 * The rule for a call.
 * @param opts τ or top-k from the caller.
 * @param info Conversion details (default τ, experts per layer).
 * @returns The rule; its threshold is on router scores (√τ when they estimate square-root norms).
 * @throws {InvalidInputError} When τ is outside [0, 1] or k outside [1, experts].
 */
export function routingRule(opts: RunOptions, info: MoeInfo): RoutingRule {
  if (opts.tau !== undefined && opts.moeTopK !== undefined) {
    throw new InvalidInputError("tau", "give either tau or moeTopK, not both");
  }
  if (opts.moeTopK !== undefined) {
    const maxK = Math.min(
      ...info.layers.map((l) => l.experts),
      ...(info.attention ?? []).map((l) => l?.experts ?? Infinity),
    );
    if (!Number.isInteger(opts.moeTopK) || opts.moeTopK < 1 || opts.moeTopK > maxK) {
      throw new InvalidInputError("moeTopK", `must be an integer in [1, ${maxK}], got ${opts.moeTopK}`);
    }
    return { mode: "topk", k: opts.moeTopK };
  }
  const tau = opts.tau ?? info.defaultTau;
  if (typeof tau !== "number" || !(tau >= 0 && tau <= 1)) {
    throw new InvalidInputError("tau", `must be a number in [0, 1], got ${tau}`);
  }
  return { mode: "dynk", tau: scoreThreshold(tau, info.routerTarget ?? "norm") };
}

/** Routing hooks over the manifest's info. */
export class MoeRouting implements RoutingHooks {
  /** @param info Conversion details. */
  constructor(readonly info: MoeInfo) {}

  begin(_be: unknown, opts: RunOptions): RoutingPass {
    const state: MoePassState = { rule: routingRule(opts, this.info), counters: [] };
    return counterPass(state, this.info.layers.length);
  }
}

/**
 * A routing pass over a state: `take()` hands out counters recorded so far; `finish()` turns their
 * values into pairs and MACs.
 * @param state The state MoE layers record into.
 * @param layers Number of converted layers.
 * @returns The pass.
 */
export function counterPass(state: MoePassState, layers: number): RoutingPass {
  let taken: CounterRecord[] = [];
  return {
    routing: state,
    take() {
      taken = state.counters.splice(0);
      return taken.map((c) => c.counts);
    },
    finish(tally: MacTally, counts: Uint32Array[]) {
      tally.pairs ??= new Array(layers).fill(0);
      tally.densePairs ??= new Array(layers).fill(0);
      taken.forEach((rec, i) => {
        let pairs = 0;
        for (const c of counts[i]) pairs += c;
        if (rec.site === "attn") {
          tally.attn += pairs * rec.macsPerPair;
          return;
        }
        tally.ffn += pairs * rec.macsPerPair;
        tally.pairs![rec.layer] += pairs;
        tally.densePairs![rec.layer] += rec.tokens * rec.experts;
      });
      taken = [];
    },
  };
}
