/**
 * The read-bandwidth ceiling: one benchmark-only kernel (`bench/kernels/read_bandwidth.wgsl`) that
 * streams a large buffer of random floats with vec4 loads. It is dispatched on the backend's device
 * directly (it is not a product kernel, so it is not in the kernel registry).
 * @module
 */
import type { GpuBackend } from "../src/ops/gpu_backend.ts";
import type { Rng } from "../src/util/rng.ts";
import src from "./kernels/read_bandwidth.wgsl" with { type: "text" };
import { randomF32 } from "./random.ts";

const WG = 256;
/** vec4 loads per thread the grid aims for. */
const PER_THREAD = 32;

/** A ready read-bandwidth run. */
export interface ReadRun {
  /** Bytes one iteration reads. */
  bytes: number;
  /** Submits one pass over the buffer. */
  step(): void;
  /** Frees the buffers. */
  dispose(): void;
}

/**
 * Prepares a read-bandwidth run.
 * @param be A GPU backend.
 * @param wanted Bytes to stream (capped by the device's binding and buffer limits).
 * @param rng Fills the buffer (a random 4 MiB block repeated: never zeros).
 * @returns The run.
 */
export function readRun(be: GpuBackend, wanted: number, rng: Rng): ReadRun {
  const dev = be.ctx.device;
  const cap = Math.min(dev.limits.maxStorageBufferBindingSize, dev.limits.maxBufferSize);
  const bytes = Math.floor(Math.min(wanted, cap) / 256) * 256;
  const n = bytes / 16;
  const groups = Math.max(1, Math.min(65535, Math.ceil(n / (WG * PER_THREAD))));
  const srcBuf = dev.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    label: "bw-src",
  });
  const block = randomF32(Math.min(bytes, 4 << 20) / 4, rng, 1);
  for (let at = 0; at < bytes; at += block.byteLength) {
    dev.queue.writeBuffer(srcBuf, at, block.buffer as ArrayBuffer, 0, Math.min(block.byteLength, bytes - at));
  }
  const dst = dev.createBuffer({ size: groups * WG * 4, usage: GPUBufferUsage.STORAGE, label: "bw-dst" });
  const params = dev.createBuffer({
    size: 16,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    label: "bw-params",
  });
  dev.queue.writeBuffer(params, 0, Uint32Array.of(n, 0, 0, 0));
  const pipeline = dev.createComputePipeline({
    layout: "auto",
    compute: { module: dev.createShaderModule({ code: src, label: "read_bandwidth" }), entryPoint: "main" },
  });
  const bind = dev.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: params } }, { binding: 1, resource: { buffer: srcBuf } }, {
      binding: 2,
      resource: { buffer: dst },
    }],
  });
  return {
    bytes,
    step() {
      be.ctx.flush();
      const enc = dev.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(groups);
      pass.end();
      dev.queue.submit([enc.finish()]);
    },
    dispose() {
      srcBuf.destroy();
      dst.destroy();
      params.destroy();
    },
  };
}
