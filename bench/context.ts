/**
 * What every case gets: the backend, shapes, timing plan and options, and `group()`, which sets up
 * state once, times each variant on it, optionally repeats it on a profiling device, and emits one
 * record per variant. A failing setup or variant becomes an `error` record; the run goes on.
 * @module
 */
import type { Backend } from "../src/ops/backend.ts";
import type { BackendChoice } from "../src/ops/select_backend.ts";
import { deviceName, openBackend, sameProvider, syncBackend, trimBackend } from "./device.ts";
import type { OrtGpu } from "./ort_session.ts";
import { canProfile, profileSteps } from "./profile.ts";
import { type BenchRecord, rowLabel } from "./schema.ts";
import type { BenchShapes } from "./shapes.ts";
import { timeIt, type TimingPlan } from "./timing.ts";

/** Options of a benchmark run (see `bench/options.ts` for the flags). */
export interface BenchOptions {
  /** Tiny shapes and short timings. */
  quick: boolean;
  /** Only JSON lines on stdout (the table goes to stderr). */
  json: boolean;
  /** Run only cases whose name matches. */
  only?: RegExp;
  /** Also write the JSON lines to this file. */
  out?: string;
  /** Backend choice (default auto: Dawn, else built-in WebGPU, else CPU). */
  backend: BackendChoice;
  /** Per-kernel GPU times per variant. */
  profile: boolean;
  /** Run the PyTorch peer (`bench/torch_peer.py`). */
  torch: boolean;
  /** Run the onnxruntime-web peers (WASM and WebGPU execution providers). */
  ort: boolean;
  /** WebGPU implementation for onnxruntime's WebGPU provider (default: the one our backend uses). */
  ortGpu?: OrtGpu;
  /** Seed of all random data. */
  seed: number;
  /** Python interpreter for the PyTorch peer (default `python3`). */
  python: string;
  /** Overrides of the timing plan. */
  plan?: Partial<TimingPlan>;
  /** Called with each record as soon as it is final. */
  onRecord?: (r: BenchRecord) => void;
  /** Progress messages (default: stderr unless silent). */
  log?: (msg: string) => void;
}

/** The identifying fields of a row (everything but the timing). */
export type RowMeta = Pick<BenchRecord, "case" | "impl" | "model" | "ffn_fraction"> & Record<string, unknown>;

/** State built once per group, freed after it. */
export interface GroupState {
  /** Frees what the setup allocated. */
  dispose(): void | Promise<void>;
}

/** One timed variant of a group. */
export interface Variant<S> {
  /** Row identity and shape fields. */
  meta: RowMeta;
  /** Returns the function that records (GPU) or runs (CPU) one iteration. */
  step: (s: S) => () => void | Promise<void>;
  /** Extra fields measured after timing (executed fraction, correctness check). */
  after?: (s: S) => Promise<Partial<BenchRecord>>;
  /** Throughput fields from the median time in ms (tflops, gbps, tokens_per_s). */
  derive?: (ms: number) => Partial<BenchRecord>;
  /** Timing-plan overrides for this variant. */
  plan?: Partial<TimingPlan>;
  /** Iterations averaged by the profiler (default 3, 1 with --quick; 0: not profiled). */
  profileIters?: number;
}

/** A peer's session, ready to time. */
export interface PeerRun extends GroupState {
  /** What it runs on, e.g. `ort-webgpu [dawn] NVIDIA H200`. */
  device: string;
  /** One iteration. */
  step: () => void | Promise<void>;
  /** Waits for queued work (a no-op for synchronous peers). */
  sync: () => Promise<void>;
  /** Extra fields after timing (correctness check). */
  after?: () => Promise<Partial<BenchRecord>>;
  /** Timing-plan overrides (slow peers time fewer iterations). */
  plan?: Partial<TimingPlan>;
  /** A remark for the row (threads, I/O placement). */
  note?: string;
}

const round = (x: number, digits = 4) => Number(x.toPrecision(digits));

/** The state of one run, handed to every case. */
export class RunContext {
  /** Records emitted so far, in order. */
  readonly records: BenchRecord[] = [];
  /** Device name of the main backend. */
  readonly device: string;
  #profBe: Promise<Backend | null> | null = null;
  #profNote: string | null = null;

  /**
   * Creates the run state.
   * @param be Main backend (timed).
   * @param shapes Shapes of every case.
   * @param plan Timing plan.
   * @param options Run options.
   */
  constructor(
    readonly be: Backend,
    readonly shapes: BenchShapes,
    readonly plan: TimingPlan,
    readonly options: BenchOptions,
  ) {
    this.device = deviceName(be);
  }

  /**
   * The WebGPU implementation onnxruntime's WebGPU provider gets: Deno's built-in unless `--ort-gpu dawn`.
   * Not Dawn by default: onnxruntime-web 1.30's WebGPU session creation segfaults the whole process on
   * npm:webgpu 0.6.2 (H200, 2026-12-04, `bench/ort_probe.ts`), which would lose every later row.
   */
  get ortGpu(): OrtGpu {
    return this.options.ortGpu ?? "builtin";
  }

  /** Writes a progress message. */
  log(msg: string): void {
    (this.options.log ?? ((m: string) => console.error(m)))(msg);
  }

  /**
   * Emits a record: fills `ratio_to_dense` from `ours dense` of the same case, stores and forwards it.
   * @param r The record.
   */
  emit(r: BenchRecord): void {
    const dense = this.records.find((x) =>
      x.case === r.case && x.impl === "ours" && x.model === "dense" && typeof x.ms_median === "number"
    );
    if (dense && typeof r.ms_median === "number" && r.ratio_to_dense === undefined) {
      r.ratio_to_dense = round(r.ms_median / (dense.ms_median as number));
    }
    this.records.push(r);
    this.options.onRecord?.(r);
    const t = typeof r.ms_median === "number"
      ? `${r.ms_median.toPrecision(4)} ms`
      : `${r.status}: ${r.note ?? ""}`;
    this.log(`  ${r.case} ${rowLabel(r)}: ${t}`);
  }

  /**
   * Emits a row without timing.
   * @param meta Row identity.
   * @param status `skipped` or `error`.
   * @param note Why.
   * @param device Device name (default: the main backend's).
   */
  skip(meta: RowMeta, status: "skipped" | "error", note: string, device = this.device): void {
    this.emit({ ...meta, device, status, note });
  }

  /** A second device of the same provider with per-kernel timing, or null when that is impossible. */
  profileBackend(): Promise<Backend | null> {
    this.#profBe ??= (async () => {
      if (this.be.info.kind !== "gpu") {
        this.#profNote = "profiling needs a GPU backend";
        return null;
      }
      try {
        const pb = await openBackend(sameProvider(this.be), true);
        if (canProfile(pb)) return pb;
        pb[Symbol.dispose]();
        this.#profNote = "the adapter has no timestamp-query feature";
      } catch (e) {
        this.#profNote = `no second device for profiling (${(e as Error).message})`;
      }
      return null;
    })();
    return this.#profBe;
  }

  /** Why profiling is off, once it was tried and failed. */
  get profileNote(): string | null {
    return this.#profNote;
  }

  /** Frees the profiling device. */
  async close(): Promise<void> {
    const pb = await this.#profBe;
    pb?.[Symbol.dispose]();
  }

  /**
   * Sets up state once, times every variant on it, then (with `--profile`) repeats the variants on the
   * profiling device, and emits the records.
   * @param setup Builds the state on a backend (called again for the profiling device).
   * @param variants Variants to time.
   */
  async group<S extends GroupState>(
    setup: (be: Backend) => S | Promise<S>,
    variants: Variant<S>[],
  ): Promise<void> {
    const rows: BenchRecord[] = [];
    let state: S | null = null;
    try {
      state = await setup(this.be);
      for (const v of variants) {
        try {
          const plan = { ...this.plan, ...v.plan };
          const t = await timeIt(v.step(state), () => syncBackend(this.be), plan);
          const extra = v.after ? await v.after(state) : {};
          rows.push({
            ...v.meta,
            device: this.device,
            ms_median: round(t.median),
            ms_p10: round(t.p10),
            ms_p90: round(t.p90),
            iters: t.iters,
            ...(v.derive ? v.derive(t.median) : {}),
            ...extra,
          });
        } catch (e) {
          rows.push({ ...v.meta, device: this.device, status: "error", note: errorText(e) });
        }
      }
    } catch (e) {
      for (const v of variants.slice(rows.length)) {
        rows.push({ ...v.meta, device: this.device, status: "error", note: `setup: ${errorText(e)}` });
      }
    } finally {
      await state?.dispose();
      await syncBackend(this.be).catch(() => {});
      trimBackend(this.be);
    }
    if (this.options.profile && variants.some((v) => v.profileIters !== 0)) {
      await this.#profile(setup, variants, rows);
    }
    for (const r of rows) this.emit(r);
  }

  /**
   * Times a peer that runs outside our backend (onnxruntime-web): set up, time, check, free.
   * @param meta Row identity.
   * @param setup Builds the peer's session; its `device` names what it runs on.
   * @param derive Throughput fields from the median ms.
   */
  async peer(
    meta: RowMeta,
    setup: () => Promise<PeerRun>,
    derive?: (ms: number) => Partial<BenchRecord>,
  ): Promise<void> {
    let run: PeerRun | null = null;
    try {
      run = await setup();
      const t = await timeIt(run.step, run.sync, { ...this.plan, ...run.plan });
      const extra = run.after ? await run.after() : {};
      this.emit({
        ...meta,
        device: run.device,
        ms_median: round(t.median),
        ms_p10: round(t.p10),
        ms_p90: round(t.p90),
        iters: t.iters,
        ...(derive ? derive(t.median) : {}),
        ...(run.note ? { note: run.note } : {}),
        ...extra,
      });
    } catch (e) {
      this.skip(meta, "error", errorText(e), run?.device ?? String(meta.impl));
    } finally {
      await run?.dispose();
    }
  }

  async #profile<S extends GroupState>(
    setup: (be: Backend) => S | Promise<S>,
    variants: Variant<S>[],
    rows: BenchRecord[],
  ): Promise<void> {
    const pb = await this.profileBackend();
    if (!pb || !canProfile(pb)) {
      for (const r of rows) if ((r.status ?? "ok") === "ok") r.note ??= `no profile: ${this.#profNote}`;
      return;
    }
    let state: S | null = null;
    try {
      state = await setup(pb);
      for (const [i, v] of variants.entries()) {
        if ((rows[i].status ?? "ok") !== "ok" || v.profileIters === 0) continue;
        const k = await profileSteps(pb, v.step(state), v.profileIters ?? (this.options.quick ? 1 : 3));
        if (k.length === 0) continue; // dispatched outside our context (the read-bandwidth kernel)
        rows[i].kernels = k.map((x) => ({ label: x.label, count: round(x.count), ms: round(x.ms) }));
        rows[i].gpu_ms = round(k.reduce((s, x) => s + x.ms, 0));
      }
    } catch (e) {
      for (const r of rows) {
        if (!r.kernels && (r.status ?? "ok") === "ok") r.note = `profile failed: ${errorText(e)}`;
      }
    } finally {
      await state?.dispose();
      await syncBackend(pb).catch(() => {});
      trimBackend(pb);
    }
  }
}

/**
 * A short message for an error.
 * @param e Anything thrown.
 * @returns Its message (first line).
 */
export function errorText(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split("\n")[0].slice(0, 300);
}
