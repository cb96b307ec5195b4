/**
 * Errors for problems in model files and folders. Every message names the file and what was wrong
 * with it, so the CLI can print it as one `error:` line and the server can answer with it.
 * @module
 */

/** A model file or folder is missing, malformed, or inconsistent with its config. */
export class ModelFormatError extends Error {
  /** Path (or URL) of the offending file. */
  readonly file: string;
  /**
   * @param file Path of the offending file.
   * @param problem What is wrong with it, phrased for a user.
   */
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = "ModelFormatError";
    this.file = file;
  }
}

/** The model folder describes an architecture this runtime does not implement. */
export class UnsupportedModelError extends Error {
  /**
   * @param file Path of the config that named the architecture.
   * @param problem What is unsupported and what is supported instead.
   */
  constructor(readonly file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = "UnsupportedModelError";
  }
}

/** A caller passed input the model cannot take (bad token id, wrong shape, too long); maps to HTTP 400. */
export class InvalidInputError extends RangeError {
  /** The offending parameter, e.g. `"input_ids"`. */
  readonly param: string;
  /**
   * @param param Name of the offending parameter.
   * @param problem What is wrong and what was expected.
   */
  constructor(param: string, problem: string) {
    super(`${param}: ${problem}`);
    this.name = "InvalidInputError";
    this.param = param;
  }
}
