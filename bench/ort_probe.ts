// Can onnxruntime-web's providers create and run a session here? One dense FFN (d 768, d_ff 3072) through
// the WASM provider, then the WebGPU one. On the H200 with npm:webgpu 0.6.2 the WebGPU session on Dawn
// segfaults the process (rc 139), on Deno's built-in WebGPU it runs; hence the bench's `--ort-gpu` default.
//   deno run -A bench/ort_probe.ts [TOKENS] [--gpu-only] [--builtin] [--ours]
// --ours first creates our own Dawn backend in the same process (the bench's situation).
import { ffnOnnx } from "./onnx/ffn_onnx.ts";
import { randomFfn } from "./ffn_layers.ts";
import { Rng } from "../src/util/rng.ts";
import { floatInput, ortRunRead, ortSession } from "./ort_session.ts";
import { createBackend } from "../src/ops/select_backend.ts";

if (Deno.args.includes("--ours")) await createBackend("dawn");
const tokens = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 16);
const bytes = ffnOnnx(randomFfn(768, 3072, new Rng(0)), "relu");
const x = new Float32Array(tokens * 768).fill(0.1);
const eps = Deno.args.includes("--gpu-only") ? ["webgpu"] as const : ["wasm", "webgpu"] as const;
const gpu = Deno.args.includes("--builtin") ? "builtin" : "dawn";
for (const ep of eps) {
  console.log(`creating a ${ep} session${ep === "webgpu" ? ` on ${gpu}` : ""}`);
  const s = await ortSession(ep, bytes, gpu);
  const input = floatInput(s, x, [tokens, 768]);
  const y = await ortRunRead(s, { x: input.tensor }, "y");
  console.log(`${s.name}: ran, y[0] = ${y[0]}`);
  input.free();
  await s.session.release();
}
