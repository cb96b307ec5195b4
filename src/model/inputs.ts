/**
 * Validation of user inputs (token ids, masks, pixels) before they reach a kernel. Every problem is
 * an {@link InvalidInputError} naming the parameter and the expectation.
 * @module
 */
import { InvalidInputError } from "./errors.ts";

/**
 * Checks a batch of token-id rows: non-empty, equal lengths, integers in [0, vocab), at most `maxLen`.
 * @param value User value (expected `number[][]`).
 * @param param Parameter name for messages.
 * @param vocab Exclusive upper bound of ids.
 * @param maxLen Longest allowed row.
 * @returns The rows, typed.
 * @throws {InvalidInputError} On any violation.
 */
export function checkIdRows(value: unknown, param: string, vocab: number, maxLen: number): number[][] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidInputError(param, "expected a non-empty array of rows");
  }
  const rows = value as unknown[];
  const len = Array.isArray(rows[0]) ? (rows[0] as unknown[]).length : -1;
  for (const [r, row] of rows.entries()) {
    if (!Array.isArray(row)) throw new InvalidInputError(param, `row ${r} is not an array`);
    if (row.length === 0) throw new InvalidInputError(param, `row ${r} is empty`);
    if (row.length !== len) {
      throw new InvalidInputError(
        param,
        `rows must have equal length (row 0 has ${len}, row ${r} has ${row.length})`,
      );
    }
    if (row.length > maxLen) {
      throw new InvalidInputError(
        param,
        `row ${r} has ${row.length} tokens; the model accepts at most ${maxLen}`,
      );
    }
    for (const [i, v] of row.entries()) {
      if (!Number.isInteger(v) || v < 0 || v >= vocab) {
        throw new InvalidInputError(
          param,
          `row ${r}, position ${i}: ${JSON.stringify(v)} is not an integer in [0, ${vocab})`,
        );
      }
    }
  }
  return rows as number[][];
}

/**
 * Checks a mask or type-id batch shaped like `like`, with values in [0, max).
 * @param value User value.
 * @param param Parameter name.
 * @param like Rows it must match in shape.
 * @param max Exclusive bound of values.
 * @returns The rows, typed.
 * @throws {InvalidInputError} On any violation.
 */
export function checkAlignedRows(value: unknown, param: string, like: number[][], max: number): number[][] {
  const rows = checkIdRows(value, param, max, Infinity);
  if (rows.length !== like.length || rows[0].length !== like[0].length) {
    throw new InvalidInputError(
      param,
      `shape [${rows.length}, ${rows[0].length}] must equal input_ids' [${like.length}, ${like[0].length}]`,
    );
  }
  return rows;
}

/**
 * Flattens equal-length integer rows into a u32 array.
 * @param rows Rows.
 * @returns Row-major values.
 */
export function flattenU32(rows: number[][]): Uint32Array {
  const out = new Uint32Array(rows.length * rows[0].length);
  rows.forEach((r, i) => out.set(r, i * r.length));
  return out;
}

/**
 * Checks and flattens images `[batch][channels][height][width]` of the expected geometry.
 * @param value User value.
 * @param channels Channels the model expects.
 * @param size Height and width the model expects.
 * @returns Flattened pixels and the batch size.
 * @throws {InvalidInputError} On wrong nesting, geometry, or non-finite values.
 */
export function flattenPixels(
  value: unknown,
  channels: number,
  size: number,
): { data: Float32Array; batch: number } {
  const param = "pixel_values";
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidInputError(param, "expected a non-empty array of images");
  }
  const per = channels * size * size;
  const data = new Float32Array(value.length * per);
  let at = 0;
  for (const [b, img] of value.entries()) {
    if (!Array.isArray(img) || img.length !== channels) {
      throw new InvalidInputError(param, `image ${b} must have ${channels} channels of ${size}x${size}`);
    }
    for (const ch of img) {
      if (!Array.isArray(ch) || ch.length !== size) {
        throw new InvalidInputError(param, `image ${b} must be ${size}x${size}`);
      }
      for (const row of ch) {
        if (!Array.isArray(row) || row.length !== size) {
          throw new InvalidInputError(param, `image ${b} must be ${size}x${size}`);
        }
        for (const v of row) {
          if (typeof v !== "number" || !Number.isFinite(v)) {
            throw new InvalidInputError(param, `image ${b} has a non-finite value`);
          }
          data[at++] = v;
        }
      }
    }
  }
  return { data, batch: value.length };
}
