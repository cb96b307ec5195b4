/**
 * The GPU runtime object: one device, its pipeline cache, buffer pool and uniform arena, and the
 * command encoder that dispatches are recorded into. Work is submitted only by `flush()` or `read()`,
 * so a whole forward pass is one submit with (at most) one readback.
 * @module
 */
import { BufferPool, sizeClass } from "./buffer_pool.ts";
import { acquireDevice, type GpuDeviceInfo, type GpuPreference } from "./device.ts";
import { markDawnProgress } from "./dawn_ticks.ts";
import { DeviceLostError, GpuCommandError } from "./errors.ts";
import type { KernelName } from "./kernels.ts";
import { type Constants, PipelineCache } from "./pipeline_cache.ts";
import { type ProfileEntry, Profiler } from "./profiler.ts";
import { UniformArena } from "./uniform_arena.ts";

/** A buffer or a byte range of one, bound as a storage buffer. */
export type BufferBinding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** One kernel launch. */
export interface Dispatch {
  /** Kernel (file stem in `kernels/`). */
  kernel: KernelName;
  /** Override constants: the pipeline cache key. */
  constants?: Constants;
  /** Parameter block bound at binding 0 (omit when the kernel has none). */
  params?: Uint8Array;
  /** Storage buffers bound at bindings 1, 2, ... in order (0, 1, ... without params). */
  buffers: BufferBinding[];
  /** Workgroup counts, or an indirect-dispatch buffer holding them. */
  workgroups: [number, number?, number?] | { indirect: GPUBuffer; offset: number };
  /** Name used by the profiler; defaults to the kernel name. */
  label?: string;
}

/** Options for {@link GpuContext.create}. */
export interface GpuContextOptions {
  /** Provider preference (default `"auto"`). */
  preference?: GpuPreference;
  /** Record per-kernel GPU times with timestamp queries (needs "timestamp-query"). */
  profile?: boolean;
  /** Options for Dawn's `create()` (e.g. Dawn toggles); ignored by Deno's built-in WebGPU. */
  dawnFlags?: readonly string[];
}

/** Bind groups kept for reuse (least recently used evicted first). */
const BIND_GROUP_CACHE = 4096;
/** Larger readback buffers are not kept for reuse (a big read is rare; its memory is not worth holding). */
const STAGING_KEEP_BYTES = 1 << 24;

/** Largest workgroup count per grid dimension WebGPU guarantees. */
export const MAX_GRID = 65535;

/**
 * Splits a 1-D workgroup count over x and y so it fits the per-dimension limit. Kernels recover the
 * linear index as `wid.x + wid.y * num_workgroups.x` and skip indices past the total.
 * @param total Number of workgroups wanted.
 * @returns `[x, y]` with `x * y >= total`.
 */
export function grid1d(total: number): [number, number] {
  if (total <= MAX_GRID) return [Math.max(1, total), 1];
  const y = Math.ceil(total / MAX_GRID);
  return [Math.ceil(total / y), y];
}

/** The device limits the kernels' bindings consult while recording. */
export type KernelLimits = Pick<
  GPUSupportedLimits,
  | "maxComputeWorkgroupStorageSize"
  | "maxComputeInvocationsPerWorkgroup"
  | "minStorageBufferOffsetAlignment"
>;

/** Owns a WebGPU device and records/submits our kernels on it. */
export class GpuContext {
  /** The device. */
  readonly device: GPUDevice;
  /**
   * A plain copy of the limits kernels check per dispatch: `device.limits` builds a new object through
   * the native binding on every access (tens of µs on Dawn), too slow for a decode step's ~70 dispatches.
   */
  readonly limits: Readonly<KernelLimits>;
  /** What the device is (shown by the CLI and API). */
  readonly info: GpuDeviceInfo;
  /** Activation buffers. */
  readonly pool: BufferPool;
  /** Compiled pipelines. */
  readonly pipelines: PipelineCache;
  #arena: UniformArena;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #lost: DeviceLostError | null = null;
  #error: GpuCommandError | null = null;
  #profiler: Profiler | null;
  #weights = new Set<GPUBuffer>();
  #dispatches = 0;
  #placeholder: GPUBuffer | null = null;
  #objectIds = new WeakMap<object, number>();
  #nextObjectId = 1;
  #layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  #bindGroups = new Map<string, GPUBindGroup>();
  #staging = new Map<number, GPUBuffer[]>();

  private constructor(device: GPUDevice, info: GpuDeviceInfo, profile: boolean) {
    this.device = device;
    const l = device.limits;
    this.limits = Object.freeze({
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
    });
    this.info = info;
    this.pool = new BufferPool(device);
    this.pipelines = new PipelineCache(device);
    this.#arena = new UniformArena(device);
    this.#profiler = profile && info.features.includes("timestamp-query") ? new Profiler(device) : null;
    device.lost.then((l) => {
      this.#lost = new DeviceLostError(l.reason ?? "unknown", l.message ?? "");
    });
    device.addEventListener("uncapturederror", (ev) => {
      const msg = (ev as GPUUncapturedErrorEvent).error?.message ?? String(ev);
      this.#error ??= new GpuCommandError(`WebGPU error: ${msg}`);
    });
  }

  /**
   * Acquires a device and builds a context around it.
   * @param options Provider preference and profiling switch.
   * @returns A ready context.
   * @throws {GpuUnavailableError} When no WebGPU device is available.
   */
  static async create(options: GpuContextOptions = {}): Promise<GpuContext> {
    const { device, info } = await acquireDevice(options.preference ?? "auto", options.dawnFlags);
    return new GpuContext(device, info, options.profile ?? false);
  }

  /** The loss error once the device is lost, else null. */
  get lost(): DeviceLostError | null {
    return this.#lost;
  }

  /** Dispatches recorded since the context was created. */
  get dispatchCount(): number {
    return this.#dispatches;
  }

  /** Throws if the device was lost or a command was rejected since the last check. */
  checkHealthy(): void {
    if (this.#lost) throw this.#lost;
    if (this.#error) {
      const e = this.#error;
      this.#error = null;
      throw e;
    }
  }

  /**
   * Creates a persistent buffer (weights) holding `data`; freed by {@link destroy} or {@link freeWeight}.
   * @param data Contents; padded to 16 bytes (kernels may bind it as `array<vec4<f32>>`).
   * @param label Debug label.
   * @returns The buffer.
   */
  createWeight(data: ArrayBufferView, label = "weight"): GPUBuffer {
    this.checkHealthy();
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    const buf = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      mappedAtCreation: true,
      label,
    });
    new Uint8Array(buf.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    buf.unmap();
    this.#weights.add(buf);
    return buf;
  }

  /** A tiny zeroed storage buffer bound where a kernel's optional input is absent. */
  get placeholder(): GPUBuffer {
    this.#placeholder ??= this.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      label: "placeholder",
    });
    return this.#placeholder;
  }

  /** Frees a buffer made by {@link createWeight}. */
  freeWeight(buf: GPUBuffer): void {
    if (this.#weights.delete(buf)) buf.destroy();
  }

  /** Bytes held by weight buffers. */
  get weightBytes(): number {
    let n = 0;
    for (const b of this.#weights) n += b.size;
    return n;
  }

  /**
   * Writes `data` into a buffer through the queue. Only safe for buffers no recorded-but-unsubmitted
   * command reads, e.g. freshly acquired pool buffers (the pool never reuses those before a submit).
   */
  write(buf: GPUBuffer, offset: number, data: ArrayBufferView): void {
    this.checkHealthy();
    this.device.queue.writeBuffer(buf, offset, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  }

  #ensurePass(label: string): GPUComputePassEncoder {
    this.#encoder ??= this.device.createCommandEncoder();
    if (this.#profiler) {
      this.#pass?.end();
      this.#pass = this.#encoder.beginComputePass({ timestampWrites: this.#profiler.next(label) });
      return this.#pass;
    }
    this.#pass ??= this.#encoder.beginComputePass();
    return this.#pass;
  }

  /**
   * Records one kernel launch into the open encoder.
   * @param d Kernel, constants, parameters, buffers and grid.
   * @throws {DeviceLostError} When the device is gone.
   */
  dispatch(d: Dispatch): void {
    this.checkHealthy();
    const pipeline = this.pipelines.get(d.kernel, d.constants);
    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    if (d.params) {
      const u = this.#arena.push(d.params);
      entries.push({ binding: binding++, resource: { buffer: u.buffer, offset: u.offset, size: u.size } });
    }
    for (const b of d.buffers) {
      const resource = "buffer" in b
        ? { buffer: b.buffer, offset: b.offset ?? 0, size: b.size }
        : { buffer: b };
      entries.push({ binding: binding++, resource });
    }
    const bindGroup = this.#bindGroup(pipeline, entries);
    const pass = this.#ensurePass(d.label ?? d.kernel);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    if (Array.isArray(d.workgroups)) {
      const [x, y = 1, z = 1] = d.workgroups;
      if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    } else {
      pass.dispatchWorkgroupsIndirect(d.workgroups.indirect, d.workgroups.offset);
    }
    this.#dispatches++;
  }

  /** A stable small integer per GPU object, for cache keys. */
  #id(o: object): number {
    let id = this.#objectIds.get(o);
    if (id === undefined) this.#objectIds.set(o, id = this.#nextObjectId++);
    return id;
  }

  /**
   * Bind groups are cached by pipeline and exact bindings: a decode step records the same dispatches over
   * the same buffers (weights, KV cache, pooled activations, arena offsets) every token, and creating bind
   * groups through the native binding is a large part of the per-dispatch CPU cost.
   */
  #bindGroup(pipeline: GPUComputePipeline, entries: GPUBindGroupEntry[]): GPUBindGroup {
    let key = String(this.#id(pipeline));
    for (const e of entries) {
      const r = e.resource as { buffer: GPUBuffer; offset?: number; size?: number };
      key += `|${this.#id(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
    }
    let bg = this.#bindGroups.get(key);
    if (bg) {
      this.#bindGroups.delete(key); // refresh its place in the LRU order
    } else {
      let layout = this.#layouts.get(pipeline);
      if (!layout) this.#layouts.set(pipeline, layout = pipeline.getBindGroupLayout(0));
      bg = this.device.createBindGroup({ layout, entries });
      if (this.#bindGroups.size >= BIND_GROUP_CACHE) {
        this.#bindGroups.delete(this.#bindGroups.keys().next().value!);
      }
    }
    this.#bindGroups.set(key, bg);
    return bg;
  }

  /** Records a buffer-to-buffer copy (ends the current compute pass). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.checkHealthy();
    this.#pass?.end();
    this.#pass = null;
    this.#encoder ??= this.device.createCommandEncoder();
    this.#encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
  }

  /** Records a fill with zeros (ends the current compute pass). */
  clear(buf: GPUBuffer, offset = 0, size?: number): void {
    this.checkHealthy();
    this.#pass?.end();
    this.#pass = null;
    this.#encoder ??= this.device.createCommandEncoder();
    this.#encoder.clearBuffer(buf, offset, size);
  }

  #finishEncoder(): GPUCommandBuffer | null {
    this.#pass?.end();
    this.#pass = null;
    const enc = this.#encoder;
    this.#encoder = null;
    return enc ? enc.finish() : null;
  }

  /** Submits everything recorded so far (no wait). */
  flush(): void {
    this.checkHealthy();
    const cmd = this.#finishEncoder();
    this.#arena.flush(this.device.queue);
    if (cmd) this.device.queue.submit([cmd]);
    this.pool.onSubmitted();
  }

  /**
   * Submits recorded work and reads byte ranges back: one submit, one wait for all of them.
   * @param ranges Buffers (and optional ranges, 4-byte aligned) to read.
   * @returns One `ArrayBuffer` per range, in order.
   * @throws {DeviceLostError} When the device was lost before or during the read.
   * @throws {GpuCommandError} When WebGPU rejected a recorded command.
   */
  async read(ranges: { buffer: GPUBuffer; offset?: number; size: number }[]): Promise<ArrayBuffer[]> {
    this.checkHealthy();
    const total = ranges.reduce((s, r) => s + Math.ceil(r.size / 4) * 4, 0);
    const staging = this.#takeStaging(total);
    let at = 0;
    const places: number[] = [];
    for (const r of ranges) {
      const size = Math.ceil(r.size / 4) * 4;
      if (size > 0) this.copy(r.buffer, r.offset ?? 0, staging, at, size);
      places.push(at);
      at += size;
    }
    if (this.#profiler) {
      this.#pass?.end();
      this.#pass = null;
      this.#profiler.resolve(this.#encoder ??= this.device.createCommandEncoder());
    }
    this.flush();
    markDawnProgress(); // a new wait: its Dawn ticks start unpaced (dawn_ticks.ts)
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, Math.max(16, total));
      markDawnProgress();
    } catch (e) {
      staging.destroy();
      this.checkHealthy();
      throw new GpuCommandError(`readback failed: ${(e as Error).message}`);
    }
    const mapped = staging.getMappedRange(0, Math.max(16, total));
    const out = ranges.map((r, i) => mapped.slice(places[i], places[i] + r.size));
    staging.unmap();
    this.#returnStaging(staging);
    if (this.#profiler) await this.#profiler.collect();
    this.checkHealthy();
    return out;
  }

  /**
   * A mappable buffer for a readback of `bytes`, reused across reads: creating and destroying one per
   * read (every decode step) costs driver allocations and occasional long stalls on Dawn.
   */
  #takeStaging(bytes: number): GPUBuffer {
    const size = sizeClass(Math.max(16, bytes));
    const buf = this.#staging.get(size)?.pop();
    return buf ?? this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: "readback",
    });
  }

  /** Keeps a few staging buffers per size class (concurrent reads take one each). */
  #returnStaging(buf: GPUBuffer): void {
    let list = this.#staging.get(buf.size);
    if (!list) this.#staging.set(buf.size, list = []);
    if (list.length < 4 && buf.size <= STAGING_KEEP_BYTES) list.push(buf);
    else buf.destroy();
  }

  /** Waits until the queue is idle (one sync). */
  async sync(): Promise<void> {
    this.flush();
    markDawnProgress();
    await this.device.queue.onSubmittedWorkDone();
    markDawnProgress();
    this.checkHealthy();
  }

  /** Per-kernel GPU times recorded so far (empty unless profiling). */
  profile(): ProfileEntry[] {
    return this.#profiler?.report() ?? [];
  }

  /** Whether per-kernel timing is on. */
  get profiling(): boolean {
    return this.#profiler !== null;
  }

  /** Frees all buffers and the device. */
  destroy(): void {
    this.#pass = null;
    this.#encoder = null;
    this.pool.destroy();
    this.#arena.destroy();
    this.#profiler?.destroy();
    this.#placeholder?.destroy();
    for (const b of this.#weights) b.destroy();
    for (const list of this.#staging.values()) for (const b of list) b.destroy();
    this.#staging.clear();
    this.#weights.clear();
    this.device.destroy();
  }
}
