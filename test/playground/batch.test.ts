/**
 * The batch tab in a real browser: 2 inputs x 2 temperatures with a `contains` check on
 * stories260K, the progress, the matrix with pass / fail as the server judged each cell, and a
 * report downloaded through the blob: link under the page's CSP.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPlayground, skipReason, type Playground } from './browser.js';

describe.skipIf(skipReason)('playground batch tab', () => {
  let p: Playground;
  beforeAll(async () => {
    p = await openPlayground();
    // Template mode: a story continued from the instruction and the input.
    await p.server.akachat.prompts.save('story', 'Once upon a time', { inst_template: '{bos_token}{instruction} {input}' });
    await p.openTab('batch');
  });
  afterAll(async () => p?.close());

  it('runs 2 inputs x 2 temperatures with a contains check and shows the matrix with pass / fail', async () => {
    const { page } = p;
    await page.check('[data-testid="batch-prompts"] input[value="story"]');
    await page.fill('[data-testid="batch-temperatures"]', '0 0.7');
    await page.fill('[data-testid="batch-inputs"]', 'there was a girl\nthere was a dog');
    await page.fill('[data-testid="batch-max-tokens"]', '24');
    await page.click('[data-testid="batch-add-check"]');
    await page.fill('[data-testid="batch-checks"] [data-check="0"] input.mono', 'the');
    expect(await page.textContent('[data-testid="batch-count"]')).toContain('4 cells');
    await page.press('[data-testid="batch-inputs"]', 'Control+Enter');
    await page.locator('[data-testid="batch-state"][data-state="done"]').waitFor({ timeout: 60_000 });
    const cells = page.locator('[data-testid="batch-cell"]');
    expect(await cells.count()).toBe(4);

    // Each cell shows the server's verdict.
    const [run] = (await (await fetch(`${p.server.url}/api/batch`)).json()).runs;
    const { results } = await (await fetch(`${p.server.url}/api/batch/${run.id}`)).json();
    expect(results).toHaveLength(4);
    for (const result of results as { input: string; temperature: number; pass: boolean; output: string; checks: { name: string }[] }[]) {
      const cell = page.locator(`[data-testid="batch-cell"][data-input="${result.input}"][data-temperature="${result.temperature}"]`);
      expect(await cell.getAttribute('data-pass')).toBe(String(result.pass));
      expect(result.checks.map((c) => c.name)).toEqual(['contains:the']);
      expect(result.pass).toBe(result.output.includes('the'));
      expect(await cell.locator('.batch-output').textContent()).toBe(result.output || '(empty)');
    }
    expect(await page.textContent('[data-testid="batch-summary"]')).toMatch(/^4 cells, \d passed/);
    await p.screenshot('batch-en');
    await page.selectOption('select[aria-label="Language"]', 'ja');
    await page.locator('#batch-results', { hasText: '結果' }).waitFor();
    await p.screenshot('batch-ja');
    await page.selectOption('select[aria-label="Language"]', 'en');

    // A report downloads through the blob: link.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="batch-reports"] button[data-format="csv"]')]);
    expect(download.suggestedFilename()).toBe(`${run.id}.csv`);
    const csv = await readFile((await download.path())!, 'utf8');
    expect(csv).toContain('there was a dog');
    expect(csv).toBe(await (await fetch(`${p.server.url}/api/batch/${run.id}/report/csv`)).text());
  });

  it('finds the run again after a reload (its events are replayed)', async () => {
    const { page } = p;
    await page.reload();
    await page.locator('[data-testid="batch-state"][data-state="done"]').waitFor();
    expect(await page.locator('[data-testid="batch-cell"]').count()).toBe(4);
    expect(await page.inputValue('[data-testid="batch-inputs"]')).toBe('there was a girl\nthere was a dog');
  });

  it('runs under the CSP without violations or console errors', () => {
    expect(p.problems).toEqual([]);
  });
});

describe.skipIf(skipReason)('playground batch tab on a server with an API key', () => {
  const key = 'batch-test-key-0123456789';
  let p: Playground;
  beforeAll(async () => {
    p = await openPlayground({ serve: { apiKey: key } });
    await p.server.akachat.prompts.save('story', 'Once upon a time', { inst_template: '{bos_token}{instruction} {input}' });
    await p.page.fill('header input[type="password"]', key);
    await p.page.press('header input[type="password"]', 'Tab');
    await p.openTab('batch');
    await p.page.reload(); // the lists load with the key
    p.problems.length = 0; // the 401s of the first load, before the key was typed
  });
  afterAll(async () => p?.close());

  it('cancels a running batch, keeping the cells done, and downloads its report with the key', async () => {
    const { page } = p;
    await page.check('[data-testid="batch-prompts"] input[value="story"]');
    await page.fill('[data-testid="batch-temperatures"]', '0');
    await page.fill('[data-testid="batch-inputs"]', Array.from({ length: 40 }, (_, i) => `there was a cat number ${i}`).join('\n'));
    await page.fill('[data-testid="batch-max-tokens"]', '400');
    await page.click('[data-testid="batch-run"]');
    await page.locator('[data-testid="batch-cell"]').first().waitFor({ timeout: 60_000 });
    await page.click('[data-testid="batch-cancel"]');
    await page.locator('[data-testid="batch-state"][data-state="cancelled"]').waitFor({ timeout: 60_000 });
    const done = await page.locator('[data-testid="batch-cell"]').count();
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(40);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="batch-reports"] button[data-format="json"]')]);
    const report = JSON.parse(await readFile((await download.path())!, 'utf8'));
    expect(report.summary).toMatchObject({ cancelled: true, cells: done });
    // The report route needs the key: a plain link could not have fetched it.
    const [run] = (await (await fetch(`${p.server.url}/api/batch`, { headers: { Authorization: `Bearer ${key}` } })).json()).runs;
    expect((await fetch(`${p.server.url}/api/batch/${run.id}/report/json`)).status).toBe(401);
    expect(p.problems).toEqual([]);
  });
});
