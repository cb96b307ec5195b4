// Backend choice: "auto" takes a hardware GPU, passes a software adapter over for the CPU kernels (and says
// why), and "cpu" / "gpu" force their choice.
import assert from "node:assert/strict";
import { createBackend, parseDawnFlags } from "../../src/ops/select_backend.ts";
import { gpuTestOptions, testGpu } from "../helpers/gpu.ts";

const gpu = await testGpu();

Deno.test({
  name: "createBackend: auto skips software adapters; gpu forces the adapter; cpu is the CPU",
  ...gpuTestOptions,
  async fn() {
    using cpu = await createBackend("cpu");
    assert.equal(cpu.info.kind, "cpu");
    assert.equal(cpu.info.fallback, false);
    using auto = await createBackend("auto");
    if (!gpu) {
      assert.equal(auto.info.kind, "cpu", "no adapter at all: the CPU");
      return;
    }
    const software = gpu.ctx.info.isFallbackAdapter;
    if (software) {
      assert.equal(auto.info.kind, "cpu");
      assert.ok(
        auto.info.fallbackFrom.some((r) => r.includes("software adapter")),
        `the reason is recorded: ${auto.info.fallbackFrom}`,
      );
      using forced = await createBackend("gpu");
      assert.equal(forced.info.kind, "gpu", "--backend gpu still uses the software adapter");
    } else {
      assert.equal(auto.info.kind, "gpu", "a hardware adapter is used");
    }
  },
});

Deno.test("parseDawnFlags: space-separated key=value options; anything else is named in the error", () => {
  assert.deepEqual(parseDawnFlags(""), []);
  assert.deepEqual(
    parseDawnFlags("enable-dawn-features=disable_robustness  backend=vulkan\n"),
    ["enable-dawn-features=disable_robustness", "backend=vulkan"],
  );
  assert.throws(
    () => parseDawnFlags("backend=vulkan disable_robustness"),
    /"disable_robustness" is not key=value/,
  );
  assert.throws(() => parseDawnFlags("=x"), /D2D_DAWN_FLAGS/);
});
