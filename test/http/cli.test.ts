import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, parseServeArgs, UsageError, type CliIo } from '../../src/cli.js';
import { DEFAULT_HOST, DEFAULT_PORT } from '../../src/cli/serve.js';
import { DEFAULT_HOST as HTTP_DEFAULT_HOST, DEFAULT_PORT as HTTP_DEFAULT_PORT } from '../../src/http/serve.js';
import { postJson, stories, waitFor } from './helpers.js';

/** An io that records output and stops the server when `stop()` is called. */
function testIo(env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  let stopServer: (() => void) | undefined;
  const io: CliIo = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env,
    onStop: (stop) => { stopServer = stop; },
  };
  return { io, out, err, stop: () => stopServer?.(), stoppable: () => stopServer !== undefined };
}

describe('akachat serve: flags and environment', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'akachat-cli-'));
    await writeFile(join(dir, 'a-file'), '');
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('has safe defaults, the same as the HTTP adapter\'s', () => {
    expect([DEFAULT_PORT, DEFAULT_HOST]).toEqual([HTTP_DEFAULT_PORT, HTTP_DEFAULT_HOST]);
    expect(parseServeArgs([], {})).toEqual({
      port: 50000, host: '127.0.0.1', dataDir: resolve('.'), model: undefined, apiKey: undefined, corsOrigins: 'local', managementOrigins: [], defaults: {},
    });
  });

  it('takes llama-server\'s sampling flags as server defaults, over their environment variables', () => {
    const env = { AKACHAT_SEED: '7', AKACHAT_TEMP: '0.5', AKACHAT_N_PREDICT: '64' };
    expect(parseServeArgs([], env)?.defaults).toEqual({ seed: 7, temperature: 0.5, maxTokens: 64 });
    expect(parseServeArgs(['-s', '42', '--temp', '0', '--top-k', '1', '--top-p', '0.9', '--min-p', '0.1', '--repeat-penalty', '1.2', '-n', '-1'], env)?.defaults)
      .toEqual({ seed: 42, temperature: 0, topK: 1, topP: 0.9, minP: 0.1, repeatPenalty: 1.2, maxTokens: -1 });
    const bad: Array<[string[], RegExp]> = [
      [['--seed', '-3'], /for --seed but received "-3"/],
      [['--temp', 'hot'], /for --temp/],
      [['--top-p', '2'], /for --top-p/],
      [['--top-k', '1.5'], /for --top-k/],
      [['-n', '0'], /for --n-predict/],
    ];
    for (const [args, message] of bad) expect(() => parseServeArgs(args, {}), args.join(' ')).toThrow(message);
  });

  it('reads the environment, and flags win over it', () => {
    const env = { AKACHAT_PORT: '8080', AKACHAT_HOST: '0.0.0.0', AKACHAT_DATA: dir, AKACHAT_API_KEY: 'k', AKACHAT_CORS: 'http://localhost:3000, https://*.example.com' };
    expect(parseServeArgs([], env)).toMatchObject({ port: 8080, host: '0.0.0.0', dataDir: dir, apiKey: 'k', corsOrigins: ['http://localhost:3000', 'https://*.example.com'] });
    expect(parseServeArgs(['--port', '9000', '--cors', '*', '--api-key', 'flag'], env)).toMatchObject({ port: 9000, corsOrigins: '*', apiKey: 'flag' });
    expect(parseServeArgs(['--model', 'hf:owner/repo:Q4_K_M'], {})?.model).toBe('hf:owner/repo:Q4_K_M');
  });

  it('takes --parallel as a slot count or auto (the ModelManager default, chosen from memory)', () => {
    expect(parseServeArgs([], {})?.parallel).toBeUndefined();
    expect(parseServeArgs(['--parallel', 'auto'], {})?.parallel).toBe('auto');
    expect(parseServeArgs([], { AKACHAT_PARALLEL: '3' })?.parallel).toBe(3);
    expect(() => parseServeArgs(['--parallel', '0'], {})).toThrow(/Expected "auto" or a number of slots \(1-256\) for --parallel but received "0"/);
  });

  it('refuses bad values with a message naming the flag', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--port', 'abc'], /--port/],
      [['--port', '70000'], /--port/],
      [['--bogus'], /unknown option '--bogus'/i],
      [['--model', join(dir, 'missing.gguf')], /Model file not found for --model/],
      [['--data', join(dir, 'a-file')], /Expected a folder for --data/],
      [['--cors', 'localhost:3000/path'], /--cors/],
      [['stray'], /too many arguments/],
    ];
    for (const [args, message] of cases) expect(() => parseServeArgs(args, {}), args.join(' ')).toThrow(message);
    expect(() => parseServeArgs(['--bogus'], {})).toThrow(UsageError);
  });

  it('exits with code 2 and a hint on usage errors, 0 on --help', async () => {
    const bad = testIo();
    expect(await main(['serve', '--port', 'x'], bad.io)).toBe(2);
    expect(bad.err.join('\n')).toMatch(/--port[\s\S]*akachat serve --help/);
    const unknown = testIo();
    expect(await main(['frobnicate'], unknown.io)).toBe(2);
    const help = testIo();
    expect(await main(['serve', '--help'], help.io)).toBe(0);
    expect(help.out.join('\n')).toMatch(/--port[\s\S]*AKACHAT_MODEL/);
  });

  it('starts without a model, says how to set one, and stops cleanly', async () => {
    const run = testIo();
    const exit = main(['serve', '--port', '0', '--data', dir], run.io);
    await waitFor(() => run.stoppable() && run.out.length > 0, 10_000, 'the banner');
    const banner = run.out.join('\n');
    const url = /listening on (http:\/\/\S+)/.exec(banner)![1];
    expect(banner).toContain(`${url}/docs`);
    expect(banner).toMatch(new RegExp(`Playground: +${url}/\n`));
    expect(banner).toMatch(/Model: +none configured\. Set one with --model/);
    const chat = await postJson(`${url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }] });
    expect(chat.status).toBe(503);
    run.stop();
    expect(await exit).toBe(0);
  });

  it.skipIf(!stories)('starts with a model, loads it, and answers a chat', async () => {
    const run = testIo({ AKACHAT_MODEL: stories });
    const exit = main(['serve', '--port', '0', '--data', dir], run.io);
    await waitFor(() => run.out.some((line) => line.startsWith('Model loaded')), 20_000, 'the model to load');
    const url = /listening on (http:\/\/\S+)/.exec(run.out.join('\n'))![1];
    expect(run.out.join('\n')).toContain(`Model:           ${stories}`);
    const chat = await postJson(`${url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    expect(chat.status).toBe(200);
    run.stop();
    expect(await exit).toBe(0);
  });
});
