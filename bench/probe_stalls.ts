// Where do the occasional 10–1,300 ms readback stalls of GPT-2 decode on Dawn come from? Three probes, GPU
// machine only (answer, 2026-12-04: full GCs after Dawn garbage; docs/kernels.md):
//   deno run -A --node-modules-dir=none --cached-only [--v8-flags=--expose-gc,--trace-gc] \
//     bench/probe_stalls.ts [--model-only]
// 1. raw: one tiny dispatch + copy + mapAsync per step, no model (variants: reused staging buffer; a fresh
//    one per step; onSubmittedWorkDone before mapAsync). Stalls here are Dawn / Deno, not our code.
// 2. model: dense random GPT-2-small greedy decode, each read timed, with an event-loop monitor (a
//    setTimeout(0) chain) that records the longest gap between its ticks during each read: a long read with
//    a long gap means the JS thread was blocked (GC, a synchronous native call); a long read with short
//    gaps means the wait itself (GPU, driver, Dawn's polling). With --expose-gc, gc() is timed after each run.
// 3. (--expose-gc, not --model-only) the cost of one gc() after N dead objects of one kind: ArrayBuffers,
//    command encoders, passes, dispatch calls, map cycles.
import { join } from "node:path";
import { loadModel } from "../src/model/load.ts";
import { createBackend } from "../src/ops/select_backend.ts";
import type { GpuBackend } from "../src/ops/gpu_backend.ts";
import { Rng } from "../src/util/rng.ts";
import { gpt2Config, gpt2Tensors, writeDenseFolder } from "./random_models.ts";
import { FULL_SHAPES } from "./shapes.ts";
import { quantile } from "./timing.ts";

/** Event-loop monitor: the longest gap between timer ticks since the last `take()`. */
class LoopMonitor {
  #last = performance.now();
  #maxGap = 0;
  #ticks = 0;
  #on = true;
  constructor() {
    const tick = () => {
      const t = performance.now();
      this.#maxGap = Math.max(this.#maxGap, t - this.#last);
      this.#last = t;
      this.#ticks++;
      if (this.#on) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
  }
  take(): { gap: number; ticks: number } {
    const r = { gap: this.#maxGap, ticks: this.#ticks };
    this.#maxGap = 0;
    this.#ticks = 0;
    this.#last = performance.now();
    return r;
  }
  stop(): void {
    this.#on = false;
  }
}

function summary(name: string, xs: number[], extra = ""): void {
  const q = (p: number) => quantile(xs, p).toFixed(3);
  const over = (ms: number) => xs.filter((x) => x > ms).length;
  console.log(
    `${name}: n ${xs.length} p10 ${q(0.1)} p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} max ${q(1)} ms; >5 ms ${
      over(5)
    }, >20 ms ${over(20)}, >100 ms ${over(100)} ${extra}`,
  );
}

const be = await createBackend("dawn") as GpuBackend;
const device = be.ctx.device;
const mon = new LoopMonitor();

const modelOnly = Deno.args.includes("--model-only");
// ---- 1. raw readback loop
if (!modelOnly) {
  const module = device.createShaderModule({
    code: `@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { a[g.x] = a[g.x] + 1.0; }`,
  });
  const pipe = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
  const size = 201028; // GPT-2 logits row
  const buf = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const bg = device.createBindGroup({
    layout: pipe.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: buf } }],
  });
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  for (const variant of ["reuse", "fresh", "workdone+reuse", "reuse"]) {
    const times: number[] = [];
    let bad = 0;
    mon.take();
    for (let i = 0; i < 1500; i++) {
      const t0 = performance.now();
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipe);
      pass.setBindGroup(0, bg);
      pass.dispatchWorkgroups(Math.ceil(size / 4 / 64));
      pass.end();
      const st = variant === "fresh"
        ? device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })
        : staging;
      enc.copyBufferToBuffer(buf, 0, st, 0, size);
      device.queue.submit([enc.finish()]);
      if (variant.startsWith("workdone")) await device.queue.onSubmittedWorkDone();
      await st.mapAsync(GPUMapMode.READ);
      const v = new Float32Array(st.getMappedRange()).slice(0, 1)[0];
      st.unmap();
      if (variant === "fresh") st.destroy();
      const ms = performance.now() - t0;
      times.push(ms);
      if (ms > 20) bad++;
      if (ms > 20 && bad <= 5) console.log(`  raw ${variant} step ${i}: ${ms.toFixed(1)} ms (v ${v})`);
    }
    const g = mon.take();
    summary(`raw ${variant}`, times, `(loop max gap ${g.gap.toFixed(1)} ms, ${g.ticks} ticks)`);
  }
}

// ---- 2. the model
{
  const s = FULL_SHAPES.gpt2;
  const dir = await Deno.makeTempDir();
  await writeDenseFolder(join(dir, "m"), gpt2Config(s), gpt2Tensors(s, new Rng(0)));
  using model = await loadModel(join(dir, "m"), { backend: be, tokenizer: false });
  const prompt = Array.from({ length: 16 }, (_, i) => (i * 7) % s.vocab);
  const read = be.read.bind(be);
  const reads: number[] = [];
  const log: string[] = [];
  be.read = async (ts) => {
    mon.take();
    const t0 = performance.now();
    const r = await read(ts);
    const ms = performance.now() - t0;
    const g = mon.take();
    reads.push(ms);
    if (ms > 10) {
      log.push(
        `  read at ${t0.toFixed(0)} ms: ${ms.toFixed(1)} ms, loop gap ${
          g.gap.toFixed(1)
        } ms, ${g.ticks} ticks`,
      );
    }
    return r;
  };
  await model.generate(prompt, { maxTokens: 8, greedy: true, eosTokenId: null });
  for (let run = 0; run < 4; run++) {
    reads.length = 0;
    log.length = 0;
    const t0 = performance.now();
    await model.generate(prompt, { maxTokens: 128, greedy: true, eosTokenId: null });
    const ms = performance.now() - t0;
    const g0 = performance.now();
    (globalThis as { gc?: () => void }).gc?.();
    const gcMs = performance.now() - g0;
    summary(
      `model run ${run} (${(128000 / ms).toFixed(0)} tok/s)`,
      reads,
      `gc() after: ${gcMs.toFixed(1)} ms`,
    );
    for (const l of log.slice(0, 8)) console.log(l);
  }
}
// ---- 3. what does a full GC cost after N dead objects of one kind? (needs --v8-flags=--expose-gc)
const gc = (globalThis as { gc?: () => void }).gc;
if (gc && !modelOnly) {
  const makers: [string, () => unknown][] = [
    ["ArrayBuffer 200 KB", () => new ArrayBuffer(201028)],
    ["command encoder + finish", () => device.createCommandEncoder().finish()],
    ["encoder + compute pass + finish", () => {
      const e = device.createCommandEncoder();
      e.beginComputePass().end();
      return e.finish();
    }],
    ["mapAsync promise (onSubmittedWorkDone)", () => device.queue.onSubmittedWorkDone()],
  ];
  {
    const module = device.createShaderModule({
      code: `@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { a[g.x] = a[g.x] + 1.0; }`,
    });
    const pipe = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
    const b = device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE });
    const bg = device.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: b } }],
    });
    for (const calls of [0, 60]) {
      for (const n of [128, 512]) {
        gc();
        for (let i = 0; i < n; i++) {
          const e = device.createCommandEncoder();
          const p = e.beginComputePass();
          for (let j = 0; j < calls; j++) {
            p.setPipeline(pipe);
            p.setBindGroup(0, bg);
            p.dispatchWorkgroups(1);
          }
          p.end();
          device.queue.submit([e.finish()]);
        }
        await device.queue.onSubmittedWorkDone();
        const t0 = performance.now();
        gc();
        console.log(
          `gc after ${n} steps of ${calls} × (setPipeline, setBindGroup, dispatch): ${
            (performance.now() - t0).toFixed(1)
          } ms`,
        );
      }
    }
    for (const n of [128, 512]) {
      gc();
      for (let i = 0; i < n; i++) {
        const e = device.createCommandEncoder();
        const p = e.beginComputePass();
        for (let j = 0; j < 60; j++) p.dispatchWorkgroups(0);
        p.end();
        e.finish();
      }
      const t0 = performance.now();
      gc();
      console.log(
        `gc after ${n} steps of 60 × dispatchWorkgroups(0) only: ${(performance.now() - t0).toFixed(1)} ms`,
      );
    }
  }
  const src = device.createBuffer({ size: 201028, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  for (const bytes of [201028, 16]) {
    const st = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    for (const n of [250, 1000]) {
      gc();
      for (let i = 0; i < n; i++) {
        const e = device.createCommandEncoder();
        e.copyBufferToBuffer(src, 0, st, 0, bytes);
        device.queue.submit([e.finish()]);
        await st.mapAsync(GPUMapMode.READ);
        st.getMappedRange().slice(0);
        st.unmap();
      }
      const t0 = performance.now();
      gc();
      console.log(`gc after ${n} map cycles of ${bytes} B: ${(performance.now() - t0).toFixed(1)} ms`);
    }
  }
  for (const [name, make] of makers) {
    for (const n of [1000, 4000]) {
      gc();
      let keep: unknown[] | null = [];
      for (let i = 0; i < n; i++) keep.push(make());
      await Promise.all(keep.filter((x) => x instanceof Promise));
      keep = null;
      const t0 = performance.now();
      gc();
      const t1 = performance.now();
      await new Promise((r) => setTimeout(r, 0));
      const t2 = performance.now();
      console.log(
        `gc after ${n} × ${name}: ${(t1 - t0).toFixed(1)} ms (+ next tick ${(t2 - t1).toFixed(1)} ms)`,
      );
    }
  }
}
mon.stop();
be[Symbol.dispose]();
