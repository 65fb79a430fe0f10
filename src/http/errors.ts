/**
 * One place that turns errors into HTTP statuses and into the error body each dialect's clients
 * parse: OpenAI `{"error":{"message","type","code"}}`, Ollama `{"error":"..."}`, llama.cpp
 * `{"error":{"code","message","type"}}`, Anthropic `{"type":"error","error":{"type","message"}}`
 * and akachat's envelope. A body is never empty (`400 {}` was the original's habit): it always
 * carries a message a person can act on.
 */
import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { AkachatError, isAbort } from '../errors.js';

export { isAbort };

/** An error that already knows its HTTP status (queue full, no model configured, ...). */
export class HttpError extends AkachatError {
  readonly status: number;
  /** Extra response headers, e.g. `Retry-After`. */
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, code: string, headers: Record<string, string> = {}, options?: ErrorOptions) {
    super(message, code, options);
    this.status = status;
    this.headers = headers;
  }
}

/** The error body shapes the routes answer with. */
export type ErrorStyle = 'openai' | 'ollama' | 'llamacpp' | 'anthropic' | 'akachat';

/** Status for a client that went away before the answer (nginx's convention; nobody reads it). */
export const CLIENT_CLOSED_REQUEST = 499;

/**
 * Status for each AkachatError `code`. Codes rather than classes: a bundle that inlines its own
 * copy of the error classes (CommonJS builds of several entry points) still maps them right.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  TEMPLATE_ERROR: 400,
  CONTEXT_FULL: 400,
  UNSUPPORTED: 400,
  ARCHIVE_REFUSED: 400,
  OWNER_ONLY: 403,
  MODEL_NOT_CONFIGURED: 503,
  QUEUE_FULL: 503,
  NOT_FOUND: 404,
  REMOTE_ERROR: 502,
  MODEL_LOAD_FAILED: 500,
  ADDON_LOAD_FAILED: 500,
  DISPOSED: 503,
};


/**
 * HTTP status for an error. `clientGone` tells an abort caused by the client closing the
 * connection (499) from one caused by the request timeout (408).
 */
export function statusOf(error: unknown, clientGone = false): number {
  if (error instanceof HttpError) return error.status;
  if (isAbort(error)) return clientGone ? CLIENT_CLOSED_REQUEST : 408;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? (STATUS_BY_CODE[code] ?? 500) : 500;
}

/** OpenAI's `type` for a status (clients switch on it, e.g. to retry on server errors). */
export function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 408 || status === CLIENT_CLOSED_REQUEST) return 'timeout_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 501) return 'not_implemented_error';
  if (status === 502) return 'upstream_error';
  if (status === 503) return 'unavailable_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** Anthropic's error `type` for a status (its SDKs pick the exception class by it). */
export function anthropicErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 408 || status === CLIENT_CLOSED_REQUEST) return 'timeout_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** A stable lowercase code: the AkachatError's code (`not_found`, `invalid_argument`, ...). */
export function errorCode(error: unknown, status: number): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code !== '') return code.toLowerCase();
  return status >= 500 ? 'internal_error' : 'bad_request';
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error && error.message) return withoutPaths(error.message);
  if (typeof error === 'string' && error) return withoutPaths(error);
  return 'Internal server error';
}

/** An absolute POSIX path inside a message (not the path part of a URL: no `:`, `/` or word character before it). */
const ABSOLUTE_PATH = /(?<![\w:/.~-])\/[^\s"'`()<>,;]+/g;

/**
 * A message for a client: file-system paths (those that exist here, or whose folder does) are
 * shown by their base name only, so an error never tells a caller where the data folder, the
 * models or the working directory are. Route paths such as `/v1/models` are left as they are.
 */
export function withoutPaths(message: string): string {
  return message.replace(ABSOLUTE_PATH, (path) => {
    const trimmed = path.replace(/[.:]+$/, '');
    const folder = dirname(trimmed);
    if (folder === '/' || (!existsSync(trimmed) && !existsSync(folder))) return path;
    return basename(trimmed) + path.slice(trimmed.length);
  });
}

/** The JSON error body of one dialect. */
export function errorBody(style: ErrorStyle, error: unknown, status: number): unknown {
  const message = errorMessage(error);
  const type = errorType(status);
  const code = errorCode(error, status);
  switch (style) {
    case 'ollama':
      return { error: message };
    case 'llamacpp':
      return { error: { code: status, message, type } };
    case 'anthropic':
      return { type: 'error', error: { type: anthropicErrorType(status), message } };
    case 'akachat':
      return { status, servertime: serverTime(), result: '', message, error: { message, type, code } };
    case 'openai':
      return { error: { message, type, code } };
  }
}

/** A complete JSON error response (status, headers such as Retry-After, body). */
export function errorResponse(style: ErrorStyle, error: unknown, clientGone = false): Response {
  const status = statusOf(error, clientGone);
  const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8' };
  if (error instanceof HttpError) Object.assign(headers, error.headers);
  const retryAfter = (error as { retryAfterSeconds?: unknown } | null)?.retryAfterSeconds;
  if (typeof retryAfter === 'number') headers['Retry-After'] = String(retryAfter);
  return new Response(JSON.stringify(errorBody(style, error, status)), { status, headers });
}

/** Unix time in seconds with a fraction, as the original envelope's `servertime`. */
export function serverTime(): number {
  return Date.now() / 1000;
}
