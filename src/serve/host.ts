/**
 * `ModelHost`: the served model behind one stable object that survives a lost GPU. It owns the current
 * model and the server's own loading function (no request can change either). When the device is lost
 * (`device.lost` resolves, or a call fails and the device turns out to be gone), calls in flight end with
 * a 503, new calls get a 503 with `Retry-After` at once, and the host reloads the model on a fresh
 * device, with back-off, then swaps it in atomically. `health()` reports `ok` / `recovering`.
 * @module
 */
import { DeviceLostError } from "../gpu/errors.ts";
import { InvalidInputError } from "../model/errors.ts";
import { GpuBackend } from "../ops/gpu_backend.ts";
import { ApiError } from "./errors.ts";
import type { HealthReport, ServedModel } from "./options.ts";

/** What a host serves: a `Model` from `loadModel`, or anything servable and disposable (tests). */
export type HostedModel = ServedModel & Disposable & { readonly backend?: unknown };

/** Loads the model afresh (on a new device); fixed by the server's configuration. */
export type ModelLoader = () => Promise<HostedModel>;

/** Options of {@link ModelHost.create}. */
export interface ModelHostOptions {
  /** Waits before reload attempts (ms); the last one repeats (default 0, 250, 1000, 2000, 5000, 10000). */
  retryDelaysMs?: readonly number[];
  /** How long to wait for `device.lost` after an unexpected error of a GPU model (default 1000 ms). */
  lossGraceMs?: number;
  /** How long recovery waits for calls still running on the lost device (default 2000 ms). */
  drainMs?: number;
  /** `Retry-After` of 503 answers while recovering (default 1). */
  retryAfterSeconds?: number;
  /** Receives state changes (loss, reload attempts, recovery). */
  log?: (line: string) => void;
  /** Finds a model's device-loss promise (default: the GPU backend's `device.lost`; null on the CPU). */
  lostSignal?: (m: HostedModel) => Promise<unknown> | null;
}

/** `ok`: serving; `recovering`: the device was lost and the model is being reloaded; `closed`: disposed. */
export type HostState = "ok" | "recovering" | "closed";

interface Slot {
  model: HostedModel;
  lost: Promise<unknown> | null;
  retired: boolean;
  active: number;
  idle: (() => void) | null;
}

const DEFAULT_DELAYS = [0, 250, 1000, 2000, 5000, 10000];

/**
 * The GPU device-loss promise of a model loaded by `loadModel`.
 * @param m The model.
 * @returns `device.lost` of its GPU backend, or null on the CPU.
 */
export function gpuLostSignal(m: HostedModel): Promise<unknown> | null {
  return m.backend instanceof GpuBackend ? m.backend.ctx.device.lost : null;
}

/**
 * A 503 for a model that cannot serve right now (device lost, reloading).
 * @param message What happened, for the caller.
 * @param retryAfterSeconds `Retry-After`.
 * @returns The error.
 */
export function deviceUnavailable(message: string, retryAfterSeconds: number): ApiError {
  return new ApiError(503, "server_error", message, null, "device_lost", {
    "Retry-After": String(retryAfterSeconds),
  });
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The served model, reloaded on a fresh device after a device loss.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadModel } from "../model/load.ts";
 * import { ModelHost } from "./host.ts";
 *
 * const dir = "./tests/fixtures/hf-tiny/tiny-gpt2-relu";
 * using host = await ModelHost.create(() => loadModel(dir, { backend: "cpu" }));
 * assert.equal(host.health().status, "ok");
 * const r = await host.generate([1, 2, 3], { maxTokens: 2, greedy: true });
 * assert.equal(r.token_ids.length, 2);
 * ```
 */
export class ModelHost implements ServedModel, Disposable {
  /** The served id (the first model's; reloads keep it). */
  readonly id: string;
  readonly #load: ModelLoader;
  readonly #opts: Required<Omit<ModelHostOptions, "log">> & { log: (line: string) => void };
  readonly #closed = new AbortController();
  #slot: Slot;
  #state: HostState = "ok";
  #recovering: Promise<void> | null = null;
  #attempts = 0;
  #lastError: string | null = null;
  #lostAt = 0;
  #recoveries = 0;
  #lastRecoveryMs: number | null = null;

  private constructor(load: ModelLoader, model: HostedModel, opts: ModelHostOptions) {
    this.#load = load;
    this.#opts = {
      retryDelaysMs: opts.retryDelaysMs?.length ? opts.retryDelaysMs : DEFAULT_DELAYS,
      lossGraceMs: opts.lossGraceMs ?? 1000,
      drainMs: opts.drainMs ?? 2000,
      retryAfterSeconds: opts.retryAfterSeconds ?? 1,
      log: opts.log ?? (() => {}),
      lostSignal: opts.lostSignal ?? gpuLostSignal,
    };
    this.id = model.id;
    this.#slot = this.#install(model);
  }

  /**
   * Loads the model once and returns its host.
   * @param load The server's own loading function (model path and options fixed in it); called again
   *   after a device loss.
   * @param opts Back-off, grace periods, log.
   * @returns The host, serving.
   * @throws Whatever the first load throws (e.g. `ModelFormatError`).
   */
  static async create(load: ModelLoader, opts: ModelHostOptions = {}): Promise<ModelHost> {
    return new ModelHost(load, await load(), opts);
  }

  /** The model serving now (during recovery, the one being replaced). */
  get current(): HostedModel {
    return this.#slot.model;
  }

  /** Serving, recovering or closed. */
  get state(): HostState {
    return this.#state;
  }

  /** Completed recoveries since start. */
  get recoveries(): number {
    return this.#recoveries;
  }

  /** Milliseconds from the last loss to serving again, or null before any recovery. */
  get lastRecoveryMs(): number | null {
    return this.#lastRecoveryMs;
  }

  /** The current model's config. */
  get config(): ServedModel["config"] {
    return this.#slot.model.config;
  }

  /** The current model's tokenizer. */
  get tokenizer(): ServedModel["tokenizer"] {
    return this.#slot.model.tokenizer;
  }

  /** The current model's capabilities. */
  get capabilities(): ServedModel["capabilities"] {
    return this.#slot.model.capabilities;
  }

  /** The current model's device. */
  get device(): ServedModel["device"] {
    return this.#slot.model.device;
  }

  /** The current model's conversion info. */
  get moe(): ServedModel["moe"] {
    return this.#slot.model.moe;
  }

  /**
   * The state for `GET /health` (pass `health: () => host.health()` to `createApp`).
   * @returns ok while serving; `recovering` (503) while the model is reloaded.
   */
  health(): HealthReport {
    const detail = {
      recoveries: this.#recoveries,
      ...(this.#lastRecoveryMs !== null ? { last_recovery_ms: Math.round(this.#lastRecoveryMs) } : {}),
    };
    if (this.#state === "ok") return { ok: true, status: "ok", detail };
    if (this.#state === "closed") {
      return { ok: false, status: "closed", message: "the server is shutting down" };
    }
    const tried = this.#attempts > 0 ? `; attempt ${this.#attempts} failed: ${this.#lastError}` : "";
    return {
      ok: false,
      status: "recovering",
      message: `the GPU device was lost; reloading the model on a new device${tried}`,
      detail: { ...detail, since_ms: Math.round(performance.now() - this.#lostAt) },
    };
  }

  /** Embeds on the current model (see `Model.embed`). */
  embed: ServedModel["embed"] = (...a) => this.#call((m) => m.embed(...a));

  /** Classifies on the current model (see `Model.classify`). */
  classify: ServedModel["classify"] = (...a) => this.#call((m) => m.classify(...a));

  /** Generates on the current model (see `Model.generate`). */
  generate: ServedModel["generate"] = (...a) => this.#call((m) => m.generate(...a));

  /**
   * Treats the current device as lost and reloads (also what `device.lost` triggers).
   * @param reason For the log.
   * @returns Resolves once serving again (or closed).
   */
  recover(reason = "requested"): Promise<void> {
    this.#lose(this.#slot, reason);
    return this.#recovering ?? Promise.resolve();
  }

  /**
   * Waits until the host serves again.
   * @returns Resolves at once when serving; after the reload when recovering.
   */
  async ready(): Promise<void> {
    while (this.#state === "recovering" && this.#recovering) await this.#recovering;
  }

  /** Stops recovering and disposes the current model. */
  [Symbol.dispose](): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#closed.abort();
    this.#retire(this.#slot);
  }

  #install(model: HostedModel): Slot {
    const slot: Slot = { model, lost: this.#opts.lostSignal(model), retired: false, active: 0, idle: null };
    slot.lost?.then(() => this.#lose(slot, "the device reported it was lost"), () => {});
    return slot;
  }

  async #call<T>(fn: (m: HostedModel) => Promise<T>): Promise<T> {
    const slot = this.#slot;
    if (this.#state !== "ok" || slot.retired) throw this.#unavailable();
    slot.active++;
    try {
      return await fn(slot.model);
    } catch (e) {
      if (e instanceof ApiError || e instanceof InvalidInputError) throw e; // timeouts, aborts, bad input
      if (slot.retired || await this.#wasLost(slot, e)) {
        this.#lose(slot, errorText(e));
        throw deviceUnavailable(
          "the GPU device was lost while serving this request; the model is being reloaded, retry shortly",
          this.#opts.retryAfterSeconds,
        );
      }
      throw e;
    } finally {
      if (--slot.active === 0) slot.idle?.();
    }
  }

  /** True when `e` is, or is followed within the grace period by, the loss of `slot`'s device. */
  async #wasLost(slot: Slot, e: unknown): Promise<boolean> {
    if (e instanceof DeviceLostError) return true;
    if (!slot.lost) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((r) => timer = setTimeout(() => r(false), this.#opts.lossGraceMs));
    try {
      return await Promise.race([slot.lost.then(() => true, () => false), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  #unavailable(): ApiError {
    if (this.#state === "closed") return deviceUnavailable("the server is shutting down", 1);
    return deviceUnavailable(
      "the GPU device was lost and the model is being reloaded on a new device; retry shortly",
      this.#opts.retryAfterSeconds,
    );
  }

  /** Starts recovery for `slot` once (later reports of the same loss are ignored). */
  #lose(slot: Slot, reason: string): void {
    if (slot !== this.#slot || slot.retired || this.#state !== "ok") return;
    slot.retired = true;
    this.#state = "recovering";
    this.#lostAt = performance.now();
    this.#attempts = 0;
    this.#lastError = null;
    this.#opts.log(`device lost (${reason}); reloading ${this.id} on a new device`);
    this.#recovering = this.#reload(slot).finally(() => this.#recovering = null);
  }

  async #reload(old: Slot): Promise<void> {
    await this.#drain(old);
    this.#retire(old);
    const delays = this.#opts.retryDelaysMs;
    while (this.#state === "recovering") {
      await this.#sleep(delays[Math.min(this.#attempts, delays.length - 1)]);
      if (this.#state !== "recovering") return;
      let model: HostedModel;
      try {
        model = await this.#load();
      } catch (e) {
        this.#attempts++;
        this.#lastError = errorText(e);
        this.#opts.log(`reload attempt ${this.#attempts} failed: ${this.#lastError}`);
        continue;
      }
      if (this.#state !== "recovering") {
        this.#dispose(model);
        return;
      }
      this.#slot = this.#install(model);
      this.#state = "ok";
      this.#recoveries++;
      this.#lastRecoveryMs = performance.now() - this.#lostAt;
      this.#opts.log(
        `recovered in ${
          Math.round(this.#lastRecoveryMs)
        } ms on ${model.device.kind} [${model.device.provider}] ` +
          model.device.description,
      );
      return;
    }
  }

  /** Waits (bounded) until no call runs on `slot`, so its model can be freed. */
  async #drain(slot: Slot): Promise<void> {
    if (slot.active === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      slot.idle = resolve;
      timer = setTimeout(resolve, this.#opts.drainMs);
    });
    clearTimeout(timer);
  }

  #retire(slot: Slot): void {
    slot.retired = true;
    this.#dispose(slot.model);
  }

  #dispose(model: HostedModel): void {
    try {
      model[Symbol.dispose]();
    } catch (e) {
      this.#opts.log(`disposing the old model failed: ${errorText(e)}`);
    }
  }

  /** Sleeps, cut short when the host closes. */
  #sleep(ms: number): Promise<void> {
    const signal = this.#closed.signal;
    if (signal.aborted || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
