/**
 * Compute pipelines keyed by kernel name plus override constants: the only compile-time choices a
 * kernel has (shapes travel in a uniform), so the cache stays small and hits across shapes.
 * @module
 */
import { KERNEL_SOURCES, type KernelName } from "./kernels.ts";

/** Override constants for one pipeline, e.g. `{ ACT: 1, TILE_N: 64 }`. */
export type Constants = Record<string, number>;

/** Builds a stable cache key from a kernel and its constants. */
export function pipelineKey(kernel: KernelName, constants: Constants = {}): string {
  const keys = Object.keys(constants).sort();
  return `${kernel}|${keys.map((k) => `${k}=${constants[k]}`).join(",")}`;
}

/** Lazily compiles and caches compute pipelines for one device. */
export class PipelineCache {
  #device: GPUDevice;
  #modules = new Map<KernelName, GPUShaderModule>();
  #pipelines = new Map<string, GPUComputePipeline>();

  /** @param device Device the pipelines are created on. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /**
   * The pipeline for `kernel` with `constants`, compiling it on first use.
   * @param kernel Kernel name (a file stem in `kernels/`).
   * @param constants Override constants the kernel declares.
   * @returns The cached pipeline (entry point `main`, auto layout).
   */
  get(kernel: KernelName, constants: Constants = {}): GPUComputePipeline {
    const key = pipelineKey(kernel, constants);
    let pipeline = this.#pipelines.get(key);
    if (pipeline) return pipeline;
    let module = this.#modules.get(kernel);
    if (!module) {
      module = this.#device.createShaderModule({ code: KERNEL_SOURCES[kernel], label: kernel });
      this.#modules.set(kernel, module);
    }
    pipeline = this.#device.createComputePipeline({
      label: key,
      layout: "auto",
      compute: { module, entryPoint: "main", constants },
    });
    this.#pipelines.set(key, pipeline);
    return pipeline;
  }

  /** Number of compiled pipelines. */
  get size(): number {
    return this.#pipelines.size;
  }
}
