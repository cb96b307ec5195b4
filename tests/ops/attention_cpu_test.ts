import assert from "node:assert/strict";
import { assertClose } from "../helpers/close.ts";
import { randomF32, randomU32 } from "../helpers/data.ts";
import { attentionCpu } from "../../src/ops/attention_cpu.ts";
import { attentionRef, type AttentionShape, type AttnView } from "../../src/ops/attention_ref.ts";

/** Packed QKV rows [batch·t, 3·C], as a fused QKV projection writes them. */
function packedViews(t: number, c: number): [AttnView, AttnView, AttnView] {
  const v = (o: number): AttnView => ({ offset: o, rowStride: 3 * c, batchStride: t * 3 * c });
  return [v(0), v(c), v(2 * c)];
}

Deno.test("attentionCpu equals the reference: odd sizes, causal with a past, key masks, a fully hidden row, decode", () => {
  const cases = [
    { batch: 1, heads: 1, headDim: 1, tq: 1, tk: 1, qPos0: 0, causal: false, mask: false },
    { batch: 2, heads: 3, headDim: 5, tq: 9, tk: 9, qPos0: 0, causal: true, mask: false },
    { batch: 2, heads: 3, headDim: 16, tq: 13, tk: 13, qPos0: 0, causal: false, mask: true },
    { batch: 1, heads: 2, headDim: 64, tq: 70, tk: 70, qPos0: 0, causal: true, mask: true },
    { batch: 3, heads: 2, headDim: 37, tq: 33, tk: 33, qPos0: 0, causal: false, mask: true },
    // queries 5 … 16 of a 17-key cache (a prefill continued), and single-token decode
    { batch: 2, heads: 2, headDim: 8, tq: 12, tk: 17, qPos0: 5, causal: true, mask: false },
    { batch: 2, heads: 2, headDim: 8, tq: 1, tk: 17, qPos0: 16, causal: true, mask: false },
  ];
  for (const [ci, c] of cases.entries()) {
    const C = c.heads * c.headDim;
    const q = randomF32(c.batch * c.tq * C, 10 + ci, 2);
    const kv = randomF32(c.batch * c.tk * 2 * C, 20 + ci, 2);
    const mask = randomU32(c.batch * c.tk, 2, 30 + ci);
    if (c.batch > 1) mask.fill(0, c.tk, 2 * c.tk); // batch entry 1 sees no key: its rows must be zero
    const s: AttentionShape = { ...c, scale: 1 / Math.sqrt(c.headDim) };
    const qv: AttnView = { offset: 0, rowStride: C, batchStride: c.tq * C };
    const kView: AttnView = { offset: 0, rowStride: 2 * C, batchStride: c.tk * 2 * C };
    const vView: AttnView = { offset: C, rowStride: 2 * C, batchStride: c.tk * 2 * C };
    const m = c.mask ? mask : undefined;
    const got = attentionCpu(q, kv, kv, s, qv, kView, vView, m);
    assertClose(
      got,
      attentionRef(q, kv, kv, s, qv, kView, vView, m),
      { atol: 1e-5, rtol: 1e-5 },
      `case ${ci}`,
    );
    if (c.mask && c.batch > 1) {
      assert.ok(
        got.subarray(c.tq * C, 2 * c.tq * C).every((x) => x === 0),
        `case ${ci}: hidden rows are zero`,
      );
    }
  }
});

Deno.test("attentionCpu: values of keys no query sees (NaN here, like an unwritten cache slot) do not leak", () => {
  const [t, heads, dh] = [10, 2, 4], C = heads * dh;
  const [qv, kv, vv] = packedViews(t, C);
  // Hidden by the causal rule (queries 0 … 7 see keys 0 … 7) and by a key mask (key 9 of 10). With the
  // mask most probabilities are nonzero, so the product takes the dense kernel, which does not skip zeros.
  const causal: AttentionShape = {
    batch: 1,
    heads,
    headDim: dh,
    tq: 8,
    tk: t,
    qPos0: 0,
    causal: true,
    scale: 0.5,
  };
  const masked: AttentionShape = { ...causal, tq: t, causal: false };
  const mask = new Uint32Array(t).fill(1);
  mask[9] = 0;
  for (const [s, m, poisoned] of [[causal, undefined, [8, 9]], [masked, mask, [9]]] as const) {
    const qkv = randomF32(t * 3 * C, 7);
    for (const row of poisoned) qkv.fill(NaN, row * 3 * C + C, row * 3 * C + 3 * C); // its K and V
    const got = attentionCpu(qkv, qkv, qkv, s, qv, kv, vv, m);
    assert.ok(got.every(Number.isFinite), `causal=${s.causal}`);
    assertClose(got, attentionRef(qkv, qkv, qkv, s, qv, kv, vv, m), { atol: 1e-5, rtol: 1e-5 });
  }
});

Deno.test("attentionCpu: a NaN in a visible key makes the rows that see it NaN, as in the reference", () => {
  const [t, heads, dh] = [9, 1, 4], C = heads * dh;
  const qkv = randomF32(t * 3 * C, 9);
  qkv[5 * 3 * C + C] = NaN; // K of token 5
  const [qv, kv, vv] = packedViews(t, C);
  const s: AttentionShape = {
    batch: 1,
    heads,
    headDim: dh,
    tq: t,
    tk: t,
    qPos0: 0,
    causal: true,
    scale: 0.5,
  };
  const got = attentionCpu(qkv, qkv, qkv, s, qv, kv, vv), want = attentionRef(qkv, qkv, qkv, s, qv, kv, vv);
  for (let i = 0; i < t; i++) {
    const row = got.subarray(i * C, (i + 1) * C), ref = want.subarray(i * C, (i + 1) * C);
    assert.equal(row.some(Number.isNaN), ref.some(Number.isNaN), `row ${i}`);
    assert.equal(row.some(Number.isNaN), i >= 5, `row ${i} sees token 5: ${i >= 5}`);
  }
});
