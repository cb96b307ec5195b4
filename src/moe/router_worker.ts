/**
 * Web Worker entry of {@link ./router_parallel.ts}: trains one router with the float64 CPU trainer and
 * posts progress (throttled) and the result back. Not part of the public API.
 * @module
 */
import { type RouterTrainOptions, trainRouter } from "./router_train.ts";

/** What the parent sends: one layer's training job. */
export interface RouterJobMessage {
  /** Router inputs [n, d]. */
  x: Float32Array;
  /** Targets [n, experts]. */
  y: Float32Array;
  /** Rows. */
  n: number;
  /** Input width. */
  d: number;
  /** Experts. */
  experts: number;
  /** Training options (no callbacks or signals: those cannot cross threads). */
  opts: Omit<RouterTrainOptions, "onProgress" | "signal">;
}

const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<RouterJobMessage>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

scope.onmessage = (ev) => {
  const { x, y, n, d, experts, opts } = ev.data;
  try {
    let last = 0;
    const r = trainRouter(x, y, n, d, experts, {
      ...opts,
      onProgress: (p) => {
        // A message per optimiser step would flood the parent; a few per second is plenty for a bar.
        const now = performance.now();
        if (now - last > 200 || p.step === p.steps) {
          last = now;
          scope.postMessage({ type: "progress", progress: p });
        }
      },
    });
    scope.postMessage({ type: "done", result: r });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    scope.postMessage({ type: "error", name: err.name, message: err.message });
  }
};
