/**
 * The playground in a real browser: Debian's chromium driven by playwright-core, against a real
 * server on stories260K over a fresh data folder. Cases are skipped with a printed reason when
 * chromium, the test models or the addon are missing. Screenshots go to
 * test-artifacts/playground/ (git-ignored): look at them.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer, stories, type TestServer } from '../http/helpers.js';
import type { ServeOptions } from '../../src/http/serve.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const chromiumPath = process.env.AKACHAT_CHROMIUM ?? '/usr/bin/chromium';
export const screenshotDir = join(root, 'test-artifacts', 'playground');

/** Why browser cases cannot run here, or undefined when they can. */
export const skipReason = !existsSync(chromiumPath)
  ? `${chromiumPath} not found (apt-get install chromium, or set AKACHAT_CHROMIUM)`
  : stories === undefined
    ? 'stories260K or the addon is missing'
    : undefined;
if (skipReason) console.warn(`[akachat tests] skipping playground browser tests: ${skipReason}`);

function newest(dir: string): number {
  let time = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    time = Math.max(time, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return time;
}

let built: Promise<void> | undefined;
/** Builds dist/playground when it is missing or older than its sources (a test of stale code tests nothing). */
export function ensurePlaygroundBuilt(): Promise<void> {
  return (built ??= (async () => {
    const page = join(root, 'dist', 'playground', 'index.html');
    const sources = Math.max(newest(join(root, 'playground')), newest(join(root, 'src', 'prompt', 'instruction')));
    if (existsSync(page) && statSync(page).mtimeMs >= sources) return;
    const { build } = await import('vite');
    await build({ configFile: join(root, 'playground', 'vite.config.ts'), logLevel: 'warn' });
  })());
}

export interface Playground {
  server: TestServer;
  browser: Browser;
  page: Page;
  /** Console errors and CSP violations the page reported; a test should end with none. */
  problems: string[];
  /** Opens a tab by its hash route and waits for its panel. */
  openTab(name: string): Promise<void>;
  /** Saves a full-page PNG as test-artifacts/playground/<name>.png. */
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function openPlayground(options: { serve?: ServeOptions; lang?: 'en' | 'ja' } = {}): Promise<Playground> {
  await ensurePlaygroundBuilt();
  const server = await startServer({ model: stories, serve: options.serve });
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const context = await browser.newContext({ locale: options.lang === 'ja' ? 'ja-JP' : 'en-US', viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  await page.goto(server.url);
  await mkdir(screenshotDir, { recursive: true });
  return {
    server,
    browser,
    page,
    problems,
    async openTab(name) {
      await page.evaluate((tab) => (location.hash = `#/${tab}`), name);
      await page.locator(`main[data-panel="${name}"]`).waitFor();
    },
    async screenshot(name) {
      await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
