/**
 * The playground bundle: built into dist/playground by `npm run build:playground` (part of the
 * normal build) and served by `akachat serve` at `/`. Everything is local files (no CDN), so it
 * works offline under the server's strict CSP.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative asset URLs: the page also works behind a reverse proxy under a sub-path.
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/playground', import.meta.url)),
    emptyOutDir: true,
    // The polyfill would be an inline script, which the CSP forbids; every supported browser has modulepreload.
    modulePreload: { polyfill: false },
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    // `npm run dev:playground`: the page with hot reload, talking to a server on :50000 (`npm start`).
    proxy: Object.fromEntries(['/api', '/v1', '/health', '/props', '/slots', '/metrics', '/docs', '/openapi.json', '/completion', '/tokenize', '/detokenize', '/apply-template'].map((p) => [p, process.env.AKACHAT_URL ?? 'http://127.0.0.1:50000'])),
  },
});
