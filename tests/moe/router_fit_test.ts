import assert from "node:assert/strict";
import { routerTrainsOnGpu, trainsOnGpu } from "../../src/moe/router_fit.ts";
import type { Backend } from "../../src/ops/backend.ts";

const backend = (kind: "gpu" | "cpu", fallback: boolean) =>
  ({ info: { kind, fallback } }) as unknown as Backend;

Deno.test("routerTrainsOnGpu: routers train on the GPU only when asked; distillation keeps the hardware GPU on auto", () => {
  const hw = backend("gpu", false), sw = backend("gpu", true), cpu = backend("cpu", false);
  assert.equal(routerTrainsOnGpu(hw), false, "auto: the CPU trainer even on a hardware GPU");
  assert.equal(routerTrainsOnGpu(hw, "cpu"), false);
  assert.equal(routerTrainsOnGpu(hw, "gpu"), true);
  assert.equal(routerTrainsOnGpu(sw, "gpu"), true, "asked for: also a software adapter");
  assert.equal(routerTrainsOnGpu(hw, "gpu", false), false, "samples that do not fit one binding");
  assert.equal(routerTrainsOnGpu(cpu, "gpu"), false, "no GPU");
  assert.equal(trainsOnGpu(hw), true, "distillation: the hardware GPU on auto");
  assert.equal(trainsOnGpu(sw), false, "but not a software adapter");
});
