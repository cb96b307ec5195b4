/**
 * Text stop sequences with OpenAI's semantics: output ends before the first occurrence of any stop
 * string, the stop string itself is never returned, and in a stream no part of it leaks: text that
 * could be the start of a stop string is held back until it is known not to be.
 * @module
 */

/** Incremental stop-string matcher over decoded text. */
export class StopFilter {
  #held = "";
  #stopped = false;

  /** @param stops Non-empty stop strings. */
  constructor(readonly stops: readonly string[]) {}

  /** True once a stop string has been seen. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Adds newly decoded text.
   * @param text The new text.
   * @returns Text that is safe to emit now (possibly empty); after a stop, always "".
   */
  push(text: string): string {
    if (this.#stopped) return "";
    const all = this.#held + text;
    let cut = -1;
    for (const s of this.stops) {
      const i = all.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.#stopped = true;
      this.#held = "";
      return all.slice(0, cut);
    }
    const keep = this.#heldLength(all);
    this.#held = all.slice(all.length - keep);
    return all.slice(0, all.length - keep);
  }

  /**
   * Ends the text (generation finished without a stop).
   * @returns The held-back rest.
   */
  flush(): string {
    const rest = this.#stopped ? "" : this.#held;
    this.#held = "";
    return rest;
  }

  /** Length of the longest suffix of `all` that is a proper prefix of some stop string. */
  #heldLength(all: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, all.length); n > best; n--) {
        if (all.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
