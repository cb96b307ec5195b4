import { assertClose } from "../helpers/close.ts";
import { randomF32, randomU32 } from "../helpers/data.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";
import { attentionRef, type AttentionShape, type AttnView } from "../../src/ops/attention_ref.ts";

const be = await testGpu();

/** Packed QKV rows [batch·t, 3·C], as a fused QKV projection writes them. */
function packedViews(t: number, c: number): [AttnView, AttnView, AttnView] {
  const v = (o: number): AttnView => ({ offset: o, rowStride: 3 * c, batchStride: t * 3 * c });
  return [v(0), v(c), v(2 * c)];
}

Deno.test({
  name: "attention: GPU equals reference (3 heads, odd lengths, causal, padding mask, >64 keys)",
  ignore: !be,
  ...gpuTestOptions,
  async fn() {
    const cases = [
      { batch: 1, heads: 1, headDim: 1, t: 1, causal: false, mask: false },
      { batch: 2, heads: 3, headDim: 5, t: 7, causal: true, mask: false },
      { batch: 2, heads: 3, headDim: 16, t: 13, causal: false, mask: true },
      { batch: 1, heads: 2, headDim: 64, t: 131, causal: true, mask: true },
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
      const out = be!.attention(t, t, t, s, qv, kv, vv, tm);
      const [got] = await be!.read([out]);
      assertClose(got, want, { atol: 1e-5, rtol: 1e-4 }, `attention case ${ci}`);
      be!.release(t, tm, out);
    }
  },
});

Deno.test({
  name: "attention: one-token decode against a KV cache equals full causal attention's last row",
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
    const want = attentionRef(qkv, qkv, qkv, full, qv, kv, vv).subarray((T - 1) * C);
    // Cache layout [maxT, C]: rows 0..T-1 hold K (resp. V) of each token.
    const kc = new Float32Array(maxT * C), vc = new Float32Array(maxT * C);
    for (let t = 0; t < T; t++) {
      kc.set(qkv.subarray(t * 3 * C + C, t * 3 * C + 2 * C), t * C);
      vc.set(qkv.subarray(t * 3 * C + 2 * C, t * 3 * C + 3 * C), t * C);
    }
    const q = qkv.slice((T - 1) * 3 * C, (T - 1) * 3 * C + C);
    const step: AttentionShape = { ...full, tq: 1, tk: T, qPos0: T - 1 };
    const cache: AttnView = { offset: 0, rowStride: C, batchStride: maxT * C };
    const tq = be!.input(q, [1, C]), tk = be!.input(kc, [maxT, C]), tv = be!.input(vc, [maxT, C]);
    const out = be!.attention(tq, tk, tv, step, { offset: 0, rowStride: C, batchStride: C }, cache, cache);
    const [got] = await be!.read([out]);
    assertClose(got, want, { atol: 1e-5, rtol: 1e-4 }, "decode step");
    be!.release(tq, tk, tv, out);
  },
});
