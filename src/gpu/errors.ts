/**
 * Typed errors raised by the GPU layer. Callers can tell "no GPU here" from "the GPU went away"
 * from "our kernel was rejected", and map each to the right user-facing answer.
 * @module
 */

/** No WebGPU adapter or device could be obtained from the requested provider(s). */
export class GpuUnavailableError extends Error {
  /** @param message What was tried and what failed. */
  constructor(message: string) {
    super(message);
    this.name = "GpuUnavailableError";
  }
}

/** The GPU device was lost (driver reset, `device.destroy()`, out of memory); it must be re-acquired. */
export class DeviceLostError extends Error {
  /** Reason reported by WebGPU (`"destroyed"` or `"unknown"`). */
  readonly reason: string;
  /**
   * @param reason WebGPU's `GPUDeviceLostInfo.reason`.
   * @param message WebGPU's description of the loss.
   */
  constructor(reason: string, message: string) {
    super(`GPU device lost (${reason})${message ? `: ${message}` : ""}`);
    this.name = "DeviceLostError";
    this.reason = reason;
  }
}

/** WebGPU rejected a command (validation or out-of-memory); names the kernel when known. */
export class GpuCommandError extends Error {
  /** @param message WebGPU's error message, prefixed with what we were doing. */
  constructor(message: string) {
    super(message);
    this.name = "GpuCommandError";
  }
}

/**
 * GPU work did not complete in time: a readback waited far longer than the work before it took. Seen on the
 * H200 with Dawn's Node binding, where a readback in GPU router training can stay pending for good while the
 * GPU is idle (docs/conversion.md); callers that can (router training) fall back to the CPU.
 */
export class GpuStallError extends Error {
  /** @param message What was waited for, and for how long. */
  constructor(message: string) {
    super(message);
    this.name = "GpuStallError";
  }
}
