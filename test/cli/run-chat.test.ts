import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedModel } from '../support/models.js';
import { collect, runCli, spawnCli } from './helpers.js';

const stories = sharedModel('stories');
const tinyRandom = sharedModel('tinyRandom32k');

/** `(N prompt tokens, R reused, C generated, ...)` lines of `chat --verbose`. */
function turnStats(stderr: string) {
  return [...stderr.matchAll(/\((\d+) prompt tokens, (\d+) reused, (\d+) generated/g)].map((m) => ({ prompt: Number(m[1]), reused: Number(m[2]), generated: Number(m[3]) }));
}

/** Resolves with the first stdout chunk. */
function firstOutput(child: ReturnType<typeof spawnCli>): Promise<string> {
  return new Promise((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString())));
}

describe.skipIf(!stories || !tinyRandom)('akachat run and chat (child processes)', () => {
  let data: string;
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'akachat-cli-run-'));
    await mkdir(join(data, 'prompt'));
    await writeFile(join(data, 'prompt', 'story.txt'), 'Once upon a time');
    await writeFile(join(data, 'prompt', 'story.json'), JSON.stringify({ model: stories, inst_template: '{instruction} {input}', max_new_tokens: 12 }));
    await writeFile(join(data, 'prompt', 'teller.txt'), 'You tell short stories.');
    await writeFile(join(data, 'prompt', 'teller.json'), JSON.stringify({ model: stories, max_new_tokens: 8 }));
  });
  afterAll(() => rm(data, { recursive: true, force: true }));

  it('run streams the reply to stdout; --json prints the whole result', async () => {
    const args = ['run', 'story', 'there was', '-d', data, '--temperature', '0', '--seed', '1', '--stop', 'zz1', '--stop', 'zz2', '--presence-penalty', '0.5'];
    const plain = await runCli(args);
    expect(plain.stderr).toBe('');
    expect(plain.code).toBe(0);
    const json = await runCli([...args, '--json']);
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout);
    expect(plain.stdout).toBe(`${result.text}\n`);
    expect(result.text.length).toBeGreaterThan(0);
    expect(result).toMatchObject({
      instruction: 'Once upon a time',
      templateText: 'Once upon a time there was',
      provider: 'local',
      model: stories,
      usage: { completionTokens: 12 },
      options: { temperature: 0, seed: 1, max_new_tokens: 12, stop: ['zz1', 'zz2'], presence_penalty: 0.5 },
    });
    expect(result.timings.generationMs).toBeGreaterThan(0);
  });

  it('run takes the input from stdin with -, and overrides the prompt\'s options', async () => {
    const run = await runCli(['run', 'story', '-', '-d', data, '--json', '-n', '3', '--model', tinyRandom!], { input: 'there was' });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ templateText: 'Once upon a time there was', model: tinyRandom, usage: { completionTokens: 3 } });
  });

  it('run says which prompt is missing and exits with 1', async () => {
    const run = await runCli(['run', 'nope', '-d', data]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^akachat: .*nope/);
  });

  it('run prints text while it generates, and Ctrl-C stops it (exit 130)', async () => {
    const child = spawnCli(['run', 'story', 'x', '-d', data, '--model', tinyRandom!, '-n', '3000', '--ctx-size', '4096']);
    const done = collect(child);
    const first = await firstOutput(child);
    expect(first.length).toBeGreaterThan(0);
    expect(child.exitCode).toBeNull(); // output arrived before the end: streamed
    child.kill('SIGINT');
    const run = await done;
    expect(run.code).toBe(130);
    expect(run.stderr).toContain('(stopped)');
  });

  it('chat through stdin: two turns with a saved prompt as persona, the history reaching the model', async () => {
    const chat = await runCli(['chat', 'teller', '-d', data, '--verbose', '--temperature', '0'], { input: 'Hello there.\nWhat happened next?\n/bye\nnot read\n' });
    expect(chat.code).toBe(0);
    const turns = turnStats(chat.stderr);
    expect(turns).toHaveLength(2);
    // Turn 2's prompt holds turn 1 (question and reply) besides its own question, and reuses its cache.
    expect(turns[1].prompt).toBeGreaterThan(turns[0].prompt + turns[0].generated);
    expect(turns[1].reused).toBeGreaterThan(0);
    expect(chat.stdout.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(1);
  });

  it('chat: /clear forgets the history, end of input exits', async () => {
    const chat = await runCli(['chat', '-d', data, '--model', stories!, '--system', 'Be brief.', '-n', '4', '--verbose'], { input: 'One.\n/clear\nOne.\n' });
    expect(chat.code).toBe(0);
    const turns = turnStats(chat.stderr);
    expect(turns).toHaveLength(2);
    expect(turns[1].prompt).toBe(turns[0].prompt);
    expect(chat.stderr).toContain('(conversation cleared)');
  });

  it('chat: Ctrl-C stops the current reply and the chat goes on', async () => {
    const child = spawnCli(['chat', '-d', data, '--model', tinyRandom!, '-n', '3000', '--ctx-size', '4096', '--verbose']);
    const done = collect(child);
    child.stdin!.write('Go on forever.\n');
    await firstOutput(child);
    child.kill('SIGINT');
    await new Promise<void>((resolve) => {
      const check = (chunk: Buffer) => chunk.toString().includes('(stopped)') && (child.stderr!.off('data', check), resolve());
      child.stderr!.on('data', check);
    });
    child.stdin!.end('Short now.\n');
    const chat = await done;
    expect(chat.code).toBe(0);
    const turns = turnStats(chat.stderr);
    expect(turns).toHaveLength(1); // the stopped turn prints no stats; the next one does
    expect(turns[0].prompt).toBeGreaterThan(20); // ...and its prompt holds the stopped reply
  });
});
