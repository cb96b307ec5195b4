import assert from "node:assert/strict";
import {
  type ClearImmediateFn,
  createDawnTickPacer,
  describeDawnTicks,
  installDawnTicks,
  markDawnProgress,
  type PacerClock,
  type SetImmediateFn,
} from "../../src/gpu/dawn_ticks.ts";

/** A `setImmediate` and timers that queue callbacks until the test runs them, with a hand-moved clock. */
function fakeLoop() {
  const immediates = new Map<number, () => void>();
  const timers = new Map<number, { fn: () => void; ms: number }>();
  let next = 1;
  let t = 0;
  const set: SetImmediateFn = (fn, ...args) => {
    const h = { id: next++ };
    immediates.set(h.id, () => fn(...args));
    return h;
  };
  const clear: ClearImmediateFn = (h) => immediates.delete((h as { id: number }).id);
  const clock: PacerClock = {
    setTimeout: (fn, ms) => {
      const id = next++;
      timers.set(id, { fn, ms });
      return id; // a number, as Deno's timers are
    },
    clearTimeout: (id) => timers.delete(id as number),
    now: () => t,
  };
  /** Runs what is queued now (immediates first, then timers), advancing the clock by `ms` first. */
  const turn = (ms = 0) => {
    t += ms;
    const fns = [...immediates.values(), ...[...timers.values()].map((x) => x.fn)];
    immediates.clear();
    timers.clear();
    for (const f of fns) f();
  };
  return { set, clear, clock, immediates, timers, turn };
}

/** A callback whose source reads as native code, as Dawn's Node-API tick does. */
const native = (f: () => void) => f.bind(null);

/** Dawn's AsyncRunner in miniature: each tick queues the next while `busy()` says work is pending. */
function dawnChain(setImm: SetImmediateFn, busy: () => boolean, ticks: { n: number }) {
  const tick = () => {
    ticks.n++;
    if (busy()) setImm(native(tick));
  };
  setImm(native(tick));
}

/**
 * Runs the fake loop dry, one turn per ms, calling `beforeTurn` before each, and says how each turn's
 * callback was queued: "immediate" or "timer".
 */
function drain(loop: ReturnType<typeof fakeLoop>, beforeTurn: () => void): string[] {
  const kinds: string[] = [];
  while (loop.immediates.size + loop.timers.size > 0) {
    kinds.push(loop.timers.size ? "timer" : "immediate");
    beforeTurn();
    loop.turn(1);
  }
  return kinds;
}

Deno.test("dawn ticks: callbacks run once, with their arguments, and are counted", () => {
  const loop = fakeLoop();
  const p = createDawnTickPacer("pace", loop.set, loop.clear, loop.clock, 5);
  const got: unknown[] = [];
  p.setImmediate((a, b) => got.push([a, b]), 1, "x");
  p.setImmediate(() => got.push("second"));
  assert.equal(p.stats().pending, 2);
  loop.turn(3);
  assert.equal(p.stats().oldestPendingMs, 0);
  assert.deepEqual(got, [[1, "x"], "second"]);
  assert.deepEqual(p.stats(), {
    mode: "pace",
    scheduled: 2,
    chains: 0,
    paced: 0,
    pending: 0,
    oldestPendingMs: 0,
  });
});

Deno.test("dawn ticks: a long chain of native ticks moves to 1 ms timers, and a new chain starts immediate", () => {
  const loop = fakeLoop();
  const p = createDawnTickPacer("pace", loop.set, loop.clear, loop.clock, 5);
  const ticks = { n: 0 };
  let busyUntil = 12;
  dawnChain(p.setImmediate, () => loop.clock.now() < busyUntil, ticks);
  const kinds = drain(loop, () => {
    if (loop.timers.size) assert.deepEqual([...loop.timers.values()].map((x) => x.ms), [1]);
  });
  // the chain's first tick and the 5 it queues are immediate; the ones after those, on timers
  assert.deepEqual(kinds, [...Array(6).fill("immediate"), ...Array(6).fill("timer")]);
  assert.equal(ticks.n, 12);
  assert.deepEqual({ ...p.stats(), oldestPendingMs: 0 }, {
    mode: "pace",
    scheduled: 12,
    chains: 1,
    paced: 6,
    pending: 0,
    oldestPendingMs: 0,
  });
  // the next request starts a new chain from outside any tick: immediate again
  busyUntil = 0;
  dawnChain(p.setImmediate, () => false, ticks);
  assert.equal(loop.immediates.size, 1);
  assert.equal(p.stats().chains, 2);
});

Deno.test("dawn ticks: a chain through short marked waits stays immediate; an unmarked stretch is paced", () => {
  const loop = fakeLoop();
  const p = createDawnTickPacer("pace", loop.set, loop.clear, loop.clock, 5);
  const ticks = { n: 0 };
  // one chain of 20 ticks running through back-to-back readbacks: each marks progress as it begins and
  // ends (every 3 ticks here), so the chain never looks longer than 5 ticks while they run
  dawnChain(p.setImmediate, () => loop.clock.now() < 20, ticks);
  const kinds = drain(loop, () => {
    if (loop.clock.now() % 3 === 0 && loop.clock.now() < 12) p.markProgress();
  });
  // marks at t = 0, 3, 6, 9: ticks queued up to t = 9 + 5 are immediate, those of t = 15..19 paced
  // (a tick per ms here; the pacer counts ticks, not ms)
  assert.deepEqual(kinds, [...Array(15).fill("immediate"), ...Array(5).fill("timer")]);
  assert.equal(p.stats().chains, 1);
  assert.equal(p.stats().paced, 5);
});

Deno.test("dawn ticks: a pause inside a short chain (a garbage collection) does not get it paced", () => {
  const loop = fakeLoop();
  const p = createDawnTickPacer("pace", loop.set, loop.clear, loop.clock, 5);
  const ticks = { n: 0 };
  dawnChain(p.setImmediate, () => ticks.n < 4, ticks);
  loop.turn(1);
  loop.turn(200); // 200 ms between two ticks of one short wait
  assert.equal(loop.immediates.size, 1);
  assert.equal(loop.timers.size, 0, "not paced: only 2 ticks into the chain");
  loop.turn(1);
  loop.turn(1);
  assert.equal(ticks.n, 4);
  assert.equal(p.stats().paced, 0);
});

Deno.test("dawn ticks: JavaScript callbacks and 'count' mode are never paced", () => {
  for (const [mode, wrap] of [["pace", (f: () => void) => f], ["count", native]] as const) {
    const loop = fakeLoop();
    const p = createDawnTickPacer(mode, loop.set, loop.clear, loop.clock, 2);
    let n = 0;
    const tick = () => {
      if (++n < 10) p.setImmediate(wrap(tick));
    };
    p.setImmediate(wrap(tick));
    while (loop.immediates.size) {
      assert.equal(loop.timers.size, 0, `${mode}: nothing on timers`);
      loop.turn(1);
    }
    assert.equal(n, 10);
    assert.equal(p.stats().paced, 0);
  }
});

Deno.test("dawn ticks: a native tick queued from a JavaScript callback starts a new chain", () => {
  const loop = fakeLoop();
  const p = createDawnTickPacer("pace", loop.set, loop.clear, loop.clock, 2);
  const ticks = { n: 0 };
  dawnChain(p.setImmediate, () => loop.clock.now() < 6, ticks);
  while (loop.immediates.size + loop.timers.size > 0) loop.turn(1);
  assert.ok(p.stats().paced > 0, "the long chain was paced");
  p.setImmediate(() => p.setImmediate(native(() => {}))); // e.g. a mapAsync from inside some immediate
  loop.turn(1);
  assert.equal(loop.immediates.size, 1, "immediate, not paced");
  assert.equal(loop.timers.size, 0);
  assert.equal(p.stats().chains, 2);
});

Deno.test("dawn ticks: a cleared callback never runs, whether queued immediate or paced", () => {
  const loop = fakeLoop();
  const p = createDawnTickPacer("pace", loop.set, loop.clear, loop.clock, 0);
  let ran = 0;
  let pacedHandle: unknown;
  p.setImmediate(native(() => {
    pacedHandle = p.setImmediate(native(() => ran++)); // chained and past 0 ticks: paced
  }));
  loop.turn(1);
  assert.equal(loop.timers.size, 1);
  p.clearImmediate(pacedHandle);
  assert.equal(loop.timers.size, 0, "the timer is cancelled");
  p.clearImmediate(p.setImmediate(() => ran++));
  loop.turn(1);
  assert.equal(ran, 0);
  assert.equal(p.stats().pending, 0);
});

Deno.test("dawn ticks: a callback that throws still leaves the chain state clean", () => {
  const loop = fakeLoop();
  const p = createDawnTickPacer("pace", loop.set, loop.clear, loop.clock, 0);
  p.setImmediate(native(() => {
    throw new Error("boom");
  }));
  assert.throws(() => loop.turn(1), /boom/);
  assert.equal(p.stats().pending, 0);
  p.setImmediate(native(() => {}));
  assert.equal(loop.immediates.size, 1, "queued from outside a callback: a new chain, not paced");
  assert.equal(p.stats().chains, 2);
});

Deno.test("dawn ticks: installed on the global setImmediate, once, and described for stall messages", async () => {
  // this test file's isolate only: Dawn's loader installs it the same way (src/gpu/device.ts)
  const stats = installDawnTicks("pace");
  assert.ok(stats, "installed");
  assert.equal(installDawnTicks("count"), stats, "a second install returns the first pacer's report");
  assert.equal(installDawnTicks("off"), stats, "'off' returns the installed pacer's report");
  const before = stats().scheduled;
  await new Promise((r) => setImmediate(r));
  assert.equal(stats().scheduled, before + 1);
  assert.match(describeDawnTicks() ?? "", /^Dawn ticks: \d+ in \d+ chains, 0 paced, none queued$/);
  markDawnProgress(); // reaches the installed pacer; nothing queued, so nothing to observe but no throw
});
