import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { crossEntropyCpu } from "../../src/ops/cross_entropy_cpu.ts";
import { crossEntropyRef, NO_TARGET } from "../../src/ops/cross_entropy_ref.ts";
import { ensureBytes, simdModule } from "../../src/ops/sgemm_wasm.ts";

Deno.test("exp_shift: within 4e-7 of Math.exp over [−87, 0], exactly 0 below −87.3 and for −∞, f64 sum", () => {
  const mod = simdModule()!;
  const n = 4096;
  const x = new Float32Array(n);
  for (let i = 0; i < n - 8; i++) x[i] = -87 * (i / (n - 9)); // 0 … −87
  x.set([-87.4, -90, -1000, -Infinity, 0.5, 3, 10, 88], n - 8); // below the range, and shifts above 0
  const mem = ensureBytes(mod, n * 4);
  mem.set(x);
  const sum = mod.expShift(0, n, 0);
  let want = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(x[i]);
    want += mem[i];
    if (x[i] < -87.3) assert.equal(mem[i], 0, `exp(${x[i]})`);
    else assert.ok(Math.abs(mem[i] - e) <= 4e-7 * e, `exp(${x[i]}) = ${mem[i]}, want ${e}`);
  }
  assert.ok(Math.abs(sum - want) <= 1e-9 * want, "returned sum is the f64 sum of the values");
});

Deno.test("crossEntropyCpu equals the reference: odd vocabularies, rows without a target, far-below logits", () => {
  let seed = 3;
  for (const [rows, vocab] of [[1, 1], [3, 5], [4, 7], [7, 4099]]) {
    const logits = randomF32(rows * vocab, seed++, 8);
    logits[0] = -200; // its exp underflows in both
    const targets = new Uint32Array(rows).map((_, r) => (r * 7919) % vocab);
    if (rows > 2) targets[1] = NO_TARGET;
    assertClose(
      crossEntropyCpu(logits, targets, rows, vocab),
      crossEntropyRef(logits, targets, rows, vocab),
      {
        atol: 1e-5,
        rtol: 1e-5,
      },
      `${rows} × ${vocab}`,
    );
  }
});

Deno.test("crossEntropyCpu: a NaN logit makes its row NaN, as in the reference (the vector exp would hide it)", () => {
  const logits = randomF32(2 * 9, 1);
  logits[4] = NaN;
  const got = crossEntropyCpu(logits, new Uint32Array([0, 0]), 2, 9);
  assert.ok(Number.isNaN(got[0]));
  assert.ok(Number.isFinite(got[1]));
  assert.ok(Number.isNaN(crossEntropyRef(logits, new Uint32Array([0, 0]), 2, 9)[0]));
});
