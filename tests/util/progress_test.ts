import assert from "node:assert/strict";
import { formatDuration } from "../../src/util/progress.ts";

Deno.test("formatDuration: tenths under a minute, whole seconds above", () => {
  assert.equal(formatDuration(4.24), "4.2s");
  assert.equal(formatDuration(0), "0.0s");
  assert.equal(formatDuration(65), "1m05s");
  assert.equal(formatDuration(3600), "60m00s");
});

Deno.test("formatDuration: rounding carries into the minutes", () => {
  assert.equal(formatDuration(419.6), "7m00s"); // was "6m60s"
  assert.equal(formatDuration(59.97), "1m00s"); // was "60.0s"
  assert.equal(formatDuration(119.5), "2m00s");
});

Deno.test("formatDuration: no estimate yet", () => {
  assert.equal(formatDuration(Infinity), "?");
  assert.equal(formatDuration(NaN), "?");
});
