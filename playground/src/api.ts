/**
 * The playground's typed client of the WebAPI. Same origin only: the page is served by the
 * server it talks to. The API key (when the server has one) is kept in this browser's storage
 * and sent as a Bearer token.
 */

const KEY_STORAGE = 'akachat.apiKey';

export function apiKey(): string {
  return localStorage.getItem(KEY_STORAGE) ?? '';
}

export function setApiKey(key: string): void {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

/** A failed request: the status and the server's own message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function headers(json: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  if (json) h['Content-Type'] = 'application/json';
  const key = apiKey();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

/** The message inside any of the error shapes the dialects answer with. */
export function errorMessage(body: unknown, fallback: string): string {
  if (typeof body === 'string' && body.trim() !== '') return body.trim().slice(0, 500);
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const error = b.error;
    if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message;
    for (const field of ['error', 'message', 'detail']) if (typeof b[field] === 'string') return b[field] as string;
  }
  return fallback;
}

async function failure(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return new ApiError(response.status, errorMessage(body, `${response.status} ${response.statusText}`), body);
}

/** Sends a request and returns the parsed JSON body, or throws ApiError. */
export async function request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const json = body !== undefined && !(body instanceof FormData) && !(body instanceof Blob);
  const response = await fetch(path, {
    method,
    headers: headers(json),
    body: body === undefined ? undefined : json ? JSON.stringify(body) : (body as BodyInit),
    signal,
  });
  if (!response.ok) throw await failure(response);
  const type = response.headers.get('content-type') ?? '';
  return (type.includes('json') ? await response.json() : await response.text()) as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => request<T>('GET', path, undefined, signal);
export const post = <T>(path: string, body?: unknown, signal?: AbortSignal) => request<T>('POST', path, body ?? {}, signal);
export const put = <T>(path: string, body?: unknown, signal?: AbortSignal) => request<T>('PUT', path, body ?? {}, signal);
export const del = <T>(path: string, signal?: AbortSignal) => request<T>('DELETE', path, undefined, signal);

/** One server-sent event. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * POSTs (or GETs, without a body) and yields the response's server-sent events as they come.
 * Aborting `signal` closes the connection, which stops the generation on the server.
 */
export async function* events(path: string, body?: unknown, signal?: AbortSignal): AsyncGenerator<SseEvent> {
  const response = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...headers(body !== undefined), Accept: 'text/event-stream' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  let buffer = '';
  for await (const text of textChunks(response)) {
    buffer += text.replace(/\r\n?/g, '\n');
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: SseEvent = { event: 'message', data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event.event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length === 0) continue;
      event.data = data.join('\n');
      yield event;
    }
  }
}

/** POSTs JSON and yields the response body's text as it streams (the text/plain stream routes). */
export async function* textStream(path: string, body: unknown, signal?: AbortSignal): AsyncGenerator<string> {
  const response = await fetch(path, { method: 'POST', headers: headers(true), body: JSON.stringify(body), signal });
  if (!response.ok) throw await failure(response);
  yield* textChunks(response);
}

async function* textChunks(response: Response): AsyncGenerator<string> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) yield decoder.decode(r.value, { stream: true });
    const rest = decoder.decode();
    if (rest) yield rest;
  } finally {
    reader.releaseLock();
  }
}

/** True for the error an aborted fetch throws (the user pressed Stop). */
export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}
