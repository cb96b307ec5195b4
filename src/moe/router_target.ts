/**
 * What a router's scores estimate. D2DMoE's routers regress each expert's output L2 norm ("norm"); ours
 * regress its square root by default ("sqrt_norm"), so the router's prediction of the norm is the square of
 * its score. The square root spreads out the small norms that decide whether an expert runs at all: on the
 * ReLU GPT-2 of docs/conversion.md it cut the output energy of wrongly skipped experts by a quarter at the
 * same executed fraction (a sparse model's many near-zero experts dominate the decision, and plain MSE
 * spends its effort on the few largest norms).
 *
 * τ keeps its meaning either way ("run expert i iff its predicted norm ≥ τ × the largest"): for
 * "sqrt_norm" the kernels compare scores against √τ × the largest score, which is the same rule.
 * @module
 */

/** The regression target of a converted folder's routers. */
export type RouterTarget = "norm" | "sqrt_norm";

/** Every target, for validation and help text. */
export const ROUTER_TARGETS: readonly RouterTarget[] = ["norm", "sqrt_norm"];

/** The target new conversions use. */
export const DEFAULT_ROUTER_TARGET: RouterTarget = "sqrt_norm";

/**
 * Router training targets from measured expert output norms.
 * @param norms Expert output norms [n, E] (non-negative).
 * @param target What the router regresses.
 * @returns `norms` itself for "norm", else a new array of square roots.
 */
export function routerTargets(norms: Float32Array, target: RouterTarget): Float32Array {
  if (target === "norm") return norms;
  const out = new Float32Array(norms.length);
  for (let i = 0; i < norms.length; i++) out[i] = Math.sqrt(norms[i]);
  return out;
}

/**
 * The threshold on router scores that implements τ on predicted norms.
 * @param tau τ in [0, 1].
 * @param target What the router's scores estimate.
 * @returns τ for "norm"; √τ for "sqrt_norm" (score² ≥ τ·max score² ⇔ score ≥ √τ·max score).
 */
export function scoreThreshold(tau: number, target: RouterTarget): number {
  return target === "sqrt_norm" ? Math.sqrt(tau) : tau;
}
