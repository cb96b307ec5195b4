/**
 * Labelled evaluation data: the UCI "sentiment labelled sentences" (1,000 each from Amazon, IMDB and
 * Yelp; npm:sentiment@5.0.2 test fixtures), or a user TSV file of `label<TAB>text` lines.
 * @module
 */
import { join } from "node:path";
import { InvalidInputError } from "../model/errors.ts";
import { packageDir } from "../util/npm_files.ts";

/** Texts with integer class labels. */
export interface LabelledTexts {
  /** Where the data came from. */
  source: string;
  /** Texts. */
  texts: string[];
  /** Class index per text (0..classes−1). */
  labels: number[];
  /** Class names by index. */
  classes: string[];
}

/**
 * The 3,000 UCI sentiment sentences (the empty last entry of each file dropped), in file order
 * amazon, imdb, yelp.
 * @returns Texts with labels 0 (negative) / 1 (positive).
 */
export async function sentimentDataset(): Promise<LabelledTexts> {
  await import("sentiment/package.json", { with: { type: "json" } });
  const dir = join(packageDir("sentiment"), "test", "fixtures");
  const texts: string[] = [], labels: number[] = [];
  for (const f of ["amazon", "imdb", "yelp"]) {
    const rows = JSON.parse(await Deno.readTextFile(join(dir, `${f}.json`))) as {
      text: string;
      class: number | null;
    }[];
    for (const r of rows.slice(0, -1)) {
      texts.push(r.text.trim());
      labels.push(r.class as number);
    }
  }
  return {
    source: "npm:sentiment@5.0.2 test/fixtures (UCI sentiment labelled sentences)",
    texts,
    labels,
    classes: ["negative", "positive"],
  };
}

/**
 * Reads `label<TAB>text` lines (labels are any strings; classes are numbered in order of appearance).
 * @param path TSV file.
 * @returns The dataset.
 * @throws {InvalidInputError} When the file is missing, a line has no tab, or there are fewer than 2 classes.
 */
export async function readLabelledTsv(path: string): Promise<LabelledTexts> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InvalidInputError("dataset", `file not found: ${path}`);
    throw e;
  }
  const classes: string[] = [], texts: string[] = [], labels: number[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    const tab = line.indexOf("\t");
    if (tab < 0) throw new InvalidInputError("dataset", `${path}:${i + 1}: expected "label<TAB>text"`);
    const label = line.slice(0, tab).trim();
    let c = classes.indexOf(label);
    if (c < 0) c = classes.push(label) - 1;
    labels.push(c);
    texts.push(line.slice(tab + 1));
  });
  if (classes.length < 2) throw new InvalidInputError("dataset", `${path}: needs at least two labels`);
  return { source: path, texts, labels, classes };
}
