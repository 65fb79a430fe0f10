/** The page shell: tabs, language, API key, CSP — in a real browser. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPlayground, skipReason, type Playground } from './browser.js';

describe.skipIf(skipReason)('playground shell', () => {
  let p: Playground;
  beforeAll(async () => {
    p = await openPlayground();
  });
  afterAll(async () => p?.close());

  it('opens on the prompt tab and switches tabs by the URL hash', async () => {
    await p.page.locator('main[data-panel="prompt"]').waitFor();
    for (const tab of ['compare', 'speech', 'rag', 'var', 'messages', 'settings', 'batch', 'prompt']) {
      await p.page.click(`a[data-tab="${tab}"]`);
      await p.page.locator(`main[data-panel="${tab}"]`).waitFor();
      expect(await p.page.getAttribute(`a[data-tab="${tab}"]`, 'aria-selected')).toBe('true');
    }
    await p.page.reload();
    await p.page.locator('main[data-panel="prompt"]').waitFor();
  });

  it('switches to Japanese and remembers it', async () => {
    await p.page.selectOption('select[aria-label="Language"]', 'ja');
    expect(await p.page.textContent('a[data-tab="settings"]')).toBe('設定');
    await p.page.reload();
    expect(await p.page.textContent('a[data-tab="settings"]')).toBe('設定');
    expect(await p.page.evaluate(() => document.documentElement.lang)).toBe('ja');
    await p.screenshot('shell-ja');
    await p.page.selectOption('select[aria-label="Language"]', 'en');
    expect(await p.page.textContent('a[data-tab="settings"]')).toBe('Settings');
  });

  it('runs under the CSP without violations or console errors', async () => {
    expect(p.problems).toEqual([]);
  });
});
