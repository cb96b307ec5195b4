import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { matmulRef } from "../../src/ops/matmul_ref.ts";
import { fastTileWidth, matmulGpu } from "../../src/ops/matmul.ts";
import type { Activation } from "../../src/ops/activation.ts";
import type { GpuTensor } from "../../src/ops/tensor.ts";
import { DEFAULT_TUNING, type MatmulTile, pickMatmulTile, tileProblem } from "../../src/ops/tuning.ts";

const be = await testGpu();

// Awkward sizes: T = 1, not multiples of any tile, K smaller than one k-step, K and N not multiples of 4.
const SHAPES: [number, number, number][] = [[1, 1, 1], [1, 67, 9], [3, 5, 130], [65, 17, 64], [130, 70, 33]];

Deno.test({
  name: "matmul: GPU equals reference at awkward sizes, both B layouts, every epilogue",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    let seed = 1;
    const acts: Activation[] = ["none", "relu", "gelu", "gelu_tanh", "tanh"];
    for (const [m, k, n] of SHAPES) {
      for (const transB of [false, true]) {
        const act = acts[seed % acts.length];
        const a = randomF32(m * k, seed++);
        const b = randomF32(k * n, seed++);
        const bias = randomF32(n, seed++);
        const res = randomF32(m * n, seed++);
        const want = matmulRef(a, b, m, k, n, { transB, act }, bias, res);
        const ta = be!.input(a, [m, k]);
        const tb = be!.input(b, transB ? [n, k] : [k, n]);
        const tbias = be!.input(bias, [n]);
        const tres = be!.input(res, [m, n]);
        const out = be!.matmul(ta, tb, { transB, act, bias: tbias, residual: tres });
        const plain = be!.matmul(ta, tb, { transB });
        const [got, gotPlain] = await be!.read([out, plain]);
        assertClose(
          got,
          want,
          { atol: 1e-5, rtol: 1e-4 },
          `matmul ${m}x${k}x${n} transB=${transB} act=${act}`,
        );
        assertClose(gotPlain, matmulRef(a, b, m, k, n, { transB }), {}, `plain matmul ${m}x${k}x${n}`);
        be!.release(ta, tb, tbias, tres, out, plain);
      }
    }
    be!.flush();
    const s = be!.ctx.pool.stats;
    if (s.live !== 0) throw new Error(`pool still has ${s.live} live buffers`);
  },
});

// Every tile shape the tuner may pick, on interior tiles (aligned, several K steps), edge tiles and
// unaligned rows (K or N not a multiple of 4), with the epilogue on.
const TILES: MatmulTile[] = [
  ...DEFAULT_TUNING.matmulTiles,
  { BM: 128, BN: 64, BK: 8, TM: 8, TN: 8, GROUP_M: 4 },
  { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4, GROUP_M: 1 },
  { BM: 128, BN: 128, BK: 4, TM: 8, TN: 8, GROUP_M: 8 },
  { BM: 16, BN: 32, BK: 8, TM: 4, TN: 4, GROUP_M: 2 },
];
const TILE_SHAPES: [number, number, number][] = [[256, 40, 128], [129, 21, 131], [70, 36, 68]];

Deno.test({
  name: "matmul (tiled): every tile config equals the reference on interior, edge and unaligned tiles",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    let seed = 100;
    for (const tile of TILES) {
      assert.equal(tileProblem(tile, { storage: 32768, invocations: 256 }), null, JSON.stringify(tile));
      for (const [m, k, n] of TILE_SHAPES) {
        for (const transB of [false, true]) {
          const a = randomF32(m * k, seed++), b = randomF32(k * n, seed++);
          const bias = randomF32(n, seed++), res = randomF32(m * n, seed++);
          const ta = be!.input(a, [m, k]) as GpuTensor,
            tb = be!.input(b, transB ? [n, k] : [k, n]) as GpuTensor;
          const tbias = be!.input(bias, [n]) as GpuTensor, tres = be!.input(res, [m, n]) as GpuTensor;
          const out = matmulGpu(be!.ctx, ta, tb, { transB, act: "relu" }, tbias, tres, {}, {
            kernel: "tiled",
            tile,
          });
          const [got] = await be!.read([out]);
          const want = matmulRef(a, b, m, k, n, { transB, act: "relu" }, bias, res);
          assertClose(
            got,
            want,
            { atol: 1e-5, rtol: 1e-4 },
            `tile ${JSON.stringify(tile)} ${m}x${k}x${n} t=${transB}`,
          );
          be!.release(ta, tb, tbias, tres, out);
        }
      }
    }
  },
});

Deno.test("matmul: tile choice fills the device, falling back to smaller tiles for small outputs", () => {
  assert.equal(pickMatmulTile(4096, 4096).BM, 128);
  // matmul_fast's column width: BERT-base's 4096-row products at N = 768 and 2,304 fill the H200's 264
  // resident workgroups better in 128×96 tiles; 3,072 and 4,096 columns stay at 128.
  assert.deepEqual(
    [[4096, 768], [4096, 2304], [4096, 3072], [4096, 4096], [50432, 768], [4096, 100]].map(([m, n]) =>
      fastTileWidth(m, n)
    ),
    [96, 96, 128, 128, 128, 128],
  );
  assert.equal(pickMatmulTile(50432, 768).BM, 128);
  const small = pickMatmulTile(128, 768);
  assert.ok(small.BM * small.BN < 128 * 128);
});

Deno.test({
  name:
    "matmul_fast: the unrolled kernel equals the reference in 128×128 and 128×96 tiles (M and N not multiples of 128, both B layouts)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    let seed = 900;
    // The last two take 128×96 tiles (N a multiple of 96), with three vec4 loads of A per thread.
    assert.deepEqual([fastTileWidth(257, 260), fastTileWidth(130, 192), fastTileWidth(257, 288)], [
      128,
      96,
      96,
    ]);
    for (
      const [m, k, n] of [[1, 8, 4], [9, 16, 132], [130, 24, 68], [257, 40, 260], [130, 24, 192], [
        257,
        40,
        288,
      ]]
    ) {
      for (const transB of [false, true]) {
        const a = randomF32(m * k, seed++), b = randomF32(k * n, seed++);
        const bias = randomF32(n, seed++), res = randomF32(m * n, seed++);
        const ta = be!.input(a, [m, k]), tb = be!.input(b, transB ? [n, k] : [k, n]);
        const tbias = be!.input(bias, [n]), tres = be!.input(res, [m, n]);
        const out = matmulGpu(
          be!.ctx,
          ta as GpuTensor,
          tb as GpuTensor,
          { transB, act: "gelu" },
          tbias as GpuTensor,
          tres as GpuTensor,
          {},
          { kernel: "fast" },
        );
        const [got] = await be!.read([out]);
        assertClose(got, matmulRef(a, b, m, k, n, { transB, act: "gelu" }, bias, res), {
          atol: 2e-5,
          rtol: 1e-4,
        }, `fast ${m}x${k}x${n} transB=${transB}`);
        be!.release(ta, tb, tbias, tres, out);
      }
    }
  },
});
