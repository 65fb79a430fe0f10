/**
 * Framing for streamed responses: Server-Sent Events (OpenAI dialect) and NDJSON (Ollama).
 *
 * Clients such as AITuberKit and ChatVRM parse SSE by hand and assume each network read holds
 * whole `data: ...\n\n` units, so every event is exactly one `data:` line and is written in one
 * piece: no `event:`/comment lines, no splitting an event over writes.
 */
import { InvalidArgumentError } from '../errors.js';
import { describeValue, invalid } from '../validate.js';

/** Response headers for an SSE stream; `X-Accel-Buffering` stops nginx-style proxies buffering it. */
export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache',
  'X-Accel-Buffering': 'no',
});

/** Response headers for an NDJSON stream (Ollama's `/api/chat`, `/api/generate`). */
export const NDJSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'application/x-ndjson',
  'Cache-Control': 'no-cache',
  'X-Accel-Buffering': 'no',
});

/** The string that ends an OpenAI stream. */
export const SSE_DONE = '[DONE]';

/**
 * Frames one SSE event: exactly `data: <payload>\n\n`. An object is sent as JSON (which never
 * contains raw line breaks); a string is sent verbatim, for `[DONE]` (to send a JSON string
 * value, pass `JSON.stringify(value)`). Throws InvalidArgumentError for a string with a line
 * break, which would need several `data:` lines, and for values JSON cannot encode.
 */
export function sseEvent(data: unknown): string {
  const payload = typeof data === 'string' ? data : JSON.stringify(data);
  if (payload === undefined) throw invalid('a JSON-serialisable value', 'the SSE data', data);
  if (/[\r\n]/.test(payload)) throw invalid('a string without line breaks', 'the SSE data', data);
  return `data: ${payload}\n\n`;
}

/** Frames one NDJSON line: the JSON text followed by `\n`. */
export function ndjsonLine(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw invalid('a JSON-serialisable value', 'the NDJSON line', value);
  return json + '\n';
}

export interface EventStreamOptions {
  /**
   * Turns an error thrown by the event source into a last framed event (for example an OpenAI
   * `{"error": ...}` event); the stream then ends normally, because the status line has already
   * been sent. Return `undefined` to fail the stream instead (the connection is cut).
   * Default: the stream fails.
   */
  onError?: (error: unknown) => string | undefined;
}

const encoder = new TextEncoder();

/**
 * Turns already-framed events (see {@link sseEvent}, {@link ndjsonLine}) into a response body.
 *
 * - Each non-empty event is enqueued as exactly one chunk, so it reaches the socket in one write.
 * - Pull-based with no read-ahead: the source is asked for the next event only when the previous
 *   one has been taken, so generation never runs ahead of a slow client.
 * - Cancelling the stream (the client disconnected) calls the source iterator's `return()`, which
 *   for a generation aborts it at once.
 */
export function eventStream(events: AsyncIterable<string>, options: EventStreamOptions = {}): ReadableStream<Uint8Array> {
  let iterator: AsyncIterator<string> | undefined;
  let finished = false;
  const source = () => (iterator ??= events[Symbol.asyncIterator]());
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            const next = await source().next();
            if (next.done) {
              finished = true;
              controller.close();
              return;
            }
            if (next.value === '') continue; // an empty write would be a wasted syscall
            controller.enqueue(encoder.encode(next.value));
            return;
          }
        } catch (error) {
          finished = true;
          const lastEvent = options.onError?.(error);
          if (lastEvent === undefined) {
            controller.error(error);
            return;
          }
          if (lastEvent !== '') controller.enqueue(encoder.encode(lastEvent));
          controller.close();
        }
      },
      async cancel(reason) {
        if (finished) return;
        finished = true;
        // Even a source never read from is told to stop: it may already be generating.
        await source().return?.(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Parses an SSE body made only of `data: <payload>\n\n` units and returns the payloads.
 * Strict, for tests: throws InvalidArgumentError on anything else (comments, `event:` lines,
 * several lines per event, a missing final blank line).
 */
export function parseSse(text: string): string[] {
  if (text === '') return [];
  if (!text.endsWith('\n\n')) {
    throw new InvalidArgumentError(`Expected an SSE body ending in a blank line for parseSse but received ${describeValue(text.slice(-20))}`);
  }
  return text.slice(0, -2).split('\n\n').map((unit, index) => {
    if (!unit.startsWith('data: ') || /[\r\n]/.test(unit)) {
      throw invalid('exactly one "data: " line', `SSE event ${index}`, unit);
    }
    return unit.slice('data: '.length);
  });
}

/** Parses an NDJSON body (one JSON value per `\n`-terminated line). Strict, for tests. */
export function parseNdjson(text: string): unknown[] {
  if (text === '') return [];
  if (!text.endsWith('\n')) {
    throw new InvalidArgumentError(`Expected an NDJSON body ending in a newline for parseNdjson but received ${describeValue(text.slice(-20))}`);
  }
  return text.slice(0, -1).split('\n').map((line, index) => {
    try {
      return JSON.parse(line) as unknown;
    } catch (error) {
      throw new InvalidArgumentError(`Expected JSON for NDJSON line ${index} but received ${describeValue(line)}`, { cause: error });
    }
  });
}
