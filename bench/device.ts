/**
 * The benchmark's view of a backend: opening one (Dawn where it yields an adapter, else Deno's built-in
 * WebGPU, else the CPU), waiting for its queue, naming it, and freeing pooled memory between cases.
 * @module
 */
import type { Backend } from "../src/ops/backend.ts";
import { GpuBackend } from "../src/ops/gpu_backend.ts";
import { type BackendChoice, createBackend } from "../src/ops/select_backend.ts";

/**
 * Opens a backend for benchmarking.
 * @param choice `auto` (Dawn, else built-in WebGPU, else CPU), `gpu`, `dawn`, `webgpu` or `cpu`.
 * @param profile Record per-kernel GPU times (a separate device is used for that, see `profile.ts`).
 * @returns The backend.
 * @throws {GpuUnavailableError} When a GPU was demanded and none is available.
 */
export function openBackend(choice: BackendChoice, profile = false): Promise<Backend> {
  return createBackend(choice, { profile });
}

/**
 * Waits until everything recorded on the backend has finished (one submit, one wait on the GPU).
 * @param be Backend.
 * @returns Resolves when the device is idle (at once on the CPU).
 */
export async function syncBackend(be: Backend): Promise<void> {
  if (be instanceof GpuBackend) await be.ctx.sync();
}

/**
 * Frees idle pooled buffers (call between cases, after a sync, so GPU memory stays bounded).
 * @param be Backend.
 */
export function trimBackend(be: Backend): void {
  if (be instanceof GpuBackend) be.ctx.pool.trim();
}

/**
 * A one-line device name for records.
 * @param be Backend.
 * @returns e.g. `gpu [dawn] NVIDIA H200` or `cpu [cpu] TypeScript reference kernels`.
 */
export function deviceName(be: Backend): string {
  const i = be.info;
  const soft = i.kind === "gpu" && i.fallback && i.fallbackFrom.length === 0 ? " (software)" : "";
  return `${i.kind} [${i.provider}] ${i.description}${soft}`;
}

/**
 * The backend choice to repeat for a second (profiling) device: the provider actually in use.
 * @param be The main backend.
 * @returns `dawn`, `webgpu` or `cpu`.
 */
export function sameProvider(be: Backend): BackendChoice {
  return be.info.provider === "dawn" ? "dawn" : be.info.provider === "deno" ? "webgpu" : "cpu";
}
