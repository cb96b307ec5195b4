/** `d2d convert` as a user meets it: a bad choice exits 2 naming the option and its choices; the τ table is legible. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runD2d as d2d } from "../helpers/cli.ts";

Deno.test("d2d convert: --router-device and --router-target accept only their choices", async () => {
  const base = ["convert", "--model", "/nonexistent/model", "--out", "/nonexistent/out"];
  const device = await d2d([...base, "--router-device", "tpu"]);
  assert.equal(device.code, 2, device.stderr);
  assert.match(device.stderr, /--router-device must be one of auto, gpu, cpu, got "tpu"/);
  const target = await d2d([...base, "--router-target", "l2"]);
  assert.equal(target.code, 2, target.stderr);
  assert.match(target.stderr, /--router-target must be one of norm, sqrt_norm, got "l2"/);
  const help = await d2d(["convert", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--router-device D/);
});

Deno.test("d2d convert: the τ table tells grid steps of 0.005 apart", async () => {
  const out = await Deno.makeTempDir({ prefix: "d2d-convert-cli-" });
  try {
    const model = fileURLToPath(new URL("../fixtures/hf-tiny/tiny-gpt2-relu", import.meta.url));
    const r = await d2d([
      "convert",
      ...["--model", model, "--out", out, "--overwrite", "--experts", "4", "--calib-tokens", "256"],
      ...["--taus", "0,0.005,0.01", "--backend", "cpu", "--router-device", "cpu"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const taus = [...r.stdout.matchAll(/^\s*(\d\.\d+)\s+\d\.\d{3}\s/gm)].map((m) => m[1]);
    assert.deepEqual(taus, ["0.000", "0.005", "0.010"]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
