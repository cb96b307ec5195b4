/**
 * CPU router training for several layers at once, one Web Worker per layer up to the number of cores.
 * The float64 trainer is single-threaded and the layers' routers are independent, so on a 2-core machine
 * converting a 2-layer model takes about half the time. Each worker runs the same `trainRouter` with the
 * same seed as the sequential path, so the routers are identical.
 * @module
 */
import type { RouterJobMessage } from "./router_worker.ts";
import type { RouterTrainOptions, RouterTrainResult } from "./router_train.ts";

/** Progress of one layer's training: what `trainRouter` reports to its `onProgress`. */
export type LayerTrainProgress = Parameters<NonNullable<RouterTrainOptions["onProgress"]>>[0];

/**
 * Workers to use by default: the core count (`navigator.hardwareConcurrency`), at least 1.
 * @returns The count.
 */
export function defaultTrainWorkers(): number {
  const n = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.floor(n));
}

function trainInWorker(
  job: RouterJobMessage,
  onProgress: (p: LayerTrainProgress) => void,
  signal?: AbortSignal,
): Promise<RouterTrainResult> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const worker = new Worker(new URL("./router_worker.ts", import.meta.url).href, { type: "module" });
    const stop = () => {
      worker.terminate();
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", stop, { once: true });
    const finish = () => {
      signal?.removeEventListener("abort", stop);
      worker.terminate();
    };
    worker.onmessage = (ev) => {
      const m = ev.data;
      if (m.type === "progress") onProgress(m.progress);
      else if (m.type === "done") {
        finish();
        resolve(m.result);
      } else {
        finish();
        const err = m.name === "RangeError"
          ? new RangeError(m.message)
          : m.name === "TypeError"
          ? new TypeError(m.message)
          : new Error(m.message);
        reject(err);
      }
    };
    worker.onerror = (ev) => {
      ev.preventDefault();
      finish();
      reject(new Error(`router training worker failed: ${ev.message}`));
    };
    worker.postMessage(job);
  });
}

/**
 * Trains each job's router on the CPU, up to `workers` at once in Web Workers (in order of the jobs).
 * @param jobs One per layer: inputs, targets and options (no callbacks; the arrays are copied).
 * @param onProgress Called with the job index and its progress, a few times a second per job.
 * @param workers Concurrent workers (default {@link defaultTrainWorkers}).
 * @param signal Aborts every running worker; the promise rejects with `signal.reason`.
 * @returns The results, in job order.
 * @throws {Error} What a job's `trainRouter` threw (its message; RangeError and TypeError keep their class).
 */
export async function trainRoutersParallel(
  jobs: RouterJobMessage[],
  onProgress: (job: number, p: LayerTrainProgress) => void = () => {},
  workers = defaultTrainWorkers(),
  signal?: AbortSignal,
): Promise<RouterTrainResult[]> {
  const results: RouterTrainResult[] = new Array(jobs.length);
  // One failure stops the other workers too (they would otherwise run on, unobserved).
  const stopAll = new AbortController();
  const forward = () => stopAll.abort(signal?.reason);
  signal?.addEventListener("abort", forward, { once: true });
  if (signal?.aborted) forward();
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      try {
        results[i] = await trainInWorker(jobs[i], (p) => onProgress(i, p), stopAll.signal);
      } catch (e) {
        if (!stopAll.signal.aborted) stopAll.abort(e);
        throw e;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(workers, jobs.length)) }, lane));
  } finally {
    signal?.removeEventListener("abort", forward);
  }
  return results;
}
