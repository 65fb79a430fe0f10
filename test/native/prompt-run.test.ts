import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Akachat } from '../../src/akachat.js';
import { NotFoundError } from '../../src/errors.js';
import { addonBuilt, randomModel, sharedModel } from '../support/models.js';

const stories = addonBuilt ? sharedModel('stories') : undefined;

describe.skipIf(!stories)('running prompts on stories260K', () => {
  let dir: string;
  let aka: Akachat;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'akachat-run-'));
    aka = new Akachat({ dataDir: dir, defaultModel: stories, models: { keepAliveMs: 0, contextSize: 1024, cacheDir: join(dir, 'cache') } });
    await aka.vars.set('name', 'Lily');
  });
  afterAll(async () => {
    await aka?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('template mode fills {bos_token}, {instruction} and {input} and logs the call', async () => {
    await aka.prompts.save('story', 'Once upon a time, there was a girl named {var.name}.', {
      template: '{bos_token}{instruction} {input}', max_new_tokens: 20, temperature: 0,
    });
    const result = await aka.run('story', 'She');
    expect(result.templateText).toBe('<s>Once upon a time, there was a girl named Lily. She');
    expect(result.messages).toBeUndefined();
    expect(result.usage.completionTokens).toBeGreaterThan(0);
    expect(result.usage.completionTokens).toBeLessThanOrEqual(20);
    expect(result.text.length).toBeGreaterThan(5);
    // The BOS text was not doubled: the prompt tokens are the template tokens exactly.
    const model = (await aka.models.acquire(stories!));
    expect(result.usage.promptTokens).toBe(model.model.tokenize('Once upon a time, there was a girl named Lily. She').length);
    model.release();
    const day = new Date();
    const stamp = `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, '0')}-${String(day.getDate()).padStart(2, '0')}`;
    const txt = await readFile(join(dir, 'log', 'speech', `${stamp}.txt`), 'utf8');
    expect(txt).toContain('========\nOnce upon a time, there was a girl named Lily.\n--------\n' + result.text);
    const log = await readFile(join(dir, 'log', 'speech', `${stamp}.log`), 'utf8');
    expect(log).toContain(JSON.stringify(result.templateText));
  });

  it('messages mode applies the chatml override and sends the input once', async () => {
    await aka.prompts.save('chat', 'You tell stories about {var.name}.', { is_messages: true, chat_template: 'chatml', max_new_tokens: 10, temperature: 0 });
    const result = await aka.run('chat', 'Tell me one.');
    expect(result.messages).toEqual([
      { role: 'system', content: 'You tell stories about Lily.' },
      { role: 'user', content: 'Tell me one.' },
    ]);
    expect(result.renderedPrompt).toBe('<|im_start|>system\nYou tell stories about Lily.<|im_end|>\n<|im_start|>user\nTell me one.<|im_end|>\n<|im_start|>assistant\n');
    expect(result.renderedPrompt!.split('Tell me one.').length).toBe(2);
  });

  it('the second run of a prompt reuses its prefix', async () => {
    await aka.prompts.save('persona', 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends.', {
      template: '{instruction} {input}', max_new_tokens: 8, temperature: 0,
    });
    const first = await aka.run('persona', 'One day');
    const second = await aka.run('persona', 'The sun');
    expect(second.usage.reusedTokens).toBeGreaterThan(first.usage.promptTokens - 6);
  });

  it('streams text chunks whose concatenation is the result', async () => {
    const prompt = await aka.prompt('story');
    const stream = prompt.stream('He', { noLog: true });
    let text = '';
    for await (const chunk of stream) text += chunk;
    expect(text).toBe((await stream.result).text);
  });

  it('overrides merge on copies and never change the stored prompt', async () => {
    const before = await aka.prompts.load('story');
    const result = await aka.run('story', 'She', { overrides: { max_new_tokens: 3 }, noLog: true });
    expect(result.usage.completionTokens).toBeLessThanOrEqual(3);
    expect(await aka.prompts.load('story')).toEqual(before);
  });

  it('llm() inserts a sub-prompt\'s generated text', async () => {
    await aka.prompts.save('sub', 'x', { template: 'Once upon a time', max_new_tokens: 5, temperature: 0 });
    const sub = await aka.run('sub', '', { noLog: true });
    await aka.prompts.save('outer', "Story: {llm('sub', 'zz')}", { template: '{instruction}', max_new_tokens: 2, temperature: 0 });
    const outer = await aka.run('outer', '', { noLog: true });
    expect(outer.instruction).toBe(`Story: ${sub.text}`);
  });

  it('a listed model name (the default model\'s, or a models-folder file\'s) runs its file, in nested llm() calls too', async () => {
    const folder = join(dir, 'models');
    await mkdir(join(folder, 'tiny'), { recursive: true });
    await copyFile(stories!, join(folder, 'tiny', 'story.gguf'));
    const listed = new Akachat({ dataDir: dir, defaultModel: stories, modelsDir: folder, models: { keepAliveMs: 0, contextSize: 1024 } });
    try {
      // As the playground saves them: names from /v1/models, not paths.
      await listed.prompts.save('by-default-name', 'x', { template: 'Once upon a time', max_new_tokens: 5, temperature: 0, model: 'stories260K' });
      await listed.prompts.save('by-folder-name', "Story: {llm('by-default-name', '')}", { template: '{instruction}', max_new_tokens: 2, temperature: 0, model: 'tiny/story' });
      const inner = await listed.run('by-default-name', '', { noLog: true });
      expect(inner.text.length).toBeGreaterThan(0);
      const outer = await listed.run('by-folder-name', '', { noLog: true });
      expect(outer.instruction).toBe(`Story: ${inner.text}`);
      expect(listed.models.loaded.map((path) => path.split(/[\\/]/).slice(-2).join('/'))).toContain('tiny/story.gguf');
    } finally {
      await listed.dispose();
    }
  });

  it('dtype quantizes a higher-precision GGUF once into the cache and reuses it', async () => {
    await aka.prompts.save('q8', 'Once', { template: '{instruction}', max_new_tokens: 3, model: stories, dtype: 'int8', temperature: 0 });
    const first = await aka.run('q8', '', { noLog: true });
    // Cached under the source's identity (path, size, mtime), so another stories260K.gguf gets its own copy.
    expect(first.model).toMatch(new RegExp(`^${join(aka.models.cacheDir, 'quantized')}/stories260K\\.[0-9a-f]{16}\\.Q8_0\\.gguf$`));
    const { mtimeMs } = await stat(first.model);
    const second = await aka.run('q8', '', { noLog: true });
    expect(second.model).toBe(first.model);
    expect((await stat(first.model)).mtimeMs).toBe(mtimeMs);
    expect(second.usage.completionTokens).toBe(3);
  });

  it('a missing prompt is a NotFoundError', async () => {
    await expect(aka.run('nope', 'x')).rejects.toThrow(NotFoundError);
  });

  it('two models used alternately keep at most one resident', async () => {
    const other = join(dir, 'copy-of-stories.gguf');
    await copyFile(stories!, other);
    const random = await randomModel();
    await aka.prompts.save('a', 'Once', { template: '{instruction}', max_new_tokens: 2, model: stories });
    await aka.prompts.save('b', 'Once', { template: '{instruction}', max_new_tokens: 2, model: random });
    for (const name of ['a', 'b', 'a', 'b']) {
      const result = await aka.run(name, '', { noLog: true });
      expect(aka.models.loaded).toEqual([result.model]);
    }
    expect(aka.models.loaded).toHaveLength(1);
  });
});

describe.skipIf(!stories)('model manager keep-alive', () => {
  it('unloads an idle model after keepAliveMs', async () => {
    const { ModelManager } = await import('../../src/llm/model-manager.js');
    const manager = new ModelManager({ keepAliveMs: 100 });
    const lease = await manager.acquire(stories!, { contextSize: 256 });
    expect(manager.loaded).toHaveLength(1);
    lease.release();
    await new Promise((r) => setTimeout(r, 400));
    expect(manager.loaded).toHaveLength(0);
    await manager.dispose();
  });
});

describe('running prompts without a model', () => {
  it('says how to configure one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'akachat-nomodel-'));
    await mkdir(dir, { recursive: true });
    const aka = new Akachat({ dataDir: dir });
    await aka.prompts.save('p', 'hello', {});
    await expect(aka.run('p', 'x')).rejects.toThrow(/No local model is configured/);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('prompt streams', () => {
  it('settle with an AbortError when the signal is already aborted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'akachat-abort-'));
    const aka = new Akachat({ dataDir: dir, rag: null });
    const stream = aka.createPrompt('hi', {}).stream('x', { signal: AbortSignal.abort() });
    await expect(stream.result).rejects.toMatchObject({ code: 'ABORTED' });
    await rm(dir, { recursive: true, force: true });
  });
});
