import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { serve, type ServerType } from '@hono/node-server';
import { InvalidArgumentError } from '../../src/errors.js';
import { RouteRegistry, buildOpenApi, toOpenApiPath, type RouteDescription } from '../../src/http/openapi.js';
import { docsHtml } from '../../src/http/docs-page.js';
import { SSE_HEADERS, eventStream, sseEvent } from '../../src/http/sse.js';

const chatRoute: RouteDescription = {
  method: 'POST',
  path: '/v1/chat/completions',
  summary: 'OpenAI-compatible chat',
  tags: ['openai'],
  requestBody: {
    schema: {
      type: 'object',
      required: ['messages'],
      properties: {
        model: { type: 'string', default: 'default' },
        messages: { type: 'array', items: { type: 'object', properties: { role: { type: 'string' }, content: { type: 'string' } } } },
        temperature: { type: 'number', minimum: 0, maximum: 2 },
      },
    },
  },
  responses: {
    200: { description: 'Completion or SSE stream', contentType: 'text/event-stream', schema: { type: 'string' } },
    400: { description: 'Bad request', schema: { $ref: '#/components/schemas/Error' } },
  },
};

const promptRoute: RouteDescription = {
  method: 'GET',
  path: '/api/prompt/:name{.+}',
  summary: 'Read a prompt',
  tags: ['akachat'],
  parameters: [{ name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'text'] } }],
};

describe('toOpenApiPath', () => {
  it('converts Hono parameters and rejects wildcards', () => {
    expect(toOpenApiPath('/api/prompt/:name{.+}')).toEqual({ path: '/api/prompt/{name}', pathParams: ['name'] });
    expect(toOpenApiPath('/a/:x/b/:y?')).toEqual({ path: '/a/{x}/b/{y}', pathParams: ['x', 'y'] });
    expect(() => toOpenApiPath('/*/chat/completions')).toThrow('Expected a path without wildcards for the route path but received "/*/chat/completions"');
  });
});

describe('buildOpenApi', () => {
  const document = buildOpenApi([chatRoute, promptRoute, { method: 'GET', path: '/health', summary: 'Health' }], {
    title: 'akachat', version: '0.1.0',
  }, { schemas: { Error: { type: 'object', properties: { error: { type: 'object' } } } }, tags: [{ name: 'akachat', description: 'Original routes' }] });

  it('writes an OpenAPI 3.1 document with every route', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(document.info).toEqual({ title: 'akachat', version: '0.1.0' });
    expect(Object.keys(document.paths)).toEqual(['/v1/chat/completions', '/api/prompt/{name}', '/health']);
    const chat = document.paths['/v1/chat/completions'].post;
    expect(chat).toMatchObject({ operationId: 'post_v1_chat_completions', summary: 'OpenAI-compatible chat', tags: ['openai'] });
    expect(chat.requestBody).toEqual({ required: true, content: { 'application/json': { schema: chatRoute.requestBody!.schema } } });
    expect(chat.responses['200']).toEqual({ description: 'Completion or SSE stream', content: { 'text/event-stream': { schema: { type: 'string' } } } });
    expect(document.components.schemas.Error).toBeDefined();
  });

  it('adds path parameters found in the path before declared ones', () => {
    expect(document.paths['/api/prompt/{name}'].get.parameters).toEqual([
      { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
      { name: 'format', in: 'query', required: false, schema: { type: 'string', enum: ['json', 'text'] } },
    ]);
  });

  it('orders tags as configured, then by first use, with "other" for untagged routes', () => {
    expect(document.tags).toEqual([{ name: 'akachat', description: 'Original routes' }, { name: 'openai' }, { name: 'other' }]);
    expect(document.paths['/health'].get.tags).toEqual(['other']);
    expect(document.paths['/health'].get.responses).toEqual({ 200: { description: 'OK' } });
  });

  it('declares bearer auth as required or optional', () => {
    const required = buildOpenApi([], { title: 't', version: '1' }, { bearerAuth: 'required' });
    expect(required.components.securitySchemes).toEqual({ bearerAuth: { type: 'http', scheme: 'bearer' } });
    expect(required.security).toEqual([{ bearerAuth: [] }]);
    expect(buildOpenApi([], { title: 't', version: '1' }, { bearerAuth: 'optional' }).security).toEqual([{}, { bearerAuth: [] }]);
    expect(buildOpenApi([], { title: 't', version: '1' }).security).toBeUndefined();
  });

  it('does not share objects with its inputs', () => {
    const built = buildOpenApi([chatRoute], { title: 't', version: '1' });
    (built.paths['/v1/chat/completions'].post.requestBody!.content['application/json'].schema.properties as Record<string, unknown>).x = 1;
    expect(chatRoute.requestBody!.schema.properties).not.toHaveProperty('x');
  });

  it('rejects malformed routes with a message naming the route', () => {
    const build = (route: Partial<RouteDescription>) => () =>
      buildOpenApi([{ method: 'GET', path: '/x', summary: 's', ...route } as RouteDescription], { title: 't', version: '1' });
    expect(build({ method: 'FETCH' as 'GET' })).toThrow(/for the route method but received "FETCH"/);
    expect(build({ path: 'x' })).toThrow(/a path starting with "\/" for the route path/);
    expect(build({ summary: ' ' })).toThrow(/a non-empty summary for GET \/x/);
    expect(build({ responses: { ok: { description: 'x' } } })).toThrow(/an HTTP status code/);
    expect(build({ parameters: [{ name: 'id', in: 'path' }] })).toThrow(/parameter of the path \/x/);
    expect(() => buildOpenApi([promptRoute, { ...promptRoute, path: '/api/prompt/:name' }], { title: 't', version: '1' }))
      .toThrow(InvalidArgumentError);
  });
});

describe('RouteRegistry', () => {
  it('collects routes, refuses duplicates and builds the document', () => {
    const registry = new RouteRegistry().register(chatRoute).register(promptRoute);
    expect(() => registry.register({ ...chatRoute, summary: 'again' })).toThrow(
      'Expected a route not registered yet for POST /v1/chat/completions but received a duplicate',
    );
    expect(() => registry.register({ method: 'GET', path: '/*', summary: 'all' })).toThrow(/without wildcards/);
    expect(registry.routes.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /v1/chat/completions', 'GET /api/prompt/:name{.+}']);
    registry.routes[0].summary = 'changed';
    expect(registry.routes[0].summary).toBe('OpenAI-compatible chat');
    expect(Object.keys(registry.toOpenApi({ title: 't', version: '1' }).paths)).toHaveLength(2);
  });
});

describe('docsHtml', () => {
  const html = docsHtml({ title: 'My <API>' });
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1];
  const helpers = new Function(`${script}\nreturn { exampleFromSchema, groupOperations, fillPath, curlCommand, typeLabel };`)() as {
    exampleFromSchema: (spec: unknown, schema: unknown) => unknown;
    groupOperations: (spec: unknown) => { tag: string; operations: { method: string; path: string }[] }[];
    fillPath: (path: string, values: Record<string, string>) => { url: string; missing: string[] };
    curlCommand: (method: string, url: string, headers: Record<string, string>, body: string) => string;
    typeLabel: (spec: unknown, schema: unknown) => string;
  };

  it('is self-contained: inline CSS and JS, nothing loaded from elsewhere', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script[^>]+src=|<link\b|@import|url\(/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html.match(/<script>/g)).toHaveLength(1);
    expect(html).toContain("connect-src 'self'");
    expect(html).toContain('"./openapi.json"');
    expect(html).toContain('<title>My &#60;API&#62;</title>');
  });

  it('refuses a spec URL on another server', () => {
    expect(() => docsHtml({ specUrl: 'https://evil.example/openapi.json' })).toThrow(InvalidArgumentError);
    expect(() => docsHtml({ specUrl: '//evil.example/openapi.json' })).toThrow('Expected a same-server path for specUrl but received "//evil.example/openapi.json"');
    expect(docsHtml({ specUrl: '/openapi.json' })).toContain('"/openapi.json"');
    expect(docsHtml({ specUrl: '</script>' })).not.toContain('"</script>"');
  });

  it('prefills bodies from examples, defaults and required fields', () => {
    const spec = buildOpenApi([chatRoute], { title: 't', version: '1' });
    expect(helpers.exampleFromSchema(spec, chatRoute.requestBody!.schema)).toEqual({ model: 'default', messages: [{}] });
    expect(helpers.exampleFromSchema({ components: { schemas: { N: { type: 'integer', minimum: 1 } } } }, { $ref: '#/components/schemas/N' })).toBe(1);
    expect(helpers.exampleFromSchema({}, { oneOf: [{ type: 'string', enum: ['a', 'b'] }, { type: 'number' }] })).toBe('a');
  });

  it('groups operations by tag in document order', () => {
    const spec = buildOpenApi([chatRoute, promptRoute, { method: 'GET', path: '/health', summary: 'h' }], { title: 't', version: '1' });
    expect(helpers.groupOperations(spec).map((g) => [g.tag, g.operations.map((o) => `${o.method} ${o.path}`)])).toEqual([
      ['openai', ['post /v1/chat/completions']], ['akachat', ['get /api/prompt/{name}']], ['other', ['get /health']],
    ]);
  });

  it('fills path parameters, labels types and writes curl commands', () => {
    expect(helpers.fillPath('/api/prompt/{name}', { name: 'chara/aka chan' })).toEqual({ url: '/api/prompt/chara/aka%20chan', missing: [] });
    expect(helpers.fillPath('/api/prompt/{name}', {})).toEqual({ url: '/api/prompt/{name}', missing: ['name'] });
    expect(helpers.typeLabel({}, { type: 'array', items: { type: 'string' } })).toBe('array<string>');
    expect(helpers.typeLabel({}, { type: ['string', 'null'] })).toBe('string | null');
    expect(helpers.curlCommand('post', 'http://127.0.0.1:1/x', { 'Content-Type': 'application/json', Authorization: 'Bearer s3cret' }, `{"a":"it's"}`))
      .toBe(`curl -N -X POST 'http://127.0.0.1:1/x' -H 'Content-Type: application/json' -H 'Authorization: Bearer $AKACHAT_API_KEY' --data-raw '{"a":"it'\\''s"}'`);
  });
});

// ---- The page script against a real server, with a minimal DOM ---------------------------------

class FakeText {
  constructor(public data: string) {}
  get textContent(): string { return this.data; }
}

class FakeElement {
  childNodes: (FakeElement | FakeText)[] = [];
  attributes = new Map<string, string>();
  listeners = new Map<string, ((event: unknown) => void)[]>();
  className = '';
  value = '';
  disabled = false;
  files: unknown[] | undefined;
  constructor(public tagName: string) {}
  get type(): string { return this.attributes.get('type') ?? 'text'; }
  get textContent(): string { return this.childNodes.map((child) => child.textContent).join(''); }
  set textContent(text: string) { this.childNodes = text === '' ? [] : [new FakeText(text)]; }
  setAttribute(name: string, value: string) {
    this.attributes.set(name, value);
    if (name === 'disabled') this.disabled = true;
  }
  getAttribute(name: string) { return this.attributes.get(name) ?? null; }
  appendChild<T extends FakeElement | FakeText>(child: T): T { this.childNodes.push(child); return child; }
  addEventListener(type: string, listener: (event: unknown) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  dispatch(type: string) { for (const listener of this.listeners.get(type) ?? []) listener({}); }
  *descendants(): Generator<FakeElement> {
    for (const child of this.childNodes) {
      if (child instanceof FakeElement) {
        yield child;
        yield* child.descendants();
      }
    }
  }
}

describe('docs page in use', () => {
  let server: ServerType;
  let base = '';
  const requested: string[] = [];

  beforeAll(async () => {
    const registry = new RouteRegistry()
      .register({
        method: 'POST', path: '/v1/echo', summary: 'Streams the body back', tags: ['demo'],
        requestBody: { schema: { type: 'object', required: ['text'], properties: { text: { type: 'string', examples: ['こんにちは'] } } } },
        responses: { 200: { description: 'SSE', contentType: 'text/event-stream' } },
      })
      .register({ method: 'GET', path: '/api/items/:id', summary: 'One item', tags: ['demo'] });
    const app = new Hono();
    app.get('/docs', (c) => c.html(docsHtml()));
    app.get('/openapi.json', (c) => c.json(registry.toOpenApi({ title: 'Demo API', version: '9.9' })));
    app.post('/v1/echo', async (c) => {
      const { text } = await c.req.json<{ text: string }>();
      async function* events() {
        for (const char of text) {
          await new Promise((resolve) => setTimeout(resolve, 15)); // spaced so the page sees partial output
          yield sseEvent({ char });
        }
        yield sseEvent('[DONE]');
      }
      return new Response(eventStream(events()), { headers: SSE_HEADERS });
    });
    app.get('/api/items/:id', (c) => c.json({ id: c.req.param('id'), auth: c.req.header('authorization') ?? null }));
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
        base = `http://127.0.0.1:${info.port}`;
        resolve();
      });
    });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function loadPage() {
    const html = await (await fetch(`${base}/docs`)).text();
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1];
    const byId: Record<string, FakeElement> = {};
    for (const id of ['app', 'title', 'version', 'filter', 'api-key']) byId[id] = new FakeElement(id === 'app' ? 'main' : 'input');
    const document = {
      title: '',
      createElement: (tag: string) => new FakeElement(tag),
      createTextNode: (text: string) => new FakeText(text),
      getElementById: (id: string) => byId[id] ?? null,
    };
    // The page may only reach its own server, through relative URLs.
    const pageFetch = (url: string, init?: RequestInit) => {
      requested.push(url);
      if (/^[a-z]+:|^\/\//i.test(url)) throw new Error(`page fetched an absolute URL ${url}`);
      return fetch(new URL(url, `${base}/docs`), init);
    };
    const storage = new Map<string, string>();
    const sessionStorage = { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => storage.set(k, v) };
    const page = new Function('document', 'window', 'fetch', 'sessionStorage', 'location', `${script}\nreturn { main };`)(
      document, undefined, pageFetch, sessionStorage, { origin: base },
    ) as { main: () => Promise<void> };
    await page.main();
    return { app: byId.app, byId, document };
  }

  function operation(app: FakeElement, path: string): FakeElement {
    const found = [...app.descendants()].find((el) => el.tagName === 'details' && el.getAttribute('data-search')!.includes(path));
    if (!found) throw new Error(`no operation ${path}`);
    return found;
  }
  const byText = (root: FakeElement, tag: string, text: string) =>
    [...root.descendants()].find((el) => el.tagName === tag && el.textContent === text)!;
  const first = (root: FakeElement, tag: string, className?: string) =>
    [...root.descendants()].find((el) => el.tagName === tag && (className === undefined || el.className === className))!;
  const responseOutput = (root: FakeElement) => [...root.descendants()].find((el) => el.getAttribute('aria-live') === 'polite')!;

  it('lists the routes grouped by tag with the document title', async () => {
    const { app, byId, document } = await loadPage();
    expect(requested).toContain('./openapi.json');
    expect(document.title).toBe('Demo API');
    expect(byId.version.textContent).toBe('v9.9');
    const headings = [...app.descendants()].filter((el) => el.tagName === 'h2').map((el) => el.textContent);
    expect(headings).toEqual(['demo']);
    expect(operation(app, '/v1/echo').textContent).toContain('POST/v1/echoStreams the body back');
    expect(operation(app, '/api/items/{id}').textContent).toContain('GET/api/items/{id}One item');
  });

  it('sends the prefilled body and shows the stream as it arrives', async () => {
    const { app } = await loadPage();
    const echo = operation(app, '/v1/echo');
    const textarea = first(echo, 'textarea');
    expect(JSON.parse(textarea.value)).toEqual({ text: 'こんにちは' });
    textarea.value = JSON.stringify({ text: 'abc' });
    const output = responseOutput(echo);
    const status = first(echo, 'span', 'status');
    const sizes: number[] = [];
    byText(echo, 'button', 'Try it').dispatch('click');
    await expect.poll(() => {
      sizes.push(output.textContent.length);
      return status.textContent;
    }, { timeout: 5000, interval: 1 }).toMatch(/^200 OK · text\/event-stream.* · \d+ ms$/);
    expect(output.textContent).toBe('data: {"char":"a"}\n\ndata: {"char":"b"}\n\ndata: {"char":"c"}\n\ndata: [DONE]\n\n');
    // Partial output was visible before the end: the page renders while the stream is open.
    expect(sizes.some((size) => size > 0 && size < output.textContent.length)).toBe(true);
  });

  it('fills path parameters, sends the API key and pretty-prints JSON', async () => {
    const { app, byId } = await loadPage();
    const item = operation(app, '/api/items/{id}');
    const status = first(item, 'span', 'status');
    byText(item, 'button', 'Try it').dispatch('click');
    expect(status.textContent).toBe('Fill in the path parameter id');
    first(item, 'input').value = '42';
    byId['api-key'].value = 'k1';
    byText(item, 'button', 'Try it').dispatch('click');
    await expect.poll(() => status.textContent, { timeout: 5000 }).toMatch(/^200 OK .* ms$/);
    expect(responseOutput(item).textContent).toBe(JSON.stringify({ id: '42', auth: 'Bearer k1' }, null, 2));
    byText(item, 'button', 'curl').dispatch('click');
    const curl = [...item.descendants()].find((el) => el.tagName === 'pre' && el !== responseOutput(item))!;
    expect(curl.textContent).toBe(`curl -N -X GET '${base}/api/items/42' -H 'Authorization: Bearer $AKACHAT_API_KEY'`);
  });
});
