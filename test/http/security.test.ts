import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toOpenApiPath } from '../../src/http/openapi.js';
import { postJson, rawRequest, startServer, type TestServer } from './helpers.js';

/** No model needed: the checks run before any route. */
describe('security: CORS, Host check, API key, body limits', () => {
  let open: TestServer;
  let locked: TestServer;
  beforeAll(async () => {
    open = await startServer();
    locked = await startServer({ serve: { apiKey: 'secret-key', corsOrigins: '*', managementOrigins: ['http://localhost:5173'], maxJsonBytes: 1024 } });
  });
  afterAll(async () => {
    await open?.close();
    await locked?.close();
  });

  const preflight = (url: string, origin: string, method = 'POST') => fetch(url, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'authorization, content-type' },
  });

  it('answers a preflight from a local page with the requested headers', async () => {
    const response = await preflight(`${open.url}/v1/chat/completions`, 'http://localhost:3000');
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(response.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    expect(response.headers.get('vary')).toBe('Origin');
    const models = await fetch(`${open.url}/v1/models`, { headers: { Origin: 'http://127.0.0.1:8080' } });
    expect(models.status).toBe(200);
    expect(models.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8080');
  });

  it('refuses other origins by default, on the preflight and on the request itself', async () => {
    const response = await preflight(`${open.url}/v1/chat/completions`, 'https://evil.example');
    expect(response.status).toBe(403);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    // A "simple" cross-site POST skips the preflight: it must be refused too.
    const simple = await fetch(`${open.url}/api/prompt/save`, { method: 'POST', headers: { Origin: 'https://evil.example', 'Content-Type': 'text/plain' }, body: JSON.stringify({ name: 'pwned', instruction: 'x' }) });
    expect(simple.status).toBe(403);
    expect(await open.akachat.prompts.exists('pwned')).toBe(false);
  });

  it('keeps management routes closed to other origins, even local ones, unless configured', async () => {
    expect((await preflight(`${open.url}/api/prompts/x`, 'http://localhost:3000', 'PUT')).status).toBe(403);
    expect((await fetch(`${open.url}/api/settings`, { headers: { Origin: 'http://localhost:3000' } })).status).toBe(403);
    // A page served by this server itself (same origin) may.
    expect((await fetch(`${open.url}/api/settings`, { headers: { Origin: open.url } })).status).toBe(200);
    // Opening the chat routes to '*' does not open management routes...
    const auth = { Authorization: 'Bearer secret-key' };
    expect((await preflight(`${locked.url}/v1/chat/completions`, 'https://any.example')).status).toBe(204);
    expect((await fetch(`${locked.url}/api/settings`, { headers: { Origin: 'https://any.example', ...auth } })).status).toBe(403);
    // ...only managementOrigins does.
    expect((await preflight(`${locked.url}/api/prompts/x`, 'http://localhost:5173', 'PUT')).status).toBe(204);
    expect((await fetch(`${locked.url}/api/settings`, { headers: { Origin: 'http://localhost:5173', ...auth } })).status).toBe(200);
  });

  it('refuses a Host header that is not this server (DNS rebinding), before CORS', async () => {
    const port = new URL(open.url).port;
    const rebound = await rawRequest(`${open.url}/api/settings`, { headers: { Host: `evil.example:${port}`, Origin: `http://evil.example:${port}` } });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).message).toMatch(/Host "evil\.example:\d+" is not allowed/);
    expect((await rawRequest(`${open.url}/v1/models`, { headers: { Host: `attacker.test:${port}` } })).status).toBe(403);
    expect((await rawRequest(`${open.url}/v1/models`, { headers: { Host: `localhost:${port}` } })).status).toBe(200);
  });

  it('accepts any bearer without a configured key, and requires the key when one is set', async () => {
    expect((await fetch(`${open.url}/v1/models`, { headers: { Authorization: 'Bearer sk-anything' } })).status).toBe(200);
    const missing = await fetch(`${locked.url}/v1/models`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect((await missing.json() as { error: { type: string } }).error.type).toBe('authentication_error');
    expect((await fetch(`${locked.url}/v1/models`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${locked.url}/v1/models`, { headers: { Authorization: 'Bearer secret-key' } })).status).toBe(200);
    // Docs and health stay reachable; preflights carry no credentials.
    for (const path of ['/docs', '/openapi.json', '/health', '/api/health']) expect((await fetch(`${locked.url}${path}`)).status, path).toBe(200);
    expect((await preflight(`${locked.url}/v1/chat/completions`, 'http://localhost:3000')).status).toBe(204);
  });

  it('refuses bodies over the limit with 413, with or without Content-Length', async () => {
    const auth = { Authorization: 'Bearer secret-key' };
    const big = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
    const sized = await fetch(`${locked.url}/v1/chat/completions`, { method: 'POST', headers: auth, body: big });
    expect(sized.status).toBe(413);
    expect((await sized.json() as { error: { message: string } }).error.message).toMatch(/larger than 1024 bytes/);
    const streamed = await fetch(`${locked.url}/api/prompt/infer`, {
      method: 'POST',
      headers: auth,
      body: new ReadableStream({ start(controller) { controller.enqueue(new TextEncoder().encode(big)); controller.close(); } }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await postJson(`${locked.url}/api/prompt/infer`, { name: 'x' }, { headers: auth })).status).toBe(404);
  });
});

describe('/docs and /openapi.json', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(async () => t?.close());

  it('serves a self-contained docs page', async () => {
    const response = await fetch(`${t.url}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain('./openapi.json');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="https?:/);
  });

  it('serves the playground at / under a strict CSP, and only built files under /assets', async () => {
    const page = await fetch(t.url);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    // style nonces are fresh per page load
    const again = (await fetch(t.url)).headers.get('content-security-policy') ?? '';
    const nonce = (policy: string) => /'nonce-([^']+)'/.exec(policy)?.[1];
    if (nonce(csp) !== undefined) expect(nonce(again)).not.toBe(nonce(csp));
    expect(csp).toContain("frame-ancestors 'none'");
    const html = await page.text();
    // Built or not, the page links only local files.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    for (const path of ['/assets/..%2Fpackage.json', '/assets/.hidden.js', '/assets/x.exe', '/assets/..%2F..%2Fpackage.json']) {
      const response = await fetch(t.url + path);
      expect([404, 405], path).toContain(response.status);
      expect(await response.text()).not.toContain('"dependencies"');
    }
    const script = /src="\.\/assets\/([^"]+\.js)"/.exec(html)?.[1];
    if (script === undefined) return console.log('playground not built (dist/playground): asset serving not checked');
    const asset = await fetch(`${t.url}/assets/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    // fetch asks for gzip and decodes it; the body is the built file either way
    expect(asset.headers.get('content-encoding')).toBe('gzip');
    const plain = await rawRequest(`${t.url}/assets/${script}`, {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(await asset.text()).toBe(plain.body);
  });

  it('lists every registered route, with a request schema for every route that takes a body', async () => {
    const document = await (await fetch(`${t.url}/openapi.json`)).json() as { openapi: string; paths: Record<string, Record<string, { requestBody?: unknown }>> };
    expect(document.openapi).toBe('3.1.0');
    const listed = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`)).sort();
    const registered = t.server.app.routes.routes.map((route) => `${route.method} ${toOpenApiPath(route.path).path}`).sort();
    expect(listed).toEqual(registered);
    for (const route of [
      'POST /api/llm/main', 'POST /api/prompt/infer', 'POST /api/llm/raw', 'POST /api/prompt/stream', 'POST /api/llm/save', 'POST /api/prompt/save',
      'POST /api/rag/search', 'POST /api/rag/save', 'GET /api/rag/collections', 'POST /api/speech/stream',
      'POST /v1/chat/completions', 'POST /chat/completions', 'POST /v1/completions', 'GET /v1/models', 'GET /models', 'POST /v1/embeddings',
      'POST /api/chat', 'POST /api/generate', 'GET /api/tags', 'POST /api/embed', 'GET /api/version',
      'POST /completion', 'POST /tokenize', 'POST /detokenize', 'GET /health',
      'GET /api/prompts', 'GET /api/prompts/{name}', 'PUT /api/prompts/{name}', 'DELETE /api/prompts/{name}',
      'GET /api/vars', 'PUT /api/vars/{key}', 'GET /api/messages', 'PUT /api/messages', 'POST /api/messages', 'DELETE /api/messages',
      'GET /api/settings', 'PUT /api/settings', 'GET /api/presets', 'PUT /api/presets/{name}', 'GET /api/models', 'GET /api/health',
    ]) expect(listed, route).toContain(route);
    for (const route of t.server.app.routes.routes) {
      if (route.method === 'POST' || route.method === 'PUT') expect(route.requestBody, `${route.method} ${route.path}`).toBeDefined();
    }
  });
});
