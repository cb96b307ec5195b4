/**
 * Next-token choice from one row of logits: greedy, or sampling with temperature, top-k and top-p
 * (nucleus), seeded for reproducibility.
 * @module
 */
import { Rng } from "../util/rng.ts";
import { InvalidInputError } from "./errors.ts";

/** How to pick the next token. */
export interface SamplingOptions {
  /** Always take the most likely token (default when temperature is 0). */
  greedy?: boolean;
  /** Softmax temperature (default 1); 0 means greedy. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: no limit). */
  topK?: number;
  /** Keep the smallest set whose probability reaches p (1 or undefined: no limit). */
  topP?: number;
  /** Seed of the sampler (default: random). */
  seed?: number;
}

/**
 * Validates sampling options.
 * @param o Options.
 * @throws {InvalidInputError} When a value is out of range.
 */
export function checkSampling(o: SamplingOptions): void {
  if (o.temperature !== undefined && !(o.temperature >= 0 && o.temperature <= 100)) {
    throw new InvalidInputError("temperature", `must be a number in [0, 100], got ${o.temperature}`);
  }
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) {
    throw new InvalidInputError("top_k", `must be a non-negative integer, got ${o.topK}`);
  }
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) {
    throw new InvalidInputError("top_p", `must be in (0, 1], got ${o.topP}`);
  }
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) {
    throw new InvalidInputError("seed", `must be an integer, got ${o.seed}`);
  }
}

/**
 * Index of the largest value (first one on ties, like `torch.argmax`).
 * @param x Values.
 * @returns The index.
 */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** A stateful sampler: one per generation, so a seed fixes the whole sequence. */
export class Sampler {
  #rng: Rng;
  #o: SamplingOptions;

  /** @param o Sampling options (validated). */
  constructor(o: SamplingOptions = {}) {
    checkSampling(o);
    this.#o = o;
    this.#rng = new Rng(o.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  /** True when this sampler always takes the argmax. */
  get greedy(): boolean {
    return this.#o.greedy === true || this.#o.temperature === 0;
  }

  /**
   * Picks the next token.
   * @param logits One row of logits [vocab].
   * @returns Token id.
   */
  next(logits: Float32Array): number {
    if (this.greedy) return argmax(logits);
    const t = this.#o.temperature ?? 1;
    const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
    const k = this.#o.topK ? Math.min(this.#o.topK, order.length) : order.length;
    const max = logits[order[0]] / t;
    const probs: number[] = [];
    let sum = 0;
    for (let i = 0; i < k; i++) {
      const p = Math.exp(logits[order[i]] / t - max);
      probs.push(p);
      sum += p;
    }
    // Nucleus: the shortest prefix whose mass reaches top_p (always at least one token).
    const topP = this.#o.topP ?? 1;
    let keep = probs.length, cum = 0;
    if (topP < 1) {
      for (let i = 0; i < probs.length; i++) {
        cum += probs[i] / sum;
        if (cum >= topP) {
          keep = i + 1;
          break;
        }
      }
    }
    let mass = 0;
    for (let i = 0; i < keep; i++) mass += probs[i];
    let r = this.#rng.next() * mass;
    for (let i = 0; i < keep; i++) {
      r -= probs[i];
      if (r < 0) return order[i];
    }
    return order[keep - 1];
  }
}
