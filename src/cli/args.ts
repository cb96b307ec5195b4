/**
 * Argument parsing shared by the subcommands (node:util `parseArgs`, strict), with typed getters
 * that turn bad values into usage errors (exit code 2).
 * @module
 */
import { parseArgs } from "node:util";

/** A mistake in how the command was called: printed as `error:` with exit code 2. */
export class UsageError extends Error {
  /**
   * @param message What is wrong.
   * @param hint Optional suggestion printed as `hint:`.
   */
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A subcommand's option table (node:util format). */
export type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }
>;

/** Parsed options. */
export type Parsed = Record<string, string | boolean | string[] | undefined>;

/**
 * Parses `args` strictly against `spec`; `--help` is always accepted.
 * @param args Raw arguments after the subcommand.
 * @param spec Options.
 * @param command Subcommand name for messages.
 * @returns Option values and positionals.
 * @throws {UsageError} On unknown options or missing values.
 */
export function parse(
  args: string[],
  spec: OptionSpec,
  command: string,
): { values: Parsed; positionals: string[] } {
  try {
    const r = parseArgs({
      args,
      options: { ...spec, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return { values: r.values as Parsed, positionals: r.positionals };
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message}`, `run "d2d ${command} --help"`);
  }
}

/** Typed access to parsed options. */
export class Opts {
  /**
   * @param values Parsed values.
   * @param command Subcommand (for messages).
   */
  constructor(readonly values: Parsed, readonly command: string) {}

  /** A string option, or undefined. */
  str(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === "string" ? v : undefined;
  }

  /** A required string option. */
  need(name: string): string {
    const v = this.str(name);
    if (v === undefined || v === "") {
      throw new UsageError(`${this.command}: --${name} is required`, `run "d2d ${this.command} --help"`);
    }
    return v;
  }

  /** A boolean flag. */
  flag(name: string): boolean {
    return this.values[name] === true;
  }

  /** A repeatable string option. */
  list(name: string): string[] {
    const v = this.values[name];
    return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
  }

  /** A string option that must be one of `allowed`, or undefined. */
  choice<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const s = this.str(name);
    if (s === undefined) return undefined;
    if (!allowed.includes(s as T)) {
      throw new UsageError(`${this.command}: --${name} must be one of ${allowed.join(", ")}, got "${s}"`);
    }
    return s as T;
  }

  /** A number option within [min, max], or undefined. */
  num(name: string, min = -Infinity, max = Infinity, integer = false): number | undefined {
    const s = this.str(name);
    if (s === undefined) return undefined;
    const v = Number(s);
    if (s.trim() === "" || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      const kind = integer ? "an integer" : "a number";
      const range = max === Infinity ? (min === -Infinity ? "" : ` ≥ ${min}`) : ` in [${min}, ${max}]`;
      throw new UsageError(`${this.command}: --${name} must be ${kind}${range}, got "${s}"`);
    }
    return v;
  }

  /** A comma-separated list of numbers. */
  nums(name: string, min = -Infinity, max = Infinity, integer = false): number[] | undefined {
    const s = this.str(name);
    if (s === undefined) return undefined;
    const parts = s.split(",").map((p) => p.trim());
    return parts.map((p) => {
      const v = Number(p);
      if (p === "" || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
        throw new UsageError(
          `${this.command}: --${name} must be a comma-separated list of ${integer ? "integers" : "numbers"}${
            max < Infinity ? ` in [${min}, ${max}]` : ""
          }, got "${s}"`,
        );
      }
      return v;
    });
  }
}
