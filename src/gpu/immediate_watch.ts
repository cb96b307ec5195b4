/**
 * A watch over `setImmediate`, which Dawn's node binding (npm:webgpu) depends on: while any of its requests
 * (mapAsync, onSubmittedWorkDone, pipeline creation) is pending, its AsyncRunner ticks the device from a
 * chain of `setImmediate` callbacks, each queueing the next, and only an idle-to-busy transition starts a new
 * chain. One callback that never runs therefore leaves every pending and later request waiting for ever,
 * which is what GPU router training on the H200 looked like (docs/conversion.md).
 *
 * {@link watchImmediates} wraps the global `setImmediate` (the binding looks it up on every tick) so that
 * each callback is tracked until it runs, and in "rescue" mode runs any callback still queued after
 * {@link RESCUE_AFTER_MS} from a timer, once (whichever of the two fires first runs it; the other does
 * nothing). The wrapper adds no delay to callbacks that run on time.
 * @module
 */

/** How the watch acts: "off" leaves `setImmediate` alone, "watch" counts, "rescue" also runs late ones. */
export type ImmediateWatchMode = "off" | "watch" | "rescue";

/** Every {@link ImmediateWatchMode}, for option parsing. */
export const IMMEDIATE_WATCH_MODES: readonly ImmediateWatchMode[] = ["off", "watch", "rescue"];

/** A queued callback older than this counts as late (and in "rescue" mode is run by the watch's timer). */
export const RESCUE_AFTER_MS = 1000;

/** What the watch has seen since it was installed. */
export interface ImmediateWatchStats {
  /** The mode it was installed in. */
  mode: ImmediateWatchMode;
  /** Callbacks queued through `setImmediate`. */
  scheduled: number;
  /** Callbacks run by `setImmediate` itself. */
  ran: number;
  /** Callbacks run by the watch's timer because `setImmediate` had not run them after the limit. */
  rescued: number;
  /** Rescued callbacks whose own `setImmediate` turn came later after all (late, not lost). */
  lateAfterRescue: number;
  /** Callbacks queued and not yet run. */
  pending: number;
  /** Age of the oldest of those in ms (0 when none). */
  oldestPendingMs: number;
}

interface Entry {
  run: () => void;
  at: number;
  done: boolean;
  rescued: boolean;
}

/** `setImmediate`'s shape as the watch wraps it. */
export type SetImmediateFn = (fn: (...args: unknown[]) => void, ...args: unknown[]) => unknown;
/** `clearImmediate`'s shape as the watch wraps it. */
export type ClearImmediateFn = (handle: unknown) => void;

/** A watch over one `setImmediate`: its wrapped pair, its report, and a way to stop its timer. */
export interface ImmediateWatch {
  /** Queues like the original and tracks the callback until it runs. */
  setImmediate: SetImmediateFn;
  /** Cancels like the original (a cancelled callback is no longer tracked). */
  clearImmediate: ClearImmediateFn;
  /** What the watch has seen so far. */
  stats: () => ImmediateWatchStats;
  /** Stops the rescue timer (callbacks already queued run as the original runs them). */
  stop: () => void;
}

/**
 * Wraps a `setImmediate`/`clearImmediate` pair (the global one in {@link watchImmediates}; a fake one in
 * tests).
 * @param mode "watch" counts; "rescue" also runs callbacks still queued after `rescueAfterMs`.
 * @param original The `setImmediate` to wrap.
 * @param originalClear Its `clearImmediate`.
 * @param rescueAfterMs Age after which a queued callback counts as late.
 * @returns The watch.
 */
export function createImmediateWatch(
  mode: "watch" | "rescue",
  original: SetImmediateFn,
  originalClear: ClearImmediateFn,
  rescueAfterMs = RESCUE_AFTER_MS,
): ImmediateWatch {
  const counts = { scheduled: 0, ran: 0, rescued: 0, lateAfterRescue: 0 };
  const pending = new Set<Entry>();
  const stats = (): ImmediateWatchStats => {
    let oldest = Infinity;
    for (const e of pending) oldest = Math.min(oldest, e.at);
    return {
      mode,
      ...counts,
      pending: pending.size,
      oldestPendingMs: pending.size ? performance.now() - oldest : 0,
    };
  };
  const handles = new WeakMap<object, Entry>();
  let timer: ReturnType<typeof setInterval> | undefined;
  // The rescue timer keeps the process alive only while a callback is queued: a lost one must not let
  // the process exit with the request it was to complete still pending.
  const settle = (entry: Entry) => {
    pending.delete(entry);
    if (pending.size === 0 && timer !== undefined) Deno.unrefTimer(timer);
  };
  // Runs a queued callback, by its own turn or by the rescue timer. It is untracked only after the run,
  // which usually queues the next one: the timer's ref then never flips.
  const runOnce = (entry: Entry, rescued: boolean) => {
    entry.done = true;
    entry.rescued = rescued;
    if (rescued) counts.rescued++;
    else counts.ran++;
    try {
      entry.run();
    } finally {
      settle(entry);
    }
  };
  const setImmediateWatched: SetImmediateFn = (fn, ...args) => {
    counts.scheduled++;
    const entry: Entry = { run: () => fn(...args), at: performance.now(), done: false, rescued: false };
    pending.add(entry);
    if (pending.size === 1 && timer !== undefined) Deno.refTimer(timer);
    const handle = original(() => {
      if (entry.done) {
        if (entry.rescued) counts.lateAfterRescue++;
        return;
      }
      runOnce(entry, false);
    });
    if (handle && typeof handle === "object") handles.set(handle, entry);
    return handle;
  };
  const clearImmediateWatched: ClearImmediateFn = (handle) => {
    const entry = handle && typeof handle === "object" ? handles.get(handle) : undefined;
    if (entry) {
      entry.done = true;
      settle(entry);
    }
    originalClear(handle);
  };
  if (mode === "rescue") {
    timer = setInterval(() => {
      const now = performance.now();
      for (const entry of [...pending]) {
        if (!entry.done && now - entry.at >= rescueAfterMs) runOnce(entry, true);
      }
    }, Math.max(20, rescueAfterMs / 4));
    if (pending.size === 0) Deno.unrefTimer(timer);
  }
  return {
    setImmediate: setImmediateWatched,
    clearImmediate: clearImmediateWatched,
    stats,
    stop: () => clearInterval(timer),
  };
}

let installed: (() => ImmediateWatchStats) | null = null;

/**
 * Installs a watch over the global `setImmediate` once per process, for Dawn's binding to pick up (later
 * calls, whatever their mode, return the first one's report; "off" then asks only for that).
 * @param mode "watch" or "rescue"; "off" installs nothing.
 * @param rescueAfterMs Age after which a queued callback counts as late.
 * @returns The installed watch's report, or null when there is none.
 */
export function watchImmediates(
  mode: ImmediateWatchMode,
  rescueAfterMs = RESCUE_AFTER_MS,
): (() => ImmediateWatchStats) | null {
  if (installed || mode === "off") return installed;
  const g = globalThis as unknown as { setImmediate?: SetImmediateFn; clearImmediate?: ClearImmediateFn };
  const original = g.setImmediate, originalClear = g.clearImmediate;
  if (!original || !originalClear) return null;
  const watch = createImmediateWatch(mode, original, originalClear, rescueAfterMs);
  g.setImmediate = watch.setImmediate;
  g.clearImmediate = watch.clearImmediate;
  installed = watch.stats;
  return installed;
}

/**
 * One line on the installed watch for an error message about a wait that never ended: whether a
 * `setImmediate` callback (Dawn's tick) was queued and not run, and for how long. Null when no watch is
 * installed (Deno's built-in WebGPU, `D2D_IMMEDIATE_WATCH=off`).
 * @returns The line, or null.
 */
export function describeImmediates(): string | null {
  if (!installed) return null;
  const s = installed();
  const queued = s.pending
    ? `${s.pending} queued, the oldest for ${(s.oldestPendingMs / 1000).toFixed(1)} s`
    : "none queued";
  return `setImmediate callbacks: ${s.scheduled} scheduled, ${s.ran} run, ${s.rescued} rescued, ${queued}`;
}
