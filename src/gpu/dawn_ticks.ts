/**
 * Paces the ticks of Dawn's node binding (npm:webgpu) so that Deno's Node-API layer cannot stall the main
 * thread for minutes.
 *
 * While any Dawn request (mapAsync, onSubmittedWorkDone, pipeline creation) is pending, the binding's
 * AsyncRunner ticks the device from a chain of `setImmediate` callbacks, each queueing the next, and each a
 * fresh native function with a Node-API finalizer: 10,000–15,000 a second while a long readback waits
 * (H100, 2026-12-05). Deno 2.9 keeps those finalizers in one vector (its registry since denoland/deno#36551)
 * and removes each collected one by a linear search and shift, so a garbage collection that frees n of them
 * costs O(n²): with the young generation at 64 MB, conversions that trained routers on the GPU stopped for
 * good, the main thread spinning in Deno's finalizer bookkeeping (ptrace samples: `bench/native_stack.py`,
 * docs/conversion.md).
 *
 * The pacer wraps the global `setImmediate` (the binding looks it up on every tick): a chain of native
 * callbacks longer than {@link PACE_AFTER_TICKS} ticks continues from 1 ms timers instead, which cuts the
 * ticks of a long wait several-fold (a 300 ms readback's about sixfold) and their quadratic cost by the
 * square of that, while short waits (a decode step's readback) keep their immediate ticks. JavaScript callbacks are never paced. A chain's length counts
 * from its start or from the last {@link markDawnProgress} (each readback calls it as it begins and ends).
 * @module
 */

/** "off" leaves `setImmediate` alone, "count" only counts, "pace" also paces long chains of native ticks. */
export type DawnTickMode = "off" | "count" | "pace";

/** Every {@link DawnTickMode}, for option parsing. */
export const DAWN_TICK_MODES: readonly DawnTickMode[] = ["off", "count", "pace"];

/**
 * A chain longer than this many native ticks continues from 1 ms timers in "pace" mode. A decode step's
 * readback took 30–90 ticks on the H100, a router-training epoch's thousands. Counted in ticks, not ms:
 * with a 20 ms age limit, the garbage-collection pauses inside a few short decode readbacks made them look
 * old, and each paced tick then cost milliseconds: H100 decode ran at 326–362 tok/s against 384–460
 * unpaced (2026-12-05, `bench/probe_decode.ts`).
 */
export const PACE_AFTER_TICKS = 400;

/** What the pacer has seen since it was installed. */
export interface DawnTickStats {
  /** The mode it was installed in. */
  mode: DawnTickMode;
  /** Callbacks queued through `setImmediate`. */
  scheduled: number;
  /** Chains started: native callbacks queued from outside any native callback's run. */
  chains: number;
  /** Callbacks moved to a 1 ms timer. */
  paced: number;
  /** Callbacks queued and not yet run. */
  pending: number;
  /** Age of the oldest of those in ms (0 when none). */
  oldestPendingMs: number;
}

/** `setImmediate`'s shape as the pacer wraps it. */
export type SetImmediateFn = (fn: (...args: unknown[]) => void, ...args: unknown[]) => unknown;
/** `clearImmediate`'s shape as the pacer wraps it. */
export type ClearImmediateFn = (handle: unknown) => void;

/** The timer and clock functions a pacer uses (the real ones by default; fakes in tests). */
export interface PacerClock {
  /** Queues a callback after `ms`. */
  setTimeout: (fn: () => void, ms: number) => unknown;
  /** Cancels it. */
  clearTimeout: (handle: unknown) => void;
  /** Milliseconds, monotonic. */
  now: () => number;
}

const REAL_CLOCK: PacerClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
  now: () => performance.now(),
};

/** A pacer over one `setImmediate`: its wrapped pair and its report. */
export interface DawnTickPacer {
  /** Queues like the original (or from a timer, for a long chain of native callbacks). */
  setImmediate: SetImmediateFn;
  /** Cancels a callback queued either way. */
  clearImmediate: ClearImmediateFn;
  /** What the pacer has seen so far. */
  stats: () => DawnTickStats;
  /** A wait ended or began: the running chain's length counts from here. */
  markProgress: () => void;
}

interface Entry {
  at: number;
  cancel: () => void;
}

/** Dawn's tick is a Node-API function; its source reads as native code (as a bound function's does). */
function isNative(fn: unknown): boolean {
  return typeof fn === "function" && Function.prototype.toString.call(fn).endsWith("{ [native code] }");
}

/**
 * Wraps a `setImmediate`/`clearImmediate` pair (the global one in {@link installDawnTicks}; fakes in tests).
 * @param mode "count" or "pace".
 * @param original The `setImmediate` to wrap.
 * @param originalClear Its `clearImmediate`.
 * @param clock Timers and clock for paced callbacks.
 * @param paceAfterTicks Chain length (native ticks since its start or last mark) after which they are paced.
 * @returns The pacer.
 */
export function createDawnTickPacer(
  mode: "count" | "pace",
  original: SetImmediateFn,
  originalClear: ClearImmediateFn,
  clock: PacerClock = REAL_CLOCK,
  paceAfterTicks = PACE_AFTER_TICKS,
): DawnTickPacer {
  const counts = { scheduled: 0, chains: 0, paced: 0 };
  const pending = new Set<Entry>();
  const byHandle = new WeakMap<object, Entry>();
  let depth = 0; // > 0 while a native callback of ours runs: a native one it queues continues its chain
  let chainTicks = 0; // native ticks queued in the running chain since its start or the last mark
  const stats = (): DawnTickStats => {
    let oldest = Infinity;
    for (const e of pending) oldest = Math.min(oldest, e.at);
    return {
      mode,
      ...counts,
      pending: pending.size,
      oldestPendingMs: pending.size ? clock.now() - oldest : 0,
    };
  };
  const setImmediatePaced: SetImmediateFn = (fn, ...args) => {
    counts.scheduled++;
    const at = clock.now();
    const native = isNative(fn);
    // a native callback queued from outside a native callback's run starts a chain (Dawn: idle to busy)
    if (native && depth === 0) {
      chainTicks = 0;
      counts.chains++;
    }
    const entry: Entry = { at, cancel: () => {} };
    pending.add(entry);
    const turn = () => {
      pending.delete(entry);
      if (native) depth++;
      try {
        fn(...args);
      } finally {
        if (native) depth--;
      }
    };
    let handle: unknown;
    const continuesChain = native && depth > 0;
    if (continuesChain) chainTicks++;
    if (mode === "pace" && continuesChain && chainTicks > paceAfterTicks) {
      counts.paced++;
      const timer = clock.setTimeout(turn, 1);
      entry.cancel = () => clock.clearTimeout(timer);
      handle = { pacedTimer: timer }; // a timer id may be a number: an object lets clearImmediate find it
    } else {
      const immediate = original(turn);
      entry.cancel = () => originalClear(immediate);
      handle = immediate;
    }
    if (handle && typeof handle === "object") byHandle.set(handle, entry);
    return handle;
  };
  const clearImmediatePaced: ClearImmediateFn = (handle) => {
    const entry = handle && typeof handle === "object" ? byHandle.get(handle) : undefined;
    if (!entry) return originalClear(handle);
    pending.delete(entry);
    entry.cancel();
  };
  const markProgress = () => {
    chainTicks = 0;
  };
  return { setImmediate: setImmediatePaced, clearImmediate: clearImmediatePaced, stats, markProgress };
}

let installed: DawnTickPacer | null = null;

/**
 * Installs a pacer over the global `setImmediate` once per process, for Dawn's binding to pick up (later
 * calls, whatever their mode, return the first one's report; "off" then asks only for that).
 * @param mode "count" or "pace"; "off" installs nothing.
 * @returns The installed pacer's report, or null when there is none.
 */
export function installDawnTicks(mode: DawnTickMode): (() => DawnTickStats) | null {
  if (installed || mode === "off") return installed?.stats ?? null;
  const g = globalThis as unknown as { setImmediate?: SetImmediateFn; clearImmediate?: ClearImmediateFn };
  const original = g.setImmediate, originalClear = g.clearImmediate;
  if (!original || !originalClear) return null;
  const pacer = createDawnTickPacer(mode, original, originalClear);
  g.setImmediate = pacer.setImmediate;
  g.clearImmediate = pacer.clearImmediate;
  installed = pacer;
  return pacer.stats;
}

/**
 * Tells the installed pacer (if any) that a wait began or ended, so that a chain of Dawn ticks running
 * through back-to-back short waits is never taken for one long wait and paced.
 */
export function markDawnProgress(): void {
  installed?.markProgress();
}

/**
 * One line on Dawn's ticks for an error message about a wait that never ended: how many were queued,
 * paced, and whether one is still queued (and for how long). Null when no pacer is installed (Deno's
 * built-in WebGPU, `D2D_DAWN_TICKS=off`).
 * @returns The line, or null.
 */
export function describeDawnTicks(): string | null {
  if (!installed) return null;
  const s = installed.stats();
  const queued = s.pending
    ? `${s.pending} queued, the oldest for ${(s.oldestPendingMs / 1000).toFixed(1)} s`
    : "none queued";
  return `Dawn ticks: ${s.scheduled} in ${s.chains} chains, ${s.paced} paced, ${queued}`;
}
