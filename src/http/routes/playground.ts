/**
 * The playground page at `/` and its bundle under `/assets/`, from dist/playground (built by
 * `npm run build:playground`, part of the normal build). Public like /docs: the page itself holds
 * no data, and it sends the API key the user typed with each API call.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Context } from 'hono';
import { packageRoot } from '../../engine/addon.js';
import type { RouteSpec } from '../route.js';

/**
 * Scripts, styles, fonts and images from this origin only; no inline script, no frames, no
 * plugins, and API calls to this origin only. The one exception: <style> elements carrying the
 * page's nonce, which the code editor (CodeMirror) creates for its theme at run time.
 */
export function playgroundCsp(styleNonce?: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    styleNonce ? `style-src 'self' 'nonce-${styleNonce}'` : "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "media-src 'self' blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

/** Folder of the built page; `AKACHAT_PLAYGROUND_DIR` points elsewhere (a dev build). */
export function playgroundDir(): string {
  return process.env.AKACHAT_PLAYGROUND_DIR || join(packageRoot(), 'dist', 'playground');
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>akachat</title>
<p>The playground is not built in this install. Run <code>npm run build:playground</code> in the akachat folder and reload.
The API documentation is at <a href="./docs">/docs</a>.</p>`;

function secured(c: Context, body: string | Uint8Array, type: string, cache: string, styleNonce?: string): Response {
  c.header('Content-Security-Policy', playgroundCsp(styleNonce));
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('Referrer-Policy', 'no-referrer');
  c.header('Cache-Control', cache);
  c.header('Content-Type', type);
  return c.body(body as string);
}

export function playgroundRoutes(dir: string = playgroundDir()): RouteSpec[] {
  // Gzipped assets by file name: compressed once (names carry a content hash, so an entry never
  // goes stale), which cuts the first load from ~440 KB to ~145 KB.
  const gzipped = new Map<string, Buffer>();
  return [
    {
      method: 'GET',
      path: '/',
      summary: 'The playground (web UI); API documentation is at /docs',
      tags: ['docs'],
      public: true,
      errors: 'openai',
      responses: { 200: { description: 'HTML page', contentType: 'text/html' } },
      handler: async (c) => {
        // Read per request: a rebuilt page is served without a restart, and the file is tiny.
        const page = await readFile(join(dir, 'index.html'), 'utf8').catch(() => undefined);
        if (page === undefined) return secured(c, NOT_BUILT, 'text/html; charset=utf-8', 'no-cache');
        // A fresh nonce per page load; the page reads it from this meta tag (see playground/src/editor).
        const nonce = randomBytes(16).toString('base64');
        const html = page.replace('<head>', `<head>\n    <meta name="akachat-style-nonce" content="${nonce}" />`);
        return secured(c, html, 'text/html; charset=utf-8', 'no-store', nonce);
      },
    },
    {
      method: 'GET',
      path: '/assets/:file',
      summary: "The playground's scripts and styles",
      tags: ['docs'],
      public: true,
      errors: 'openai',
      responses: { 200: { description: 'A file of the built playground' }, 404: { description: 'No such file' } },
      handler: async (c) => {
        const file = c.req.param('file') ?? '';
        // Vite's output names only: no separators, no dot files, so nothing outside assets/ is reachable.
        const type = TYPES[extname(file)];
        if (!/^[\w-]+(\.[\w-]+)*$/.test(file) || type === undefined) return c.notFound();
        const content = await readFile(join(dir, 'assets', file)).catch(() => undefined);
        if (content === undefined) return c.notFound();
        // Names carry a content hash: a changed file has a new name.
        c.header('Vary', 'Accept-Encoding');
        if (!/\bgzip\b/.test(c.req.header('accept-encoding') ?? '') || type.startsWith('image/png') || type.startsWith('font/')) {
          return secured(c, content, type, 'public, max-age=31536000, immutable');
        }
        let zipped = gzipped.get(file);
        if (zipped === undefined) gzipped.set(file, (zipped = gzipSync(content)));
        c.header('Content-Encoding', 'gzip');
        return secured(c, zipped, type, 'public, max-age=31536000, immutable');
      },
    },
  ];
}
