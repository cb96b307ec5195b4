/**
 * HTTP errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, and the one mapping
 * from any thrown value to such an error. Caller mistakes are 4xx with a message that says what was
 * expected; only our own faults are 5xx, and their details stay in the server log.
 * @module
 */
import { DeviceLostError, GpuCommandError, GpuUnavailableError } from "../gpu/errors.ts";
import { InvalidInputError, ModelFormatError } from "../model/errors.ts";

/** OpenAI's `error.type` values we use. */
export type ErrorType =
  | "invalid_request_error"
  | "not_found_error"
  | "rate_limit_error"
  | "timeout_error"
  | "server_error";

/** The JSON body of every error response. */
export interface ErrorBody {
  /** The error. */
  error: {
    /** What went wrong and what was expected, for a person. */
    message: string;
    /** Broad class (OpenAI's names). */
    type: ErrorType;
    /** The offending request field, or null. */
    param: string | null;
    /** Machine-readable reason, e.g. `"model_not_found"`, or null. */
    code: string | null;
  };
}

/** An error with an HTTP status, rendered in OpenAI's error shape by the app's `onError`. */
export class ApiError extends Error {
  /** HTTP status code. */
  readonly status: number;
  /** OpenAI error type. */
  readonly type: ErrorType;
  /** Offending request field, or null. */
  readonly param: string | null;
  /** Machine-readable reason, or null. */
  readonly code: string | null;
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers: Record<string, string>;

  /**
   * Creates an error.
   * @param status HTTP status code.
   * @param type OpenAI error type.
   * @param message What went wrong, phrased for the caller.
   * @param param Offending request field.
   * @param code Machine-readable reason.
   * @param headers Extra response headers (e.g. `Retry-After`).
   */
  constructor(
    status: number,
    type: ErrorType,
    message: string,
    param: string | null = null,
    code: string | null = null,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
    this.headers = headers;
  }

  /** The JSON body for this error. */
  get body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/**
 * A 400 for a request field with the wrong type or an out-of-range value.
 * @param param The field, e.g. `"max_tokens"` or `"input[2]"`.
 * @param message What was expected.
 * @param code Reason code (default `"invalid_value"`).
 * @returns The error to throw.
 */
export function badRequest(param: string | null, message: string, code = "invalid_value"): ApiError {
  return new ApiError(400, "invalid_request_error", message, param, code);
}

/**
 * A 422: the request is well-formed but the served model cannot honour it (e.g. a compute budget on a
 * model without a calibration table).
 * @param param The field.
 * @param message Why, and what would work.
 * @returns The error to throw.
 */
export function unprocessable(param: string | null, message: string): ApiError {
  return new ApiError(422, "invalid_request_error", message, param, "unprocessable");
}

/**
 * A 400 for a field this server does not implement (with a non-default value).
 * @param param The field.
 * @param detail What is supported instead.
 * @returns The error to throw.
 */
export function unsupported(param: string, detail: string): ApiError {
  return new ApiError(
    400,
    "invalid_request_error",
    `${param} is not supported by this server: ${detail}`,
    param,
    "unsupported_parameter",
  );
}

/** The device did not finish a request within its time limit. */
export class RequestTimeoutError extends ApiError {
  /** @param ms The limit that ran out. */
  constructor(ms: number) {
    super(
      504,
      "timeout_error",
      `the request did not finish within the server's limit of ${ms} ms (--timeout-ms)`,
      null,
      "timeout",
    );
    this.name = "RequestTimeoutError";
  }
}

/** The client went away; nobody reads the response (status 499, as nginx logs it). */
export class ClientClosedError extends ApiError {
  constructor() {
    super(499, "invalid_request_error", "client closed the request", null, "client_closed");
    this.name = "ClientClosedError";
  }
}

/** The bounded queue is full: 429 with `Retry-After`. */
export class QueueFullError extends ApiError {
  /**
   * @param limit The queue bound.
   * @param retryAfterSeconds Value of the `Retry-After` header.
   */
  constructor(limit: number, retryAfterSeconds: number) {
    super(
      429,
      "rate_limit_error",
      `the server is busy: ${limit} requests are already queued or running (--max-queue); retry later`,
      null,
      "queue_full",
      { "Retry-After": String(retryAfterSeconds) },
    );
    this.name = "QueueFullError";
  }
}

/**
 * Maps anything thrown while handling a request to an {@link ApiError}. Model input errors become 400
 * naming the field; device loss 503; everything unknown 500 with a generic message (`log` gets the
 * details).
 * @param e The thrown value.
 * @param log Receives a line (and stack) for 5xx errors.
 * @returns The error to render.
 */
export function toApiError(e: unknown, log: (line: string) => void = () => {}): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof InvalidInputError) {
    return new ApiError(400, "invalid_request_error", e.message, e.param, "invalid_value");
  }
  if (e instanceof DeviceLostError || e instanceof GpuUnavailableError) {
    log(`device unavailable: ${e.message}`);
    return new ApiError(503, "server_error", `the device is unavailable: ${e.message}`, null, "device_lost");
  }
  if (e instanceof GpuCommandError) {
    log(`gpu error: ${e.message}`);
    return new ApiError(
      500,
      "server_error",
      `the device rejected a command: ${e.message}`,
      null,
      "gpu_error",
    );
  }
  if (e instanceof ModelFormatError) {
    log(`model error: ${e.message}`);
    return new ApiError(500, "server_error", `the served model is broken: ${e.message}`, null, "model_error");
  }
  const err = e instanceof Error ? e : new Error(String(e));
  log(`internal error: ${err.stack ?? err.message}`);
  return new ApiError(500, "server_error", "internal server error", null, "internal_error");
}
