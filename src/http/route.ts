/**
 * What every route module shares: the route definition (its OpenAPI description next to its
 * handler and its policies), the services handlers use, and body helpers with errors that name
 * the field.
 */
import { basename } from 'node:path';
import type { Context } from 'hono';
import type { Akachat } from '../akachat.js';
import type { Model } from '../engine/index.js';
import { InvalidArgumentError } from '../errors.js';
import { describeValue, invalid } from '../validate.js';
import type { ModelCatalog } from '../run/catalog.js';
import type { Embedder } from '../run/embeddings.js';
import type { ErrorStyle } from './errors.js';
import type { Generations } from '../run/runner.js';
import type { RouteDescription } from './openapi.js';
import type { GenerationQueue } from '../run/admission.js';
import type { BatchRuns } from '../batch/runs.js';
import type { ServerDefaults } from '../run/runner.js';
import type { ServerMetrics } from './metrics.js';
import { eventStream, type EventStreamOptions } from './sse.js';

/** A route: its description for `/openapi.json`, its policies and its handler. */
export interface RouteSpec extends RouteDescription {
  /** Error body shape the route's clients parse. */
  errors: ErrorStyle;
  /**
   * Reads or changes stored data (prompts, vars, messages, settings, presets, uploads): browser
   * pages from other origins may call it only when `managementOrigins` allows them. Default false.
   */
  management?: boolean;
  /** Reachable without the API key (docs, health). Default false. */
  public?: boolean;
  /** Largest request body in bytes. Default: the app's `maxJsonBytes`. */
  maxBodyBytes?: number;
  /**
   * Answers the request. `signal` fires when the client goes away or the request times out;
   * pass it to everything slow. Thrown errors become the route's error response.
   */
  handler: (c: Context, signal: AbortSignal) => Response | Promise<Response>;
}

/** Server state the status routes report. */
export interface ServerState {
  /** Default model: not configured, loading at start, loaded, or failed to load. */
  model: 'none' | 'loading' | 'ready' | 'failed';
  /** Why the default model failed to load. */
  modelError?: string;
  startedAt: number;
}

/** Services the route modules are built from. */
export interface RouteContext {
  akachat: Akachat;
  catalog: ModelCatalog;
  generations: Generations;
  embedder: Embedder;
  queue: GenerationQueue;
  /** Batches started through the batch routes. */
  batches: BatchRuns;
  /** Counters for GET /metrics. */
  metrics: ServerMetrics;
  /** Server-wide sampling defaults (`serve --seed --temp ...`). */
  defaults: ServerDefaults;
  state: ServerState;
  /** The package version, for health and version routes. */
  version: string;
}

/**
 * Runs `use` with the requested local model held (loaded when needed) and the chat template its
 * runs use (`''`: the GGUF's own); the lease ends when `use` settles.
 */
export async function withLocalModel<T>(ctx: RouteContext, requested: string | undefined, signal: AbortSignal, use: (model: Model, chatTemplate: string) => T | Promise<T>): Promise<T> {
  const { ref, chatTemplate } = await ctx.catalog.localModel(requested);
  const lease = await ctx.akachat.models.acquire(ref, { signal });
  try {
    return await use(lease.model, chatTemplate ?? '');
  } finally {
    lease.release();
  }
}

/** A model file as HTTP callers see it: its file name without `.gguf` (the folder is the owner's). */
export function modelFileName(path: string): string {
  return basename(path).replace(/\.gguf$/i, '');
}

/** Reads the body as a JSON object whatever its Content-Type (curl sends form types by default). */
export async function readJson(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === '') throw new InvalidArgumentError('Expected a JSON object for the request body but received an empty body');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`Expected JSON for the request body but received invalid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!isRecord(value)) throw invalid('a JSON object', 'the request body', value);
  return value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Runs `check` unless the value is absent; JSON clients send null for "not set". */
export function optional<T>(value: unknown, name: string, check: (value: unknown, name: string) => T): T | undefined {
  return value === undefined || value === null ? undefined : check(value, name);
}

/** Drops undefined fields so spreading the result never overwrites a value with undefined. */
export function compact<T extends object>(params: T): T {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as T;
}

/** A required string field. */
export function stringField(body: Record<string, unknown>, name: string, { allowEmpty = true } = {}): string {
  const value = body[name];
  if (typeof value !== 'string' || (!allowEmpty && value === '')) {
    throw invalid(allowEmpty ? 'a string' : 'a non-empty string', name, value);
  }
  return value;
}

/** An optional integer field (absent or null = undefined), within bounds. */
export function optionalIntegerField(body: Record<string, unknown>, name: string, min = -Infinity, max = Infinity): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = min > -Infinity && max < Infinity ? ` between ${min} and ${max}` : min > -Infinity ? ` >= ${min}` : '';
    throw new InvalidArgumentError(`Expected an integer${range} for ${name} but received ${describeValue(value)}`);
  }
  return value;
}

/** An integer query parameter (absent = undefined). */
export function integerQuery(c: Context, name: string, min = 0): number | undefined {
  const text = c.req.query(name);
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw invalid(`an integer >= ${min}`, `the query parameter ${name}`, text);
  return value;
}

/** A streamed response whose body is already-framed events (see sse.ts). */
export function streamResponse(events: AsyncIterable<string>, headers: Readonly<Record<string, string>>, options?: EventStreamOptions): Response {
  return new Response(eventStream(events, options), { status: 200, headers: { ...headers } });
}

/** A random id for completion objects (`chatcmpl-...`). */
export function randomId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().replace(/-/g, '').slice(0, 24)}`;
}

/** Unix seconds, integer. */
export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
