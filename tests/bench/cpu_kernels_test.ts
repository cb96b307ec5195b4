// bench/cpu_kernels.ts --quick runs end to end and prints one row per kernel with a speedup. Speed is never
// asserted: only that every row has finite timings.
import assert from "node:assert/strict";

Deno.test("bench/cpu_kernels.ts --quick prints a timed row for every kernel", async () => {
  const script = new URL("../../bench/cpu_kernels.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "--quick"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n").slice(2);
  const kernels = lines.map((l) => l.split(/\s{2,}/)[0]);
  assert.deepEqual(kernels, [
    "matmul (LM head)",
    "matmul (FFN up)",
    "matmul (ReLU FFN down)",
    "attention",
    "cross-entropy",
    "D2DMoE experts (f 0.5)",
    "calibration norms",
  ]);
  for (const l of lines) {
    const [, , js, wasm, speedup] = l.trim().split(/\s{2,}/);
    for (const v of [js, wasm, speedup.replace("×", "")]) {
      assert.ok(Number.isFinite(Number(v)) && Number(v) > 0, l);
    }
  }
});
