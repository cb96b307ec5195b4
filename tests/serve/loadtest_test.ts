/**
 * `deno task loadtest` at test scale (a couple of seconds): more clients than `--max-queue` against the
 * server subprocess. Overload must be answered with 429 (never a 5xx or a dropped connection), requests
 * in flight must stay within the bound, the heap must return to its level, and `/health` must be 200
 * afterwards. Speed is reported, never asserted.
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { LoadtestReport } from "../../bench/loadtest.ts";

const SCRIPT = fileURLToPath(new URL("../../bench/loadtest.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));

Deno.test("loadtest: 24 clients vs --max-queue 2 → 429s, no 5xx, bounded, memory back, healthy", async () => {
  const args = ["--duration", "1.5", "--clients", "24", "--max-queue", "2", "--settle", "0.3", "--json"];
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  const stdout = new TextDecoder().decode(out.stdout);
  const line = stdout.trim().split("\n").at(-1) ?? "";
  assert.ok(line.startsWith("{"), `no JSON report:\n${stdout}\n${stderr}`);
  const r: LoadtestReport = JSON.parse(line);
  const l = r.load;
  console.log(
    `loadtest (test scale): ${l.requests} answers: ${JSON.stringify(l.statuses)}; 200 p50 ${
      l.okLatency.p50.toFixed(1)
    } ms p99 ${l.okLatency.p99.toFixed(1)} ms; in flight ≤ ${r.maxInFlight}; heap ${
      (r.memory.before.heapUsed / 2 ** 20).toFixed(1)
    } → ${(r.memory.after.heapUsed / 2 ** 20).toFixed(1)} MiB`,
  );
  assert.ok((l.statuses["200"] ?? 0) > 0, "some requests were served");
  assert.ok((l.statuses["429"] ?? 0) > 0, "overload was answered with 429");
  assert.equal(l.fiveXX, 0);
  assert.equal(l.errors, 0, l.errorSamples.join("; "));
  assert.ok(r.maxInFlight <= 2, `in flight ${r.maxInFlight} > --max-queue 2`);
  assert.ok(r.checks.memoryReturned, JSON.stringify(r.memory));
  assert.equal(r.healthAfter, 200);
  assert.equal(out.code, 0, stderr);
});
