// The ONNX writer: the FFN and BERT graphs the onnxruntime-web peers run compute what our CPU
// reference computes on the same random weights (so peer timings compare the same function).
import assert from "node:assert/strict";
import { join } from "node:path";
import { maxAbsDiff } from "../../bench/compare.ts";
import { denseRun, randomFfn } from "../../bench/ffn_layers.ts";
import { bertOnnx } from "../../bench/onnx/bert_onnx.ts";
import { ffnOnnx } from "../../bench/onnx/ffn_onnx.ts";
import { ProtoWriter } from "../../bench/onnx/proto.ts";
import { ortRunRead, ortSession } from "../../bench/ort_session.ts";
import { randomF32, randomIds } from "../../bench/random.ts";
import { bertConfig, bertTensors, writeDenseFolder } from "../../bench/random_models.ts";
import { QUICK_SHAPES } from "../../bench/shapes.ts";
import { loadModel } from "../../src/model/load.ts";
import { CpuBackend } from "../../src/ops/cpu_backend.ts";
import { Rng } from "../../src/util/rng.ts";

const opts = { sanitizeOps: false, sanitizeResources: false } as const;

Deno.test("protobuf varints: small, multi-byte and negative (64-bit two's complement)", () => {
  assert.deepEqual([...new ProtoWriter().varint(1, 1).finish()], [0x08, 0x01]);
  assert.deepEqual([...new ProtoWriter().varint(20, 300).finish()], [0xa0, 0x01, 0xac, 0x02]);
  const neg = new ProtoWriter().varint(3, -1).finish();
  assert.equal(neg.length, 11);
  assert.equal(neg[10], 0x01);
});

for (const act of ["relu", "gelu", "gelu_tanh"]) {
  Deno.test({
    name: `ONNX FFN (${act}) on onnxruntime-web WASM = our CPU DenseFfn`,
    ...opts,
    async fn() {
      const rng = new Rng(5);
      const T = 7, f = randomFfn(24, 40, rng), x = randomF32(T * 24, rng);
      const s = await ortSession("wasm", ffnOnnx(f, act), "builtin");
      const got = await ortRunRead(s, { x: new s.ort.Tensor("float32", x, [T, 24]) }, "y");
      await s.session.release();
      using be = new CpuBackend();
      const run = denseRun(be, f, act as "relu", x, T);
      const ref = (await run.readOnce()).y;
      run.dispose();
      const d = maxAbsDiff(got, ref);
      assert.ok(d < 1e-5, `max |ORT − ours| = ${d}`);
    },
  });
}

Deno.test({
  name: "ONNX BERT on onnxruntime-web WASM = our CPU BertModel (last hidden state)",
  ...opts,
  async fn() {
    const s = { ...QUICK_SHAPES.bert, layers: 2, hidden: 32, heads: 4, ffn: 64, vocab: 50, positions: 16 };
    const batch = 2, seq = 9;
    const rng = new Rng(9);
    const tensors = bertTensors(s, rng);
    const dir = await Deno.makeTempDir({ prefix: "d2d-onnx-test-" });
    try {
      await writeDenseFolder(join(dir, "bert"), bertConfig(s), tensors);
      using model = await loadModel(join(dir, "bert"), { backend: "cpu", tokenizer: false });
      const ids = Array.from(randomIds(batch * seq, s.vocab, rng));
      const mask = ids.map((_, i) => (i === seq - 1 ? 0 : 1)); // one padded key in the first row
      const rows = (a: number[]) => [a.slice(0, seq), a.slice(seq)];
      const ref = await model.forward({ input_ids: rows(ids), attention_mask: rows(mask) });
      const o = await ortSession("wasm", bertOnnx(s, tensors, seq), "builtin");
      const i64 = (a: number[]) => new o.ort.Tensor("int64", BigInt64Array.from(a, BigInt), [batch, seq]);
      const got = await ortRunRead(o, {
        input_ids: i64(ids),
        attention_mask: i64(mask),
        token_type_ids: i64(ids.map(() => 0)),
      }, "last_hidden_state");
      await o.session.release();
      const d = maxAbsDiff(got, ref.last_hidden_state!.data);
      assert.ok(d < 1e-4, `max |ORT − ours| = ${d}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
