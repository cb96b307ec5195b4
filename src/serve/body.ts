/**
 * Reading a request body safely: the size limit is enforced before and while reading (never buffering
 * more than the limit), then the JSON is parsed and its nesting depth bounded, so no body can make the
 * server allocate without bound or recurse deeply.
 * @module
 */
import { ApiError, badRequest } from "./errors.ts";

/**
 * 413 for a body over the limit.
 * @param limit The limit in bytes.
 * @returns The error.
 */
export function bodyTooLarge(limit: number): ApiError {
  return new ApiError(
    413,
    "invalid_request_error",
    `request body exceeds the server's limit of ${limit} bytes (--max-body-bytes)`,
    null,
    "request_too_large",
  );
}

/**
 * Reads at most `limit` bytes of a request body.
 * @param req The request.
 * @param limit Largest accepted body in bytes.
 * @returns The bytes.
 * @throws {ApiError} 413 when `Content-Length` or the streamed body exceeds the limit; 400 `invalid_body`
 *   when the body cannot be read (the connection ended early, broken chunked framing).
 */
export async function readBodyBytes(req: Request, limit: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    await req.body?.cancel().catch(() => {});
    throw bodyTooLarge(limit);
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      // The connection ended before the declared length, or the framing (chunked encoding) was broken.
      throw new ApiError(
        400,
        "invalid_request_error",
        `the request body could not be read (${(e as Error)?.message ?? e}); was the upload cut short?`,
        null,
        "invalid_body",
      );
    }
    const { done, value } = chunk;
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw bodyTooLarge(limit);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Nesting depth of a parsed JSON value, walked iteratively (no recursion to exhaust), stopping early
 * once `limit` is exceeded.
 * @param value Parsed JSON.
 * @param limit Depth beyond which the walk stops.
 * @returns The depth (a scalar is 0), or `limit + 1` when deeper than `limit`.
 */
export function jsonDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (d + 1 > max) max = d + 1;
    if (max > limit) return limit + 1;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, d + 1]);
    }
  }
  return max;
}

/**
 * Reads and parses a JSON object body. The content type is not checked (curl's `-d` sends a form
 * type), only the bytes.
 * @param req The request.
 * @param limit Largest body in bytes.
 * @param maxDepth Deepest nesting accepted.
 * @returns The parsed object.
 * @throws {ApiError} 413 over the limit; 400 for empty, non-UTF-8, malformed, too deep or non-object JSON.
 */
export async function readJsonObject(
  req: Request,
  limit: number,
  maxDepth: number,
): Promise<Record<string, unknown>> {
  const bytes = await readBodyBytes(req, limit);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw badRequest(null, "request body is not valid UTF-8", "invalid_json");
  }
  if (text.trim() === "") {
    throw badRequest(null, "request body is empty; expected a JSON object", "invalid_json");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw badRequest(null, `malformed JSON body: ${(e as Error).message}`, "invalid_json");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest(null, "request body must be a JSON object", "invalid_json");
  }
  if (jsonDepth(value, maxDepth) > maxDepth) {
    throw badRequest(null, `JSON body is nested deeper than ${maxDepth} levels`, "invalid_json");
  }
  return value as Record<string, unknown>;
}
