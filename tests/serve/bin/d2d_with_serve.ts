/**
 * The `d2d` CLI with the `serve` subcommand registered (for tests, until `src/cli/main.ts` registers it).
 * @module
 */
import { serveCommand } from "../../../src/cli/commands/serve.ts";
import { COMMANDS, main, registerCommand } from "../../../src/cli/main.ts";

if (!COMMANDS.serve) {
  registerCommand("serve", { summary: "OpenAI-compatible HTTP server", run: serveCommand });
}
Deno.exit(await main(Deno.args));
