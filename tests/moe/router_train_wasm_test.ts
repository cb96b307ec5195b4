import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { abtWasm, reluOuterWasm } from "../../src/moe/router_train_wasm.ts";
import { sgemmWasm } from "../../src/ops/sgemm_wasm.ts";

const f64 = (n: number, seed: number) => Float64Array.from(randomF32(n, seed));
const TOL = { atol: 1e-12, rtol: 1e-12 };

/** Leaves NaN all over the module's memory, so that padding the kernels must not read shows up. */
function poison() {
  const nan = new Float32Array(128 * 128).fill(NaN);
  sgemmWasm(nan, nan, 128, 128, 128, false, false);
}

Deno.test("abtWasm equals A·Bᵀ in float64 at sizes off the 2 × 4 blocks and the 2-lane k step", () => {
  let seed = 1;
  for (const [m, n, K] of [[1, 1, 1], [3, 5, 7], [2, 4, 2], [65, 63, 129], [64, 128, 256]]) {
    poison();
    const A = f64(m * K, seed++), B = f64(n * K, seed++);
    const want = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A[i * K + k] * B[j * K + k];
        want[i * n + j] = s;
      }
    }
    const got = new Float64Array(m * n);
    assert.ok(abtWasm(A, B, got, m, n, K));
    assertClose(got, want, TOL, `${m}×${n}×${K}`);
  }
});

Deno.test("reluOuterWasm: Σ over active rows of dh·x, inactive (h ≤ 0) rows skipped, odd widths", () => {
  let seed = 50;
  for (const [B, w, d] of [[1, 1, 1], [7, 5, 3], [64, 128, 256], [37, 9, 33]]) {
    poison();
    const dh = f64(B * w, seed++), h = f64(B * w, seed++), X = f64(B * d, seed++);
    h[0] = 0; // exactly 0 is inactive (ReLU'(0) = 0)
    const want = new Float64Array(w * d);
    for (let j = 0; j < w; j++) {
      for (let b = 0; b < B; b++) {
        if (!(h[b * w + j] > 0)) continue;
        for (let c = 0; c < d; c++) want[j * d + c] += dh[b * w + j] * X[b * d + c];
      }
    }
    const got = new Float64Array(w * d).fill(7); // every element must be written
    assert.ok(reluOuterWasm(dh, h, X, got, B, w, d));
    assertClose(got, want, TOL, `${B}×${w}×${d}`);
  }
});
