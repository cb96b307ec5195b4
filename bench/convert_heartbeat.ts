/**
 * Runs the `d2d` CLI (`src/cli/main.ts`) with a heartbeat on stderr every 5 s, for `bench/convert_repeat.sh`:
 * when a GPU conversion stops, heartbeats that go on mean the JavaScript event loop still turns (a promise
 * that never settles, e.g. a readback), and heartbeats that stop mean the thread is held inside one call.
 *
 *     deno run -A bench/convert_heartbeat.ts convert --model DIR --out DIR ...
 * @module
 */
import { main } from "../src/cli/main.ts";

// Let bench/native_stack.py (not our ancestor) ptrace us where Yama allows only ancestors.
try {
  const libc = Deno.dlopen("libc.so.6", {
    prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  });
  libc.symbols.prctl(0x59616d61, 0xffffffffffffffffn, 0n, 0n, 0n); // PR_SET_PTRACER, PR_SET_PTRACER_ANY
  libc.close();
} catch (e) {
  console.error(`prctl(PR_SET_PTRACER) unavailable: ${e}`);
}

const start = performance.now();
const beat = setInterval(() => {
  console.error(`\nheartbeat ${((performance.now() - start) / 1000).toFixed(0)} s`);
}, 5000);
const code = await main(Deno.args);
clearInterval(beat);
Deno.exit(code);
