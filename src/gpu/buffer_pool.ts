/**
 * A pool of GPU storage buffers for activations. A released buffer is only handed out again after
 * the submit that used it (`onSubmitted()`), so work still recorded in an open command encoder can
 * never see its inputs overwritten by a later write on the queue.
 * @module
 */

/** Usage every pooled buffer gets: bindable as storage, copyable both ways, usable for indirect dispatch. */
export const POOL_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST |
  GPUBufferUsage.INDIRECT;

/** Counters that tests check return to zero after a model is disposed. */
export interface BufferPoolStats {
  /** Buffers handed out and not yet released. */
  live: number;
  /** Released, waiting for the next submit before reuse. */
  pending: number;
  /** Idle and reusable. */
  free: number;
  /** Buffers ever created by this pool. */
  created: number;
  /** Bytes held by live + pending + free buffers. */
  bytesHeld: number;
}

/**
 * Rounds a request up to a size class: powers of two up to 4 KiB, then quarter steps between powers
 * of two, so reuse is likely and waste stays under 25%.
 * @param bytes Requested size in bytes.
 * @returns The size class in bytes (a multiple of 256).
 */
export function sizeClass(bytes: number): number {
  const n = Math.max(256, Math.ceil(bytes));
  if (n <= 4096) return 2 ** Math.ceil(Math.log2(n));
  const p = 2 ** Math.floor(Math.log2(n));
  const step = p / 4;
  return Math.ceil(n / step) * step;
}

/** Pool of storage buffers keyed by size class. */
export class BufferPool {
  #device: GPUDevice;
  #free = new Map<number, GPUBuffer[]>();
  #pending: GPUBuffer[] = [];
  #live = new Set<GPUBuffer>();
  #sizes = new WeakMap<GPUBuffer, number>();
  /** Creation order, to hand free buffers out oldest first. */
  #order = new WeakMap<GPUBuffer, number>();
  #created = 0;
  #bytesHeld = 0;

  /** @param device Device the buffers live on. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /**
   * Hands out a buffer of at least `bytes` bytes.
   * @param bytes Minimum size.
   * @returns A buffer with {@link POOL_USAGE}; its contents are undefined.
   */
  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.#free.get(size);
    let buf = list?.pop();
    if (!buf) {
      buf = this.#device.createBuffer({ size, usage: POOL_USAGE, label: `pool-${size}` });
      this.#sizes.set(buf, size);
      this.#order.set(buf, this.#created);
      this.#created++;
      this.#bytesHeld += size;
    }
    this.#live.add(buf);
    return buf;
  }

  /**
   * Returns a buffer; it becomes reusable after the next submit.
   * @param buf A buffer obtained from {@link acquire}.
   * @throws {Error} When the buffer is not live in this pool (double release).
   */
  release(buf: GPUBuffer): void {
    if (!this.#live.delete(buf)) throw new Error("BufferPool.release: buffer is not live in this pool");
    this.#pending.push(buf);
  }

  /**
   * Called after each queue submit: pending buffers become reusable. Each free list is kept sorted so
   * `acquire` hands out the oldest buffer first: a decode step that allocates the same sizes in the same
   * order as the step before then gets the same buffers, so its bind groups are cache hits. (Handing them
   * out in release order permuted them every step: ~70 new bind groups per GPT-2 token, whose garbage
   * later cost full-GC pauses of up to a second on Dawn.)
   */
  onSubmitted(): void {
    if (this.#pending.length === 0) return;
    const touched = new Set<GPUBuffer[]>();
    for (const buf of this.#pending) {
      const size = this.#sizes.get(buf)!;
      let list = this.#free.get(size);
      if (!list) this.#free.set(size, list = []);
      list.push(buf);
      touched.add(list);
    }
    this.#pending = [];
    const order = this.#order;
    for (const list of touched) list.sort((a, b) => order.get(b)! - order.get(a)!);
  }

  /** Destroys idle buffers (live and pending ones are kept). */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const buf of list) {
        this.#bytesHeld -= this.#sizes.get(buf)!;
        buf.destroy();
      }
    }
    this.#free.clear();
  }

  /** Current counters. */
  get stats(): BufferPoolStats {
    let free = 0;
    for (const list of this.#free.values()) free += list.length;
    return {
      live: this.#live.size,
      pending: this.#pending.length,
      free,
      created: this.#created,
      bytesHeld: this.#bytesHeld,
    };
  }

  /** Destroys every buffer the pool holds, live ones included. */
  destroy(): void {
    this.onSubmitted();
    this.trim();
    for (const buf of this.#live) buf.destroy();
    this.#live.clear();
    this.#bytesHeld = 0;
  }
}
