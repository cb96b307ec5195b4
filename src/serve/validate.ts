/**
 * Hand-written request validation: typed getters over a parsed JSON body that turn wrong types and
 * out-of-range values into 400s naming the field, plus the shared `model` check. JSON `null` counts as
 * absent, as in OpenAI's API.
 * @module
 */
import { ApiError, badRequest, unsupported } from "./errors.ts";

/**
 * JSON type name of a value, for messages.
 * @param v Any parsed JSON value.
 * @returns `"null"`, `"array"` or the `typeof` name.
 */
export function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/**
 * A short rendering of a value for messages (never the whole of a large value).
 * @param v Any parsed JSON value.
 * @returns At most about 40 characters.
 */
export function preview(v: unknown): string {
  if (typeof v === "object" && v !== null) return typeName(v);
  const s = typeof v === "string" ? JSON.stringify(v) : String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** Bounds of a number field. */
export interface NumberRule {
  /** Smallest allowed value (inclusive unless `minExclusive`). */
  min?: number;
  /** Largest allowed value (inclusive). */
  max?: number;
  /** Exclude `min` itself. */
  minExclusive?: boolean;
  /** Require an integer. */
  integer?: boolean;
}

/** Typed, validated access to the fields of one request body. */
export class Fields {
  /** @param body The parsed JSON object. */
  constructor(readonly body: Record<string, unknown>) {}

  /**
   * The raw value of an own field; `null` reads as undefined.
   * @param name Field name.
   * @returns The value or undefined.
   */
  get(name: string): unknown {
    const v = Object.hasOwn(this.body, name) ? this.body[name] : undefined;
    return v === null ? undefined : v;
  }

  /**
   * A string field.
   * @param name Field name.
   * @returns The string or undefined.
   * @throws {ApiError} 400 when present and not a string.
   */
  string(name: string): string | undefined {
    const v = this.get(name);
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      throw badRequest(name, `${name} must be a string, got ${typeName(v)}`, "invalid_type");
    }
    return v;
  }

  /**
   * A boolean field.
   * @param name Field name.
   * @returns The boolean or undefined.
   * @throws {ApiError} 400 when present and not a boolean.
   */
  boolean(name: string): boolean | undefined {
    const v = this.get(name);
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") {
      throw badRequest(name, `${name} must be a boolean, got ${typeName(v)}`, "invalid_type");
    }
    return v;
  }

  /**
   * A number field within bounds.
   * @param name Field name.
   * @param rule Bounds.
   * @returns The number or undefined.
   * @throws {ApiError} 400 when present and not a finite number within the bounds.
   */
  number(name: string, rule: NumberRule = {}): number | undefined {
    const v = this.get(name);
    if (v === undefined) return undefined;
    if (typeof v !== "number") {
      throw badRequest(name, `${name} must be a number, got ${typeName(v)}`, "invalid_type");
    }
    checkNumber(name, v, rule);
    return v;
  }

  /**
   * A string field restricted to some values.
   * @param name Field name.
   * @param values Allowed values.
   * @returns The value or undefined.
   * @throws {ApiError} 400 for another value.
   */
  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!(values as readonly string[]).includes(v)) {
      throw badRequest(name, `${name} must be one of ${values.map((x) => `"${x}"`).join(", ")}, got "${v}"`);
    }
    return v as T;
  }

  /**
   * Rejects a field we do not implement unless it holds its neutral value.
   * @param name Field name.
   * @param neutral Whether a given value is the neutral one (absent/null always is).
   * @param detail What is supported instead.
   * @throws {ApiError} 400 `unsupported_parameter`.
   */
  neutral(name: string, neutral: (v: unknown) => boolean, detail: string): void {
    const v = this.get(name);
    if (v !== undefined && !neutral(v)) throw unsupported(name, detail);
  }
}

/**
 * Checks a number against bounds.
 * @param name Field name for messages.
 * @param v The value.
 * @param rule Bounds.
 * @throws {ApiError} 400 when not finite, not an integer where one is required, or out of bounds.
 */
export function checkNumber(name: string, v: number, rule: NumberRule): void {
  const { min = -Infinity, max = Infinity, minExclusive = false, integer = false } = rule;
  const kind = integer ? "an integer" : "a number";
  const lo = min === -Infinity ? "" : minExclusive ? `> ${min}` : `≥ ${min}`;
  const hi = max === Infinity ? "" : `≤ ${max}`;
  const range = [lo, hi].filter(Boolean).join(" and ");
  const ok = Number.isFinite(v) && (!integer || Number.isSafeInteger(v)) &&
    (minExclusive ? v > min : v >= min) && v <= max;
  if (!ok) throw badRequest(name, `${name} must be ${kind}${range ? ` ${range}` : ""}, got ${v}`);
}

/**
 * The `model` field: absent, the served model's id, or `"default"`.
 * @param f Request fields.
 * @param servedId The served model's id.
 * @throws {ApiError} 400 for a non-string, 404 `model_not_found` for another name.
 */
export function checkModelField(f: Fields, servedId: string): void {
  const name = f.string("model");
  if (name === undefined || name === servedId || name === "default") return;
  const shown = name.length > 200 ? `${name.slice(0, 200)}…` : name;
  throw new ApiError(
    404,
    "invalid_request_error",
    `The model '${shown}' does not exist; this server serves '${servedId}' (or use 'default')`,
    "model",
    "model_not_found",
  );
}

/**
 * Checks token ids: integers in [0, vocab).
 * @param param Field path for messages, e.g. `"input[1]"`.
 * @param ids Candidate ids.
 * @param vocab Exclusive bound.
 * @returns The ids, typed.
 * @throws {ApiError} 400 naming the first bad position.
 */
export function checkTokenIds(param: string, ids: unknown[], vocab: number): number[] {
  if (ids.length === 0) throw badRequest(param, `${param} is an empty token array`);
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= vocab) {
      throw badRequest(
        param,
        `${param}[${i}] must be a token id (an integer in [0, ${vocab})), got ${preview(v)}`,
      );
    }
  }
  return ids as number[];
}
