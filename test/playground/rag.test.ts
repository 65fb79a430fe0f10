/** The RAG tab in a real browser: create a collection, upload (file button and drag and drop) with progress, files, search with scores, the rag() call. */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineEmbedderFactory } from '../../src/llm/embedder.js';
import { ModelManager } from '../../src/llm/model-manager.js';
import { Rag } from '../../src/rag/index.js';
import { sharedModel } from '../support/models.js';
import { openPlayground, skipReason, type Playground } from './browser.js';

const bert = skipReason ? undefined : sharedModel('bert');
const encode = (text: string) => Buffer.from(text, 'utf8');

describe.skipIf(skipReason ?? (bert ? undefined : 'synthetic-bert-bge-vocab-h32.gguf is missing'))('playground RAG tab', () => {
  let p: Playground;
  let manager: ModelManager;
  let rag: Rag;
  beforeAll(async () => {
    p = await openPlayground();
    await p.page.evaluate(() => localStorage.clear());
  });
  afterAll(async () => {
    await p?.close();
    await rag?.dispose();
    await manager?.dispose();
  });

  it('says so when the server has no RAG', async () => {
    await p.openTab('rag'); // the test server's Akachat has rag: null
    await p.page.locator('.rag-collections p.muted').waitFor();
    expect(await p.page.locator('[data-testid="rag-create"]').count()).toBe(0);
    // From here on: RAG over the data folder, embedding with the small BERT model.
    manager = new ModelManager({ threads: 1, keepAliveMs: 0 });
    rag = new Rag({ dataFolder: p.server.dataDir, embedderFactory: engineEmbedderFactory(manager), defaultEmbeddingModel: bert });
    p.server.akachat.rag = rag;
    await p.page.reload();
    await p.page.locator('[data-testid="rag-create"]').waitFor();
  });

  it('creates a collection, uploads a zip with progress and a dropped document, lists the files', async () => {
    const { page } = p;
    await page.fill('[data-testid="rag-new-name"]', 'robot');
    await page.fill('[data-testid="rag-new-chunk"]', '200');
    await page.click('[data-testid="rag-create"]');
    await page.locator('[data-testid="rag-collection"][data-name="robot"][aria-selected="true"]').waitFor();
    expect(existsSync(join(p.server.dataDir, 'rag', 'robot'))).toBe(true);
    expect(await page.textContent('[data-testid="rag-call"]')).toBe("{rag('robot', input, 3)}");
    expect(await page.inputValue('[data-testid="rag-chunk-size"]')).toBe('200');

    // Which progress phases the page shows while the upload runs.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { phases: string[] }).phases = seen;
      new MutationObserver(() => {
        const phase = document.querySelector<HTMLElement>('[data-testid="rag-progress"]')?.dataset.phase;
        if (phase && seen.at(-1) !== phase) seen.push(phase);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    const paragraphs = Array.from({ length: 12 }, (_, i) => `Section ${i}. The robot model ${i} has a red reset button under its left arm; hold it for ${i + 2} seconds.`);
    const archive = zipSync({
      'manual/reset.txt': encode(paragraphs.join('\n\n')),
      'manual/colors.md': encode('# Colours\n\nThe robot comes in blue, green and silver. The charger cable is yellow.'),
    });
    const streamed = page.waitForResponse((r) => r.url().endsWith('/api/rag/save')).then((r) => r.text());
    await page.setInputFiles('[data-testid="rag-file"]', { name: 'manual.zip', mimeType: 'application/zip', buffer: Buffer.from(archive) });
    await page.locator('[data-testid="rag-upload-result"]').waitFor();
    expect(await page.textContent('[data-testid="rag-upload-result"]')).toMatch(/manual\.zip: added — files 2/);
    const lines = (await streamed).trim().split('\n').map((line) => JSON.parse(line) as Record<string, { phase?: string }>);
    expect(lines.some((line) => line.progress?.phase === 'embed')).toBe(true);
    expect(lines.at(-1)!.done).toBeDefined();
    const phases = await page.evaluate(() => (window as unknown as { phases: string[] }).phases);
    expect(phases[0]).toBe('upload');
    console.log(`[rag tab] progress phases shown: ${phases.join(' > ')}`);

    // A single document dropped on the drop zone (a real drop event with a DataTransfer).
    const transfer = await page.evaluateHandle(() => {
      const data = new DataTransfer();
      data.items.add(new File(['The warranty lasts two years. Keep the receipt.'], 'warranty.txt', { type: 'text/plain' }));
      return data;
    });
    await page.dispatchEvent('[data-testid="rag-drop"]', 'drop', { dataTransfer: transfer });
    await page.locator('[data-testid="rag-upload-result"]', { hasText: 'warranty.txt' }).waitFor();
    await page.locator('[data-testid="rag-files"] td', { hasText: 'warranty.txt' }).waitFor();
    const files = await page.locator('[data-testid="rag-files"] tbody td.mono').allTextContents();
    expect(files.sort()).toEqual(['manual/colors.md', 'manual/reset.txt', 'warranty.txt']);
    expect((await readdir(join(p.server.dataDir, 'rag', 'robot'))).length).toBeGreaterThan(0);
    await p.screenshot('rag-upload-en');
  });

  it('searches and shows chunks with their files and scores', async () => {
    const { page } = p;
    await page.fill('[data-testid="rag-query"]', 'red reset button');
    await page.press('[data-testid="rag-query"]', 'Enter');
    await page.locator('[data-testid="rag-hit"]').first().waitFor();
    const hits = page.locator('[data-testid="rag-hit"]');
    expect(await hits.count()).toBe(3);
    expect(await hits.first().getAttribute('data-file')).toBe('manual/reset.txt');
    const scores = await hits.evaluateAll((els) => els.map((el) => Number(el.getAttribute('data-score'))));
    expect(scores.every((s) => s > 0)).toBe(true);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(await hits.first().textContent()).toMatch(/reset button/);
    expect(await hits.first().locator('mark').count()).toBeGreaterThan(0);

    await page.fill('[data-testid="rag-k"]', '1');
    expect(await page.textContent('[data-testid="rag-call"]')).toBe("{rag('robot', input)}");
    await p.screenshot('rag-search-en');
    await page.selectOption('select[aria-label="Language"]', 'ja');
    await p.screenshot('rag-search-ja');
    await page.selectOption('select[aria-label="Language"]', 'en');
  });

  it('shows the server\'s error next to the upload, and deletes the collection', async () => {
    const { page } = p;
    const evil = zipSync({ '../evil.txt': encode('x') });
    await page.setInputFiles('[data-testid="rag-file"]', { name: 'evil.zip', mimeType: 'application/zip', buffer: Buffer.from(evil) });
    await page.locator('.rag-upload [role="alert"]', { hasText: 'Archive refused' }).waitFor();

    await page.click('[data-testid="rag-delete"]');
    await page.click('[data-testid="rag-delete-confirm"]');
    await page.locator('[data-testid="rag-collection"][data-name="robot"]').waitFor({ state: 'detached' });
    expect(existsSync(join(p.server.dataDir, 'rag', 'robot'))).toBe(false);
  });

  it('runs under the CSP without violations or console errors', () => {
    expect(p.problems).toEqual([]);
  });
});
