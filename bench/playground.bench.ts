/**
 * How fast the playground becomes usable in headless chromium, each load in a fresh browser
 * context (cold cache): until the page's shell (the tab bar) shows, and until the prompt tab's
 * instruction editor takes a keystroke; with the bytes the page transferred (the sum of its
 * resources' encoded sizes). The reference in the same run is /docs, the server's one-file
 * API page, loaded alternately. (llama-server's own web UI would be the natural reference, but a
 * build from the vendored source has none: its `/` answers 404.)
 *
 * Usage: npx tsx bench/playground.bench.ts [--loads 15]
 * Writes bench/results/playground-<host>.json.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { Akachat } from '../src/akachat.js';
import { serve } from '../src/http/serve.js';
import { describeMachine } from './machine.js';
import { medianInterval, quantile } from './stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { loads: { type: 'string', default: '15' } } });
const loads = Number(args.loads);
const model = join(process.env.AKACHAT_TEST_MODELS ?? join(root, '..', 'shared', 'models'), 'stories260K.gguf');
if (!existsSync(join(root, 'dist', 'playground', 'index.html'))) throw new Error('dist/playground is not built: npm run build:playground');

interface Load {
  shownMs: number;
  interactiveMs: number;
  bytes: number;
}

async function load(browser: Browser, url: string, shown: string, ready: string): Promise<Load> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const start = Date.now();
  await page.goto(url);
  await page.locator(shown).first().waitFor();
  const shownMs = Date.now() - start;
  const box = page.locator(ready).first();
  await box.waitFor();
  await box.click();
  await page.keyboard.type('x');
  const interactiveMs = Date.now() - start;
  const bytes = await page.evaluate(() =>
    performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).reduce((sum, e) => sum + ((e as PerformanceResourceTiming).encodedBodySize || 0), 0),
  );
  await context.close();
  return { shownMs, interactiveMs, bytes };
}

const dataDir = await mkdtemp(join(tmpdir(), 'akachat-pg-bench-'));
const akachat = new Akachat({ dataDir, defaultModel: model, rag: null, models: { threads: 1 } });
const server = await serve(akachat, { port: 0, onServerError: () => {} });
const browser = await chromium.launch({ executablePath: process.env.AKACHAT_CHROMIUM ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
const ours: Load[] = [];
const theirs: Load[] = [];
try {
  const playground = () => load(browser, server.url, 'a[data-tab="prompt"]', '[data-testid="instruction-editor"] .cm-content');
  const docs = () => load(browser, `${server.url}/docs`, 'h1, h2', 'input, textarea, button');
  // One warm-up each (chromium's own start-up, the server's first request), then alternate.
  await playground();
  await docs();
  for (let i = 0; i < loads; i++) {
    ours.push(await playground());
    theirs.push(await docs());
  }
} finally {
  await browser.close();
  await server.close();
  await akachat.dispose();
  await rm(dataDir, { recursive: true, force: true });
}

const summary = (xs: Load[]) => ({
  shown_ms_p50: quantile(xs.map((x) => x.shownMs), 0.5),
  interactive_ms_p50: quantile(xs.map((x) => x.interactiveMs), 0.5),
  interactive_ms_p50_95ci: medianInterval(xs.map((x) => x.interactiveMs)),
  interactive_ms_p90: quantile(xs.map((x) => x.interactiveMs), 0.9),
  bytes: quantile(xs.map((x) => x.bytes), 0.5),
});
const ratios = ours.map((o, i) => o.interactiveMs / theirs[i].interactiveMs);
const result = {
  machine: describeMachine(),
  loads,
  akachat: summary(ours),
  docs_page: summary(theirs),
  interactive_ratio_p50: quantile(ratios, 0.5),
  interactive_ratio_95ci: medianInterval(ratios),
};
console.log(JSON.stringify(result, null, 2));
await mkdir(join(root, 'bench', 'results'), { recursive: true });
await writeFile(join(root, 'bench', 'results', `playground-${result.machine.host ?? 'host'}.json`), `${JSON.stringify(result, null, 2)}\n`);
