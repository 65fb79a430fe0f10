/** The prompt tab end to end in a real browser against stories260K: edit, run, stop, save, chat, test mode. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../http/helpers.js';
import { openPlayground, skipReason, type Playground } from './browser.js';

const STORY_OPTIONS = { template: '{bos_token}{instruction} {input}', max_new_tokens: 16, temperature: 0 };
/** stories260K has no chat template: a small Jinja one. */
const CHAT_TEMPLATE = '{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}<|assistant|>';

describe.skipIf(skipReason)('playground prompt tab', () => {
  let p: Playground;
  beforeAll(async () => {
    p = await openPlayground({ lang: 'en' });
    await p.server.akachat.vars.set('name', 'Lily');
    await p.page.reload(); // the editor's var-key completion reads the vars on load
    await p.openTab('prompt');
  });
  afterAll(async () => p?.close());

  const editor = () => p.page.locator('[data-testid="instruction-editor"] .cm-content');

  /** The editor's text (without its placeholder). */
  const instructionText = () => editor().evaluate((node) => Array.from(node.querySelectorAll('.cm-line')).map((line) => {
    const copy = line.cloneNode(true) as HTMLElement;
    for (const widget of Array.from(copy.querySelectorAll('.cm-placeholder'))) widget.remove();
    return copy.textContent;
  }).join('\n'));

  async function setInstruction(text: string) {
    await editor().fill(text);
  }

  async function setOptions(options: Record<string, unknown>) {
    await p.page.fill('[data-testid="options-json"]', JSON.stringify(options, null, 2));
  }

  it('evaluates {var.name} and {iif(...)}, marks each function\'s output, and runs on Ctrl+Enter in the editor', async () => {
    await setOptions(STORY_OPTIONS);
    // The form follows the JSON.
    await expect.poll(() => p.page.inputValue('#prompt-option-max_new_tokens')).toBe('16');
    expect(await p.page.inputValue('#prompt-option-inst_template')).toBe('{bos_token}{instruction} {input}');
    await setInstruction('Once upon a time, there was a girl named {var.name}.{iif(input == "She", " She was happy.", " Sad.")}');
    await p.page.fill('[data-testid="prompt-input"]', 'She');
    await editor().press('Control+Enter');
    await p.page.locator('[data-testid="run-stats"]').waitFor();
    const marks = p.page.locator('[data-testid="evaluated"] [data-source]');
    expect(await marks.evaluateAll((nodes) => nodes.map((node) => [node.getAttribute('data-source'), node.lastChild?.textContent]))).toEqual([
      ['var', 'Lily'],
      ['iif', ' She was happy.'],
    ]);
    expect(await p.page.textContent('[data-testid="evaluated"]')).toContain('Once upon a time, there was a girl named ');
    expect((await p.page.textContent('[data-testid="output"]'))!.length).toBeGreaterThan(0);
    expect(await p.page.textContent('[data-stat="generated"] dd')).toBe('16');
    expect(await p.page.textContent('[data-stat="stop"] dd')).toBe('maxTokens');
    await p.page.click('[data-view="sent"]');
    expect(await p.page.textContent('[data-testid="sent"] pre')).toBe('<s>Once upon a time, there was a girl named Lily. She was happy. She');
    await p.page.click('[data-view="rendered"]');
    expect(await p.page.textContent('[data-testid="rendered"]')).toBe('<s>Once upon a time, there was a girl named Lily. She was happy. She');
    await p.page.click('[data-view="evaluated"]');
    await p.screenshot('prompt-en');
  });

  it('edits options in the form and the raw JSON in sync, and shows a JSON error', async () => {
    // Each side follows the other after the next paint.
    const json = async () => JSON.parse(await p.page.inputValue('[data-testid="options-json"]')) as Record<string, unknown>;
    await p.page.fill('#prompt-option-temperature', '0.7');
    await expect.poll(json).toMatchObject({ temperature: 0.7, max_new_tokens: 16 });
    await p.page.fill('#prompt-option-temperature', '');
    await expect.poll(json).not.toHaveProperty('temperature');
    await p.page.fill('[data-testid="options-json"]', '{"max_new_tokens": 16,');
    expect(await p.page.textContent('[data-testid="options-json-error"]')).toMatch(/Not valid JSON/);
    await setOptions(STORY_OPTIONS);
    expect(await p.page.locator('[data-testid="options-json-error"]').count()).toBe(0);
    await expect.poll(() => p.page.inputValue('#prompt-option-temperature')).toBe('0');
  });

  it('fills the options from a preset: its generation settings, and the preset as the model', async () => {
    await p.server.akachat.presets.set('tiny-greedy', { model: p.server.akachat.defaultModel, temperature: 0, max_new_tokens: 5, chat_template: 'chatml' });
    await p.page.reload();
    await p.openTab('prompt');
    await setOptions({ template: '{instruction}', temperature: 0.9 });
    await p.page.click('[data-preset="tiny-greedy"]');
    await expect.poll(async () => JSON.parse(await p.page.inputValue('[data-testid="options-json"]')) as unknown).toEqual({ template: '{instruction}', temperature: 0, max_new_tokens: 5, model: 'tiny-greedy' });
    await setInstruction('Once upon a time');
    await p.page.click('[data-testid="run"]');
    await p.page.locator('[data-testid="run-stats"]').waitFor();
    expect(await p.page.textContent('[data-stat="generated"] dd')).toBe('5');
    expect(await p.page.textContent('[data-stat="model"] dd')).toBe('stories260K.gguf');
  });

  it('runs from the input with Ctrl+Enter, and Stop (Esc) ends the generation on the server', async () => {
    await setOptions({ template: '{instruction}', max_new_tokens: 4000, temperature: 1, seed: 3 });
    await setInstruction('Once upon a time');
    const before = p.server.reports.length;
    await p.page.locator('[data-testid="prompt-input"]').press('Control+Enter');
    await p.page.locator('[data-testid="stop"]').waitFor();
    await p.page.waitForFunction(() => (document.querySelector('[data-testid="output"]')?.textContent ?? '').length > 20);
    await p.page.keyboard.press('Escape');
    await p.page.locator('[data-testid="run"]').waitFor();
    await waitFor(() => p.server.reports.length > before, 5000, 'the report');
    expect(p.server.reports[before]).toMatchObject({ route: 'POST /api/prompt/run', outcome: 'aborted' });
    expect(p.server.server.app.queue.running).toBe(0);
    expect(await p.page.locator('[data-testid="run-stats"]').count()).toBe(0);
  });

  it('saves into a sub-folder, keeps the draft over a reload, and loads it back from the picker', async () => {
    await setOptions(STORY_OPTIONS);
    await setInstruction('Lily met {var.name}.');
    await p.page.click('[data-testid="save"]'); // a new prompt: asks for a name
    await p.page.fill('[data-testid="save-as-name"]', 'stories/lily');
    await p.page.click('[data-testid="save-as-ok"]');
    await p.page.locator('.prompt-toolbar [role="status"]').waitFor();
    expect(await readFile(join(p.server.dataDir, 'prompt', 'stories', 'lily.txt'), 'utf8')).toBe('Lily met {var.name}.');
    expect(JSON.parse(await readFile(join(p.server.dataDir, 'prompt', 'stories', 'lily.json'), 'utf8'))).toEqual(STORY_OPTIONS);
    expect(await p.page.textContent('[data-testid="prompt-name"]')).toBe('stories/lily');

    // An unsaved edit survives a reload.
    await setInstruction('Lily met {var.name} again.');
    await p.page.reload();
    await p.openTab('prompt');
    await editor().waitFor();
    expect(await instructionText()).toBe('Lily met {var.name} again.');
    expect(await p.page.textContent('[data-testid="prompt-name"]')).toMatch(/^stories\/lily ●/);

    // New, then load the saved one from its folder in the picker (discarding the edit).
    p.page.once('dialog', (dialog) => void dialog.accept());
    await p.page.click('[data-testid="new"]');
    expect(await instructionText()).toBe('');
    expect(await p.page.locator('[data-testid="prompt-picker"] optgroup[label="stories/"] option').allTextContents()).toEqual(['lily']);
    await p.page.selectOption('[data-testid="prompt-picker"]', 'stories/lily');
    await p.page.waitForFunction(() => document.querySelector('[data-testid="instruction-editor"] .cm-content')?.textContent === 'Lily met {var.name}.');
    expect(await p.page.textContent('[data-testid="prompt-name"]')).toBe('stories/lily');

    // Save as another name, then delete that one.
    await p.page.click('[data-testid="save-as"]');
    await p.page.fill('[data-testid="save-as-name"]', 'copy');
    await p.page.press('[data-testid="save-as-name"]', 'Enter');
    await waitFor(() => existsSync(join(p.server.dataDir, 'prompt', 'copy.txt')), 5000, 'the copy');
    p.page.once('dialog', (dialog) => void dialog.accept());
    await p.page.click('[data-testid="delete"]');
    await waitFor(() => !existsSync(join(p.server.dataDir, 'prompt', 'copy.txt')), 5000, 'the copy to be deleted');
    expect(await p.page.locator('[data-testid="prompt-picker"] option[value="copy"]').count()).toBe(0);
  });

  it('underlines a parse error at its line and column', async () => {
    await setInstruction('Hello\nthere {iif(input, }');
    const problem = p.page.locator('[data-testid="instruction-problem"]');
    await p.page.waitForFunction(() => (document.querySelector('[data-testid="instruction-problem"]')?.textContent ?? '') !== '');
    expect(await problem.textContent()).toMatch(/^Line 2, column \d+: /);
    await p.page.locator('.cm-lintRange-error').waitFor();
    expect(await p.page.locator('.cm-lintRange-error').evaluate((node) => node.closest('.cm-line')?.textContent)).toBe('there {iif(input, }');
  });

  it('offers rag( when completing a function name', async () => {
    await setInstruction('x');
    await editor().focus();
    await p.page.keyboard.press('Control+a');
    // One key at a time: the editor reacts to each (keyboard.type would insert the text at once).
    for (const key of ['Shift+BracketLeft', 'r', 'a']) await p.page.keyboard.press(key);
    const option = p.page.locator('.cm-tooltip-autocomplete li', { has: p.page.locator('.cm-completionLabel', { hasText: /^rag$/ }) });
    await option.waitFor();
    expect(await option.locator('.cm-completionDetail').textContent()).toBe('rag(dir, query, k=1)');
    await p.page.waitForTimeout(200); // CodeMirror ignores a pick in the first 75 ms (interactionDelay)
    await p.page.keyboard.press('Enter');
    expect(await instructionText()).toBe('{rag(');
  });

  it('keeps a two-turn chat with the prompt as the persona', async () => {
    // A chat template is the owner's choice (a saved prompt's file); the draft runs under that prompt's name.
    await p.server.akachat.prompts.save('persona', 'You tell stories about {var.name}.', { is_messages: true, chat_template: CHAT_TEMPLATE, max_new_tokens: 6, temperature: 0 });
    await p.page.reload();
    await p.openTab('prompt');
    p.page.once('dialog', (dialog) => void dialog.accept());
    await p.page.selectOption('[data-testid="prompt-picker"]', 'persona');
    await p.page.waitForFunction(() => document.querySelector('[data-testid="prompt-name"]')?.textContent === 'persona');
    await p.page.check('[data-testid="chat-mode"]');
    await p.page.fill('[data-testid="prompt-input"]', 'Who is Lily?');
    await p.page.click('[data-testid="run"]');
    await p.page.locator('[data-testid="chat-log"] [data-role="assistant"]').first().waitFor();
    await p.page.locator('[data-testid="run-stats"]').waitFor();
    expect(await p.page.inputValue('[data-testid="prompt-input"]')).toBe('');
    await p.page.fill('[data-testid="prompt-input"]', 'Tell me more.');
    await p.page.locator('[data-testid="prompt-input"]').press('Control+Enter');
    await p.page.waitForFunction(() => document.querySelectorAll('[data-testid="chat-log"] [data-role="assistant"]').length === 2 && !document.querySelector('[data-testid="stop"]'));
    expect(await p.page.locator('[data-testid="chat-log"] [data-role="user"] pre').allTextContents()).toEqual(['Who is Lily?', 'Tell me more.']);
    // The second run sent the first turn as history.
    await p.page.click('[data-view="sent"]');
    const sent = await p.page.locator('[data-testid="sent"] li').evaluateAll((items) => items.map((li) => li.querySelector('.role')?.textContent));
    expect(sent).toEqual(['system', 'user', 'assistant', 'user']);
    await p.screenshot('prompt-chat-en');
    await p.page.click('[data-testid="clear-chat"]');
    expect(await p.page.locator('[data-testid="chat-log"]').count()).toBe(0);
    await p.page.uncheck('[data-testid="chat-mode"]');
  });

  it('switches test mode in the settings while editing', async () => {
    p.page.once('dialog', (dialog) => void dialog.accept());
    await p.page.click('[data-testid="new"]');
    expect(await p.server.akachat.settings.isTest()).toBe(false);
    await p.page.check('[data-testid="test-mode"]');
    await p.page.waitForFunction(() => (document.querySelector('[data-testid="test-mode"]') as HTMLInputElement).checked);
    await expect.poll(() => p.server.akachat.settings.isTest()).toBe(true);
    // The run follows it: test() prints.
    await setOptions({ template: '{instruction}', max_new_tokens: 1 });
    await setInstruction('Lily{test(" TEST")}');
    await p.page.click('[data-testid="run"]');
    await p.page.locator('[data-testid="run-stats"]').waitFor();
    await p.page.click('[data-view="evaluated"]');
    expect(await p.page.locator('[data-testid="evaluated"] [data-source="test"]').evaluate((node) => node.lastChild?.textContent)).toBe(' TEST');
    await p.page.uncheck('[data-testid="test-mode"]');
    await expect.poll(() => p.server.akachat.settings.isTest()).toBe(false);
  });

  it('looks right in Japanese', async () => {
    await p.page.selectOption('select[aria-label="Language"]', 'ja');
    await setOptions(STORY_OPTIONS);
    await setInstruction('むかしむかし、{var.name}という女の子がいました。{iif(input, "入力があります。", "")}');
    await p.page.fill('[data-testid="prompt-input"]', 'She');
    await p.page.click('[data-testid="run"]');
    await p.page.locator('[data-testid="run-stats"]').waitFor();
    expect(await p.page.textContent('[data-testid="run"]')).toBe('実行');
    await p.screenshot('prompt-ja');
    await p.page.selectOption('select[aria-label="Language"]', 'en');
  });

  it('runs under the CSP without violations or console errors', () => {
    expect(p.problems).toEqual([]);
  });
});
