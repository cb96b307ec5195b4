import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { matmulCpu, matmulJs } from "../../src/ops/matmul_cpu.ts";
import { matmulRef } from "../../src/ops/matmul_ref.ts";

Deno.test("matmul_cpu equals the reference: both layouts, dense and sparse A, edge rows/columns, epilogues", () => {
  let seed = 1;
  for (const [m, k, n] of [[1, 1, 1], [3, 5, 7], [17, 9, 6], [37, 33, 130], [64, 16, 4]]) {
    for (const transB of [false, true]) {
      for (const sparse of [false, true]) {
        const a = randomF32(m * k, seed++).map((v) => (sparse && v < 0.6 ? 0 : v));
        const b = randomF32(k * n, seed++), bias = randomF32(n, seed++), res = randomF32(m * n, seed++);
        const want = matmulRef(a, b, m, k, n, { transB, act: "gelu" }, bias, res);
        assertClose(matmulCpu(a, b, m, k, n, { transB, act: "gelu" }, bias, res), want, {
          atol: 1e-5,
          rtol: 1e-5,
        }, `${m}x${k}x${n} transB=${transB} sparse=${sparse}`);
        assertClose(matmulCpu(a, b, m, k, n, { transB }), matmulRef(a, b, m, k, n, { transB }), {
          atol: 1e-5,
          rtol: 1e-5,
        });
      }
    }
  }
});

Deno.test("matmulJs (the few-rows path, and the fallback without WebAssembly) equals the reference at every size", () => {
  let seed = 77;
  for (const [m, k, n] of [[1, 1, 1], [3, 5, 7], [17, 9, 6], [37, 33, 130]]) {
    for (const transB of [false, true]) {
      for (const sparse of [false, true]) {
        const a = randomF32(m * k, seed++).map((v) => (sparse && v < 0.6 ? 0 : v));
        const b = randomF32(k * n, seed++);
        assertClose(matmulJs(a, b, m, k, n, transB, sparse), matmulRef(a, b, m, k, n, { transB }), {
          atol: 1e-5,
          rtol: 1e-5,
        }, `${m}x${k}x${n} transB=${transB} sparse=${sparse}`);
      }
    }
  }
});
