/**
 * A small route-description registry and an OpenAPI 3.1 builder: every HTTP route registers
 * what it accepts and returns next to its handler, and `/openapi.json` plus the `/docs` page are
 * generated from the same list, so the docs cannot drift from the routes.
 */
import { InvalidArgumentError } from '../errors.js';
import { describeValue, invalid } from '../validate.js';

/** The JSON Schema subset the routes use (OpenAPI 3.1 schemas are JSON Schema 2020-12). */
export interface JsonSchema {
  type?: JsonSchemaType | JsonSchemaType[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  examples?: unknown[];
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  /** Reference into `components.schemas` of the built document: `#/components/schemas/Name`. */
  $ref?: string;
}

export type JsonSchemaType = 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface RouteParameter {
  name: string;
  /** Path parameters are found in the path and need not be listed unless to describe them. */
  in: 'query' | 'header' | 'path';
  schema?: JsonSchema;
  description?: string;
  /** Default: true for path parameters, false otherwise. */
  required?: boolean;
}

export interface RouteRequestBody {
  schema: JsonSchema;
  /** Default `application/json`. */
  contentType?: string;
  /** Default true. */
  required?: boolean;
  description?: string;
  /** Prefilled in the docs page's "Try it" box. */
  example?: unknown;
}

export interface RouteResponse {
  description: string;
  /** Default `application/json`; use `text/event-stream`, `application/x-ndjson`, `text/plain` for streams. */
  contentType?: string;
  schema?: JsonSchema;
  example?: unknown;
}

export interface RouteDescription {
  method: HttpMethod;
  /** Hono-style path: `/api/prompt/:name` (a `:name{regex}` pattern is allowed; `*` is not). */
  path: string;
  summary: string;
  description?: string;
  /** Groups on the docs page; untagged routes are listed under "other". */
  tags?: string[];
  /** Default: derived from method and path, e.g. `post_v1_chat_completions`. */
  operationId?: string;
  parameters?: RouteParameter[];
  requestBody?: RouteRequestBody;
  /** Status code -> response. Default `{ "200": { description: "OK" } }`. */
  responses?: Record<string, RouteResponse>;
  deprecated?: boolean;
}

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

export interface BuildOpenApiOptions {
  /** Default: none (clients use the server the document was fetched from). */
  servers?: { url: string; description?: string }[];
  /** Descriptions for tags, in the order the docs page should show them. Default: order of first use. */
  tags?: { name: string; description?: string }[];
  /** Reusable schemas referenced as `#/components/schemas/<name>`. */
  schemas?: Record<string, JsonSchema>;
  /**
   * Declares `Authorization: Bearer <key>`: `'required'` when an API key is configured,
   * `'optional'` to document it without requiring it. Default: not declared.
   */
  bearerAuth?: 'required' | 'optional';
}

/** The part of an OpenAPI 3.1 document this builder writes. */
export interface OpenApiDocument {
  openapi: '3.1.0';
  info: OpenApiInfo;
  servers?: { url: string; description?: string }[];
  tags: { name: string; description?: string }[];
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, JsonSchema>; securitySchemes?: Record<string, unknown> };
  security?: Record<string, string[]>[];
}

export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  parameters?: { name: string; in: string; required: boolean; description?: string; schema: JsonSchema }[];
  requestBody?: { required: boolean; description?: string; content: Record<string, { schema: JsonSchema; example?: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: JsonSchema; example?: unknown }> }>;
  deprecated?: boolean;
}

/** Collects route descriptions; refuses malformed and duplicate ones at registration time. */
export class RouteRegistry {
  readonly #routes: RouteDescription[] = [];

  /** Adds a route; throws InvalidArgumentError naming the problem. Returns the registry for chaining. */
  register(route: RouteDescription): this {
    validateRoute(route);
    const key = routeKey(route.method, route.path);
    if (this.#routes.some((other) => routeKey(other.method, other.path) === key)) {
      throw new InvalidArgumentError(`Expected a route not registered yet for ${route.method} ${route.path} but received a duplicate`);
    }
    this.#routes.push(structuredClone(route));
    return this;
  }

  /** Registered routes in registration order (copies). */
  get routes(): RouteDescription[] {
    return structuredClone(this.#routes);
  }

  /** OpenAPI document for the registered routes. */
  toOpenApi(info: OpenApiInfo, options?: BuildOpenApiOptions): OpenApiDocument {
    return buildOpenApi(this.#routes, info, options);
  }
}

/** Builds an OpenAPI 3.1 document from route descriptions (inputs are not modified). */
export function buildOpenApi(routes: Iterable<RouteDescription>, info: OpenApiInfo, options: BuildOpenApiOptions = {}): OpenApiDocument {
  const tagOrder = new Map<string, { name: string; description?: string }>();
  for (const tag of options.tags ?? []) tagOrder.set(tag.name, { ...tag });
  const paths: OpenApiDocument['paths'] = {};
  const operationIds = new Set<string>();

  for (const route of routes) {
    validateRoute(route);
    const { path, pathParams } = toOpenApiPath(route.path);
    const tags = route.tags?.length ? [...route.tags] : ['other'];
    for (const tag of tags) if (!tagOrder.has(tag)) tagOrder.set(tag, { name: tag });

    const operationId = route.operationId ?? defaultOperationId(route.method, route.path);
    if (operationIds.has(operationId)) {
      throw new InvalidArgumentError(`Expected a unique operationId for ${route.method} ${route.path} but received ${describeValue(operationId)}`);
    }
    operationIds.add(operationId);

    const operation: OpenApiOperation = {
      operationId,
      summary: route.summary,
      tags,
      responses: buildResponses(route.responses),
    };
    if (route.description) operation.description = route.description;
    if (route.deprecated) operation.deprecated = true;
    const parameters = buildParameters(route, pathParams);
    if (parameters.length > 0) operation.parameters = parameters;
    if (route.requestBody) {
      const { schema, contentType = 'application/json', required = true, description, example } = route.requestBody;
      operation.requestBody = {
        required,
        ...(description ? { description } : {}),
        content: { [contentType]: { schema: structuredClone(schema), ...(example !== undefined ? { example: structuredClone(example) } : {}) } },
      };
    }
    const methods = (paths[path] ??= {});
    const method = route.method.toLowerCase();
    if (methods[method]) {
      throw new InvalidArgumentError(`Expected one description for ${route.method} ${path} but received a duplicate`);
    }
    methods[method] = operation;
  }

  const document: OpenApiDocument = {
    openapi: '3.1.0',
    info: { ...info },
    tags: [...tagOrder.values()],
    paths,
    components: { schemas: structuredClone(options.schemas ?? {}) },
  };
  if (options.servers?.length) document.servers = structuredClone(options.servers);
  if (options.bearerAuth) {
    document.components.securitySchemes = { bearerAuth: { type: 'http', scheme: 'bearer' } };
    // An empty requirement object makes authentication optional in OpenAPI.
    document.security = options.bearerAuth === 'required' ? [{ bearerAuth: [] }] : [{}, { bearerAuth: [] }];
  }
  return document;
}

/**
 * Converts a Hono path to an OpenAPI one: `/api/prompt/:name{.+}` -> `/api/prompt/{name}`.
 * Throws InvalidArgumentError for wildcards, which OpenAPI cannot describe.
 */
export function toOpenApiPath(path: string): { path: string; pathParams: string[] } {
  if (path.includes('*')) throw invalid('a path without wildcards', 'the route path', path);
  const pathParams: string[] = [];
  const converted = path.replace(/:([A-Za-z_][\w]*)(\{[^}]*\})?\??/g, (_, name: string) => {
    pathParams.push(name);
    return `{${name}}`;
  });
  return { path: converted, pathParams };
}

function validateRoute(route: RouteDescription): void {
  if (!HTTP_METHODS.includes(route.method)) throw invalid(`one of ${HTTP_METHODS.join(', ')}`, 'the route method', route.method);
  if (typeof route.path !== 'string' || !route.path.startsWith('/')) throw invalid('a path starting with "/"', 'the route path', route.path);
  if (typeof route.summary !== 'string' || route.summary.trim() === '') {
    throw invalid('a non-empty summary', `${route.method} ${route.path}`, route.summary);
  }
  toOpenApiPath(route.path);
  for (const status of Object.keys(route.responses ?? {})) {
    if (!/^[1-5]\d\d$|^default$/.test(status)) throw invalid('an HTTP status code', `a response of ${route.method} ${route.path}`, status);
  }
}

function buildParameters(route: RouteDescription, pathParams: string[]): NonNullable<OpenApiOperation['parameters']> {
  const declared = route.parameters ?? [];
  for (const parameter of declared) {
    if (parameter.in === 'path' && !pathParams.includes(parameter.name)) {
      throw invalid(`a parameter of the path ${route.path}`, `the path parameter of ${route.method} ${route.path}`, parameter.name);
    }
  }
  const implicit = pathParams
    .filter((name) => !declared.some((p) => p.in === 'path' && p.name === name))
    .map((name): RouteParameter => ({ name, in: 'path' }));
  return [...implicit, ...declared]
    .sort((a, b) => Number(b.in === 'path') - Number(a.in === 'path'))
    .map((parameter) => ({
      name: parameter.name,
      in: parameter.in,
      required: parameter.in === 'path' ? true : (parameter.required ?? false),
      ...(parameter.description ? { description: parameter.description } : {}),
      schema: structuredClone(parameter.schema ?? { type: 'string' }),
    }));
}

function buildResponses(responses: Record<string, RouteResponse> | undefined): OpenApiOperation['responses'] {
  const built: OpenApiOperation['responses'] = {};
  for (const [status, response] of Object.entries(responses ?? { 200: { description: 'OK' } })) {
    const { description, contentType = 'application/json', schema, example } = response;
    built[status] = { description };
    if (schema || example !== undefined) {
      built[status].content = {
        [contentType]: { schema: structuredClone(schema ?? {}), ...(example !== undefined ? { example: structuredClone(example) } : {}) },
      };
    }
  }
  return built;
}

function routeKey(method: string, path: string): string {
  return `${method} ${toOpenApiPath(path).path}`;
}

function defaultOperationId(method: string, path: string): string {
  const words = path.replace(/[:{}]/g, '').split(/[^A-Za-z0-9]+/).filter(Boolean);
  return [method.toLowerCase(), ...words].join('_');
}
