/**
 * Batch over a fake OpenAI-compatible service (no model needed): cell order, reports in the
 * original layout parsed back, checks, a failing cell, cancellation and resume. The local-model
 * side (one load per model) is in test/native/batch.test.ts.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Akachat } from '../../src/akachat.js';
import { Batch, parseOriginalLog, parseTemperatures, type CellResult } from '../../src/batch/index.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';

let fake: FakeOpenAi;
let dataDir: string;
let aka: Akachat;

beforeAll(async () => {
  fake = await startFakeOpenAi();
});
afterAll(() => fake.close());
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'akachat-batch-'));
  aka = new Akachat({ dataDir, rag: null });
  const options = { provider: 'openai', endpoint: fake.endpoint, model: 'own-model', max_new_tokens: 16 };
  await aka.prompts.save('greet', 'You greet.', options);
  await aka.prompts.save('cats/meow', 'You are a cat.', options);
  await aka.prompts.save('judge', 'Say PASS if the output echoes the input.', options);
  fake.requests.length = 0;
  return () => rm(dataDir, { recursive: true, force: true });
});

describe('Batch', () => {
  it('runs every prompt x model x temperature x input, model by model, and leaves the stored prompts alone', async () => {
    const before = await aka.prompts.load('greet');
    const batch = new Batch(aka, { prompts: ['greet', 'cats/meow'], models: ['m1', 'm2'], temperatures: '0.1 0.9', inputs: ['hi', 'yo'] });
    const seen: CellResult[] = [];
    const report = await batch.runAll({ onProgress: (p) => p.result && seen.push(p.result) });
    expect(report.results).toHaveLength(16);
    expect(seen).toHaveLength(16);
    const sentModels = fake.requests.map((r) => r.body.model);
    expect(sentModels).toEqual([...Array(8).fill('m1'), ...Array(8).fill('m2')]);
    expect(fake.requests.map((r) => r.body.temperature)).toContain(0.9);
    expect(report.results.every((r) => r.output === `echo: ${r.input}`)).toBe(true);
    expect(await aka.prompts.load('greet')).toEqual(before);
    expect(report.summary.models).toMatchObject({ m1: { cells: 8, errors: 0 }, m2: { cells: 8, errors: 0 } });
  });

  it('defaults to every saved prompt, sub-folders included', async () => {
    const cells = await new Batch(aka, { temperatures: [0] }).cells();
    expect(cells.map((c) => c.prompt).sort()).toEqual(['cats/meow', 'greet', 'judge']);
  });

  it('writes the original log layout cell by cell, plus JSON, CSV, Markdown and HTML', async () => {
    const report = await new Batch(aka, { prompts: ['greet'], models: ['m1'], temperatures: [0.5], inputs: ['a|b', 'line\nbreak'] }).runAll();
    const entries = parseOriginalLog(await readFile(report.files.log, 'utf8'));
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({ model: 'm1', instruction: 'You greet.', temperature: 0.5, input: 'a|b', output: 'echo: a|b' });
    expect(entries[0].options).toMatchObject({ model: 'm1', temperature: 0.5, provider: 'openai' });
    expect(entries[1].input).toBe('line\nbreak');
    expect(report.files.log).toMatch(/log\/batch_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.log$/);
    const json = JSON.parse(await readFile(report.files.json, 'utf8'));
    expect(json.results[0]).toMatchObject({ prompt: 'greet', model: 'm1', temperature: 0.5, input: 'a|b', output: 'echo: a|b', completionTokens: 3 });
    const csv = await readFile(report.files.csv, 'utf8');
    expect(csv.split('\r\n')[0]).toMatch(/^prompt,model,temperature,input,repeat,output/);
    expect(csv).toContain('"line\nbreak"');
    const markdown = await readFile(report.files.markdown, 'utf8');
    expect(markdown).toContain('| greet / a\\|b | echo: a\\|b |');
    const html = await readFile(report.files.html, 'utf8');
    expect(html).toContain('<th>m1 / t=0.5</th>');
    expect(html).not.toMatch(/<script|https?:\/\//);
  });

  it('evaluates checks, counts passes per model, and judges with a saved prompt', async () => {
    const report = await new Batch(aka, {
      prompts: ['greet'], models: ['m1', 'm2'], temperatures: [0], inputs: ['hello'],
      checks: [
        { type: 'contains', value: 'HELLO', ignoreCase: true },
        { type: 'regex', pattern: '^echo' },
        { type: 'equals', value: 'echo: hello' },
        { type: 'maxLength', value: 5 },
        { type: 'isJson' },
        { type: 'custom', name: 'is-m1', fn: (_output, cell) => cell.model === 'm1' || `ran on ${cell.model}` },
        { type: 'judge', prompt: 'judge', pass: 'echo' },
      ],
    }).runAll();
    const [m1, m2] = report.results;
    expect(m1.checks.map((c) => [c.name, c.pass])).toEqual([
      ['contains:HELLO', true], ['regex:^echo', true], ['equals:echo: hello', true], ['maxLength:5', false], ['isJson', false], ['custom:is-m1', true], ['judge:judge', true],
    ]);
    expect(m2.checks.find((c) => c.name === 'custom:is-m1')).toMatchObject({ pass: false, message: 'ran on m2' });
    expect(m1.pass).toBe(false);
    expect(report.summary.checksFailed).toBe(5);
    // The judge saw the cell's input and output.
    expect(String((fake.requests.at(-1)!.body.messages as { content: string }[]).at(-1)!.content)).toBe('Input:\nhello\n\nOutput:\necho: hello');
  });

  it('records a failed cell with its error and goes on', async () => {
    const report = await new Batch(aka, { prompts: ['greet', 'missing'], models: ['broken', 'm1'], temperatures: [0] }).runAll();
    expect(report.results).toHaveLength(4);
    expect(report.results[0].error).toMatch(/model broken does not exist/);
    expect(report.results[1].error).toMatch(/not found|does not exist/i);
    expect(report.results[2]).toMatchObject({ model: 'm1', prompt: 'greet' });
    expect(report.results[2].error).toBeUndefined();
    expect(report.summary.failedCells).toBe(3);
    expect(parseOriginalLog(await readFile(report.files.log, 'utf8'))[0].output).toMatch(/^ERROR: /);
  });

  it('lists cells in the batch\'s order in the log and the reports when a later one ends first', async () => {
    const report = await new Batch(aka, { prompts: ['greet'], models: ['m1'], temperatures: [0], inputs: ['wait:300 slow', 'fast'], concurrency: 2 }).runAll();
    const journal = (await readFile(report.files.journal, 'utf8')).trim().split('\n').map((line) => JSON.parse(line).input);
    expect(journal).toEqual(['fast', 'wait:300 slow']); // the journal takes cells as they end
    expect(parseOriginalLog(await readFile(report.files.log, 'utf8')).map((e) => e.input)).toEqual(['wait:300 slow', 'fast']);
    expect(report.results.map((r) => r.input)).toEqual(['wait:300 slow', 'fast']);
  });

  it('stops on abort, reports what was done, and resumes from the journal without rerunning those cells', async () => {
    const controller = new AbortController();
    const batch = new Batch(aka, { prompts: ['greet'], models: ['m1'], temperatures: [0], inputs: ['1', '2', '3', '4'], name: 'resumable', concurrency: 1 });
    const first = await batch.runAll({ signal: controller.signal, onProgress: (p) => p.done === 2 && controller.abort() });
    expect(first.summary.cancelled).toBe(true);
    expect(first.results.map((r) => r.input)).toEqual(['1', '2']);
    fake.requests.length = 0;
    const second = await batch.runAll({ resume: first.files.journal });
    expect(second.results.map((r) => r.input)).toEqual(['1', '2', '3', '4']);
    expect(second.summary.cancelled).toBe(false);
    expect(fake.requests.map((r) => (r.body.messages as { content: string }[]).at(-1)!.content)).toEqual(['3', '4']);
    expect(parseOriginalLog(await readFile(second.files.log, 'utf8')).map((e) => e.input)).toEqual(['1', '2', '3', '4']);
  });

  it('refuses bad settings with clear errors', () => {
    expect(() => parseTemperatures('0.1 hot')).toThrow(/Expected a number between 0 and 100 for temperatures\[1\] but received NaN/);
    expect(() => new Batch(aka, { checks: [{ type: 'nope' } as never] })).toThrow(/check type/);
    expect(() => new Batch(aka, { checks: [{ type: 'regex', pattern: '(' }] })).toThrow(/valid regular expression/);
    expect(() => new Batch(aka, { repeats: 0 })).toThrow(/repeats/);
  });
});
