/**
 * The GPU backend for tests. With `D2D_REQUIRE_GPU=1` (set by `.ci/run`) a missing adapter fails
 * the test instead of skipping it, so CI cannot silently lose GPU coverage.
 * @module
 */
import { GpuContext } from "../../src/gpu/context.ts";
import { GpuBackend } from "../../src/ops/gpu_backend.ts";

let shared: Promise<GpuBackend | null> | null = null;

/** True when GPU tests must not be skipped. */
export const GPU_REQUIRED = Deno.env.get("D2D_REQUIRE_GPU") === "1";

/**
 * One GPU backend per test process (Deno's built-in WebGPU: Dawn has no adapter on CPU-only machines,
 * and `D2D_TEST_PROVIDER=dawn` selects it on a GPU machine).
 * @returns The backend, or null when there is no adapter and GPUs are not required.
 * @throws {Error} When there is no adapter and `D2D_REQUIRE_GPU=1`.
 */
export function testGpu(): Promise<GpuBackend | null> {
  shared ??= (async () => {
    const provider = Deno.env.get("D2D_TEST_PROVIDER") === "dawn" ? "dawn" : "deno";
    try {
      return new GpuBackend(await GpuContext.create({ preference: provider }));
    } catch (e) {
      if (GPU_REQUIRED) throw new Error(`D2D_REQUIRE_GPU=1 but no WebGPU device: ${(e as Error).message}`);
      console.warn(`no WebGPU device, GPU tests will be ignored: ${(e as Error).message}`);
      return null;
    }
  })();
  return shared;
}

/** Test options for GPU tests: ignored only when no adapter exists and none is required. */
export const gpuTestOptions = { sanitizeOps: false, sanitizeResources: false } as const;
