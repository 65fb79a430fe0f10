/** The compare tab in a real browser: two temperatures side by side, streamed with their timings, stop all. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dirname } from 'node:path';
import { openPlayground, skipReason, type Playground } from './browser.js';
import { stories } from '../http/helpers.js';
import { sharedModel } from '../support/models.js';

describe.skipIf(skipReason)('playground compare tab', () => {
  let p: Playground;
  beforeAll(async () => {
    p = await openPlayground();
    p.server.akachat.modelsDir = dirname(stories!); // the test models, listed by /api/models for the columns' pickers
    await p.server.akachat.prompts.save('story', 'Once upon a time, there was a little girl.', { template: '{bos_token}{instruction} {input}', max_new_tokens: 48 });
    await p.openTab('compare');
  });
  afterAll(async () => p?.close());

  const column = (n: number) => p.page.getByTestId('compare-column').nth(n);
  const state = (n: number) => column(n).getAttribute('data-state');
  const output = (n: number) => column(n).getByTestId('column-output').textContent();
  /**
   * Waits until the columns are in these states ('a|b' = either; 'streaming*' = streaming with some text out), after `run` started a new run in
   * each column named by `fresh` (all by default). `thenClick` (a selector) is clicked inside the
   * page the moment they are: a stories260K run takes only a few hundred ms, too short to click
   * from here reliably.
   */
  async function runAndWait(run: () => Promise<void>, states: string[], fresh = states.map((_, i) => i), thenClick?: string) {
    const runs = () => p.page.getByTestId('compare-column').evaluateAll((columns) => columns.map((c) => Number(c.getAttribute('data-runs'))));
    const before = await runs();
    await run();
    const seen = () => p.page.getByTestId('compare-column').evaluateAll((columns) => columns.map((c) => `${c.getAttribute('data-state')}: ${c.querySelector('[role="alert"]')?.textContent ?? ''}`));
    await p.page
      .waitForFunction(
        ({ wanted, before, fresh, thenClick }) => {
          const columns = Array.from(document.querySelectorAll('[data-testid="compare-column"]'));
          const reached =
            columns.length === wanted.length &&
            columns.every((c, i) => {
              const state = c.getAttribute('data-state') ?? '';
              const hasText = (c.querySelector('[data-testid="column-output"]')?.textContent ?? '') !== '';
              const stateOk = wanted[i].split('|').some((w) => (w.endsWith('*') ? w.slice(0, -1) === state && hasText : w === state));
              return stateOk && (!fresh.includes(i) || Number(c.getAttribute('data-runs')) > (before[i] ?? 0));
            });
          // 'stop-first': column 1's own Stop (absent when it already finished).
          const target = thenClick === 'stop-first' ? columns[0]?.querySelector<HTMLElement>('[data-testid="column-stop"]') : thenClick ? document.querySelector<HTMLElement>(thenClick) : null;
          if (reached) target?.click();
          return reached;
        },
        { wanted: states, before, fresh, thenClick },
        { timeout: 30_000, polling: 10 }, // a short run can start and end between two animation frames on a busy machine
      )
      .catch(async (error: Error) => {
        throw new Error(`${error.message}; columns: ${JSON.stringify(await seen())}`);
      });
  }
  const runAll = () => p.page.getByTestId('compare-run-all').click();

  it('streams temperature 0 and 1.0 side by side and ends each with its timings', async () => {
    const page = p.page;
    await page.getByTestId('compare-prompt').selectOption('story');
    await page.getByTestId('compare-input').fill('She');
    await column(0).getByTestId('column-temperature').fill('0');
    await column(0).getByTestId('column-seed').fill('1');
    await column(1).getByTestId('column-temperature').fill('1.0');
    await column(1).getByTestId('column-seed').fill('42');
    await runAndWait(() => page.getByTestId('compare-input').press('Control+Enter'), ['done', 'done']);
    for (const n of [0, 1]) {
      expect((await output(n))!.trim().length).toBeGreaterThan(0);
      expect(await column(n).getByTestId('column-ttft').textContent()).toMatch(/^\d+(\.\d+)? m?s$/);
      expect(await column(n).getByTestId('column-duration').textContent()).toMatch(/^\d+(\.\d+)? m?s$/);
      expect(await column(n).getByTestId('column-speed').textContent()).toMatch(/^\d+(\.\d+)? tok\/s$/);
      expect(await column(n).getByTestId('column-tokens').textContent()).toMatch(/^48 out · \d+ in$/);
    }
    const greedy = await output(0);
    const sampled = await output(1);
    expect(sampled).not.toBe(greedy);
    await p.screenshot('compare-en');

    // Copy puts a column's output on the clipboard.
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(p.server.url).origin });
    await column(1).getByTestId('column-copy').click();
    await column(1).getByTestId('column-copy').filter({ hasText: 'Copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(sampled);

    // Greedy is deterministic: the same text on a second run.
    await runAndWait(runAll, ['done', 'done']);
    expect(await output(0)).toBe(greedy);
    expect(await output(1)).toBe(sampled); // a fixed seed too
  });

  it('takes turns for the one slot (column 2 waits), and Stop all aborts both', async () => {
    const page = p.page;
    await page.getByTestId('compare-max-tokens').fill('400');
    // Column 1 has the slot (its stream began, or it already finished: a busy machine can deliver a
    // whole short run in one burst) while column 2 still waits for it.
    await runAndWait(runAll, ['streaming|done', 'waiting'], undefined, '[data-testid="compare-stop-all"]');
    await runAndWait(async () => {}, ['stopped|done', 'stopped'], []);
    expect(await output(1)).toBe('');
    await page.getByTestId('compare-run-all').waitFor();
  });

  it('stops one column while the other goes on', async () => {
    const page = p.page;
    await page.getByTestId('compare-max-tokens').fill('300');
    await runAndWait(runAll, ['streaming|done', 'waiting'], undefined, 'stop-first');
    await runAndWait(async () => {}, ['stopped|done', 'done'], []);
    expect(await column(1).getByTestId('column-tokens').textContent()).toMatch(/^300 out/);
  });

  it('adds up to four columns with "same as column 1" defaults, and shows Japanese', async () => {
    const page = p.page;
    await page.getByTestId('compare-add').click();
    await page.getByTestId('compare-add').click();
    expect(await page.getByTestId('compare-column').count()).toBe(4);
    expect(await page.getByTestId('compare-add').isDisabled()).toBe(true);
    expect(await column(3).getByTestId('column-temperature').getAttribute('placeholder')).toBe('= 0');
    await page.getByTestId('compare-max-tokens').fill('24');
    await runAndWait(runAll, ['done', 'done', 'done', 'done']);
    // Columns 3 and 4 inherit column 1's temperature 0 and seed: the greedy text, cut at 24 tokens.
    const greedy = (await output(0))!;
    expect(await output(2)).toBe(greedy);
    expect(await output(3)).toBe(greedy);
    await page.selectOption('select[aria-label="Language"]', 'ja');
    await page.getByTestId('compare-run-all').filter({ hasText: 'すべて実行' }).waitFor();
    await p.screenshot('compare-ja');
    await page.emulateMedia({ colorScheme: 'dark' });
    await p.screenshot('compare-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.selectOption('select[aria-label="Language"]', 'en');
    // Back to two columns for whoever runs next in this browser.
    await column(3).getByRole('button', { name: 'Remove column 4' }).click();
    await column(2).getByRole('button', { name: 'Remove column 3' }).click();
    expect(await page.getByTestId('compare-column').count()).toBe(2);
  });

  it('runs an instruction written inline, kept in this browser across a reload', async () => {
    const page = p.page;
    await page.getByTestId('compare-source-inline').click();
    await page.getByTestId('compare-instruction').fill('Once upon a time, there was a cat.');
    await page.getByTestId('compare-options').fill('{"template": "{bos_token}{instruction} {input}"');
    await page.getByTestId('compare-input').fill('It');
    await page.getByTestId('compare-max-tokens').fill('16');
    await page.reload();
    await p.openTab('compare');
    expect(await page.getByTestId('compare-instruction').inputValue()).toBe('Once upon a time, there was a cat.');
    // Options that are not a JSON object are refused next to Run, before anything is sent.
    await page.getByTestId('compare-run-all').click();
    expect(await page.getByRole('alert').textContent()).toMatch(/^Options \(JSON\): /);
    await page.getByTestId('compare-options').fill('{"template": "{bos_token}{instruction} {input}"}');
    await runAndWait(runAll, ['done', 'done']);
    for (const n of [0, 1]) expect(await column(n).getByTestId('column-tokens').textContent()).toMatch(/^\d+ out · \d+ in$/);
  });

  it.skipIf(!sharedModel('tinyRandom32k'))('runs each column on its own model', async () => {
    const page = p.page;
    await page.getByTestId('compare-max-tokens').fill('8');
    await column(1).getByTestId('column-model').selectOption('llama-2-tiny-random');
    await runAndWait(runAll, ['done', 'done']);
    expect(await column(0).getByTestId('column-model-used').textContent()).toBe('stories260K.gguf');
    expect(await column(1).getByTestId('column-model-used').textContent()).toBe('llama-2-tiny-random.gguf');
    await column(1).getByTestId('column-model').selectOption({ index: 0 });
  });

  it('shows a refused column\'s error in that column', async () => {
    const page = p.page;
    await column(1).getByTestId('column-temperature').fill('-1');
    await runAndWait(runAll, ['done', 'error']);
    expect(await column(1).getByRole('alert').textContent()).toMatch(/temperature/);
    expect(await column(0).getByRole('alert').count()).toBe(0);
    // The browser logs the refused request; nothing else was logged so far.
    expect(p.problems.splice(0)).toEqual(['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
    await column(1).getByTestId('column-temperature').fill('1.0');
  });

  it('runs under the CSP without violations or console errors', async () => {
    expect(p.problems).toEqual([]);
  });
});
