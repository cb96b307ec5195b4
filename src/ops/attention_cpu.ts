/**
 * The CPU backend's attention: the function of `attention_ref.ts`, as two matrix products per (batch entry,
 * head) so that they run in the WebAssembly kernels of `matmul_cpu.ts`: S = Q·Kᵀ, a masked softmax per
 * row (exp in WebAssembly SIMD, sums in float64), then P·V. The causal half of S is computed and thrown
 * away; at the product kernels' speed that is still several times faster than the reference's loops.
 * Fewer query rows than the products take (decode), or a runtime without WebAssembly SIMD, use the reference
 * itself.
 * @module
 */
import { attentionRef, type AttentionShape, type AttnView } from "./attention_ref.ts";
import { matmulCpu, WASM_MIN_ROWS } from "./matmul_cpu.ts";
import { ensureBytes, roundUp, type SimdModule, simdModule } from "./sgemm_wasm.ts";

/**
 * Softmax attention; output [batch·tq, heads·headDim]. Same contract as {@link attentionRef}.
 * @param q Buffer holding Q, read through `qv`.
 * @param k Buffer holding K, read through `kv`.
 * @param v Buffer holding V, read through `vv`.
 * @param s Shape, causal rule and scale.
 * @param qv Q view.
 * @param kv K view.
 * @param vv V view.
 * @param keyMask Optional [batch, tk]; 0 hides a key.
 * @returns Attention output; rows whose keys are all hidden are zero.
 */
export function attentionCpu(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  s: AttentionShape,
  qv: AttnView,
  kv: AttnView,
  vv: AttnView,
  keyMask?: Uint32Array,
): Float32Array {
  const { batch, heads, headDim: dh, tq, tk } = s;
  const mod = simdModule();
  if (tq < WASM_MIN_ROWS || !mod) return attentionRef(q, k, v, s, qv, kv, vv, keyMask);
  const out = new Float32Array(batch * tq * heads * dh);
  const qh = new Float32Array(tq * dh), kh = new Float32Array(tk * dh), vh = new Float32Array(tk * dh);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      gatherHead(q, qv, b, h, dh, tq, qh);
      gatherHead(k, kv, b, h, dh, tk, kh);
      gatherHead(v, vv, b, h, dh, tk, vh);
      // A key no query sees gets probability 0 everywhere; zero its value row too, so that whatever it holds
      // (an unwritten cache slot) cannot turn 0 · x into NaN in P·V. The reference skips such keys.
      for (let j = 0; j < tk; j++) {
        if ((s.causal && j >= s.qPos0 + tq) || (keyMask && keyMask[b * tk + j] === 0)) {
          vh.fill(0, j * dh, (j + 1) * dh);
        }
      }
      const p = matmulCpu(qh, kh, tq, dh, tk, { transB: true }); // scores, then probabilities in place
      const row = ensureBytes(mod, roundUp(tk, 4) * 4); // after the product, which may grow the memory
      for (let i = 0; i < tq; i++) {
        const kmax = s.causal ? Math.min(tk, s.qPos0 + i + 1) : tk;
        softmaxRow(mod, row, p, i * tk, tk, kmax, s.scale, keyMask, b * tk);
      }
      const o = matmulCpu(p, vh, tq, tk, dh);
      for (let i = 0; i < tq; i++) {
        out.set(o.subarray(i * dh, (i + 1) * dh), (b * tq + i) * heads * dh + h * dh);
      }
    }
  }
  return out;
}

/** Head h of batch entry b, `rows` tokens, into a contiguous [rows, dh]. */
function gatherHead(
  x: Float32Array,
  view: AttnView,
  b: number,
  h: number,
  dh: number,
  rows: number,
  to: Float32Array,
) {
  for (let i = 0; i < rows; i++) {
    const from = view.offset + b * view.batchStride + i * view.rowStride + h * dh;
    to.set(x.subarray(from, from + dh), i * dh);
  }
}

/**
 * Scores p[at … at + tk) → probabilities: keys at or past `kmax` or hidden by the mask get 0, the rest
 * exp(scale·s − max) / sum. The scaled scores are rounded to f32 in `mem`, the start of the module's memory
 * (padded with −∞ to a multiple of 4), exponentiated there (`exp_shift`) and summed in float64. A row with no visible key
 * becomes all zeros; a NaN score makes the row NaN, as in the reference (the vector exp alone would turn it
 * into 0).
 */
function softmaxRow(
  mod: SimdModule,
  mem: Float32Array,
  p: Float32Array,
  at: number,
  tk: number,
  kmax: number,
  scale: number,
  keyMask: Uint32Array | undefined,
  maskAt: number,
) {
  const tk4 = roundUp(tk, 4);
  let mx = -Infinity, nan = false;
  for (let j = 0; j < tk; j++) {
    const hidden = j >= kmax || (keyMask !== undefined && keyMask[maskAt + j] === 0);
    mem[j] = hidden ? -Infinity : p[at + j] * scale;
    if (mem[j] > mx) mx = mem[j];
    else if (mem[j] !== mem[j]) nan = true;
  }
  if (nan || mx === -Infinity) {
    p.fill(nan ? NaN : 0, at, at + tk);
    return;
  }
  mem.fill(-Infinity, tk, tk4);
  const sum = mod.expShift(0, tk4, mx);
  for (let j = 0; j < tk; j++) p[at + j] = mem[j] / sum;
}
