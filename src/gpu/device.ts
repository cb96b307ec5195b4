/**
 * Choosing a WebGPU implementation: Dawn (`npm:webgpu`) where it yields an adapter, else Deno's
 * built-in `navigator.gpu`. The CPU fallback is decided one level up (see `src/ops/backend_select.ts`).
 * @module
 */
import { GpuUnavailableError } from "./errors.ts";
import { DAWN_TICK_MODES, type DawnTickMode, installDawnTicks } from "./dawn_ticks.ts";

/** Which WebGPU implementation provided the device. */
export type GpuProvider = "dawn" | "deno";

/** What we tell users about the device we run on. */
export interface GpuDeviceInfo {
  /** `"dawn"` (npm:webgpu) or `"deno"` (Deno's built-in WebGPU). */
  provider: GpuProvider;
  /** Adapter description, e.g. "NVIDIA H200" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** Adapter vendor string as reported. */
  vendor: string;
  /** Adapter architecture string as reported. */
  architecture: string;
  /** True for software adapters (Mesa llvmpipe / lavapipe). */
  isFallbackAdapter: boolean;
  /** Optional features enabled on the device (e.g. "timestamp-query", "subgroups"). */
  features: string[];
  /** Largest storage-buffer binding the device accepts, in bytes. */
  maxStorageBufferBindingSize: number;
  /** Largest buffer the device accepts, in bytes. */
  maxBufferSize: number;
  /** Providers tried before this one and why they were passed over. */
  fallbackFrom: string[];
}

/** A device plus what we know about it. */
export interface AcquiredDevice {
  /** The WebGPU device. */
  device: GPUDevice;
  /** Description for logs, CLI and API. */
  info: GpuDeviceInfo;
}

/** Which provider to try: `"auto"` tries Dawn, then Deno's built-in. */
export type GpuPreference = "auto" | GpuProvider;

/** Optional features we enable when the adapter has them. */
const WANTED_FEATURES: GPUFeatureName[] = ["timestamp-query", "subgroups" as GPUFeatureName, "shader-f16"];

const dawnGpus = new Map<string, GPU | null>();

/**
 * Loads Dawn once per set of flags; `null` when the addon cannot load on this platform.
 * @param flags `create()` options of npm:webgpu, e.g. `["enable-dawn-features=disable_robustness"]`.
 */
async function loadDawn(flags: readonly string[] = []): Promise<GPU | null> {
  const key = flags.join(" ");
  if (dawnGpus.has(key)) return dawnGpus.get(key)!;
  let gpu: GPU | null;
  const tickMode = dawnTickMode(); // outside the try: a bad value is the user's error to see
  try {
    const mod = await import("webgpu");
    installDawnTicks(tickMode);
    gpu = mod.create([...flags]) as unknown as GPU;
  } catch {
    gpu = null;
  }
  dawnGpus.set(key, gpu);
  return gpu;
}

/**
 * `D2D_DAWN_TICKS` (see `dawn_ticks.ts`); "pace" when unset or unreadable: without it, a long GPU wait on
 * Dawn can stall the main thread for minutes in Deno's Node-API finalizer bookkeeping.
 * @throws {RangeError} For a value that is not a mode.
 */
function dawnTickMode(): DawnTickMode {
  let v: string | undefined;
  try {
    v = Deno.env.get("D2D_DAWN_TICKS");
  } catch {
    v = undefined; // no env permission: the default
  }
  if (v === undefined || v === "") return "pace";
  if (!DAWN_TICK_MODES.includes(v as DawnTickMode)) {
    throw new RangeError(`D2D_DAWN_TICKS: "${v}" is not one of ${DAWN_TICK_MODES.join(", ")}`);
  }
  return v as DawnTickMode;
}

/** Mesa's Vulkan driver prints an error line when XDG_RUNTIME_DIR is unset; give it a harmless value. */
function quietMesa(): void {
  try {
    if (!Deno.env.get("XDG_RUNTIME_DIR")) {
      Deno.env.set("XDG_RUNTIME_DIR", Deno.makeTempDirSync({ prefix: "d2dmoe-xdg-" }));
    }
  } catch {
    // no env/write permission: the message is only noise
  }
}

async function tryProvider(
  provider: GpuProvider,
  dawnFlags: readonly string[] = [],
): Promise<{ adapter: GPUAdapter } | string> {
  if (provider === "deno") quietMesa();
  const gpu = provider === "dawn" ? await loadDawn(dawnFlags) : (globalThis.navigator?.gpu ?? null);
  if (!gpu) return provider === "dawn" ? "npm:webgpu did not load" : "navigator.gpu is not available";
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" }).catch(() => null);
  if (!adapter) return "no adapter";
  return { adapter };
}

/**
 * Acquires a WebGPU device with the adapter's largest buffer limits.
 * @param preference Provider to use; `"auto"` tries Dawn, then Deno's built-in WebGPU.
 * @param dawnFlags Options for Dawn's `create()` (toggles; see `TUNING.dawnFlags` in `src/ops/tuning.ts`).
 * @returns The device and a description of it.
 * @throws {GpuUnavailableError} When no provider yields an adapter and device.
 */
export async function acquireDevice(
  preference: GpuPreference = "auto",
  dawnFlags: readonly string[] = [],
): Promise<AcquiredDevice> {
  const order: GpuProvider[] = preference === "auto" ? ["dawn", "deno"] : [preference];
  const skipped: string[] = [];
  let builtin: { adapter: GPUAdapter } | string | null = null;
  if (preference === "auto") {
    // Where the only adapter is a software one (CPU machines, CI), Dawn finds none and prints
    // warnings while looking: ask the built-in first and skip Dawn there.
    builtin = await tryProvider("deno");
    const soft = typeof builtin !== "string" &&
      Boolean((builtin.adapter.info as { isFallbackAdapter?: boolean })?.isFallbackAdapter);
    if (soft) {
      order.splice(0, 1);
      skipped.push("dawn: not tried (only a software adapter is present)");
    }
  }
  for (const provider of order) {
    const found = provider === "deno" && builtin !== null ? builtin : await tryProvider(provider, dawnFlags);
    if (typeof found === "string") {
      skipped.push(`${provider}: ${found}`);
      continue;
    }
    const { adapter } = found;
    const features = WANTED_FEATURES.filter((f) => adapter.features.has(f));
    const lim = adapter.limits;
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({
        requiredFeatures: features,
        requiredLimits: {
          maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
          maxBufferSize: lim.maxBufferSize,
          maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
          maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
          maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
          maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
          maxComputeWorkgroupsPerDimension: lim.maxComputeWorkgroupsPerDimension,
        },
      });
    } catch (e) {
      skipped.push(`${provider}: requestDevice failed (${(e as Error).message})`);
      continue;
    }
    const ai = adapter.info;
    return {
      device,
      info: {
        provider,
        description: ai?.description || ai?.device || "unknown adapter",
        vendor: ai?.vendor ?? "",
        architecture: ai?.architecture ?? "",
        isFallbackAdapter: Boolean((ai as { isFallbackAdapter?: boolean })?.isFallbackAdapter),
        features,
        maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
        maxBufferSize: device.limits.maxBufferSize,
        fallbackFrom: skipped,
      },
    };
  }
  throw new GpuUnavailableError(`no WebGPU device (${skipped.join("; ")})`);
}
