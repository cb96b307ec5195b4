/**
 * A FIFO async mutex: the device runs one evaluation at a time, in arrival order.
 * @module
 */

/** Serialises async critical sections. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #waiting = 0;

  /** Sections queued or running. */
  get pending(): number {
    return this.#waiting;
  }

  /**
   * Runs `fn` after every earlier section has finished.
   * @param fn The critical section.
   * @returns What `fn` returns.
   */
  run<T>(fn: () => Promise<T>): Promise<T> {
    this.#waiting++;
    const result = this.#tail.then(fn);
    this.#tail = result.then(() => {}, () => {}).finally(() => this.#waiting--);
    return result;
  }
}
