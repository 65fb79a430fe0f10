/**
 * The WebAPI as a web-standard `fetch` handler (built with hono): akachat's own routes, the
 * OpenAI-, Ollama- and llama.cpp-compatible dialects, sentence streaming for speech and `/docs`,
 * in front of one {@link Akachat}. Every request passes, in this order: the Host check
 * (DNS-rebinding defence), CORS (management routes stricter), the API key, the body size limit;
 * then the handler runs with an AbortSignal that fires when the client goes away or the request
 * times out. Errors never escape: each route answers in its dialect's error shape.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import packageJson from '../../package.json' with { type: 'json' };
import type { Akachat } from '../akachat.js';
import { expectInteger } from '../validate.js';
import { BatchRuns } from '../batch/runs.js';
import { batchRoutes } from './routes/batch.js';
import { introspectionRoutes } from './routes/introspection.js';
import { ServerMetrics } from './metrics.js';
import { ModelCatalog } from '../run/catalog.js';
import { Embedder } from '../run/embeddings.js';
import { errorMessage, errorResponse, HttpError, statusOf, type ErrorStyle } from './errors.js';
import { Generations, type GenerationReport, type ServerDefaults } from '../run/runner.js';
import { RouteRegistry, type OpenApiDocument, type RouteDescription } from './openapi.js';
import { GenerationQueue } from '../run/admission.js';
import type { RouteContext, RouteSpec, ServerState } from './route.js';
import { akachatRoutes } from './routes/akachat.js';
import { docsRoutes } from './routes/docs.js';
import { playgroundRoutes } from './routes/playground.js';
import { anthropicRoutes } from './routes/anthropic.js';
import { llamaCppRoutes } from './routes/llamacpp.js';
import { manageRoutes } from './routes/manage.js';
import { modelsManageRoutes, type OwnerOptIns } from './routes/models-manage.js';
import { ollamaRoutes } from './routes/ollama.js';
import { chatCompletionsHandler, openAiRoutes } from './routes/openai.js';
import { DEFAULT_MAX_UPLOAD_BYTES, ragRoutes } from './routes/rag.js';
import { speechRoutes } from './routes/speech.js';
import { statusRoutes } from './routes/status.js';
import { checkApiKey, corsDecision, hostAllowed, type OriginPolicy } from './security.js';
import { withoutDownloads } from '../llm/hub.js';

export interface AppOptions extends OwnerOptIns {
  /**
   * Address the server listens on; the `Host` header of every request is checked against it
   * (DNS-rebinding defence). Default `'127.0.0.1'`.
   */
  host?: string;
  /** More accepted `Host` names (reverse proxy, `myhost.local`), optionally with `:port`; `'*'` turns the check off. Default none. */
  allowedHosts?: readonly string[];
  /** API key clients must send as `Authorization: Bearer <key>`. Default none: any (or no) bearer is accepted. */
  apiKey?: string;
  /** Browser origins allowed on the chat, model and docs routes. Default `'local'` (localhost, 127.0.0.1, [::1], any port). */
  corsOrigins?: OriginPolicy;
  /**
   * Browser origins allowed on management routes (prompts, vars, messages, settings, presets,
   * uploads), besides pages served by this server itself. Default `[]`: none.
   */
  managementOrigins?: OriginPolicy;
  /** Requests that may wait for the local model; more get 503 with `Retry-After`. Default 16. */
  maxQueue?: number;
  /** Per-request time limit in ms (queue wait and streaming included); 0 = none. Default 300000 (5 minutes). */
  requestTimeoutMs?: number;
  /** Largest JSON body in bytes. Default 1 MiB. */
  maxJsonBytes?: number;
  /** Largest upload (`/api/rag/save`) in bytes. Default 100 MiB. */
  maxUploadBytes?: number;
  /**
   * Sampling defaults for requests that name none (`serve --seed --temp ...`): request > prompt
   * or preset options > these > built-in defaults. Default none.
   */
  defaults?: ServerDefaults;
  /** Hears about every generation when it ends (logging, metrics, tests). Default none. */
  onGeneration?: (report: GenerationReport) => void;
  /** Hears about errors answered with a 5xx status. Default: printed with console.error. */
  onServerError?: (error: unknown, request: { method: string; path: string }) => void;
  /** Title of the docs page and the OpenAPI document. Default `'akachat API'`. */
  title?: string;
}

/** The WebAPI application. */
export interface AkachatApp {
  /** Web-standard fetch handler: give it to any server that speaks Request/Response. */
  readonly fetch: (request: Request, env?: unknown) => Response | Promise<Response>;
  /** The hono app, for adding routes or middleware. */
  readonly hono: Hono;
  /** Every route's description (what `/openapi.json` is built from). */
  readonly routes: RouteRegistry;
  /** The queue in front of the local model. */
  readonly queue: GenerationQueue;
  /** Default-model state shown by `/health` and `/api/health`. */
  readonly state: ServerState;
  /** The OpenAPI document of the routes. */
  openApi(): OpenApiDocument;
  /**
   * Loads the default model now, so the first request does not wait for it; `/health` answers
   * 503 meanwhile. Rejects with the load error (also shown by `/api/health`).
   */
  preloadDefaultModel(signal?: AbortSignal): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 300_000;
const DEFAULT_MAX_JSON_BYTES = 1024 * 1024;

const TAG_DESCRIPTIONS = [
  { name: 'akachat', description: 'The original akachat routes: run and save prompts (envelope {status, servertime, result, detail})' },
  { name: 'speech', description: 'Sentence streaming for TTS' },
  { name: 'OpenAI-compatible', description: 'Base URL http://<host>:<port>/v1 (also without /v1)' },
  { name: 'Ollama-compatible', description: 'Host http://<host>:<port>' },
  { name: 'llama.cpp-compatible', description: 'llama-server routes' },
  { name: 'Anthropic-compatible', description: 'Anthropic Messages API: base URL http://<host>:<port> (the API key also as x-api-key)' },
  { name: 'rag', description: 'RAG collections' },
  { name: 'prompts', description: 'Management: saved prompts' },
  { name: 'vars', description: 'Management: variables' },
  { name: 'messages', description: 'Management: the message log' },
  { name: 'settings', description: 'Management: settings (secrets masked)' },
  { name: 'presets', description: 'Management: model presets' },
  { name: 'batch', description: 'Management: batch comparisons (prompts x models x temperatures x inputs)' },
  { name: 'status', description: 'Health and models' },
  { name: 'docs', description: 'This page and the OpenAPI document' },
];

/** Builds the WebAPI for one Akachat. */
export function createApp(akachat: Akachat, options: AppOptions = {}): AkachatApp {
  const host = options.host ?? '127.0.0.1';
  const timeoutMs = expectInteger(options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS, 'requestTimeoutMs', 0);
  const maxJsonBytes = expectInteger(options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES, 'maxJsonBytes', 1);
  const maxUploadBytes = expectInteger(options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES, 'maxUploadBytes', 1);
  const corsOrigins = options.corsOrigins ?? 'local';
  const managementOrigins = options.managementOrigins ?? [];
  const onServerError = options.onServerError ?? ((error, request) => console.error(`[akachat] ${request.method} ${request.path} failed:`, error));
  const title = options.title ?? 'akachat API';

  const state: ServerState = { model: akachat.defaultModel ? 'ready' : 'none', startedAt: Date.now() };
  // As many requests run at once as the model's context has slots (ModelManager `parallel`).
  const queue = new GenerationQueue({ maxWaiting: options.maxQueue, concurrency: () => akachat.models.parallel });
  const catalog = new ModelCatalog(akachat);
  const metrics = new ServerMetrics();
  const ctx: RouteContext = {
    akachat,
    catalog,
    queue,
    state,
    generations: new Generations(akachat, catalog, queue, {
      onGeneration: (report) => {
        metrics.record(report);
        options.onGeneration?.(report);
      },
      defaults: options.defaults,
    }),
    metrics,
    defaults: options.defaults ?? {},
    embedder: new Embedder(akachat, catalog),
    batches: new BatchRuns(akachat),
    version: packageJson.version,
  };

  const registry = new RouteRegistry();
  const openApi = () => registry.toOpenApi(
    { title, version: packageJson.version, description: 'Local LLMs for digital humans: akachat routes plus OpenAI-, Ollama- and llama.cpp-compatible dialects.' },
    { tags: TAG_DESCRIPTIONS, bearerAuth: options.apiKey ? 'required' : 'optional' },
  );
  const routes: RouteSpec[] = [
    ...docsRoutes(openApi, title),
    ...playgroundRoutes(),
    ...akachatRoutes(ctx, options),
    ...speechRoutes(ctx),
    ...openAiRoutes(ctx),
    ...ollamaRoutes(ctx),
    ...llamaCppRoutes(ctx),
    ...anthropicRoutes(ctx),
    ...ragRoutes(ctx, maxUploadBytes),
    ...manageRoutes(ctx, options),
    ...modelsManageRoutes(ctx, options),
    ...batchRoutes(ctx),
    ...introspectionRoutes(ctx),
    ...statusRoutes(ctx),
  ];
  // Clients paste base URLs in many forms: any path ending in /chat/completions is a chat.
  const chatAnywhere: RouteSpec = {
    method: 'POST',
    path: '/v1/chat/completions',
    summary: 'chat completions under any prefix',
    errors: 'openai',
    handler: chatCompletionsHandler(ctx),
  };
  const matcher = new RouteMatcher(routes, chatAnywhere);

  const hono = new Hono();
  hono.use('*', guard({ host, allowedHosts: options.allowedHosts, apiKey: options.apiKey, corsOrigins, managementOrigins, matcher }));

  const run = (spec: RouteSpec) => async (c: Context): Promise<Response> => {
    const signal = timeoutMs > 0 ? AbortSignal.any([c.req.raw.signal, AbortSignal.timeout(timeoutMs)]) : c.req.raw.signal;
    try {
      // A request is no owner: it uses cached hf: models, downloads only with --allow-pull.
      return await (options.allowPull ? spec.handler(c, signal) : withoutDownloads(() => spec.handler(c, signal)));
    } catch (error) {
      const clientGone = c.req.raw.signal.aborted;
      if (!clientGone && statusOf(error) >= 500 && !(error instanceof HttpError)) onServerError(error, { method: c.req.method, path: c.req.path });
      return errorResponse(spec.errors, timedOut(error, signal, clientGone, timeoutMs), clientGone);
    }
  };
  const limit = (spec: RouteSpec): MiddlewareHandler => {
    const maxSize = spec.maxBodyBytes ?? maxJsonBytes;
    return bodyLimit({
      maxSize,
      onError: () => errorResponse(spec.errors, new HttpError(413, `The request body is larger than ${maxSize} bytes, the most this route accepts`, 'body_too_large')),
    });
  };

  for (const spec of routes) {
    registry.register(describe(spec));
    if (spec.method === 'GET') hono.on(spec.method, spec.path, run(spec));
    else hono.on(spec.method, spec.path, limit(spec), run(spec));
  }
  const chatAnywhereHandler = run(chatAnywhere);
  hono.post('*', limit(chatAnywhere), async (c, next) => {
    if (c.req.path.endsWith('/chat/completions')) return chatAnywhereHandler(c);
    await next();
  });

  hono.notFound((c) => {
    const allowed = matcher.methodsFor(c.req.path);
    const style = styleForPath(c.req.path);
    if (allowed.length > 0) {
      const response = errorResponse(style, new HttpError(405, `${c.req.method} is not allowed on ${c.req.path}: use ${allowed.join(' or ')}`, 'method_not_allowed'));
      response.headers.set('Allow', allowed.join(', '));
      return response;
    }
    return errorResponse(style, new HttpError(404, `No route for ${c.req.method} ${c.req.path}: see /docs for the routes`, 'not_found'));
  });
  hono.onError((error, c) => {
    const clientGone = c.req.raw.signal.aborted;
    if (!clientGone && statusOf(error) >= 500) onServerError(error, { method: c.req.method, path: c.req.path });
    return errorResponse(styleForPath(c.req.path), error, clientGone);
  });

  return {
    fetch: (request, env) => hono.fetch(request, env),
    hono,
    routes: registry,
    queue,
    state,
    openApi,
    async preloadDefaultModel(signal) {
      const ref = akachat.defaultModel;
      if (!ref) return;
      state.model = 'loading';
      delete state.modelError;
      try {
        const lease = await akachat.models.acquire(ref, { signal });
        lease.release();
        state.model = 'ready';
      } catch (error) {
        state.model = 'failed';
        state.modelError = errorMessage(error);
        throw error;
      }
    },
  };
}

/** An abort by our own timeout reads better as "timed out after N s" than as "aborted". */
function timedOut(error: unknown, signal: AbortSignal, clientGone: boolean, timeoutMs: number): unknown {
  if (clientGone || !signal.aborted || statusOf(error) !== 408) return error;
  const limit = timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`;
  return new HttpError(408, `The request took longer than ${limit} (the request timeout) and was stopped`, 'timeout', {}, { cause: error });
}

function describe(spec: RouteSpec): RouteDescription {
  const { errors: _errors, management: _management, public: _public, maxBodyBytes: _max, handler: _handler, ...description } = spec;
  return description;
}

/** Error shape for a request that matched no route: the dialect its path suggests. */
function styleForPath(path: string): ErrorStyle {
  if (/^\/api\/(chat|generate|tags|embed|embeddings|version|show|ps|pull)$/.test(path)) return 'ollama';
  if (path.startsWith('/api/')) return 'akachat';
  if (path.startsWith('/v1/messages')) return 'anthropic';
  return 'openai';
}

interface GuardOptions {
  host: string;
  allowedHosts?: readonly string[];
  apiKey?: string;
  corsOrigins: OriginPolicy;
  managementOrigins: OriginPolicy;
  matcher: RouteMatcher;
}

/** Host check, CORS (answering preflights) and the API key, before any route runs. */
function guard(options: GuardOptions): MiddlewareHandler {
  return async (c, next) => {
    const hostHeader = c.req.header('host');
    const requestedMethod = c.req.method === 'OPTIONS' ? c.req.header('access-control-request-method') : undefined;
    const route = options.matcher.find(requestedMethod?.toUpperCase() ?? c.req.method, c.req.path);
    const style = route?.errors ?? styleForPath(c.req.path);
    if (!hostAllowed(hostHeader, { bindHost: options.host, port: 0, extraHosts: options.allowedHosts })) {
      return errorResponse(style, new HttpError(
        403,
        `Host ${JSON.stringify(hostHeader)} is not allowed: this server answers to the address it listens on (DNS-rebinding protection; allow more names with allowedHosts)`,
        'host_not_allowed',
      ));
    }
    const decision = corsDecision(c.req.header('origin'), c.req.header('access-control-request-headers'), {
      allowedOrigins: options.corsOrigins,
      managementRoute: route?.management ?? false,
      managementOrigins: options.managementOrigins,
      requestHost: hostHeader,
      privateNetworkRequested: c.req.header('access-control-request-private-network') === 'true',
    });
    if (requestedMethod !== undefined) {
      // A preflight: answer it here, whatever the route (browsers send no credentials with it).
      if (!decision.allowed) return new Response(decision.reason, { status: 403, headers: decision.headers });
      return new Response(null, { status: 204, headers: decision.headers });
    }
    if (!decision.allowed) {
      const response = errorResponse(style, new HttpError(403, decision.reason ?? 'Origin not allowed', 'origin_not_allowed'));
      for (const [key, value] of Object.entries(decision.headers)) response.headers.set(key, value);
      return response;
    }
    if (!route?.public && !checkApiKey(c.req.header('authorization'), options.apiKey, c.req.header('x-api-key'))) {
      const response = errorResponse(style, new HttpError(401, 'Missing or wrong API key: send Authorization: Bearer <key> (or x-api-key: <key>)', 'invalid_api_key', { 'WWW-Authenticate': 'Bearer' }));
      for (const [key, value] of Object.entries(decision.headers)) response.headers.set(key, value);
      return response;
    }
    await next();
    for (const [key, value] of Object.entries(decision.headers)) c.res.headers.set(key, value);
  };
}

/** Finds the route a method + path would reach, for policies decided before routing (CORS, API key). */
class RouteMatcher {
  readonly #routes: Array<{ spec: RouteSpec; pattern: RegExp }>;
  readonly #chatAnywhere: RouteSpec;

  constructor(routes: readonly RouteSpec[], chatAnywhere: RouteSpec) {
    this.#routes = routes.map((spec) => ({ spec, pattern: compilePath(spec.path) }));
    this.#chatAnywhere = chatAnywhere;
  }

  find(method: string, path: string): RouteSpec | undefined {
    const found = this.#routes.find(({ spec, pattern }) => spec.method === method && pattern.test(path))?.spec;
    if (found) return found;
    if (method === 'POST' && path.endsWith('/chat/completions')) return this.#chatAnywhere;
    return undefined;
  }

  /** Methods some route answers on this path. */
  methodsFor(path: string): string[] {
    return [...new Set(this.#routes.filter(({ pattern }) => pattern.test(path)).map(({ spec }) => spec.method))];
  }
}

/** A hono path (`/api/prompts/:name{.+}`) as a RegExp. */
function compilePath(path: string): RegExp {
  const source = path.replace(/:([A-Za-z_]\w*)(\{[^}]*\})?|[^:]+/g, (match, name: string | undefined, pattern: string | undefined) => {
    if (name === undefined) return match.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return pattern ? `(?:${pattern.slice(1, -1)})` : '[^/]+';
  });
  return new RegExp(`^${source}$`);
}
