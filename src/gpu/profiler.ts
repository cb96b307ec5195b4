/**
 * Per-kernel GPU times from timestamp queries (`D2D_PROFILE=1`). Each profiled dispatch runs in its
 * own compute pass whose begin/end timestamps land in a query set; `read()` resolves them.
 * @module
 */

/** Accumulated GPU time for one kernel label. */
export interface ProfileEntry {
  /** Kernel label. */
  label: string;
  /** Number of timed dispatches. */
  count: number;
  /** Total GPU time in milliseconds. */
  totalMs: number;
}

const CAPACITY = 4096; // queries (two per dispatch)

/** Collects timestamp pairs and sums them per label. */
export class Profiler {
  #device: GPUDevice;
  #set: GPUQuerySet;
  #resolveBuf: GPUBuffer;
  #labels: string[] = [];
  #pendingRead: { buffer: GPUBuffer; labels: string[] } | null = null;
  #totals = new Map<string, { count: number; ns: number }>();

  /** @param device A device created with the "timestamp-query" feature. */
  constructor(device: GPUDevice) {
    this.#device = device;
    this.#set = device.createQuerySet({ type: "timestamp", count: CAPACITY });
    this.#resolveBuf = device.createBuffer({
      size: CAPACITY * 8,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /** Timestamp writes for the next pass, or undefined once the set is full until the next read. */
  next(label: string): GPUComputePassTimestampWrites | undefined {
    const i = this.#labels.length;
    if (2 * i + 2 > CAPACITY) return undefined;
    this.#labels.push(label);
    return { querySet: this.#set, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Records the resolve and a copy to a mappable buffer (the pass must be ended). */
  resolve(encoder: GPUCommandEncoder): void {
    const n = this.#labels.length;
    if (n === 0) return;
    const buffer = this.#device.createBuffer({
      size: n * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.resolveQuerySet(this.#set, 0, 2 * n, this.#resolveBuf, 0);
    encoder.copyBufferToBuffer(this.#resolveBuf, 0, buffer, 0, n * 16);
    this.#pendingRead = { buffer, labels: this.#labels };
    this.#labels = [];
  }

  /** Maps the resolved timestamps and adds them to the totals. */
  async collect(): Promise<void> {
    const p = this.#pendingRead;
    if (!p) return;
    this.#pendingRead = null;
    await p.buffer.mapAsync(GPUMapMode.READ);
    const ts = new BigUint64Array(p.buffer.getMappedRange());
    p.labels.forEach((label, i) => {
      const ns = Number(ts[2 * i + 1] - ts[2 * i]);
      const t = this.#totals.get(label) ?? { count: 0, ns: 0 };
      t.count++;
      t.ns += ns > 0 && ns < 1e12 ? ns : 0;
      this.#totals.set(label, t);
    });
    p.buffer.unmap();
    p.buffer.destroy();
  }

  /** Totals so far, slowest first. */
  report(): ProfileEntry[] {
    return [...this.#totals].map(([label, t]) => ({ label, count: t.count, totalMs: t.ns / 1e6 }))
      .sort((a, b) => b.totalMs - a.totalMs);
  }

  /** Clears the totals. */
  reset(): void {
    this.#totals.clear();
  }

  /** Frees GPU objects. */
  destroy(): void {
    this.#set.destroy();
    this.#resolveBuf.destroy();
  }
}
