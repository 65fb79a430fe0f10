import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { main } from '../../src/cli.js';
import { memoryIo, repoRoot, runCli } from './helpers.js';

const commands = ['serve', 'run', 'chat', 'batch', 'rag', 'rag create', 'rag add', 'rag search', 'rag list', 'rag delete', 'pull', 'models', 'info', 'quantize'];

describe('akachat: help, version and usage errors', () => {
  it('prints the version and the commands', async () => {
    const version = memoryIo();
    expect(await main(['--version'], version.io)).toBe(0);
    expect(version.text()).toBe(packageJson.version);
    const help = memoryIo();
    expect(await main(['--help'], help.io)).toBe(0);
    for (const command of ['serve', 'run', 'chat', 'batch', 'rag', 'pull', 'models', 'info', 'quantize']) expect(help.text()).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('has --help for every command', async () => {
    for (const command of commands) {
      const run = memoryIo();
      expect(await main([...command.split(' '), '--help'], run.io), command).toBe(0);
      expect(run.text(), command).toContain(`Usage: akachat ${command}`);
    }
  });

  it('exits with 2 and a hint naming the command on usage errors', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /Usage: akachat/],
      [['frobnicate'], /unknown command 'frobnicate'[\s\S]*akachat --help/],
      [['run'], /missing required argument 'prompt'[\s\S]*akachat run --help/],
      [['run', 'p', '--temperature', 'hot'], /--temperature[\s\S]*Expected a number[\s\S]*akachat run --help/],
      [['run', 'p', '--options', '[1]'], /Expected a JSON object[\s\S]*akachat run --help/],
      [['chat', '--bogus'], /unknown option '--bogus'[\s\S]*akachat chat --help/],
      [['batch', '--checks', '{oops'], /Expected a JSON array of checks for --checks[\s\S]*akachat batch --help/],
      [['batch', '--checks', '[{"type":"nope"}]', '--prompts', 'a'], /checks\[0\]\.type[\s\S]*akachat batch --help/],
      [['batch', join(repoRoot, 'missing.yaml')], /Cannot read the batch file[\s\S]*akachat batch --help/],
      [['rag', 'add', 'notes'], /missing required argument 'files'[\s\S]*akachat rag add --help/],
      [['pull', 'owner/repo'], /Expected hf:owner\/repo[\s\S]*akachat pull --help/],
      [['quantize', 'a.gguf', 'b.gguf', 'Q9_X'], /Expected a type \(F32, F16[\s\S]*akachat quantize --help/],
      [['chat', '--model', join(repoRoot, 'missing.gguf')], /Model file not found for --model[\s\S]*akachat chat --help/],
    ];
    for (const [args, message] of cases) {
      const run = memoryIo();
      expect(await main(args, run.io), args.join(' ')).toBe(2);
      expect(run.errors(), args.join(' ')).toMatch(message);
    }
  });

  it('exits with 1 and the message when a command fails', async () => {
    const run = memoryIo();
    expect(await main(['info', join(repoRoot, 'missing.gguf')], run.io)).toBe(1);
    expect(run.errors()).toMatch(/^akachat: GGUF file not found/);
  });

  it('loads the HTTP adapter only for serve (a child that cannot resolve hono)', async () => {
    const env = { NODE_OPTIONS: `--import=${pathToFileURL(join(repoRoot, 'test', 'cli', 'fixtures', 'no-hono.mjs')).href}` };
    const models = await runCli(['models', '--cache-dir', join(repoRoot, 'no-such-cache')], { env });
    expect(models.stderr).not.toMatch(/HTTP adapter was loaded/);
    expect(models.code).toBe(0);
    expect((await runCli(['run', '--help'], { env })).code).toBe(0);
    // The check itself works: serve does load hono.
    const serve = await runCli(['serve', '--port', '0'], { env });
    expect(serve.stderr).toMatch(/HTTP adapter was loaded \((@hono\/node-server|hono)/);
    expect(serve.code).toBe(1);
  });
});
