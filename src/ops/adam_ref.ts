/**
 * CPU reference for `kernels/adam.wgsl`.
 * @module
 */

/** Hyper-parameters of one AdamW step. */
export interface AdamWStep {
  /** Learning rate of this step (after any schedule). */
  lr: number;
  /** Decoupled weight decay (0 for plain Adam). */
  weightDecay: number;
  /** 1-based step count, for the bias corrections. */
  step: number;
  /** First-moment decay (default 0.9). */
  beta1?: number;
  /** Second-moment decay (default 0.999). */
  beta2?: number;
  /** Denominator epsilon (default 1e-8). */
  eps?: number;
}

/** The per-step scalars the kernel receives. */
export interface AdamWCoefficients {
  /** Learning rate. */
  lr: number;
  /** 1 − lr·weightDecay. */
  decay: number;
  /** 1 − β1^step. */
  c1: number;
  /** 1 − β2^step. */
  c2: number;
  /** β1. */
  beta1: number;
  /** β2. */
  beta2: number;
  /** Epsilon. */
  eps: number;
}

/**
 * Validates a step's hyper-parameters and derives the kernel's scalars (in float64, on the host).
 * @param hp Hyper-parameters.
 * @returns Learning rate, decay factor, bias corrections, betas and epsilon.
 * @throws {RangeError} When `step` is not a positive integer, `lr` or `weightDecay` is negative or not
 *   finite, a beta is outside [0, 1), or `eps` is not positive.
 */
export function adamWCoefficients(hp: AdamWStep): AdamWCoefficients {
  const { lr, weightDecay, step } = hp;
  const beta1 = hp.beta1 ?? 0.9, beta2 = hp.beta2 ?? 0.999, eps = hp.eps ?? 1e-8;
  if (!Number.isInteger(step) || step < 1) throw new RangeError(`adamW: step must be ≥ 1, got ${step}`);
  if (!(Number.isFinite(lr) && lr >= 0)) throw new RangeError(`adamW: lr must be ≥ 0, got ${lr}`);
  if (!(Number.isFinite(weightDecay) && weightDecay >= 0)) {
    throw new RangeError(`adamW: weightDecay must be ≥ 0, got ${weightDecay}`);
  }
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) {
    throw new RangeError(`adamW: betas must be in [0, 1), got ${beta1}, ${beta2}`);
  }
  if (!(eps > 0)) throw new RangeError(`adamW: eps must be > 0, got ${eps}`);
  return {
    lr,
    decay: 1 - lr * weightDecay,
    c1: 1 - Math.pow(beta1, step),
    c2: 1 - Math.pow(beta2, step),
    beta1,
    beta2,
    eps,
  };
}

/**
 * Checks that parameter, gradient and moments have one length (shared by both backends).
 * @param p Parameter length.
 * @param g Gradient length.
 * @param m First-moment length.
 * @param v Second-moment length.
 * @throws {RangeError} When the lengths differ.
 */
export function checkAdamW(p: number, g: number, m: number, v: number): void {
  if (g !== p || m !== p || v !== p) {
    throw new RangeError(`adamW: param, grad, m and v must have one length, got ${p}, ${g}, ${m}, ${v}`);
  }
}

/**
 * One AdamW step in place: m, v ← moments of g; p ← p·(1 − lr·wd) − lr·m̂ / (√v̂ + eps).
 * @param p Parameters (updated).
 * @param g Gradient.
 * @param m First moments (updated).
 * @param v Second moments (updated).
 * @param hp Step hyper-parameters.
 * @throws {RangeError} When lengths differ or a hyper-parameter is out of range.
 */
export function adamWRef(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  hp: AdamWStep,
): void {
  checkAdamW(p.length, g.length, m.length, v.length);
  const { lr, decay, c1, c2, beta1, beta2, eps } = adamWCoefficients(hp);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + (1 - beta1) * gi;
    const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - lr * (mi / c1) / (Math.sqrt(vi / c2) + eps);
  }
}
