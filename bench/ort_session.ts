/**
 * onnxruntime-web sessions for the peers: the WASM execution provider (entry `onnxruntime-web`) and
 * the WebGPU one (entry `onnxruntime-web/webgpu`, which Deno needs for that provider).
 *
 * ORT 1.30's WebGPU provider creates its own device from `navigator.gpu` (it ignores
 * `env.webgpu.device`), so to run it on Dawn (`npm:webgpu`), as our backend does on the GPU machine,
 * `navigator.gpu` is pointed at Dawn while the session is created. Inputs in GPU buffers are made on
 * the device ORT reports after that (`env.webgpu.device`).
 *
 * That entry loads `ort-wasm-simd-threaded.asyncify.{mjs,wasm}`; `D2D_ORT_WASM_DIR` names a folder
 * holding them when the package copy lacks them (see `bench/pack.sh`).
 * @module
 */
import { pathToFileURL } from "node:url";

/** The onnxruntime-web module. */
export type Ort = typeof import("onnxruntime-web");

/** An execution provider. */
export type OrtEp = "wasm" | "webgpu";

/** Which WebGPU implementation the WebGPU provider gets. */
export type OrtGpu = "dawn" | "builtin";

/** A session and what it runs on. */
export interface OrtSession {
  /** The module the session came from. */
  ort: Ort;
  /** The session. */
  session: import("onnxruntime-web").InferenceSession;
  /** The WebGPU device (WebGPU provider only). */
  device: GPUDevice | null;
  /** e.g. `ort-webgpu [dawn] NVIDIA H200` or `ort-wasm (16 threads)`. */
  name: string;
}

const modules = new Map<OrtEp, Promise<Ort>>();
let gpuChoice: OrtGpu | null = null;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** WASM threads: every core up to 16 (onnxruntime's own default is at most 4). */
export function wasmThreads(): number {
  return Math.max(1, Math.min(16, navigator.hardwareConcurrency || 1));
}

function loadOrt(ep: OrtEp): Promise<Ort> {
  let m = modules.get(ep);
  if (!m) {
    m = (async () => {
      const ort: Ort = ep === "wasm"
        ? await import("onnxruntime-web")
        : await import("onnxruntime-web/webgpu");
      ort.env.logLevel = "error";
      if (ep === "wasm") ort.env.wasm.numThreads = wasmThreads();
      const dir = env("D2D_ORT_WASM_DIR");
      if (ep === "webgpu" && dir) {
        ort.env.wasm.wasmPaths = pathToFileURL(dir.endsWith("/") ? dir : dir + "/").href;
      }
      return ort;
    })();
    modules.set(ep, m);
  }
  return m;
}

/** Dawn's `GPU` object (one per process). */
let dawn: Promise<GPU> | null = null;

/** Mesa's Vulkan driver complains on stderr when XDG_RUNTIME_DIR is unset (as `src/gpu/device.ts` avoids). */
function quietMesa(): void {
  try {
    if (!Deno.env.get("XDG_RUNTIME_DIR")) {
      Deno.env.set("XDG_RUNTIME_DIR", Deno.makeTempDirSync({ prefix: "d2d-xdg-" }));
    }
  } catch {
    // no permission: the message is only noise
  }
}

function gpuOf(which: OrtGpu): Promise<GPU> {
  if (which === "builtin") {
    quietMesa();
    if (!navigator.gpu) return Promise.reject(new Error("navigator.gpu is not available"));
    return Promise.resolve(navigator.gpu);
  }
  dawn ??= import("webgpu").then((m) => m.create([]) as unknown as GPU);
  return dawn;
}

/**
 * Creates a session whose WebGPU provider sees `gpu` as `navigator.gpu`.
 * @param create Creates the session.
 * @param gpu The WebGPU entry point to show.
 * @returns The session.
 */
async function withNavigatorGpu<T>(create: () => Promise<T>, gpu: GPU): Promise<T> {
  if (gpu === navigator.gpu) return await create();
  const own = Object.getOwnPropertyDescriptor(navigator, "gpu");
  Object.defineProperty(navigator, "gpu", { value: gpu, configurable: true });
  try {
    return await create();
  } finally {
    if (own) Object.defineProperty(navigator, "gpu", own);
    else delete (navigator as { gpu?: GPU }).gpu;
  }
}

/**
 * Creates a session.
 * @param ep Execution provider.
 * @param model `.onnx` bytes.
 * @param gpu WebGPU implementation for the WebGPU provider.
 * @returns The session; outputs stay on the GPU (`gpu-buffer`) with the WebGPU provider.
 * @throws {Error} When onnxruntime cannot load or the provider is unavailable.
 */
export async function ortSession(ep: OrtEp, model: Uint8Array, gpu: OrtGpu): Promise<OrtSession> {
  const ort = await loadOrt(ep);
  const options = {
    executionProviders: [ep],
    graphOptimizationLevel: "all" as const,
    logSeverityLevel: 3 as const,
    ...(ep === "webgpu" ? { preferredOutputLocation: "gpu-buffer" as const } : {}),
  };
  if (ep === "wasm") {
    const session = await ort.InferenceSession.create(model, options);
    return { ort, session, device: null, name: `ort-wasm (${ort.env.wasm.numThreads} threads)` };
  }
  if (gpuChoice && gpuChoice !== gpu) {
    throw new Error(`onnxruntime's WebGPU provider already runs on ${gpuChoice}`);
  }
  gpuChoice = gpu;
  const g = await gpuOf(gpu);
  const session = await withNavigatorGpu(() => ort.InferenceSession.create(model, options), g);
  const device = (await ort.env.webgpu.device) as unknown as GPUDevice;
  const info = (await g.requestAdapter({ powerPreference: "high-performance" }))?.info;
  const desc = info?.description || info?.device || info?.vendor || "adapter";
  return { ort, session, device, name: `ort-webgpu [${gpu === "dawn" ? "dawn" : "deno"}] ${desc}` };
}

/**
 * A float32 input tensor: in a GPU buffer on the session's device (WebGPU), else in CPU memory.
 * @param s Session.
 * @param data Values.
 * @param dims Dimensions.
 * @returns The tensor and a function freeing its buffer.
 */
export function floatInput(
  s: OrtSession,
  data: Float32Array,
  dims: number[],
): { tensor: import("onnxruntime-web").Tensor; free: () => void } {
  if (!s.device) return { tensor: new s.ort.Tensor("float32", data, dims), free: () => {} };
  const buf = s.device.createBuffer({
    size: Math.ceil(data.byteLength / 16) * 16,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  s.device.queue.writeBuffer(buf, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  const tensor = s.ort.Tensor.fromGpuBuffer(buf as never, { dataType: "float32", dims });
  return { tensor, free: () => buf.destroy() };
}

/**
 * Waits for the session's queued GPU work (no-op for WASM).
 * @param s Session.
 */
export async function ortSync(s: OrtSession): Promise<void> {
  if (s.device) await s.device.queue.onSubmittedWorkDone();
}

/**
 * Runs once and returns one output as a CPU array, freeing GPU outputs.
 * @param s Session.
 * @param feeds Inputs.
 * @param output Output name.
 * @returns The values.
 */
export async function ortRunRead(
  s: OrtSession,
  feeds: Record<string, import("onnxruntime-web").Tensor>,
  output: string,
): Promise<Float32Array> {
  const out = await s.session.run(feeds);
  const data = (await out[output].getData()) as Float32Array;
  for (const t of Object.values(out)) t.dispose();
  return data;
}

/**
 * Runs once, discarding (and freeing) the outputs.
 * @param s Session.
 * @param feeds Inputs.
 */
export async function ortRun(
  s: OrtSession,
  feeds: Record<string, import("onnxruntime-web").Tensor>,
): Promise<void> {
  const out = await s.session.run(feeds);
  for (const t of Object.values(out)) t.dispose();
}
