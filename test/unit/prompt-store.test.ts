import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, NotFoundError, UnsupportedError } from '../../src/errors.js';
import { normalizeOptions, toRawOptions } from '../../src/prompt/options.js';
import { PromptStore } from '../../src/prompt/store.js';

let dataFolder: string;
let store: PromptStore;

beforeEach(async () => {
  dataFolder = await mkdtemp(join(tmpdir(), 'akachat-prompts-'));
  store = new PromptStore(dataFolder);
});

afterEach(async () => {
  await rm(dataFolder, { recursive: true, force: true });
});

const EVERY_OPTION = {
  provider: 'openai',
  endpoint: 'http://127.0.0.1:8080/v1',
  model: 'llama-3-8b',
  dtype: 'q4_k_m',
  inst_template: '[INST] {instruction} {input} [/INST]',
  is_messages: false,
  chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}',
  max_new_tokens: 300,
  input_tokens: 8192,
  temperature: 0.3,
  top_p: 0.9,
  top_k: 50,
  min_p: 0.05,
  repetition_penalty: 1.15,
  seed: 1234,
  stop: ['</s>', '\n\nuser:'],
  ui_note: 'メモ: 日本語',
  nested_unknown: { a: [1, 2, { b: null }], flag: true },
};

describe('PromptStore', () => {
  it('round-trips the instruction and every option, unknown keys included', async () => {
    const instruction = 'あなたは{var.name}です。\n{msg(3)}\n';
    await store.save('chara/aka', instruction, EVERY_OPTION);
    const loaded = await store.load('chara/aka');
    expect(loaded.name).toBe('chara/aka');
    expect(loaded.instruction).toBe(instruction);
    expect(loaded.rawOptions).toEqual(EVERY_OPTION);
    expect(loaded.options).toMatchObject({
      provider: 'openai', dtype: 'Q4_K_M', maxNewTokens: 300, inputTokens: 8192, repetitionPenalty: 1.15,
      stop: ['</s>', '\n\nuser:'], extra: { ui_note: 'メモ: 日本語', nested_unknown: EVERY_OPTION.nested_unknown },
    });
  });

  it('writes UTF-8 JSON that is not ASCII-escaped, in the original layout', async () => {
    await store.save('jp', '指示', { ui_note: 'あかちゃん' });
    const json = await readFile(join(dataFolder, 'prompt', 'jp.json'), 'utf8');
    expect(json).toContain('"ui_note": "あかちゃん"');
    expect(json).not.toContain('\\u');
    expect(await readFile(join(dataFolder, 'prompt', 'jp.txt'), 'utf8')).toBe('指示');
  });

  it('round-trips normalized options saved through toRawOptions', async () => {
    const options = normalizeOptions({ location: 'Local', output_tokens: 50, template: 't', extra_key: 'x' });
    await store.save('n', 'i', toRawOptions(options));
    expect((await store.load('n')).options).toEqual(options);
  });

  it('loads prompt files of the old schema', async () => {
    await mkdir(join(dataFolder, 'prompt'), { recursive: true });
    await writeFile(join(dataFolder, 'prompt', 'old.txt'), '\ufeffOld {input}');
    await writeFile(join(dataFolder, 'prompt', 'old.json'), JSON.stringify({
      location: 'Local', model: 'cyberagent/calm2-7b-chat', dtype: 'int8',
      template: 'USER: {instruction}{input}\nASSISTANT: ', is_messages: false, output_tokens: 128, temperature: 0.8,
    }));
    const loaded = await store.load('old');
    expect(loaded.instruction).toBe('Old {input}');
    expect(loaded.options).toEqual({
      provider: 'local', model: 'cyberagent/calm2-7b-chat', dtype: 'Q8_0', template: 'USER: {instruction}{input}\nASSISTANT: ',
      isMessages: false, maxNewTokens: 128, temperature: 0.8, extra: {},
    });
  });

  it('loads a prompt that has only one of its two files', async () => {
    await mkdir(join(dataFolder, 'prompt'), { recursive: true });
    await writeFile(join(dataFolder, 'prompt', 'only-text.txt'), 'text');
    await writeFile(join(dataFolder, 'prompt', 'only-json.json'), '{"temperature": 0.1}');
    expect(await store.load('only-text')).toMatchObject({ instruction: 'text', rawOptions: {}, options: { extra: {} } });
    expect(await store.load('only-json')).toMatchObject({ instruction: '', options: { temperature: 0.1 } });
  });

  it('throws NotFoundError naming a missing prompt', async () => {
    const error = await store.load('nope/missing').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toMatch(/Prompt "nope\/missing" not found/);
  });

  it('lists prompts with sub-folders, sorted, without duplicates or hidden files', async () => {
    await store.save('b', '', {});
    await store.save('a/z', '', {});
    await store.save('a/deep/x', '', {});
    await store.save('C', '', {});
    await writeFile(join(dataFolder, 'prompt', '.hidden.txt'), '');
    await writeFile(join(dataFolder, 'prompt', 'notes.md'), '');
    expect(await store.list()).toEqual(['C', 'a/deep/x', 'a/z', 'b']);
  });

  it('lists nothing when the prompt folder does not exist', async () => {
    expect(await store.list()).toEqual([]);
  });

  it('reports existence and deletes both files, pruning empty sub-folders', async () => {
    await store.save('sub/one', 'x', { a: 1 });
    expect(await store.exists('sub/one')).toBe(true);
    await store.delete('sub/one');
    expect(await store.exists('sub/one')).toBe(false);
    expect(await readdir(join(dataFolder, 'prompt'))).toEqual([]);
    await expect(store.delete('sub/one')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses invalid options at save time and writes nothing', async () => {
    await expect(store.save('bad', 'x', { temperature: 'hot' })).rejects.toThrow(/Expected a number >= 0 for temperature/);
    await expect(store.save('bad', 'x', { provider: 'Anthropic' })).rejects.toBeInstanceOf(UnsupportedError);
    expect(await store.list()).toEqual([]);
  });

  it('names the prompt when its options file is not valid JSON or has a bad value', async () => {
    await mkdir(join(dataFolder, 'prompt'), { recursive: true });
    await writeFile(join(dataFolder, 'prompt', 'broken.json'), '{"temperature": ');
    await expect(store.load('broken')).rejects.toThrow(/Expected valid JSON in the options of prompt "broken"/);
    await writeFile(join(dataFolder, 'prompt', 'typed.json'), '{"top_k": "many"}');
    await expect(store.load('typed')).rejects.toThrow(/^Prompt "typed": Expected an integer >= 0 for top_k but received "many"$/);
  });

  it.each(['../x', '/abs', 'a\0b', 'C:x', 'a/../../x', '', 'a//b', 'a\\b', 'line\nbreak'])('refuses the unsafe name %j', async (name) => {
    await expect(store.save(name, 'x', {})).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.load(name)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.delete(name)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.exists(name)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await readdir(dataFolder)).toEqual([]);
  });

  it('leaves no temporary files behind', async () => {
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.save(`p${i}`, `i${i}`, { seed: i })));
    const files = await readdir(join(dataFolder, 'prompt'));
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(files).toHaveLength(20);
  });
});
