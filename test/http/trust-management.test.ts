/**
 * The trust rule on the management routes: a playground caller saves (and runs unsaved) prompts
 * and presets, but what runs and where (a model path or hf: reference, an endpoint, an API key, a
 * chat template, the provider, dtype, context size) stays the owner's unless the owner started the
 * server with --allow-settings. Before, a caller saved `model: "/any/file.gguf"` or an endpoint
 * and the next run of the prompt used it. No model is needed: the model manager records and refuses.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpError } from '../../src/http/errors.js';
import { HashedNgramEmbedder, Rag, type Rag as RagType } from '../../src/rag/index.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { fakeModelsDir, hubServers, postJson, startServer, type TestServer } from './helpers.js';

const OWNER_KEY = 'sk-owner-prompt-key-0123456789';
const TEMPLATE = '{% for m in messages %}{{ m.content }}{% endfor %}';
/** Each owner-only key with a value a caller could abuse. */
const OWNER_VALUES: Record<string, unknown> = {
  model: '/etc/passwd',
  provider: 'openai',
  location: 'OpenAI',
  endpoint: 'http://127.0.0.1:9/v1',
  api_key: 'sk-caller-0123456789abcdef',
  chat_template: TEMPLATE,
  dtype: 'Q8_0',
  input_tokens: 999999,
};

let fake: FakeOpenAi;
let t: TestServer;
let open: TestServer;
let modelsDir: string;
const acquired: string[] = [];

const put = (url: string, body: unknown) => fetch(url, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

/** Every route that stores prompt options, as a function of a name and options. */
const SAVES: Array<[string, (server: TestServer, name: string, options: Record<string, unknown>) => Promise<Response>]> = [
  ['PUT /api/prompts/:name', (s, name, options) => put(`${s.url}/api/prompts/${name}`, { instruction: 'Hi', options })],
  ['POST /api/prompts', (s, name, options) => postJson(`${s.url}/api/prompts`, { name, instruction: 'Hi', options })],
  ['POST /api/prompt/save', (s, name, options) => postJson(`${s.url}/api/prompt/save`, { name, instruction: 'Hi', options })],
  ['POST /api/llm/save', (s, name, options) => postJson(`${s.url}/api/llm/save`, { dir: name, instruction: 'Hi', options })],
];

beforeAll(async () => {
  fake = await startFakeOpenAi();
  modelsDir = await fakeModelsDir();
  t = await startServer({ model: join(modelsDir, 'alpha.gguf') });
  open = await startServer({ model: join(modelsDir, 'alpha.gguf'), serve: { allowSettings: true } });
  for (const server of [t, open]) {
    server.akachat.modelsDir = modelsDir;
    server.akachat.models.acquire = async (ref: string) => {
      acquired.push(ref);
      throw new HttpError(503, 'recorded, not loaded', 'stub_model');
    };
    await server.akachat.prompts.save('owned', 'You are Aka.', { provider: 'openai', endpoint: fake.endpoint, model: 'gpt-owner', api_key: OWNER_KEY, max_new_tokens: 8 });
    await server.akachat.presets.set('fast', { model: join(modelsDir, 'sub', 'beta.gguf'), temperature: 0.1 });
  }
});
afterAll(async () => {
  await t?.close();
  await open?.close();
  await fake?.close();
  await rm(modelsDir, { recursive: true, force: true });
});
beforeEach(() => {
  acquired.length = 0;
});

describe('trust: saving prompts over HTTP', () => {
  it('refuses every owner-only option on every save route with 403 naming the key and how the owner sets it, and writes nothing', async () => {
    for (const [route, save] of SAVES) {
      for (const [key, value] of Object.entries(OWNER_VALUES)) {
        const response = await save(t, 'caller', { [key]: value, temperature: 0.5 });
        const text = await response.text();
        expect(response.status, `${route} ${key}`).toBe(403);
        expect(text).toContain(`${key} is chosen by the server's owner`);
        expect(text).toContain('prompt/caller.json');
        expect(text).toContain('--allow-settings');
        expect(existsSync(join(t.dataDir, 'prompt', 'caller.json')), `${route} ${key}`).toBe(false);
      }
    }
    // An hf: reference is a download and a model of the caller's choosing.
    const hf = await put(`${t.url}/api/prompts/caller`, { options: { model: 'hf:evil/repo:Q4_K_M' } });
    expect(hf.status).toBe(403);
  });

  it('saves generation parameters, text templates and listed model names', async () => {
    const options = { temperature: 0.3, top_p: 0.9, max_new_tokens: 12, stop: ['\n'], seed: 3, is_messages: false, inst_template: '{instruction} {input}', response_format: { type: 'json_object' } };
    for (const [route, save] of SAVES) {
      for (const model of ['fast', 'alpha', 'sub/beta', undefined]) {
        const response = await save(t, 'mine', { ...options, ...(model ? { model } : {}) });
        expect(response.status, `${route} ${model} ${await response.clone().text()}`).toBe(200);
      }
    }
    expect((await t.akachat.prompts.load('mine')).rawOptions).toEqual(options);
  });

  it('saves back a prompt whose owner-only options are unchanged (the playground sends the whole form), and refuses a changed one', async () => {
    const { options } = await (await fetch(`${t.url}/api/prompts/owned`)).json();
    expect((await put(`${t.url}/api/prompts/owned`, { instruction: 'You are Aka!', options: { ...options, temperature: 0.2 } })).status).toBe(200);
    expect((await t.akachat.prompts.load('owned')).rawOptions).toMatchObject({ endpoint: fake.endpoint, api_key: OWNER_KEY, temperature: 0.2 });
    // The same value under its old name is no change either.
    const { provider, ...rest } = options;
    expect((await postJson(`${t.url}/api/prompt/save`, { name: 'owned', instruction: 'x', options: { ...rest, location: provider } })).status).toBe(200);
    for (const change of [{ endpoint: 'http://127.0.0.1:9/v1' }, { model: 'gpt-caller' }, { api_key: undefined }, { chat_template: TEMPLATE }]) {
      const response = await put(`${t.url}/api/prompts/owned`, { instruction: 'x', options: { ...options, ...change } });
      expect(response.status, JSON.stringify(change)).toBe(403);
    }
    expect((await t.akachat.prompts.load('owned')).rawOptions).toMatchObject({ endpoint: fake.endpoint, model: 'gpt-owner', api_key: OWNER_KEY });
  });

  it('saves anything when the owner started the server with --allow-settings', async () => {
    for (const [route, save] of SAVES) {
      const response = await save(open, 'caller', { ...OWNER_VALUES, location: undefined });
      expect(response.status, route).toBe(200);
    }
    expect((await open.akachat.prompts.load('caller')).rawOptions).toMatchObject({ model: '/etc/passwd', endpoint: 'http://127.0.0.1:9/v1' });
  });
});

describe('trust: secrets in stored options', () => {
  it('shows a prompt\'s or preset\'s api_key masked and endpoint credentials removed, and a form sending them back keeps the stored ones', async () => {
    const endpoint = `${fake.endpoint}?key=url-secret-0123456789`;
    await t.akachat.prompts.save('keyed', 'You are Aka.', { provider: 'openai', endpoint, model: 'gpt-owner', api_key: OWNER_KEY });
    await t.akachat.presets.set('keyed', { provider: 'openai', endpoint, model: 'gpt-owner', api_key: OWNER_KEY });
    const shown = [
      JSON.stringify(await (await fetch(`${t.url}/api/prompts/keyed`)).json()),
      JSON.stringify(await (await fetch(`${t.url}/api/presets/keyed`)).json()),
      JSON.stringify(await (await fetch(`${t.url}/api/presets`)).json()),
    ];
    for (const text of shown) {
      expect(text).not.toContain(OWNER_KEY);
      expect(text).not.toContain('url-secret');
      expect(text).toContain('****6789');
    }
    const { options } = await (await fetch(`${t.url}/api/prompts/keyed`)).json();
    expect((await put(`${t.url}/api/prompts/keyed`, { instruction: 'Hi', options: { ...options, temperature: 0.1 } })).status).toBe(200);
    expect((await t.akachat.prompts.load('keyed')).rawOptions).toMatchObject({ endpoint, api_key: OWNER_KEY, temperature: 0.1 });
    const run = await postJson(`${t.url}/api/prompt/run`, { name: 'keyed', instruction: 'Hi', input: 'masked', options });
    expect(run.status).toBe(200);
    expect(fake.requests.at(-1)!.authorization).toBe(`Bearer ${OWNER_KEY}`);
    const preset = (await (await fetch(`${t.url}/api/presets/keyed`)).json()).options;
    expect((await put(`${t.url}/api/presets/keyed`, { options: { ...preset, temperature: 0.2 } })).status).toBe(200);
    expect(await t.akachat.presets.get('keyed')).toMatchObject({ endpoint, api_key: OWNER_KEY, temperature: 0.2 });
  });
});

describe('trust: presets over HTTP', () => {
  it('refuses owner-only preset options, keeps a preset sent back unchanged, and saves listed names and parameters', async () => {
    for (const [key, value] of Object.entries({ ...OWNER_VALUES, model: join(modelsDir, 'sub', 'beta.gguf') })) {
      const response = await put(`${t.url}/api/presets/caller`, { options: { [key]: value } });
      const text = await response.text();
      expect(response.status, key).toBe(403);
      expect(text).toContain(`${key} is chosen by the server's owner`);
      expect(text).toContain('models.json');
    }
    expect((await put(`${t.url}/api/presets/caller`, { options: { model: 'hf:evil/repo:Q4_K_M' } })).status).toBe(403);
    expect(await t.akachat.presets.has('caller')).toBe(false);
    const { options } = await (await fetch(`${t.url}/api/presets/fast`)).json();
    expect((await put(`${t.url}/api/presets/fast`, { options: { ...options, temperature: 0.7 } })).status).toBe(200);
    expect((await put(`${t.url}/api/presets/warm`, { options: { model: 'fast', temperature: 1.1 } })).status).toBe(200);
    expect(JSON.parse(await readFile(join(t.dataDir, 'models.json'), 'utf8'))).toMatchObject({ fast: { temperature: 0.7 }, warm: { model: 'fast' } });
    expect((await put(`${open.url}/api/presets/caller`, { options: { model: '/etc/passwd' } })).status).toBe(200);
  });
});

describe('trust: running an unsaved prompt over HTTP', () => {
  it('refuses owner-only options that differ from the stored prompt of that name, before anything runs', async () => {
    const before = fake.requests.length;
    const stored = (await t.akachat.prompts.load('owned')).rawOptions;
    for (const [key, value] of Object.entries(OWNER_VALUES)) {
      for (const name of [undefined, 'owned']) {
        // Against the stored prompt: its options with one owner-only change (the stored provider is openai).
        const options = name ? { ...stored, [key]: key === 'provider' ? 'local' : key === 'location' ? 'Local' : value } : { [key]: value };
        if (name && key === 'location') delete options.provider;
        const response = await postJson(`${t.url}/api/prompt/run`, { name, instruction: 'Hi', input: 'x', options, stream: true });
        expect(response.status, `${name} ${key}`).toBe(403);
        expect(await response.text()).toContain(`${key} is chosen by the server's owner`);
      }
    }
    expect(acquired).toEqual([]);
    expect(fake.requests.length).toBe(before);
  });

  it('runs a saved prompt\'s own options (the playground\'s draft of it) and listed model names', async () => {
    const { options } = await (await fetch(`${t.url}/api/prompts/owned`)).json();
    const response = await postJson(`${t.url}/api/prompt/run`, { name: 'owned', instruction: 'You are Aka.', input: 'hello', options: { ...options, temperature: 0.4 } });
    expect(response.status).toBe(200);
    expect((await response.json()).result).toBe('echo: hello');
    expect(fake.requests.at(-1)!.body).toMatchObject({ model: 'gpt-owner', temperature: 0.4 });
    expect((await postJson(`${t.url}/api/prompt/run`, { instruction: 'Hi', options: { model: 'fast' } })).status).toBe(503);
    expect(acquired).toEqual([join(modelsDir, 'sub', 'beta.gguf')]);
  });

  it('runs a listed model name saved as a prompt\'s model (a models-folder file or the default model by name), as a request\'s model would', async () => {
    for (const [model, file] of [['sub/beta', join(modelsDir, 'sub', 'beta.gguf')], ['alpha', join(modelsDir, 'alpha.gguf')]]) {
      expect((await put(`${t.url}/api/prompts/listed`, { instruction: 'Hi', options: { model } })).status).toBe(200);
      expect((await postJson(`${t.url}/api/prompt/infer`, { name: 'listed', input: 'x' })).status).toBe(503);
      expect((await postJson(`${t.url}/api/prompt/run`, { name: 'listed', instruction: 'Hi', options: { model } })).status).toBe(503);
      expect(acquired.splice(0)).toEqual([file, file]);
    }
    // A preset, saved as the model or picked per request, runs with its own model file.
    const preset = join(modelsDir, 'sub', 'beta.gguf');
    expect((await put(`${t.url}/api/prompts/listed`, { instruction: 'Hi', options: { model: 'fast' } })).status).toBe(200);
    await postJson(`${t.url}/api/prompt/infer`, { name: 'listed', input: 'x' });
    await postJson(`${t.url}/api/prompt/infer`, { name: 'mine', input: 'x', model: 'fast' });
    await postJson(`${t.url}/api/prompt/run`, { instruction: 'Hi', model: 'fast' });
    expect(acquired.splice(0)).toEqual([preset, preset, preset]);
    // A preset that names no model runs the default one (it was run as a file named after the preset).
    await t.akachat.presets.set('warm', { temperature: 1.1 });
    await postJson(`${t.url}/api/prompt/infer`, { name: 'mine', input: 'x', model: 'warm' });
    await postJson(`${t.url}/v1/chat/completions`, { model: 'warm', messages: [{ role: 'user', content: 'x' }] });
    expect(acquired.splice(0)).toEqual([join(modelsDir, 'alpha.gguf'), join(modelsDir, 'alpha.gguf')]);
  });

  it('runs any options when the owner allowed settings', async () => {
    const response = await postJson(`${open.url}/api/prompt/run`, { instruction: 'Hi', options: { model: join(modelsDir, 'alpha.gguf'), dtype: 'Q8_0' } });
    expect(response.status).toBe(503);
    expect(acquired).toEqual([join(modelsDir, 'alpha.gguf')]);
  });
});

describe('trust: an HTTP request downloads an hf: model only with --allow-pull', () => {
  const h = hubServers(Buffer.alloc(4096, 7), { pieces: 1, pieceDelayMs: 0 });
  const chat = (server: TestServer, model: string) => postJson(`${server.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }] });
  beforeAll(async () => {
    for (const server of [h.locked, h.pulls]) {
      await server.akachat.presets.set('file', { model: 'hf:acme/stories/stories260K.gguf' });
      await server.akachat.presets.set('quant', { model: 'hf:acme/stories:260K' });
      await server.akachat.prompts.save('hub', 'Hi', { model: 'hf:acme/stories/stories260K.gguf' });
    }
  });

  it('answers 403 saying how the owner pulls it, and never reaches the hub', async () => {
    const responses = [
      await chat(h.locked, 'file'),
      await chat(h.locked, 'quant'),
      await postJson(`${h.locked.url}/api/chat`, { model: 'file', messages: [{ role: 'user', content: 'hi' }], stream: false }),
      await postJson(`${h.locked.url}/api/prompt/infer`, { name: 'hub', input: 'x' }),
      await postJson(`${h.locked.url}/api/models/load`, { model: 'file' }),
    ];
    for (const response of responses) {
      const text = await response.text();
      expect(response.status, text).toBe(403);
      expect(text).toContain('akachat pull hf:acme/stories');
      expect(text).toContain('--allow-pull');
    }
    expect(h.hub.requests).toEqual([]);
  });

  it('downloads with --allow-pull, and then a server without it runs the cached file (both reference forms)', async () => {
    const response = await chat(h.pulls, 'file');
    expect(response.status).not.toBe(403); // the bytes are no model: the load fails after the download
    expect(h.hub.requests).toContain('/acme/stories/resolve/main/stories260K.gguf');
    expect(existsSync(join(h.cache, 'hf', 'acme', 'stories', 'main', 'stories260K.gguf'))).toBe(true);
    const seen = h.hub.requests.length;
    for (const model of ['file', 'quant']) {
      const cached = await chat(h.locked, model);
      const text = await cached.text();
      expect(cached.status, text).not.toBe(403);
      expect(text).not.toContain('--allow-pull');
    }
    expect(h.hub.requests.length).toBe(seen);
  });
});

describe('trust: RAG chunk sizes from HTTP callers', () => {
  let r: TestServer;
  beforeAll(async () => {
    r = await startServer();
    r.akachat.rag = new Rag({ dataFolder: r.dataDir, embedderFactory: async () => new HashedNgramEmbedder({ dimensions: 8 }) }) as unknown as RagType;
  });
  afterAll(async () => {
    await (r?.akachat.rag as RagType | undefined)?.dispose();
    await r?.close();
  });

  it('refuses a chunk size under 32 characters but 0 (each chunk costs ~1 KB and ~1 ms to ingest: chunk_size 1 on 225k characters took 3 minutes)', async () => {
    const form = new FormData();
    form.set('dir', 'tiny');
    form.set('chunk_size', '1');
    form.set('file', new Blob(['The quick brown fox.']), 'a.txt');
    const responses = [
      await postJson(`${r.url}/api/rag/collections`, { dir: 'tiny', chunk_size: 1 }),
      await postJson(`${r.url}/api/rag/save`, { dir: 'tiny', text: 'The quick brown fox.', name: 'a.txt', chunk_size: 31 }),
      await fetch(`${r.url}/api/rag/save`, { method: 'POST', body: form }),
    ];
    for (const response of responses) {
      const text = await response.text();
      expect(response.status, text).toBe(400);
      expect(text).toContain('chunk_size');
    }
    expect(existsSync(join(r.dataDir, 'rag', 'tiny'))).toBe(false);
    for (const chunk_size of [0, 32, 500]) {
      expect((await postJson(`${r.url}/api/rag/collections`, { dir: `ok${chunk_size}`, chunk_size })).status).toBe(200);
    }
  });
});
