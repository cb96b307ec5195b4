/**
 * Activation functions shared by kernels (as an override constant `ACT`) and CPU references.
 * @module
 */

/** Activations our kernels implement. `gelu` is the exact erf form; `gelu_tanh` the tanh approximation. */
export type Activation = "none" | "relu" | "gelu" | "gelu_tanh" | "tanh";

/** Code of each activation in the kernels' uniforms (must match `activate()` in `kernels/lib/activation.wgsl`). */
export const ACTIVATION_CODE: Record<Activation, number> = {
  none: 0,
  relu: 1,
  gelu: 2,
  gelu_tanh: 3,
  tanh: 4,
};

const HF_NAMES: Record<string, Activation> = {
  relu: "relu",
  gelu: "gelu",
  gelu_new: "gelu_tanh",
  gelu_fast: "gelu_tanh",
  gelu_pytorch_tanh: "gelu_tanh",
  tanh: "tanh",
  linear: "none",
};

/**
 * Maps a Hugging Face `hidden_act` / `activation_function` name to ours.
 * @param name The config value, e.g. `"gelu_new"`.
 * @returns The activation, or `null` when we do not implement it.
 */
export function activationFromHf(name: string): Activation | null {
  return HF_NAMES[name] ?? null;
}

/** Names accepted by {@link activationFromHf}, for error messages. */
export const SUPPORTED_HF_ACTIVATIONS: readonly string[] = Object.keys(HF_NAMES);

/**
 * erf(x) by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), the same formula the kernels use.
 * @param x Input.
 * @returns erf(x).
 */
export function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t *
      Math.exp(-a * a);
  return s * y;
}

/**
 * Applies an activation to one value (CPU reference).
 * @param a Activation.
 * @param x Input.
 * @returns act(x).
 */
export function applyActivation(a: Activation, x: number): number {
  switch (a) {
    case "none":
      return x;
    case "relu":
      return x > 0 ? x : 0;
    case "gelu":
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case "gelu_tanh":
      return 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case "tanh":
      return Math.tanh(x);
  }
}
