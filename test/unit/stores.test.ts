import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, NotFoundError, TemplateError } from '../../src/errors.js';
import { MessageLog, parseMessagesJsonl } from '../../src/messages/log.js';
import { renderInstruction } from '../../src/prompt/instruction/index.js';
import { renderSegmentsAsText, type ChatMessage } from '../../src/prompt/messages.js';
import { Presets } from '../../src/settings/presets.js';
import { maskSecret, Settings, withoutMaskEchoes } from '../../src/settings/settings.js';
import { VarStore } from '../../src/vars/store.js';

let dataFolder: string;

beforeEach(async () => {
  dataFolder = await mkdtemp(join(tmpdir(), 'akachat-stores-'));
});

afterEach(async () => {
  await rm(dataFolder, { recursive: true, force: true });
});

describe('VarStore', () => {
  it('sets, gets, lists, enumerates and deletes raw UTF-8 values', async () => {
    const vars = new VarStore(dataFolder);
    await vars.set('name', 'あか\n');
    await vars.set('city', 'Tokyo');
    expect(await readFile(join(dataFolder, 'vars', 'name.txt'), 'utf8')).toBe('あか\n');
    expect(await vars.get('name')).toBe('あか\n');
    expect(await vars.list()).toEqual(['city', 'name']);
    expect(await vars.entries()).toEqual([['city', 'Tokyo'], ['name', 'あか\n']]);
    await vars.delete('city');
    expect(await vars.has('city')).toBe(false);
    expect(await vars.list()).toEqual(['name']);
  });

  it('throws NotFoundError for a missing key, on get and delete', async () => {
    const vars = new VarStore(dataFolder);
    await expect(vars.get('ghost')).rejects.toThrow(NotFoundError);
    await expect(vars.get('ghost')).rejects.toThrow(/Variable "ghost" not found/);
    await expect(vars.delete('ghost')).rejects.toBeInstanceOf(NotFoundError);
    expect(await vars.list()).toEqual([]);
  });

  it.each(['../x', '/abs', 'a\0b', 'C:x', 'sub/key', '..'])('refuses the unsafe key %j', async (key) => {
    const vars = new VarStore(dataFolder);
    await expect(vars.set(key, 'v')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(vars.get(key)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await readdir(dataFolder)).toEqual([]);
  });

  it('feeds var.key in instructions; a missing key becomes a TemplateError naming it', async () => {
    const vars = new VarStore(dataFolder);
    await vars.set('name', 'Aka');
    expect(renderSegmentsAsText(await renderInstruction('Hi {var.name}', { vars }))).toBe('Hi Aka');
    const error = await renderInstruction('{var.nobody}', { vars }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as Error).message).toMatch(/var\.nobody failed: Variable "nobody" not found/);
    expect((error as Error).cause).toBeInstanceOf(NotFoundError);
  });
});

describe('MessageLog', () => {
  const file = () => join(dataFolder, 'log', 'messages.jsonl');
  const sample: ChatMessage[] = [
    { role: 'system', content: 's' },
    { role: 'user', content: 'こんにちは' },
    { role: 'assistant', content: 'hello\nworld' },
  ];

  it('reads an empty history when the file is missing', async () => {
    const log = new MessageLog(file());
    expect(await log.readAll()).toEqual([]);
    expect(await log.count()).toBe(0);
  });

  it('appends one or several messages as JSONL lines, not ASCII-escaped', async () => {
    const log = new MessageLog(file());
    await log.append(sample[0]);
    await log.append(sample.slice(1));
    expect(await log.readAll()).toEqual(sample);
    const text = await readFile(file(), 'utf8');
    expect(text.split('\n')).toEqual([
      '{"role":"system","content":"s"}',
      '{"role":"user","content":"こんにちは"}',
      '{"role":"assistant","content":"hello\\nworld"}',
      '',
    ]);
  });

  it('returns the newest n messages, 0 meaning all', async () => {
    const log = new MessageLog(file());
    await log.replace(sample);
    expect(await log.newest(2)).toEqual(sample.slice(1));
    expect(await log.newest(0)).toEqual(sample);
    expect(await log.newest(10)).toEqual(sample);
    await expect(log.newest(-1)).rejects.toThrow(/Expected an integer >= 0 for limit/);
  });

  it('replaces and clears the history', async () => {
    const log = new MessageLog(file());
    await log.append(sample);
    await log.replace([{ role: 'user', content: 'only' }]);
    expect(await log.readAll()).toEqual([{ role: 'user', content: 'only' }]);
    await log.clear();
    expect(await log.count()).toBe(0);
  });

  it('names the line number of a malformed line', async () => {
    await mkdir(join(dataFolder, 'log'));
    await writeFile(file(), '{"role":"user","content":"a"}\n\n{"role":"user",\n');
    const log = new MessageLog(file());
    await expect(log.readAll()).rejects.toThrow(/Expected a JSON message object on line 3 of .*messages\.jsonl but received invalid JSON/);
  });

  it('validates roles when reading and writing', async () => {
    await mkdir(join(dataFolder, 'log'));
    await writeFile(file(), '{"role":"user","content":"a"}\r\n{"role":"wizard","content":"b"}\n');
    const log = new MessageLog(file());
    await expect(log.readAll()).rejects.toThrow(/for the message on line 2 of .*\.role but received "wizard"/);
    const other = new MessageLog(join(dataFolder, 'other.jsonl'));
    await expect(other.append({ role: 'bot', content: 'x' } as unknown as ChatMessage)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(other.append([{ role: 'user', content: 'ok' }, { role: 'user' } as unknown as ChatMessage])).rejects.toThrow(/messages\[1\]\.content/);
    expect(await other.count()).toBe(0);
  });

  it('keeps every message when appends run concurrently', async () => {
    const log = new MessageLog(file());
    await Promise.all(Array.from({ length: 25 }, (_, i) => log.append({ role: 'user', content: `m${i}` })));
    const contents = (await log.readAll()).map((m) => m.content);
    expect(contents).toEqual(Array.from({ length: 25 }, (_, i) => `m${i}`));
  });

  it('appends after a last line that lacks its newline', async () => {
    await mkdir(join(dataFolder, 'log'));
    await writeFile(file(), '{"role":"user","content":"a"}');
    const log = new MessageLog(file());
    await log.append({ role: 'assistant', content: 'b' });
    expect(await log.readAll()).toEqual([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }]);
  });

  it('validates raw JSONL from an editor before replacing', async () => {
    const log = new MessageLog(file());
    await log.append(sample);
    await expect(log.replaceText('{"role":"user","content":"x"}\nnot json')).rejects.toThrow(/line 2 of the given JSONL/);
    expect(await log.count()).toBe(3);
    await log.replaceText('{"role":"user","content":"x"}\n');
    expect(await log.readText()).toBe('{"role":"user","content":"x"}\n');
  });

  it('parseMessagesJsonl skips blank lines and strips a BOM', () => {
    expect(parseMessagesJsonl('\ufeff{"role":"tool","content":"t"}\n\n  \n', 'x')).toEqual([{ role: 'tool', content: 't' }]);
  });

  it('serves msg() and msgcount() in instructions', async () => {
    const log = new MessageLog(file());
    await log.replace(sample);
    const segments = await renderInstruction('{msgcount()}{msg(1)}', { messages: log });
    expect(segments).toEqual([{ type: 'text', text: '3' }, { type: 'messages', messages: [sample[2]] }]);
  });
});

describe('Settings', () => {
  it('reads config.json with environment overrides and writes without them', async () => {
    await writeFile(join(dataFolder, 'config.json'), JSON.stringify({ is_test: false, openai_key: 'file-key', theme: 'dark' }));
    const settings = new Settings(dataFolder, { env: { OPENAI_API_KEY: 'sk-environment-key-0123456789abcd', AKACHAT_IS_TEST: '1' } });
    expect(await settings.openaiKey()).toBe('sk-environment-key-0123456789abcd');
    expect(await settings.isTest()).toBe(true);
    expect(await settings.get('theme')).toBe('dark');
    await settings.set('theme', 'light');
    expect(JSON.parse(await readFile(join(dataFolder, 'config.json'), 'utf8'))).toEqual({ is_test: false, openai_key: 'file-key', theme: 'light' });
  });

  it('ignores empty environment variables and defaults is_test to off', async () => {
    const settings = new Settings(dataFolder, { env: { OPENAI_API_KEY: '' } });
    expect(await settings.all()).toEqual({});
    expect(await settings.isTest()).toBe(false);
    expect(await settings.openaiKey()).toBeUndefined();
  });

  it('keeps unknown keys, removes keys set to null and checks is_test', async () => {
    const settings = new Settings(dataFolder, { env: {} });
    await settings.update({ is_test: true, openai_key: 'k', other: { nested: [1] } });
    await settings.update({ openai_key: null });
    expect(await settings.stored()).toEqual({ is_test: true, other: { nested: [1] } });
    await expect(settings.set('is_test', 'yes')).rejects.toThrow(/^Expected a boolean for is_test but received "yes"$/);
    await expect(settings.set('bad', () => 1)).rejects.toThrow(/Expected JSON data for bad/);
  });

  it('shows only known public settings; every other value is masked, whatever its name', async () => {
    await writeFile(join(dataFolder, 'config.json'), JSON.stringify({
      is_test: true, default_model: 'models/tiny.gguf', openai_key: 'sk-proj-0123456789abcdefghij', hf_token: 'short',
      api_key_1: 'sk-abcdefghijklmnopqrst1111', openai_key_backup: 'sk-abcdefghijklmnopqrst2222', credentials: 'user:hunter2',
      auth: 'Bearer abcdefghijklmnopqrstuvwx', pass: 'hunter2', pin: 1234, flag: false, empty_key: '', nothing: null,
      providers: { groq: { api_key: 'gsk_abcdefghijklmnopqrstuvwxyz', endpoint: 'https://u:p@groq.example/v1' } }, list: ['secret-one'],
    }));
    const settings = new Settings(dataFolder, { env: { HF_TOKEN: 'hf_environment_token_value_wxyz' } });
    const masked = await settings.masked();
    expect(masked).toEqual({
      is_test: true, default_model: 'models/tiny.gguf', openai_key: '****ghij', hf_token: '****wxyz',
      api_key_1: '****1111', openai_key_backup: '****2222', credentials: '****', auth: '****uvwx', pass: '****',
      pin: '****', flag: false, empty_key: '', nothing: null,
      providers: { groq: { api_key: '****wxyz', endpoint: '****e/v1' } }, list: ['****'],
    });
    const shown = JSON.stringify(masked);
    for (const secret of ['0123456789', 'hunter2', 'abcdefghijklmnop', 'environment', '1234']) expect(shown).not.toContain(secret);
  });

  it('masks one value showing at most its last 4 characters', () => {
    expect(maskSecret('abc')).toBe('****');
    expect(maskSecret('0123456789012345678')).toBe('****');
    expect(maskSecret('01234567890123456789')).toBe('****6789');
    expect(maskSecret('')).toBe('');
    expect(maskSecret(null)).toBeNull();
    expect(maskSecret(true)).toBe(true);
  });

  it('drops masks sent back and keeps real changes', () => {
    const current = { openai_key: 'sk-proj-0123456789abcdefghij', pass: 'hunter2', is_test: false, nested: { token: 'abcdefghijklmnopqrstuvwxyz', url: 'x' } };
    expect(withoutMaskEchoes({
      openai_key: '****ghij', pass: '****', is_test: true, nested: { token: '****wxyz', url: 'y' }, fresh: '****',
    }, current)).toEqual({ is_test: true, nested: { token: 'abcdefghijklmnopqrstuvwxyz', url: 'y' }, fresh: '****' });
    expect(withoutMaskEchoes({ pass: 'new-password', openai_key: null }, current)).toEqual({ pass: 'new-password', openai_key: null });
  });

  it('names config.json when it is not valid JSON', async () => {
    await writeFile(join(dataFolder, 'config.json'), '{oops');
    await expect(new Settings(dataFolder, { env: {} }).all()).rejects.toThrow(/Expected valid JSON in .*config\.json/);
  });
});

describe('Presets', () => {
  it('sets, lists in order, gets copies and deletes presets', async () => {
    const presets = new Presets(dataFolder);
    await presets.set('Llama 3 8B', { provider: 'local', model: 'hf:llama3.gguf', temperature: 0.6 });
    await presets.set('GPT', { location: 'OpenAI', model: 'gpt-4o-mini', note: '日本語' });
    await presets.set('Llama 3 8B', { provider: 'local', model: 'hf:llama3.gguf', temperature: 0.7 });
    expect(await presets.list()).toEqual(['Llama 3 8B', 'GPT']);
    const preset = await presets.get('Llama 3 8B');
    expect(preset).toEqual({ provider: 'local', model: 'hf:llama3.gguf', temperature: 0.7 });
    preset.temperature = 2;
    expect((await presets.get('Llama 3 8B')).temperature).toBe(0.7);
    expect(await presets.getOptions('GPT')).toEqual({ provider: 'openai', model: 'gpt-4o-mini', extra: { note: '日本語' } });
    await presets.delete('GPT');
    expect(await presets.list()).toEqual(['Llama 3 8B']);
    const json = await readFile(join(dataFolder, 'models.json'), 'utf8');
    expect(JSON.parse(json)).toEqual({ 'Llama 3 8B': { provider: 'local', model: 'hf:llama3.gguf', temperature: 0.7 } });
  });

  it('throws NotFoundError for missing presets and validates options', async () => {
    const presets = new Presets(dataFolder);
    await expect(presets.get('none')).rejects.toThrow(/Preset "none" not found/);
    await expect(presets.delete('none')).rejects.toBeInstanceOf(NotFoundError);
    await expect(presets.set('bad', { top_p: 3 })).rejects.toThrow(/Expected a number between 0 and 1 for top_p but received 3/);
    await expect(presets.set('', {})).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await presets.list()).toEqual([]);
  });

  it('keeps every preset when sets run concurrently, without temp files', async () => {
    const presets = new Presets(dataFolder);
    await Promise.all(Array.from({ length: 15 }, (_, i) => presets.set(`p${i}`, { seed: i })));
    expect((await presets.list()).sort()).toEqual(Array.from({ length: 15 }, (_, i) => `p${i}`).sort());
    expect((await readdir(dataFolder)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('treats a __proto__ preset name as data', async () => {
    const presets = new Presets(dataFolder);
    await presets.set('__proto__', { seed: 1 });
    expect(await presets.list()).toEqual(['__proto__']);
    expect(await presets.get('__proto__')).toEqual({ seed: 1 });
  });
});
