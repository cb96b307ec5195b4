/**
 * Server-sent events as OpenAI streams them: one `data: <json>` event per chunk, ending with
 * `data: [DONE]`; an error after the stream has started is sent as `data: {"error": ...}` (which the
 * official clients raise) and ends the stream.
 * @module
 */

/** Sends one event. */
export type SendEvent = (data: unknown) => void;

/**
 * Formats one SSE event.
 * @param data A JSON-serialisable value, or the literal `"[DONE]"`.
 * @returns The event text.
 */
export function sseEvent(data: unknown): string {
  return `data: ${data === "[DONE]" ? "[DONE]" : JSON.stringify(data)}\n\n`;
}

/**
 * A streaming `text/event-stream` response driven by `produce`.
 * @param produce Writes events; its `signal` aborts when the client cancels the stream. When it
 *   returns, `[DONE]` is sent unless `produce` sent an error; when it throws, `onError` renders the error
 *   event.
 * @param onError Turns a thrown value into the error event's payload.
 * @returns The response (status 200, sent before the first event).
 */
export function sseResponse(
  produce: (send: SendEvent, signal: AbortSignal) => Promise<void>,
  onError: (e: unknown) => unknown,
): Response {
  const enc = new TextEncoder();
  const cancelled = new AbortController();
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send: SendEvent = (data) => {
        if (!closed) controller.enqueue(enc.encode(sseEvent(data)));
      };
      const close = () => {
        if (closed) return;
        closed = true;
        try {
          controller.close();
        } catch { /* already cancelled by the client */ }
      };
      produce(send, cancelled.signal).then(
        () => send("[DONE]"),
        (e) => send(onError(e)),
      ).finally(close);
    },
    cancel() {
      closed = true;
      cancelled.abort();
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache",
      "X-Accel-Buffering": "no",
    },
  });
}
