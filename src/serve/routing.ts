/**
 * The per-request compute knob: `tau` (the D2DMoE threshold) or `compute_budget` (a target FFN
 * fraction mapped to τ through the calibration table stored with a converted model).
 * @module
 */
import type { ComputeStats } from "../model/stats.ts";
import type { MoeInfo } from "../model/model.ts";
import { badRequest, unprocessable } from "./errors.ts";
import type { Fields } from "./validate.ts";

/** τ chosen for one request. */
export interface Routing {
  /** τ handed to the model (undefined for a dense model). */
  tau: number | undefined;
  /** The budget the caller asked for, if any. */
  computeBudget: number | undefined;
}

/** The `d2dmoe` extension object of a response. */
export interface D2dReport {
  /** τ used; null for a dense model (which ignores τ). */
  tau: number | null;
  /** Requested compute budget, when one was given. */
  compute_budget?: number;
  /** Executed expert MACs / dense FFN MACs of the model call that served the request. */
  ffn_fraction: number;
  /** Executed attention-projection expert MACs / dense projection MACs (present when projections are converted). */
  attention_fraction?: number;
  /** Whole-model MACs (routers included) / dense MACs. */
  compute_fraction: number;
  /** Executed FFN fraction per converted layer. */
  layers?: number[];
  /** Requests served by the same model call (batching; the fractions are over the whole call). */
  batch_requests?: number;
}

/**
 * Smallest τ whose calibrated FFN fraction is at most `budget`, interpolating linearly between the two
 * table entries around it.
 * @param table Calibration entries, ascending τ.
 * @param budget Target FFN fraction in (0, 1].
 * @returns τ, or null when no τ in the table reaches the budget.
 */
export function tauForBudget(
  table: readonly { tau: number; ffn_fraction: number }[],
  budget: number,
): number | null {
  for (let i = 0; i < table.length; i++) {
    const hi = table[i];
    if (hi.ffn_fraction > budget) continue;
    if (i === 0) return hi.tau;
    const lo = table[i - 1];
    // lo.ffn_fraction > budget ≥ hi.ffn_fraction, so the division is safe.
    const t = (lo.ffn_fraction - budget) / (lo.ffn_fraction - hi.ffn_fraction);
    return lo.tau + t * (hi.tau - lo.tau);
  }
  return null;
}

/**
 * Reads `tau` / `compute_budget` and decides the τ of a request.
 * Dense models accept `tau` and run dense (reported as `tau: null`, `ffn_fraction: 1`); they refuse
 * `compute_budget` (422), as do converted models without a calibration table.
 * @param f Request fields.
 * @param moe The served model's conversion info, or null when dense.
 * @param defaultTau Server default τ (falls back to the model's `defaultTau`).
 * @returns The routing decision.
 * @throws {ApiError} 400 for bad types/ranges or both fields given; 422 when a budget cannot be honoured.
 */
export function resolveRouting(f: Fields, moe: MoeInfo | null, defaultTau?: number): Routing {
  const tau = f.number("tau", { min: 0, max: 1 });
  const budget = f.number("compute_budget", { min: 0, max: 1, minExclusive: true });
  if (tau !== undefined && budget !== undefined) {
    throw badRequest("compute_budget", "give either tau or compute_budget, not both");
  }
  if (budget !== undefined) {
    if (!moe) {
      throw unprocessable(
        "compute_budget",
        "the served model is dense (not converted to D2DMoE), so its FFN compute cannot be reduced; " +
          "compute_budget needs a converted model with a calibration table",
      );
    }
    const table = moe.calibration ?? [];
    if (table.length === 0) {
      throw unprocessable(
        "compute_budget",
        "the served model has no calibration table (τ → FFN fraction), so a budget cannot be mapped to τ; " +
          "pass tau instead, or re-convert the model with calibration",
      );
    }
    const t = tauForBudget(table, budget);
    if (t === null) {
      const least = Math.min(...table.map((e) => e.ffn_fraction));
      throw unprocessable(
        "compute_budget",
        `compute_budget ${budget} is below the smallest calibrated FFN fraction of this model (${least})`,
      );
    }
    return { tau: t, computeBudget: budget };
  }
  if (!moe) return { tau: undefined, computeBudget: undefined };
  return { tau: tau ?? defaultTau ?? moe.defaultTau, computeBudget: undefined };
}

/**
 * The `d2dmoe` report of a response.
 * @param r The routing decision.
 * @param stats Stats of the model call.
 * @param batchRequests Requests that shared the call.
 * @returns The extension object.
 */
export function report(r: Routing, stats: ComputeStats, batchRequests?: number): D2dReport {
  const out: D2dReport = {
    tau: r.tau ?? null,
    ffn_fraction: stats.ffn_fraction,
    compute_fraction: stats.compute_fraction,
  };
  if (r.computeBudget !== undefined) out.compute_budget = r.computeBudget;
  if (stats.dense_attention_macs > 0) out.attention_fraction = stats.attention_fraction;
  if (stats.layers) out.layers = stats.layers.map((l) => l.ffn_fraction);
  if (batchRequests !== undefined) out.batch_requests = batchRequests;
  return out;
}
