/** The instruction editor in the prompt tab: highlighting, completion lists, parse errors, typing speed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPlayground, skipReason, type Playground } from './browser.js';

describe.skipIf(skipReason)('instruction editor', () => {
  let p: Playground;
  const editor = '[data-testid="instruction-editor"] .cm-content';

  beforeAll(async () => {
    p = await openPlayground();
    // Names the completion offers come from the data folder.
    await p.server.akachat.vars.set('mood', 'happy');
    await p.server.akachat.prompts.save('helpers/summarize', 'Summarize.');
    await p.page.reload();
    await p.openTab('prompt');
    await p.page.locator(editor).waitFor();
  });
  afterAll(async () => p?.close());

  async function setText(text: string) {
    await p.page.click(editor);
    await p.page.keyboard.press('Control+a');
    await p.page.keyboard.press('Delete');
    await p.page.keyboard.insertText(text);
  }

  async function completions(): Promise<string[]> {
    const list = p.page.locator('.cm-tooltip-autocomplete li');
    await list.first().waitFor();
    return list.allTextContents();
  }

  /** CodeMirror ignores a pick within 75 ms of the list opening (its interactionDelay). */
  async function pick() {
    await p.page.waitForTimeout(200);
    await p.page.keyboard.press('Enter');
  }

  it('highlights functions, var keys and strings inside { } only', async () => {
    await setText('Say {iif(var.mood == "happy", "yay", "hm")} to iif');
    await p.page.waitForTimeout(200);
    const spans = await p.page.locator(`${editor} span`).evaluateAll((nodes) => nodes.map((n) => [n.textContent, getComputedStyle(n).color]));
    const colorOf = (text: string) => spans.find(([t]) => t === text)?.[1];
    expect(colorOf('iif')).toBeDefined();
    expect(colorOf('"happy"')).toBeDefined();
    expect(colorOf('mood')).toBeDefined();
    expect(colorOf('iif')).not.toBe(colorOf('"happy"'));
    // The trailing "to iif" is plain text: not its own highlighted span.
    expect(spans.filter(([t]) => t === 'iif')).toHaveLength(1);
  });

  it('completes function names with their signatures, var keys and prompt names', async () => {
    await setText('');
    await p.page.keyboard.type('{ra');
    const functions = await completions();
    await expect.poll(() => p.page.locator('.cm-tooltip-autocomplete li[aria-selected]').textContent()).toContain('rag');
    expect(functions.some((item) => item.startsWith('rag') && item.includes('rag(dir, query, k=1)'))).toBe(true);
    await pick();
    expect(await p.page.textContent(editor)).toContain('{rag(');
    await p.page.keyboard.press('Escape');

    await setText('{var.');
    await p.page.keyboard.type('m');
    expect(await completions()).toContain('mood');
    await p.page.keyboard.press('Escape');

    await setText("{llm('");
    await p.page.keyboard.type('h');
    expect(await completions()).toContain('helpers/summarize');
    await expect.poll(() => p.page.locator('.cm-tooltip-autocomplete li[aria-selected]').textContent()).toContain('helpers/summarize');
    await p.screenshot('editor-llm-completion');
    await pick();
    expect(await p.page.textContent(editor)).toContain("{llm('helpers/summarize'");
  });

  it('underlines a parse error at its line and column as you type, and clears it when fixed', async () => {
    await setText('Hello\nworld {iif(input, }');
    const problem = p.page.locator('[data-testid="instruction-problem"]');
    await expect.poll(() => problem.textContent()).toMatch(/Line 2, column \d+/);
    const underlined = p.page.locator(`${editor} .cm-lintRange-error`);
    await underlined.first().waitFor();
    const box = await underlined.first().boundingBox();
    const line2 = await p.page.locator(`${editor} .cm-line`).nth(1).boundingBox();
    expect(box!.y).toBeGreaterThanOrEqual(line2!.y - 1);
    expect(box!.y).toBeLessThan(line2!.y + line2!.height);
    await p.screenshot('editor-error-en');
    await p.page.keyboard.press('End');
    await p.page.keyboard.press('ArrowLeft');
    await p.page.keyboard.type('"x")');
    await expect.poll(() => problem.textContent()).toBe('');
  });

  it('keeps up with fast typing', async () => {
    await setText('');
    const text = 'You are {var.mood}. {iif(input, "Answer", "Say hi")} '.repeat(4);
    await p.page.keyboard.type(text, { delay: 0 });
    await expect.poll(() => p.page.textContent(editor)).toContain('Say hi")} You are');
    expect(p.problems).toEqual([]);
  });
});
