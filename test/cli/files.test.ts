import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonBuilt, sharedModel } from '../support/models.js';
import { runCli } from './helpers.js';

const stories = sharedModel('stories');
const bert = sharedModel('bert');

describe.skipIf(!stories || !addonBuilt)('akachat info, models, quantize (child processes)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'akachat-cli-files-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('info shows architecture, size, context length and the chat template', async () => {
    const run = await runCli(['info', stories!]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^file +.*stories260K\.gguf$/m);
    expect(run.stdout).toMatch(/^size +1\.1 MiB \(1185376 bytes\)$/m);
    expect(run.stdout).toMatch(/^architecture +llama$/m);
    expect(run.stdout).toMatch(/^context length +2048$/m);
    expect(run.stdout).toMatch(/^vocabulary +512$/m);
    expect(run.stdout).toMatch(/^chat template: \(none\)$/m);
    const json = JSON.parse((await runCli(['info', stories!, '--json'])).stdout);
    expect(json).toMatchObject({ architecture: 'llama', trainContextSize: 2048, bytes: 1185376 });
    expect(json.metadata['llama.block_count']).toBe(5);
  });

  it('quantize writes a Q8_0 copy, which info and models then show', async () => {
    const models = join(dir, 'models');
    await mkdir(join(models, 'sub'), { recursive: true });
    await copyFile(stories!, join(models, 'stories.gguf'));
    const out = join(models, 'sub', 'stories-q8.gguf');
    const run = await runCli(['quantize', stories!, out, 'q8_0', '--threads', '1']);
    expect(run.code).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(run.stdout).toMatch(/stories-q8\.gguf: \d+ KiB \(from 1\.1 MiB, \d+%\)/);
    expect(run.stderr).toMatch(/Quantizing .* to Q8_0: done in/);
    expect((await runCli(['info', out])).stdout).toMatch(/^type +Q8_0$/m);

    const cache = join(dir, 'cache');
    await mkdir(join(cache, 'hf', 'acme', 'tiny', 'main'), { recursive: true });
    await copyFile(out, join(cache, 'hf', 'acme', 'tiny', 'main', 'tiny-Q8_0.gguf'));
    await writeFile(join(cache, 'hf', 'acme', 'tiny', 'main', 'big-Q4_K_M.gguf.partial'), 'half');
    const list = await runCli(['models', '--models-dir', models], { env: { AKACHAT_CACHE_DIR: cache } });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^  stories +1\.1 MiB +- +llama$/m);
    expect(list.stdout).toMatch(/^  sub\/stories-q8 +\d+ KiB +Q8_0 +llama$/m);
    expect(list.stdout).toMatch(/^  hf:acme\/tiny\/tiny-Q8_0\.gguf +\d+ KiB +Q8_0 +llama$/m);
    expect(list.stdout).toMatch(/^  hf:acme\/tiny\/big-Q4_K_M\.gguf \(partial: pull again to resume\) +4 B/m);
    const json = JSON.parse((await runCli(['models', '--json'], { env: { AKACHAT_CACHE_DIR: cache, AKACHAT_MODELS_DIR: models } })).stdout);
    expect(json.map((section: { folder: string }) => section.folder)).toEqual([models, cache]);
    expect(json[0].files).toHaveLength(2);
  });
});

describe('akachat rag (child processes)', () => {
  let data: string;
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'akachat-cli-rag-'));
  });
  afterAll(() => rm(data, { recursive: true, force: true }));

  it('creates a collection, adds a file and an archive, searches, lists and deletes it', async () => {
    const cli = (...args: string[]) => runCli(['rag', ...args, '-d', data]);
    const created = await cli('create', 'notes', '--lexical', '--chunk-size', '60');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/Created notes: lexical-only, chunks of 60 characters/);

    const text = join(data, 'facts.txt');
    await writeFile(text, 'The capital of France is Paris.\n\nCats like fish and warm milk.\n');
    const archive = join(data, 'more.zip');
    await writeFile(archive, zipSync({ 'docs/owls.md': strToU8('# Owls\n\nOwls hunt at night and sleep by day.') }));
    const added = await cli('add', 'notes', text, archive);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/added facts\.txt: \d+ chunks \(text\)/);
    expect(added.stdout).toMatch(/added docs\/owls\.md: \d+ chunks/);
    expect(added.stdout).toMatch(/notes: 2 files, \d+ chunks/);
    expect(added.stderr).toMatch(/adding .*100%/); // plain progress lines off a terminal

    const found = await cli('search', 'notes', 'capital of France', '-k', '1');
    expect(found.code).toBe(0);
    expect(found.stdout).toMatch(/^1\. facts\.txt #0 \(score [\d.]+\)\n {3}The capital of France is Paris\./);
    const owls = JSON.parse((await cli('search', 'notes', 'owls night', '--json')).stdout);
    expect(owls[0]).toMatchObject({ file: 'docs/owls.md' });

    const listed = await cli('list');
    expect(listed.stdout).toMatch(/^notes +2 +\d+ +\(lexical\)/m);
    expect((await cli('delete', 'notes')).stdout).toBe('Deleted notes\n');
    expect((await cli('list')).stdout).toMatch(/No collections yet/);
    const missing = await cli('search', 'notes', 'x');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^akachat: .*notes/);
  });

  it.skipIf(!bert || !addonBuilt)('creates a collection with an embedding model (a relative path, stored absolute) and searches it hybrid', async () => {
    const text = join(data, 'capitals.txt');
    await writeFile(text, 'The capital of France is Paris.');
    const created = await runCli(['rag', 'create', 'vectors', '-d', data, '-e', relative(process.cwd(), bert!)]);
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(`Created vectors: embeddings from ${bert} (`);
    expect((await runCli(['rag', 'add', 'vectors', text, '-d', data])).code).toBe(0);
    const found = JSON.parse((await runCli(['rag', 'search', 'vectors', 'capital', '-d', data, '--json'])).stdout);
    expect(found[0]).toMatchObject({ file: 'capitals.txt' });
    expect(found[0].vectorScore).toEqual(expect.any(Number));
  });
});
