// Router targets: square-root targets with a √τ score threshold select exactly the experts that τ selects on
// the norms themselves (away from float ties), manifests name their target, and old ones mean "norm".
import assert from "node:assert/strict";
import { parseManifest } from "../../src/moe/manifest.ts";
import { routerTargets, scoreThreshold } from "../../src/moe/router_target.ts";
import { routingRule } from "../../src/moe/routing.ts";
import { moeSelectRef } from "../../src/ops/moe_select_ref.ts";
import type { MoeInfo } from "../../src/model/model.ts";
import { Rng } from "../../src/util/rng.ts";

Deno.test("routerTargets: norm is the identity, sqrt_norm takes square roots without touching its input", () => {
  const norms = Float32Array.from([0, 1, 4, 2.25, 1e-8]);
  assert.equal(routerTargets(norms, "norm"), norms);
  const s = routerTargets(norms, "sqrt_norm");
  assert.deepEqual([...s], [0, 1, 2, 1.5, Math.fround(1e-4)]);
  assert.deepEqual([...norms], [...Float32Array.from([0, 1, 4, 2.25, 1e-8])]);
});

Deno.test("sqrt_norm: selecting on √norms with √τ equals selecting on norms with τ", () => {
  const rng = new Rng(7);
  const T = 53, E = 37; // awkward sizes; a third of the norms exactly zero, as in a ReLU model
  const norms = new Float32Array(T * E);
  for (let i = 0; i < norms.length; i++) norms[i] = rng.next() < 0.33 ? 0 : rng.next() ** 3 * 5;
  const roots = routerTargets(norms, "sqrt_norm");
  for (const tau of [0, 0.01, 0.1, 0.37, 0.9, 1]) {
    const onNorms = moeSelectRef(norms, T, E, T, { mode: "dynk", tau });
    const onRoots = moeSelectRef(roots, T, E, T, { mode: "dynk", tau: scoreThreshold(tau, "sqrt_norm") });
    let compared = 0;
    for (let t = 0; t < T; t++) {
      let m = 0;
      for (let e = 0; e < E; e++) m = Math.max(m, norms[t * E + e]);
      for (let e = 0; e < E; e++) {
        if (Math.abs(norms[t * E + e] - tau * m) <= 1e-5 * m && tau > 0) continue; // a float tie
        compared++;
        assert.equal(onRoots.selected[t * E + e], onNorms.selected[t * E + e], `τ ${tau} t ${t} e ${e}`);
      }
    }
    assert.ok(compared > T * E * 0.95);
  }
});

Deno.test("routingRule: the score threshold is √τ for sqrt_norm routers and τ otherwise", () => {
  const info: MoeInfo = {
    formatVersion: 1,
    layers: [{ experts: 4, expertSize: 2 }],
    routerWidth: 8,
    defaultTau: 0.25,
  };
  assert.deepEqual(routingRule({ tau: 0.09 }, info), { mode: "dynk", tau: 0.09 });
  const sqrt = { ...info, routerTarget: "sqrt_norm" as const };
  assert.deepEqual(routingRule({ tau: 0.09 }, sqrt), { mode: "dynk", tau: 0.3 });
  assert.deepEqual(routingRule({}, sqrt), { mode: "dynk", tau: 0.5 }, "the default τ too");
  assert.deepEqual(routingRule({ tau: 0 }, sqrt), { mode: "dynk", tau: 0 }, "τ = 0 stays exactly dense");
  assert.deepEqual(routingRule({ tau: 1 }, sqrt), { mode: "dynk", tau: 1 });
  assert.deepEqual(routingRule({ moeTopK: 2 }, sqrt), { mode: "topk", k: 2 });
});

Deno.test("manifest: router_target is validated; an absent one means the paper's norm target", () => {
  const m = {
    format: "d2dmoe",
    format_version: 1,
    family: "gpt2",
    layers: [{ experts: 4, expert_size: 2, router_width: 8 }],
    default_tau: 0,
    calibration: [],
    provenance: {},
  };
  assert.equal(parseManifest(m, "d2dmoe.json").router_target, undefined);
  assert.equal(parseManifest({ ...m, router_target: "sqrt_norm" }, "d2dmoe.json").router_target, "sqrt_norm");
  assert.throws(
    () => parseManifest({ ...m, router_target: "log" }, "d2dmoe.json"),
    /"router_target" must be one of norm, sqrt_norm, got "log"/,
  );
});
