/**
 * Progress reporting for long steps (conversion, evaluation): a callback type for the API and a
 * terminal renderer with a bar and an ETA for the CLI.
 * @module
 */

/** One progress update. */
export interface Progress {
  /** Step name, e.g. "expert split" or "router training". */
  step: string;
  /** Units done. */
  done: number;
  /** Units in total. */
  total: number;
  /** Optional detail, e.g. "layer 3/12, val loss 0.021". */
  detail?: string;
}

/** Receives progress updates. */
export type ProgressCallback = (p: Progress) => void;

/**
 * A renderer that draws `step [#####-----] 42% ETA 1m05s detail` on stderr, redrawing in place on a
 * terminal and printing a line every few seconds otherwise; steps shorter than `minSeconds` stay quiet.
 * @param minSeconds Steps finishing sooner than this print nothing (default 2).
 * @returns The callback.
 */
export function terminalProgress(minSeconds = 2): ProgressCallback {
  const enc = new TextEncoder();
  const tty = (() => {
    try {
      return Deno.stderr.isTerminal();
    } catch {
      return false;
    }
  })();
  let step = "";
  let start = 0;
  let lastPrint = 0;
  let drawn = false;
  const write = (s: string) => Deno.stderr.writeSync(enc.encode(s));
  return (p) => {
    const now = performance.now();
    if (p.step !== step) {
      if (drawn && tty) write("\n");
      step = p.step;
      start = now;
      lastPrint = 0;
      drawn = false;
    }
    const elapsed = (now - start) / 1000;
    const finished = p.done >= p.total;
    if (elapsed < minSeconds && !(finished && drawn)) return;
    if (!tty && !finished && now - lastPrint < 5000) return;
    lastPrint = now;
    const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
    const eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
    const bar = "#".repeat(Math.round(frac * 24)).padEnd(24, "-");
    const line = `${p.step} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${
      finished ? `done in ${formatDuration(elapsed)}` : `ETA ${formatDuration(eta)}`
    }${p.detail ? `  ${p.detail}` : ""}`;
    write(tty ? `\r\x1b[2K${line}${finished ? "\n" : ""}` : `${line}\n`);
    drawn = !finished;
    if (finished) step = "";
  };
}

/**
 * A duration for progress lines: "4.2s" under a minute, else whole seconds as "1m05s" (rounded before
 * splitting, so 419.6 s is "7m00s", not "6m60s").
 * @param s Seconds.
 * @returns The text; "?" when not finite.
 */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 59.95) return `${s.toFixed(1)}s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, "0")}s`;
}
