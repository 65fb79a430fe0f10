/**
 * The settings tab in a real browser: test mode lands in config.json, load / unload change the
 * loaded models, owner-only settings are read-only, and an hf: pull is refused with the CLI
 * command by default, or (with --allow-pull and a local fake hub) shows progress and lists the model.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeHub, type FakeHub } from '../support/fake-hub.js';
import { stories } from '../http/helpers.js';
import { openPlayground, skipReason, type Playground } from './browser.js';

describe.skipIf(skipReason)('playground settings tab', () => {
  let p: Playground;
  beforeAll(async () => {
    p = await openPlayground();
    await p.server.akachat.settings.set('openai_key', 'sk-owner-secret-0123456789-wxyz');
    await p.openTab('settings');
  });
  afterAll(async () => p?.close());
  const config = async () => JSON.parse(await readFile(join(p.server.dataDir, 'config.json'), 'utf8')) as Record<string, unknown>;

  it('switches test mode, which lands in the data folder\'s config.json', async () => {
    const { page } = p;
    const toggle = page.locator('[data-testid="is-test"]');
    await toggle.waitFor();
    expect(await toggle.isChecked()).toBe(false);
    await toggle.check();
    await page.locator('[data-testid="is-test"]:checked:not([disabled])').waitFor();
    expect(await config()).toMatchObject({ is_test: true });
    await page.reload();
    await page.locator('[data-testid="is-test"]:checked').waitFor();
    await page.locator('[data-testid="is-test"]').uncheck();
    await page.locator('[data-testid="is-test"]:not(:checked):not([disabled])').waitFor();
    expect(await config()).toMatchObject({ is_test: false });
  });

  it('loads and unloads the listed model, which changes the loaded list', async () => {
    const { page } = p;
    const row = page.locator('[data-testid="models-table"] tr[data-model="stories260K"]');
    expect(await row.getAttribute('data-loaded')).toBe('false');
    expect(p.server.akachat.models.loaded).toEqual([]);
    await row.locator('[data-action="load"]').click();
    await page.locator('tr[data-model="stories260K"][data-loaded="true"]').waitFor();
    expect(p.server.akachat.models.loaded).toEqual([stories]);
    await row.locator('[data-action="unload"]').click();
    await page.locator('tr[data-model="stories260K"][data-loaded="false"]').waitFor();
    expect(p.server.akachat.models.loaded).toEqual([]);
    expect(await page.inputValue('[data-testid="default-model"]')).toBe('stories260K');
  });

  it('shows API keys masked and read-only, and a refused pull as the CLI command to run', async () => {
    const { page } = p;
    const card = page.locator('[data-testid="keys-card"]');
    expect(await card.getAttribute('data-editable')).toBe('false');
    expect(await card.locator('tr[data-setting="openai_key"]').textContent()).toContain('****wxyz');
    expect(await card.textContent()).not.toContain('sk-owner-secret');
    expect(await card.locator('tr[data-setting="openai_key"] input').count()).toBe(0);
    expect(await card.textContent()).toContain('OPENAI_API_KEY');
    await page.locator('[data-testid="pull-off"]').waitFor();
    expect(await page.locator('[data-testid="pull-start"]').count()).toBe(0);
    await page.fill('[data-testid="pull-ref"]', 'hf:acme/stories:Q4_K_M');
    expect(await page.textContent('[data-testid="pull-command"]')).toBe('npx akachat pull hf:acme/stories:Q4_K_M');
    await p.screenshot('settings-en');
    await page.selectOption('select[aria-label="Language"]', 'ja');
    await page.locator('#settings-models', { hasText: 'モデル' }).waitFor();
    await p.screenshot('settings-ja');
    await page.selectOption('select[aria-label="Language"]', 'en');
  });

  it('runs under the CSP without violations or console errors', () => {
    expect(p.problems).toEqual([]);
  });
});

describe.skipIf(skipReason)('playground settings tab, with --allow-pull and --allow-settings', () => {
  let p: Playground;
  let hub: FakeHub;
  let cache: string;
  const saved = { endpoint: process.env.AKACHAT_HF_ENDPOINT, cache: process.env.AKACHAT_CACHE_DIR };
  beforeAll(async () => {
    hub = await startFakeHub(stories!);
    cache = await mkdtemp(join(tmpdir(), 'akachat-pull-'));
    process.env.AKACHAT_HF_ENDPOINT = hub.endpoint;
    process.env.AKACHAT_CACHE_DIR = cache; // read when the server's model manager is made
    p = await openPlayground({ serve: { allowPull: true, allowSettings: true } });
    await p.openTab('settings');
  });
  afterAll(async () => {
    await p?.close();
    await hub?.close();
    for (const [name, value] of [['AKACHAT_HF_ENDPOINT', saved.endpoint], ['AKACHAT_CACHE_DIR', saved.cache]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await rm(cache, { recursive: true, force: true });
  });

  it('pulls with a progress bar and lists the model, which then loads', async () => {
    const { page } = p;
    await page.fill('[data-testid="pull-ref"]', 'hf:acme/stories/stories260K.gguf');
    await page.click('[data-testid="pull-start"]');
    await page.locator('[data-testid="pull-card"] [role="progressbar"][aria-valuenow]').waitFor();
    await p.screenshot('settings-pull-en');
    await page.locator('[data-testid="pull-done"]').waitFor();
    // The default model is already listed as stories260K: the pulled file is listed beside it.
    expect(await page.textContent('[data-testid="pull-done"]')).toContain('stories260K-2');
    const row = page.locator('tr[data-model="stories260K-2"]');
    await row.waitFor();
    await row.locator('[data-action="load"]').click();
    await page.locator('tr[data-model="stories260K-2"][data-loaded="true"]').waitFor();
    expect(p.server.akachat.models.loaded).toEqual([join(cache, 'hf', 'acme', 'stories', 'main', 'stories260K.gguf')]);
  });

  it('edits an API key when the owner allowed it, showing it masked', async () => {
    const { page } = p;
    const row = page.locator('[data-testid="keys-card"][data-editable="true"] tr[data-setting="openai_key"]');
    await row.locator('input').fill('sk-typed-in-the-page-0123456789-abcd');
    await row.locator('button[type="submit"]').click();
    await page.locator('tr[data-setting="openai_key"]', { hasText: '****abcd' }).waitFor();
    expect(await p.server.akachat.settings.openaiKey()).toBe('sk-typed-in-the-page-0123456789-abcd');
    expect(p.problems).toEqual([]);
  });
});
