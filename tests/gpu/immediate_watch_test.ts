import assert from "node:assert/strict";
import {
  type ClearImmediateFn,
  createImmediateWatch,
  describeImmediates,
  type SetImmediateFn,
  watchImmediates,
} from "../../src/gpu/immediate_watch.ts";

/** A `setImmediate` that queues callbacks until the test runs or drops them (a lost callback). */
function fakeImmediates() {
  const queued = new Map<number, () => void>();
  let next = 1;
  const set: SetImmediateFn = (fn, ...args) => {
    const h = { id: next++ };
    queued.set(h.id, () => fn(...args));
    return h;
  };
  const clear: ClearImmediateFn = (h) => queued.delete((h as { id: number }).id);
  const runAll = () => {
    const fns = [...queued.values()];
    queued.clear();
    for (const f of fns) f();
  };
  return { set, clear, queued, runAll, drop: () => queued.clear() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("immediate watch: callbacks run once, with their arguments, and are counted", () => {
  const fake = fakeImmediates();
  const w = createImmediateWatch("watch", fake.set, fake.clear);
  const got: unknown[] = [];
  w.setImmediate((a, b) => got.push([a, b]), 1, "x");
  w.setImmediate(() => got.push("second"));
  assert.equal(w.stats().pending, 2);
  fake.runAll();
  assert.deepEqual(got, [[1, "x"], "second"]);
  assert.deepEqual(
    { ...w.stats(), oldestPendingMs: 0 },
    {
      mode: "watch",
      scheduled: 2,
      ran: 2,
      rescued: 0,
      lateAfterRescue: 0,
      pending: 0,
      oldestPendingMs: 0,
    },
  );
  w.stop();
});

Deno.test("immediate watch: a cleared callback never runs and is not pending", () => {
  const fake = fakeImmediates();
  const w = createImmediateWatch("rescue", fake.set, fake.clear, 30);
  let ran = false;
  w.clearImmediate(w.setImmediate(() => ran = true));
  fake.runAll();
  assert.equal(ran, false);
  assert.equal(w.stats().pending, 0);
  w.stop();
});

Deno.test("immediate watch: 'watch' reports a lost callback's age without running it", async () => {
  const fake = fakeImmediates();
  const w = createImmediateWatch("watch", fake.set, fake.clear, 30);
  let ran = 0;
  w.setImmediate(() => ran++);
  fake.drop();
  await sleep(80);
  const s = w.stats();
  assert.equal(ran, 0);
  assert.equal(s.pending, 1);
  assert.ok(s.oldestPendingMs >= 60, `oldest pending ${s.oldestPendingMs} ms`);
  w.stop();
});

Deno.test("immediate watch: 'rescue' runs a lost callback once, and a late original turn does nothing", async () => {
  const fake = fakeImmediates();
  const w = createImmediateWatch("rescue", fake.set, fake.clear, 30);
  let ran = 0;
  // a chain like Dawn's: each tick queues the next while work is pending; its second link is lost
  const tick = () => {
    ran++;
    if (ran < 4) w.setImmediate(tick);
  };
  w.setImmediate(tick);
  fake.runAll(); // first link runs and queues the second
  const late = [...fake.queued.values()];
  fake.drop(); // the second link is lost
  for (let i = 0; i < 20 && ran < 4; i++) {
    await sleep(40);
    fake.runAll(); // links queued by rescued ones run normally
  }
  assert.equal(ran, 4, "the chain went on after the rescue");
  for (const f of late) f(); // the lost link's own turn comes after all
  assert.equal(ran, 4, "a rescued callback does not run twice");
  const s = w.stats();
  assert.equal(s.rescued, 1);
  assert.equal(s.lateAfterRescue, 1);
  assert.equal(s.ran, 3);
  assert.equal(s.pending, 0);
  w.stop();
});

Deno.test("immediate watch: a throwing callback is still settled", () => {
  const fake = fakeImmediates();
  const w = createImmediateWatch("rescue", fake.set, fake.clear, 30);
  w.setImmediate(() => {
    throw new Error("boom");
  });
  assert.throws(() => fake.runAll(), /boom/);
  assert.equal(w.stats().pending, 0);
  w.stop();
});

Deno.test("immediate watch: installed on the global setImmediate, once, and described for stall messages", async () => {
  // this test file's isolate only: Dawn's loader installs it the same way (src/gpu/device.ts)
  const stats = watchImmediates("watch");
  assert.ok(stats, "installed");
  assert.equal(watchImmediates("rescue"), stats, "a second install returns the first watch");
  assert.equal(watchImmediates("off"), stats, "'off' returns the installed watch's report");
  const before = stats().scheduled;
  await new Promise((r) => setImmediate(r));
  assert.equal(stats().scheduled, before + 1);
  assert.equal(stats().ran, before + 1);
  assert.match(
    describeImmediates() ?? "",
    /^setImmediate callbacks: \d+ scheduled, \d+ run, 0 rescued, none queued$/,
  );
});
