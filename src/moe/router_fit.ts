/**
 * Where a converted layer's router trains and attention distillation runs: on the GPU of a hardware adapter
 * by default (when the samples fit one binding), else with the float64 CPU trainer. Shared by FFN and
 * attention-projection conversion.
 * @module
 */
import { GpuStallError } from "../gpu/errors.ts";
import type { Backend } from "../ops/backend.ts";
import { type RouterTrainResult, trainRouter } from "./router_train.ts";
import {
  type BackendRouterTrainOptions,
  routerTrainingFits,
  trainRouterOnBackend,
} from "./router_train_gpu.ts";

/** "auto" (the GPU when it is a hardware adapter), "gpu" (whenever the backend is one) or "cpu". */
export type RouterDevice = "auto" | "gpu" | "cpu";

/** Every {@link RouterDevice}, for option parsing. */
export const ROUTER_DEVICES: readonly RouterDevice[] = ["auto", "gpu", "cpu"];

/**
 * Whether training runs on the backend's GPU.
 * @param be The model's backend.
 * @param where Device preference ("auto": only a hardware adapter; a software one is slower than the CPU).
 * @param fits Whether the training data fits the device's bindings.
 * @returns True for the GPU.
 */
export function trainsOnGpu(be: Backend, where: RouterDevice = "auto", fits = true): boolean {
  return be.info.kind === "gpu" && (where === "gpu" || (where === "auto" && !be.info.fallback)) && fits;
}

/**
 * Trains one router where {@link trainsOnGpu} says. When the GPU trainer stalls (a readback pending far
 * longer than the work before it, {@link GpuStallError}), the router trains on the CPU instead and `stall`
 * says why, so that the caller can keep later layers off the GPU.
 * @param be The model's backend.
 * @param x Router inputs [n, d].
 * @param y Expert output norms [n, E].
 * @param n Rows.
 * @param d Input width.
 * @param experts E.
 * @param opts Training options (`stallMs` applies to the GPU trainer only).
 * @param where Device preference (default "auto").
 * @returns The result, where it trained, and the stall message when the GPU trainer gave up.
 */
export async function fitRouter(
  be: Backend,
  x: Float32Array,
  y: Float32Array,
  n: number,
  d: number,
  experts: number,
  opts: BackendRouterTrainOptions,
  where: RouterDevice = "auto",
): Promise<RouterTrainResult & { device: "gpu" | "cpu"; stall?: string }> {
  if (trainsOnGpu(be, where, routerTrainingFits(be, n, d, experts))) {
    try {
      return { ...(await trainRouterOnBackend(be, x, y, n, d, experts, opts)), device: "gpu" };
    } catch (e) {
      if (!(e instanceof GpuStallError)) throw e;
      return { ...trainRouter(x, y, n, d, experts, opts), device: "cpu", stall: e.message };
    }
  }
  return { ...trainRouter(x, y, n, d, experts, opts), device: "cpu" };
}
