/** The messages tab in a real browser: table, append, raw JSONL editing with line checks, clear; each landing in log/messages.jsonl. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPlayground, skipReason, type Playground } from './browser.js';

describe.skipIf(skipReason)('playground messages tab', () => {
  let p: Playground;
  beforeAll(async () => {
    p = await openPlayground();
    await p.page.evaluate(() => localStorage.clear());
    await p.openTab('messages');
  });
  afterAll(async () => p?.close());
  const log = () => readFile(join(p.server.dataDir, 'log', 'messages.jsonl'), 'utf8').catch(() => '');
  const lines = async () => (await log()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as { role: string; content: string });

  it('appends messages from the form (Ctrl+Enter too) into the log file and the table', async () => {
    const { page } = p;
    await page.fill('[data-testid="messages-content"]', 'こんにちは');
    await page.click('[data-testid="messages-append"]');
    await page.locator('[data-testid="messages-table"] tbody tr').first().waitFor();
    await page.selectOption('[data-testid="messages-role"]', 'assistant');
    await page.fill('[data-testid="messages-content"]', 'やあ、元気?\n二行目');
    await page.press('[data-testid="messages-content"]', 'Control+Enter');
    await page.locator('[data-testid="messages-table"] tbody tr').nth(1).waitFor();
    expect(await lines()).toEqual([{ role: 'user', content: 'こんにちは' }, { role: 'assistant', content: 'やあ、元気?\n二行目' }]);
    expect(await page.locator('[data-testid="messages-table"] tbody tr').nth(1).getAttribute('data-role')).toBe('assistant');
    expect(await page.textContent('[data-testid="messages-count"]')).toMatch(/2/);
    await p.screenshot('messages-table-en');
    await page.selectOption('select[aria-label="Language"]', 'ja');
    await p.screenshot('messages-table-ja');
    await page.emulateMedia({ colorScheme: 'dark' });
    await p.screenshot('messages-table-ja-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.selectOption('select[aria-label="Language"]', 'en');
  });

  it('checks the raw JSONL as it is typed, names the bad line, and saves it when fixed', async () => {
    const { page } = p;
    await page.click('[data-testid="messages-view-jsonl"]');
    const editor = page.locator('[data-testid="messages-jsonl"]');
    await page.waitForFunction(() => (document.querySelector('[data-testid="messages-jsonl"]') as HTMLTextAreaElement | null)?.value.includes('こんにちは'));
    const good = '{"role":"user","content":"one"}\n\n{"role":"assistant","content":"two"}\n';
    await editor.fill(good + '{"role":"robot","content":"x"}\n{"role":"user","content":"four"}\n');
    const problem = page.locator('[data-testid="messages-jsonl-problem"]');
    expect(await problem.getAttribute('data-line')).toBe('4');
    expect(await problem.textContent()).toMatch(/Line 4: role must be one of/);
    expect(await page.isDisabled('[data-testid="messages-jsonl-save"]')).toBe(true);
    await editor.fill(good + '{"role":"user", "content": \n');
    expect(await problem.getAttribute('data-line')).toBe('4');
    expect(await problem.textContent()).toMatch(/not valid JSON/);
    await p.screenshot('messages-jsonl-error-en');
    await page.selectOption('select[aria-label="Language"]', 'ja');
    expect(await problem.textContent()).toMatch(/4 行目/);
    await p.screenshot('messages-jsonl-error-ja');
    await page.selectOption('select[aria-label="Language"]', 'en');
    expect(await lines()).toHaveLength(2); // nothing saved while a line is bad

    await editor.fill(good + '{"role":"system","content":"three"}');
    await problem.waitFor({ state: 'detached' });
    await page.click('[data-testid="messages-jsonl-save"]');
    await page.locator('.messages-tab [role="status"]', { hasText: '3' }).waitFor();
    expect(await lines()).toEqual([{ role: 'user', content: 'one' }, { role: 'assistant', content: 'two' }, { role: 'system', content: 'three' }]);
    expect(await editor.inputValue()).toBe(await log());
  });

  it('clears the log only after confirming', async () => {
    const { page } = p;
    await page.click('[data-testid="messages-clear"]');
    expect(await lines()).toHaveLength(3);
    await page.click('[data-testid="messages-clear-confirm"]');
    await page.waitForFunction(() => (document.querySelector('[data-testid="messages-jsonl"]') as HTMLTextAreaElement | null)?.value === '');
    expect(await log()).toBe('');
    await page.click('[data-testid="messages-view-table"]');
    expect(await page.locator('[data-testid="messages-table"]').count()).toBe(0);
  });

  it('runs under the CSP without violations or console errors', () => {
    expect(p.problems).toEqual([]);
  });
});
