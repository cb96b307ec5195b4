/**
 * Picks the backend: Dawn where it yields an adapter, else Deno's built-in WebGPU, else the CPU,
 * and records why; `auto` passes a software adapter over for the CPU. `D2D_BACKEND` (or the `backend`
 * option) forces a choice.
 * @module
 */
import { GpuContext } from "../gpu/context.ts";
import { GpuUnavailableError } from "../gpu/errors.ts";
import type { Backend } from "./backend.ts";
import { CpuBackend } from "./cpu_backend.ts";
import { GpuBackend } from "./gpu_backend.ts";
import { TUNING } from "./tuning.ts";

/**
 * Backend choices: `auto` (a hardware GPU if any, else CPU), `gpu` (Dawn or built-in, software adapters
 * included, else fail), one provider, or `cpu`.
 */
export type BackendChoice = "auto" | "gpu" | "dawn" | "webgpu" | "cpu";

/** Valid values of {@link BackendChoice}, for validation messages. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "gpu", "dawn", "webgpu", "cpu"];

/** Options for {@link createBackend}. */
export interface CreateBackendOptions {
  /** Per-kernel GPU timing (default: `D2D_PROFILE=1`). */
  profile?: boolean;
}

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
}

/**
 * Parses a backend choice.
 * @param value User input (option or `D2D_BACKEND`).
 * @returns The choice.
 * @throws {TypeError} When the value is not one of {@link BACKEND_CHOICES}.
 */
export function parseBackendChoice(value: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice;
  throw new TypeError(`backend must be one of ${BACKEND_CHOICES.join(", ")}; got "${value}"`);
}

/**
 * Parses `D2D_DAWN_FLAGS`: options for Dawn's `create()`, separated by spaces, each `key=value`.
 * @param value The variable's value, e.g. `enable-dawn-features=disable_robustness` (Tint's array-index
 *   clamps off: 10–17% faster matmuls on the H200, without the out-of-bounds protection).
 * @returns The flags (none for an empty value).
 * @throws {TypeError} When a flag is not `key=value`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseDawnFlags(" enable-dawn-features=disable_robustness "), [
 *   "enable-dawn-features=disable_robustness",
 * ]);
 * assert.throws(() => parseDawnFlags("disable_robustness"), /key=value/);
 * ```
 */
export function parseDawnFlags(value: string): string[] {
  const flags = value.split(/\s+/).filter(Boolean);
  for (const f of flags) {
    if (!/^[a-z][a-z0-9-]*=\S+$/.test(f)) {
      throw new TypeError(
        `D2D_DAWN_FLAGS: "${f}" is not key=value (e.g. enable-dawn-features=disable_robustness)`,
      );
    }
  }
  return flags;
}

/**
 * Creates a backend.
 * @param choice What to use; defaults to `D2D_BACKEND` or `"auto"`.
 * @param options Profiling switch. Dawn gets `TUNING.dawnFlags` and those of `D2D_DAWN_FLAGS`.
 * @returns The backend; `info` says what it is and what was passed over.
 * @throws {GpuUnavailableError} When a GPU was demanded and none is available.
 * @throws {TypeError} When `D2D_DAWN_FLAGS` is malformed.
 */
export async function createBackend(
  choice: BackendChoice = parseBackendChoice(envVar("D2D_BACKEND") ?? "auto"),
  options: CreateBackendOptions = {},
): Promise<Backend> {
  if (choice === "cpu") return new CpuBackend();
  const profile = options.profile ?? envVar("D2D_PROFILE") === "1";
  const preference = choice === "dawn" ? "dawn" : choice === "webgpu" ? "deno" : "auto";
  try {
    const dawnFlags = [...TUNING.dawnFlags, ...parseDawnFlags(envVar("D2D_DAWN_FLAGS") ?? "")];
    const ctx = await GpuContext.create({ preference, profile, dawnFlags });
    if (choice === "auto" && ctx.info.isFallbackAdapter) {
      // A software adapter (Mesa llvmpipe) is far slower than the CPU kernels on the 2-core CI machine (256
      // sentences embedded: about 2 minutes against 4–6 s, shader compilation included; 2.5× before the CPU
      // kernels moved to WebAssembly): "auto" takes the CPU; "gpu" / "webgpu" still use it.
      const why = `gpu: ${ctx.info.description} is a software adapter, slower than the CPU kernels ` +
        `(--backend gpu uses it anyway)`;
      ctx.destroy();
      return new CpuBackend([...ctx.info.fallbackFrom, why]);
    }
    return new GpuBackend(ctx);
  } catch (e) {
    if (choice !== "auto" || !(e instanceof GpuUnavailableError)) throw e;
    return new CpuBackend([e.message]);
  }
}
