import { assertClose } from "../helpers/close.ts";
import { randomF32, randomU32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { attentionRef, type AttentionShape, type AttnView } from "../../src/ops/attention_ref.ts";
import {
  attentionGpu,
  type AttentionKernel,
  pickAttentionKernel,
  tiledAttentionFits,
} from "../../src/ops/attention.ts";
import type { GpuTensor } from "../../src/ops/tensor.ts";
import assert from "node:assert/strict";

const be = await testGpu();

/** Packed QKV rows [batch·t, 3·C], as a fused QKV projection writes them. */
function packedViews(t: number, c: number): [AttnView, AttnView, AttnView] {
  const v = (o: number): AttnView => ({ offset: o, rowStride: 3 * c, batchStride: t * 3 * c });
  return [v(0), v(c), v(2 * c)];
}

Deno.test({
  name: "attention: both GPU kernels equal the reference (odd lengths and head dims, causal, mask, >64 keys)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const cases = [
      { batch: 1, heads: 1, headDim: 1, t: 1, causal: false, mask: false },
      { batch: 2, heads: 3, headDim: 5, t: 7, causal: true, mask: false },
      { batch: 2, heads: 3, headDim: 16, t: 13, causal: false, mask: true },
      { batch: 1, heads: 2, headDim: 64, t: 131, causal: true, mask: true },
      { batch: 3, heads: 2, headDim: 37, t: 33, causal: false, mask: true },
      { batch: 3, heads: 3, headDim: 12, t: 33, causal: false, mask: true },
      { batch: 2, heads: 1, headDim: 64, t: 70, causal: true, mask: false },
    ];
    for (const [ci, c] of cases.entries()) {
      const C = c.heads * c.headDim;
      const qkv = randomF32(c.batch * c.t * 3 * C, 100 + ci, 2);
      const mask = randomU32(c.batch * c.t, 2, 200 + ci);
      mask[0] = 1; // keep one key per batch entry visible
      mask[c.t] = 1;
      const s: AttentionShape = {
        batch: c.batch,
        heads: c.heads,
        headDim: c.headDim,
        tq: c.t,
        tk: c.t,
        qPos0: 0,
        causal: c.causal,
        scale: 1 / Math.sqrt(c.headDim),
      };
      const [qv, kv, vv] = packedViews(c.t, C);
      const want = attentionRef(qkv, qkv, qkv, s, qv, kv, vv, c.mask ? mask : undefined);
      const t = be!.input(qkv, [c.batch * c.t, 3 * C]);
      const tm = c.mask ? be!.input(mask, [c.batch, c.t]) : undefined;
      const kernels: AttentionKernel[] = tiledAttentionFits(s, [qv, kv, vv]) ? ["rows", "tiled"] : ["rows"];
      for (const kernel of kernels) {
        const g = (x: unknown) => x as GpuTensor;
        const out = attentionGpu(be!.ctx, g(t), g(t), g(t), s, qv, kv, vv, tm && g(tm), kernel);
        const [got] = await be!.read([out]);
        assertClose(got, want, { atol: 1e-5, rtol: 1e-4 }, `attention ${kernel} case ${ci}`);
        be!.release(out);
      }
      be!.release(t, tm);
    }
  },
});

Deno.test({
  name:
    "attention: decode steps (1 and 5 new tokens) against a KV cache equal full causal attention's last rows",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const heads = 3, dh = 8, C = heads * dh, T = 9, maxT = 16;
    const qkv = randomF32(T * 3 * C, 9, 1.5);
    const full: AttentionShape = {
      batch: 1,
      heads,
      headDim: dh,
      tq: T,
      tk: T,
      qPos0: 0,
      causal: true,
      scale: 0.3,
    };
    const [qv, kv, vv] = packedViews(T, C);
    // Cache layout [maxT, C]: rows 0..T-1 hold K (resp. V) of each token.
    const kc = new Float32Array(maxT * C), vc = new Float32Array(maxT * C);
    for (let t = 0; t < T; t++) {
      kc.set(qkv.subarray(t * 3 * C + C, t * 3 * C + 2 * C), t * C);
      vc.set(qkv.subarray(t * 3 * C + 2 * C, t * 3 * C + 3 * C), t * C);
    }
    const cache: AttnView = { offset: 0, rowStride: C, batchStride: maxT * C };
    const tk = be!.input(kc, [maxT, C]), tv = be!.input(vc, [maxT, C]);
    for (const n of [1, 5]) {
      const want = attentionRef(qkv, qkv, qkv, full, qv, kv, vv).subarray((T - n) * C);
      const q = new Float32Array(n * C);
      for (let r = 0; r < n; r++) q.set(qkv.subarray((T - n + r) * 3 * C, (T - n + r) * 3 * C + C), r * C);
      const step: AttentionShape = { ...full, tq: n, tk: T, qPos0: T - n };
      const tq = be!.input(q, [n, C]);
      for (const kernel of ["rows", "tiled"] as AttentionKernel[]) {
        const g = (x: unknown) => x as GpuTensor;
        const qView = { offset: 0, rowStride: C, batchStride: n * C };
        const out = attentionGpu(be!.ctx, g(tq), g(tk), g(tv), step, qView, cache, cache, undefined, kernel);
        const [got] = await be!.read([out]);
        assertClose(got, want, { atol: 1e-5, rtol: 1e-4 }, `${n} new tokens, ${kernel}`);
        be!.release(out);
      }
      be!.release(tq);
    }
    be!.release(tk, tv);
  },
});

Deno.test("attention: the tiled kernel serves several query rows with small aligned heads, rows the rest", () => {
  const s = (tq: number, headDim: number): AttentionShape => ({
    batch: 1,
    heads: 1,
    headDim,
    tq,
    tk: tq,
    qPos0: 0,
    causal: false,
    scale: 1,
  });
  const views = (c: number) => packedViews(128, c);
  assert.equal(pickAttentionKernel(s(128, 64), views(64)), "tiled");
  assert.equal(pickAttentionKernel(s(1, 64), views(64)), "rows");
  assert.equal(pickAttentionKernel(s(128, 80), views(80)), "rows");
  assert.equal(pickAttentionKernel(s(128, 6), views(6)), "rows");
  assert.equal(pickAttentionKernel(s(128, 64), [{ offset: 2, rowStride: 192, batchStride: 0 }]), "rows");
});
