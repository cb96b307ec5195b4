/** Table formatting of the CLI (src/cli/output.ts). */
import assert from "node:assert/strict";
import { formatTau } from "../../src/cli/output.ts";

Deno.test("formatTau: three decimals at least, every decimal τ has up to six", () => {
  assert.equal(formatTau(0), "0.000");
  assert.equal(formatTau(0.09), "0.090");
  assert.equal(formatTau(0.085), "0.085");
  assert.equal(formatTau(0.0865), "0.0865");
  assert.equal(formatTau(0.0875), "0.0875");
  assert.equal(formatTau(1), "1.000");
  assert.equal(formatTau(0.1 + 0.2), "0.300", "float noise past six decimals is not shown");
  assert.equal(formatTau(0.1234567), "0.123457");
});
