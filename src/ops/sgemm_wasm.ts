/**
 * The CPU backend's large matrix products in WebAssembly SIMD (`kernels/sgemm_simd.wat`), about 5× the
 * blocked JavaScript loops of `matmul_cpu.ts` on one core (`bench/cpu_kernels.ts`). Operands are copied into
 * the module's memory in the kernels' layouts (A packed in blocks of 4 rows, B as [K, N] in slabs of
 * columns, both padded so the loops have no edges) and C is copied out: O(M·K + K·N + M·N) next to the
 * product's O(M·K·N), which is why `matmul_cpu.ts` only comes here for enough rows. Accumulation is fp32 in
 * k order, as on the GPU. The module (instantiated once, see {@link simdModule}) also holds the D2DMoE
 * expert kernels of `moe_experts_wasm.ts` and `moe_ffn_norms_cpu.ts`, the vector exp of
 * `cross_entropy_cpu.ts` and `attention_cpu.ts`, and the float64 products of the CPU router trainer
 * (`router_train_wasm.ts`).
 * @module
 */
import { SGEMM_WASM_BASE64 } from "./sgemm_wasm_bytes.ts";

/** The instantiated `kernels/sgemm_simd.wat` (see there for each function's layouts). */
export interface SimdModule {
  /** The module's memory; every pointer argument is a byte offset into it. */
  memory: WebAssembly.Memory;
  gemmDense(pa: number, pb: number, pc: number, m: number, k: number, n: number, panel: number): void;
  gemmSparseA(pa: number, pb: number, pc: number, m: number, k: number, n: number): void;
  transpose(src: number, dst: number, rows: number, cols: number, stride: number): void;
  gatherGemm(px: number, pw: number, plist: number, ph: number, d: number, s8: number, count4: number): void;
  scatterAdd(
    ph: number,
    pw: number,
    plist: number,
    pacc: number,
    count: number,
    s: number,
    s8: number,
    d8: number,
  ): void;
  expShift(p: number, n: number, shift: number): number;
  abtF64(pa: number, pb: number, po: number, m2: number, n4: number, k2: number): void;
  reluOuterF64(pdh: number, ph: number, px: number, po: number, B: number, w: number, d2: number): void;
  expertNorms(
    ph: number,
    pw: number,
    pacc: number,
    pnorm: number,
    pout: number,
    T: number,
    E: number,
    s: number,
    d8: number,
  ): void;
}

/** A's and C's share of the module's memory per pass of rows: more rows take several passes. */
const ROW_CHUNK_BYTES = 32 << 20;
/**
 * B's share: B goes in by slabs of columns of at most this size (and as much again to transpose one), so
 * that the module's memory, which never shrinks, stays about 50 MB whatever the product (a GPT-2 LM head's B
 * is 154 MB).
 */
const SLAB_BYTES = 8 << 20;
/** Bytes of B one column panel may hold inside the kernel (it is re-read from cache by every row block). */
const PANEL_BYTES = 256 << 10;
const PAGE = 65536;

let cached: SimdModule | null | undefined;
let turnedOff = false;

/**
 * Turns the WebAssembly kernels off (or back on) for this process: every caller then runs its JavaScript
 * loops, as on a runtime without WebAssembly SIMD. For tests of those fallbacks and for comparisons.
 * @param off True to use the JavaScript loops everywhere.
 */
export function setSimdOff(off: boolean): void {
  turnedOff = off;
}

/**
 * The SIMD module, instantiated on first use.
 * @returns It, or null on a runtime without WebAssembly SIMD (or while {@link setSimdOff} holds).
 */
export function simdModule(): SimdModule | null {
  if (turnedOff) return null;
  if (cached !== undefined) return cached;
  try {
    const bytes = Uint8Array.from(atob(SGEMM_WASM_BASE64), (ch) => ch.charCodeAt(0));
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    const ex = inst.exports as Record<string, unknown>;
    cached = {
      memory: ex.memory as WebAssembly.Memory,
      gemmDense: ex.gemm_dense as SimdModule["gemmDense"],
      gemmSparseA: ex.gemm_sparse_a as SimdModule["gemmSparseA"],
      transpose: ex.transpose as SimdModule["transpose"],
      gatherGemm: ex.gather_gemm as SimdModule["gatherGemm"],
      scatterAdd: ex.scatter_add as SimdModule["scatterAdd"],
      expShift: ex.exp_shift as SimdModule["expShift"],
      abtF64: ex.abt_f64 as SimdModule["abtF64"],
      reluOuterF64: ex.relu_outer_f64 as SimdModule["reluOuterF64"],
      expertNorms: ex.expert_norms as SimdModule["expertNorms"],
    };
  } catch {
    // A runtime without WebAssembly SIMD, or a browser's main thread once the module passes the 4 KB it
    // compiles synchronously there (3.2 KB now): the JavaScript loops remain.
    cached = null;
  }
  return cached;
}

/**
 * Whether this runtime can run the SIMD module.
 * @returns True when it instantiated.
 */
export function sgemmWasmAvailable(): boolean {
  return simdModule() !== null;
}

/**
 * Grows the module's memory to at least `bytes`.
 * @param mod The module.
 * @param bytes Bytes needed.
 * @returns A fresh float view of the whole memory (growing detaches earlier views).
 */
export function ensureBytes(mod: SimdModule, bytes: number): Float32Array {
  const have = mod.memory.buffer.byteLength;
  if (bytes > have) mod.memory.grow(Math.ceil((bytes - have) / PAGE));
  return new Float32Array(mod.memory.buffer);
}

/**
 * `rows` rows of `width` elements from `src` into rows of `stride` elements of the module's memory at element
 * offset `at`, the padding zeroed.
 * @param mem A view of the module's memory (float32 or float64, matching `src`).
 * @param at Element offset in `mem`.
 * @param src Row-major source.
 * @param rows Rows.
 * @param width Elements a source row.
 * @param stride Elements a destination row (≥ width).
 */
export function putRows<T extends Float32Array | Float64Array>(
  mem: T,
  at: number,
  src: T,
  rows: number,
  width: number,
  stride: number,
): void {
  if (width === stride) {
    mem.set(src.subarray(0, rows * width), at);
    return;
  }
  for (let r = 0; r < rows; r++) {
    mem.set(src.subarray(r * width, (r + 1) * width), at + r * stride);
    mem.fill(0, at + r * stride + width, at + (r + 1) * stride);
  }
}

/**
 * x rounded up to a multiple of `to`.
 * @param x Value.
 * @param to Multiple.
 * @returns The rounded value.
 */
export const roundUp = (x: number, to: number): number => Math.ceil(x / to) * to;

/**
 * C = A · B (or A · Bᵀ) in fp32, without epilogue.
 * @param a A: [M, K].
 * @param b B: [K, N], or [N, K] with `transB`.
 * @param m Rows of A (≥ 1).
 * @param k Inner dimension (≥ 1).
 * @param n Columns of C (≥ 1).
 * @param transB B is given as [N, K].
 * @param sparseA Most of A is exactly zero (ReLU activations): skip its zeros instead of blocking.
 * @param limits Memory per pass of rows, per slab of B and per column panel (defaults for real use; tests
 *   shrink them to reach several passes, slabs and panels at small sizes).
 * @returns C [M, N], or null when the module is unavailable.
 */
export function sgemmWasm(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  transB: boolean,
  sparseA: boolean,
  limits: { rowChunkBytes?: number; slabBytes?: number; panelBytes?: number } = {},
): Float32Array | null {
  const mod = simdModule();
  if (!mod) return null;
  // Columns per slab of B (a multiple of 8), rows per pass (a multiple of 4; A and C of one pass).
  const slab = Math.max(8, Math.min(roundUp(n, 8), floorTo((limits.slabBytes ?? SLAB_BYTES) / (k * 4), 8)));
  const passRows = Math.min(
    roundUp(m, 4),
    Math.max(4, floorTo((limits.rowChunkBytes ?? ROW_CHUNK_BYTES) / ((k + slab) * 4), 4)),
  );
  const panel = Math.max(8, Math.min(slab, floorTo((limits.panelBytes ?? PANEL_BYTES) / (k * 4), 8)));
  // Layout (floats): B slab [K, slab] | A [passRows, K] | C [passRows, slab] | scratch [slab, K] (transB)
  const pb = 0, pa = pb + k * slab, pc = pa + passRows * k, scratch = pc + passRows * slab;
  ensureBytes(mod, (scratch + (transB ? slab * k : 0)) * 4);
  const c = new Float32Array(m * n);
  for (let r0 = 0; r0 < m; r0 += passRows) {
    const rows = Math.min(passRows, m - r0);
    let mem = new Float32Array(mod.memory.buffer);
    if (sparseA) mem.set(a.subarray(r0 * k, (r0 + rows) * k), pa);
    else packA(mem, pa, a, r0, rows, k);
    for (let j0 = 0; j0 < n; j0 += slab) {
      const cols = Math.min(slab, n - j0), w8 = roundUp(cols, 8);
      // Columns j0 … j0 + cols − 1 of B as [K, w8]. Padding columns are left as they are: they only reach C's
      // padding columns, which are never read.
      if (transB) {
        mem.set(b.subarray(j0 * k, (j0 + cols) * k), scratch); // rows of B's [N, K]: transposed in the module
        mod.transpose(scratch * 4, pb * 4, cols, k, w8);
      } else {
        for (let kk = 0; kk < k; kk++) mem.set(b.subarray(kk * n + j0, kk * n + j0 + cols), pb + kk * w8);
      }
      if (sparseA) mod.gemmSparseA(pa * 4, pb * 4, pc * 4, rows, k, w8);
      else mod.gemmDense(pa * 4, pb * 4, pc * 4, roundUp(rows, 4), k, w8, Math.min(panel, w8));
      mem = new Float32Array(mod.memory.buffer); // (nothing here grows it, but a view is cheap insurance)
      for (let i = 0; i < rows; i++) c.set(mem.subarray(pc + i * w8, pc + i * w8 + cols), (r0 + i) * n + j0);
    }
  }
  return c;
}

/** x rounded down to a multiple of `to`. */
const floorTo = (x: number, to: number): number => Math.floor(x / to) * to;

/**
 * Rows r0 … r0 + rows − 1 of A packed in blocks of 4 rows, k-major (the layout of `gemm_dense`). The last
 * block's missing rows are left as they are: they only reach C rows that are never read.
 */
function packA(mem: Float32Array, at: number, a: Float32Array, r0: number, rows: number, k: number) {
  for (let i = 0; i < rows; i++) {
    const src = (r0 + i) * k;
    let dst = at + (i >> 2) * 4 * k + (i & 3);
    for (let kk = 0; kk < k; kk++, dst += 4) mem[dst] = a[src + kk];
  }
}
