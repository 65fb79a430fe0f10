/** The var tab in a real browser: new / save / edit / delete, each landing in the data folder's vars/. */
import { existsSync } from 'node:fs';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPlayground, skipReason, type Playground } from './browser.js';

describe.skipIf(skipReason)('playground var tab', () => {
  let p: Playground;
  beforeAll(async () => {
    p = await openPlayground();
    // A variable written outside the page, with a trailing newline and Japanese text: shown as stored.
    await mkdir(join(p.server.dataDir, 'vars'), { recursive: true });
    await writeFile(join(p.server.dataDir, 'vars', 'persona.txt'), '明るいアバター\n');
    await p.openTab('var');
  });
  afterAll(async () => p?.close());
  const file = (key: string) => join(p.server.dataDir, 'vars', `${key}.txt`);

  it('lists the stored variables and shows a value exactly as stored', async () => {
    const { page } = p;
    await page.click('[data-testid="var-key"][data-key="persona"]');
    expect(await page.inputValue('[data-testid="var-value"]')).toBe('明るいアバター\n');
    expect(await page.textContent('[data-testid="var-stored"]')).toBe('明るいアバター\n');
    expect(await page.textContent('[data-testid="var-expression"]')).toBe('{var.persona}');
  });

  it('creates a variable that lands in vars/<key>.txt, edits it (Ctrl+S) and deletes it', async () => {
    const { page } = p;
    await page.click('[data-testid="var-new"]');
    expect(await page.isDisabled('[data-testid="var-save"]')).toBe(true);
    await page.fill('[data-testid="var-key-input"]', 'user_name');
    await page.fill('[data-testid="var-value"]', 'Lily');
    await page.click('[data-testid="var-save"]');
    await page.locator('[data-testid="var-key"][data-key="user_name"][aria-selected="true"]').waitFor();
    expect(await readFile(file('user_name'), 'utf8')).toBe('Lily');

    // A JSON value, saved with the keyboard shortcut.
    await page.fill('[data-testid="var-value"]', '{"likes": ["cats", "tea"]}');
    await page.locator('.var-badge').waitFor();
    await page.press('[data-testid="var-value"]', 'Control+s');
    await page.locator('[data-testid="var-stored"]', { hasText: 'cats' }).waitFor();
    expect(JSON.parse(await readFile(file('user_name'), 'utf8'))).toEqual({ likes: ['cats', 'tea'] });
    expect(await page.isDisabled('[data-testid="var-save"]')).toBe(true);
    await p.screenshot('var-en');
    await page.selectOption('select[aria-label="Language"]', 'ja');
    await p.screenshot('var-ja');
    await page.selectOption('select[aria-label="Language"]', 'en');

    // Unsaved edits are not dropped silently when another key is picked.
    await page.fill('[data-testid="var-value"]', 'draft');
    page.once('dialog', (dialog) => void dialog.dismiss());
    await page.click('[data-testid="var-key"][data-key="persona"]');
    expect(await page.inputValue('[data-testid="var-value"]')).toBe('draft');
    await page.click('[data-testid="var-save"]');
    await page.locator('[data-testid="var-stored"]', { hasText: 'draft' }).waitFor();

    await page.click('[data-testid="var-delete"]');
    await page.click('[data-testid="var-delete-confirm"]');
    await page.locator('[data-testid="var-key"][data-key="user_name"]').waitFor({ state: 'detached' });
    expect(existsSync(file('user_name'))).toBe(false);
  });

  it('shows the server\'s refusal of an unsafe key next to the editor', async () => {
    const { page } = p;
    await page.click('[data-testid="var-new"]');
    await page.fill('[data-testid="var-key-input"]', '../escape');
    await page.fill('[data-testid="var-value"]', 'x');
    await page.click('[data-testid="var-save"]');
    const alert = page.locator('.var-editor [role="alert"]');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/Expected .*var/);
    expect(existsSync(join(p.server.dataDir, 'escape.txt'))).toBe(false);
    // '..' never reaches the server (the browser would resolve it in the URL): refused on the page.
    await page.fill('[data-testid="var-key-input"]', '..');
    await page.click('[data-testid="var-save"]');
    await alert.filter({ hasText: 'file name' }).waitFor();
  });

  it('runs under the CSP without violations or console errors', () => {
    // The refused save above logs its 400 in the console as a failed resource load; nothing else may.
    expect(p.problems.filter((problem) => !/status of 400/.test(problem))).toEqual([]);
  });
});
