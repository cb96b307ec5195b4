import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { matmulRef } from "../../src/ops/matmul_ref.ts";
import { sgemmWasm, sgemmWasmAvailable, simdModule } from "../../src/ops/sgemm_wasm.ts";
import { assembleSgemm, BYTES_PATH, bytesModule } from "../../scripts/build_wasm.ts";

const TOL = { atol: 1e-5, rtol: 1e-5 };

Deno.test("sgemm_wasm_bytes.ts is kernels/sgemm_simd.wat assembled (run `deno task build:wasm` after editing it)", async () => {
  assert.equal(await Deno.readTextFile(BYTES_PATH), bytesModule(await assembleSgemm()));
});

Deno.test("the SIMD module instantiates in Deno (else every CPU product silently falls back to JavaScript)", () => {
  assert.ok(sgemmWasmAvailable());
});

Deno.test("sgemmWasm equals the reference: both layouts, dense and sparse kernels, sizes off the 4 × 8 blocks", () => {
  let seed = 11;
  for (const [m, k, n] of [[1, 1, 1], [3, 7, 5], [4, 16, 8], [5, 33, 9], [9, 1, 130], [33, 20, 17]]) {
    for (const transB of [false, true]) {
      for (const sparse of [false, true]) {
        // The sparse kernel must be exact for any A; give it real zeros so its skip is exercised too.
        const a = randomF32(m * k, seed++).map((v) => (sparse && v < 0.4 ? 0 : v));
        const b = randomF32(k * n, seed++);
        const got = sgemmWasm(a, b, m, k, n, transB, sparse);
        assert.ok(got, "module available");
        assertClose(
          got,
          matmulRef(a, b, m, k, n, { transB }),
          TOL,
          `${m}x${k}x${n} transB=${transB} sparse=${sparse}`,
        );
      }
    }
  }
});

Deno.test("sgemmWasm: several passes of rows, slabs of B and column panels give the same product", () => {
  const [m, k, n] = [23, 12, 45];
  const a = randomF32(m * k, 5), b = randomF32(k * n, 6);
  // Slabs of 16 columns (16, 16, then 13 padded to 16), (12 + 16) floats a row → 4 rows a pass, kernel
  // panels of 8 columns.
  const limits = { slabBytes: 16 * 12 * 4, rowChunkBytes: 4 * 28 * 4, panelBytes: 8 * 12 * 4 };
  for (const transB of [false, true]) {
    const want = matmulRef(a, b, m, k, n, { transB });
    for (const sparse of [false, true]) {
      assertClose(
        sgemmWasm(a, b, m, k, n, transB, sparse, limits)!,
        want,
        TOL,
        `transB=${transB} sparse=${sparse}`,
      );
    }
  }
});

Deno.test("sgemmWasm: the module's memory stays bounded for a product whose B alone is 154 MB", () => {
  const [m, k, n] = [8, 768, 50257]; // GPT-2's LM head over 8 tokens
  const a = randomF32(m * k, 1), b = new Float32Array(n * k);
  for (let j = 0; j < n; j += 997) b.set(randomF32(k, j), j * k); // a few nonzero rows to check
  const c = sgemmWasm(a, b, m, k, n, true, false)!;
  assert.ok(
    simdModule()!.memory.buffer.byteLength < 64 << 20,
    `${simdModule()!.memory.buffer.byteLength} bytes`,
  );
  for (let j = 0; j < n; j += 997) {
    const want = matmulRef(a, b.subarray(j * k, (j + 1) * k), m, k, 1, { transB: true });
    for (let i = 0; i < m; i++) assert.ok(Math.abs(c[i * n + j] - want[i]) < 1e-4, `C[${i}, ${j}]`);
  }
});

Deno.test("sgemmWasm: what an earlier, larger product left in the module's memory (NaN here) never reaches C", () => {
  const big = new Float32Array(64 * 64).fill(NaN);
  sgemmWasm(big, big, 64, 64, 64, false, false);
  sgemmWasm(big, big, 64, 64, 64, true, false);
  // Sizes that leave padding rows (5 → 8) and padding columns (3 → 8) over the NaN-filled memory.
  const [m, k, n] = [5, 6, 3];
  const a = randomF32(m * k, 1), b = randomF32(k * n, 2);
  for (const transB of [false, true]) {
    for (const sparse of [false, true]) {
      const got = sgemmWasm(a, b, m, k, n, transB, sparse)!;
      assert.ok(got.every(Number.isFinite), `finite, transB=${transB} sparse=${sparse}`);
      assertClose(got, matmulRef(a, b, m, k, n, { transB }), TOL);
    }
  }
});
