import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedModel } from '../support/models.js';
import { collect, runCli, spawnCli } from './helpers.js';

const stories = sharedModel('stories');
const tinyRandom = sharedModel('tinyRandom32k');

describe.skipIf(!stories || !tinyRandom)('akachat batch (child processes): exit codes for CI', () => {
  let data: string;
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'akachat-cli-batch-'));
    await mkdir(join(data, 'prompt'));
    await writeFile(join(data, 'prompt', 'story.txt'), 'Once upon a time');
    await writeFile(join(data, 'prompt', 'story.json'), JSON.stringify({ inst_template: '{instruction} {input}' }));
  });
  afterAll(() => rm(data, { recursive: true, force: true }));

  const base = () => ['batch', '-d', data, '--models', stories!, '-n', '6', '--seed', '1'];

  it('exits with 0 when every check passes; prints the summary and the report paths', async () => {
    const run = await runCli([...base(), '--temperatures', '0 0.7', '--inputs', 'there was', '--checks', '[{"type":"maxLength","value":10000}]', '--name', 'pass_run']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^model +cells +passed +errors +median tok\/s\nstories260K\.gguf +2 +2 +0 /);
    expect(run.stdout).toMatch(/2 cells in .*, 0 failed; checks: 2 passed, 0 failed/);
    for (const ext of ['html', 'md', 'json', 'csv', 'log', 'jsonl']) {
      const file = join(data, 'log', `pass_run.${ext}`);
      expect(run.stdout).toContain(file);
      expect(existsSync(file), file).toBe(true);
    }
    // Not a terminal: one plain progress line per cell on stderr, as each ends (two slots: either may end first).
    expect(run.stderr).toMatch(/batch 50%: 1\/2 .*story \/ stories260K\.gguf \/ t=0(\.7)? \/ there was: pass/);
    expect(run.stderr).toMatch(/batch 100%: 2\/2 .*t=0(\.7)? \/ there was: pass/);
  });

  it('exits with 1 when a check fails, and names it', async () => {
    const run = await runCli([...base(), '--temperatures', '0', '--checks', '[{"type":"contains","value":"zzzz-never"}]']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/checks: 0 passed, 1 failed/);
    expect(run.stdout).toMatch(/FAIL story \/ stories260K\.gguf \/ t=0: contains:zzzz-never/);
  });

  it('exits with 1 when a cell fails (a model that does not exist), recording the error', async () => {
    const run = await runCli(['batch', '-d', data, '--models', `${stories},no-such-preset`, '-n', '2', '--temperatures', '0']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/no-such-preset +1 +0 +1/);
    expect(run.stdout).toMatch(/ERROR story \/ no-such-preset/);
  });

  it('exits with 2 on a usage error, before running anything', async () => {
    const run = await runCli(['batch', '-d', data, '--models', stories!, '--temperatures', '0 hot']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/temperatures\[1\][\s\S]*akachat batch --help/);
  });

  it('reads a YAML file (flags win over it) and resumes from a journal', async () => {
    const file = join(data, 'compare.yaml');
    await writeFile(file, [
      'prompts: [story]',
      `models: ["${stories}"]`,
      'temperatures: "0 0.5"',
      'inputs: ["there was", "a cat"]',
      'overrides: { max_new_tokens: 4, seed: 3 }',
      'checks:',
      '  - { type: maxLength, value: 10000 }',
      'name: from_yaml',
    ].join('\n'));
    const first = await runCli(['batch', file, '-d', data, '--temperatures', '0']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/2 cells in/); // 2 inputs x the flag's 1 temperature
    const report = JSON.parse(await readFile(join(data, 'log', 'from_yaml.json'), 'utf8'));
    expect(report.results.map((r: { input: string; temperature: number }) => [r.input, r.temperature])).toEqual([['there was', 0], ['a cat', 0]]);
    expect(report.results[0].options).toMatchObject({ max_new_tokens: 4, seed: 3 });

    const resumed = await runCli(['batch', file, '-d', data, '--name', 'resumed', '--resume', join(data, 'log', 'from_yaml.jsonl')]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/4 cells in .* \(2 taken from the journal\)/);
    const journal = (await readFile(join(data, 'log', 'resumed.json'), 'utf8'));
    const results = JSON.parse(journal).results as { input: string; temperature: number; output: string }[];
    expect(results.find((r) => r.temperature === 0 && r.input === 'a cat')?.output).toBe(report.results[1].output);
  });

  it('refuses a file with unknown keys (exit 2)', async () => {
    const file = join(data, 'bad.json');
    await writeFile(file, JSON.stringify({ prompts: ['story'], modles: [] }));
    const run = await runCli(['batch', file, '-d', data]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Unknown key modles/);
  });

  it('stops at Ctrl-C, writes the reports of what was done and exits with 130', async () => {
    const child = spawnCli(['batch', '-d', data, '--models', tinyRandom!, '--inputs', 'a', '--inputs', 'b', '-n', '3000', '--options', '{"input_tokens": 4096}', '--name', 'stopped']);
    const done = collect(child);
    await new Promise<void>((resolve) => child.stderr!.once('data', () => resolve())); // the 0% line: the first cell is running
    child.kill('SIGINT');
    const run = await done;
    expect(run.code).toBe(130);
    expect(run.stdout).toMatch(/0 cells in .*\(cancelled\)/);
    expect(existsSync(join(data, 'log', 'stopped.json'))).toBe(true);
  });
});
