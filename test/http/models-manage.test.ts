/**
 * The settings tab's routes: listed models loaded and unloaded by name (never a path), the
 * default model among listed files, hf: pulls only with the owner's --allow-pull (progress as
 * SSE, from a local fake hub), and settings an HTTP caller may change (is_test only, unless the
 * owner started the server with --allow-settings).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServeArgs } from '../../src/cli.js';
import { parseSse } from '../../src/http/sse.js';
import { hubServers, postJson, startServer, stories, type TestServer } from './helpers.js';

const put = (url: string, body: unknown) => fetch(url, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
const json = async (response: Response | Promise<Response>) => (await response).json() as Promise<Record<string, any>>;

describe('serve --allow-pull and --allow-settings', () => {
  it('are off unless given as flags or in the environment', () => {
    expect(parseServeArgs([], {})).not.toHaveProperty('allowPull');
    expect(parseServeArgs([], {})).not.toHaveProperty('allowSettings');
    expect(parseServeArgs(['--allow-pull', '--allow-settings'], {})).toMatchObject({ allowPull: true, allowSettings: true });
    expect(parseServeArgs([], { AKACHAT_ALLOW_PULL: '1', AKACHAT_ALLOW_SETTINGS: '1' })).toMatchObject({ allowPull: true, allowSettings: true });
    expect(parseServeArgs([], { AKACHAT_ALLOW_PULL: 'yes please' })).not.toHaveProperty('allowPull');
  });
});

describe('settings an HTTP caller may change', () => {
  let t: TestServer;
  let open: TestServer;
  beforeAll(async () => {
    t = await startServer();
    open = await startServer({ serve: { allowSettings: true } });
  });
  afterAll(async () => {
    await t?.close();
    await open?.close();
  });

  it('changes is_test, and refuses API keys, folders and any other key with 403 saying how the owner sets them', async () => {
    expect(await json(put(`${t.url}/api/settings`, { is_test: true }))).toEqual({ settings: { is_test: true } });
    for (const body of [{ openai_key: 'sk-caller-0123456789abcdefgh' }, { hf_token: 'hf_x' }, { models_dir: '/tmp' }, { endpoint: 'http://127.0.0.1:9/v1' }, { is_test: false, openai_key: 'x' }]) {
      const response = await put(`${t.url}/api/settings`, body);
      expect(response.status, JSON.stringify(body)).toBe(403);
      const { message } = await response.json();
      expect(message).toMatch(/is chosen by the server's owner: edit config.json in the data folder/);
      expect(message).toContain('--allow-settings');
    }
    expect((await json(put(`${t.url}/api/settings`, { openai_key: 'x' }))).message).toContain('OPENAI_API_KEY');
    // Nothing of the refused bodies was written, not even their is_test.
    expect(JSON.parse(await readFile(join(t.dataDir, 'config.json'), 'utf8'))).toEqual({ is_test: true });
  });

  it('lets a form send back what it was shown (masks and unchanged owner settings) with a change of is_test', async () => {
    await t.akachat.settings.update({ openai_key: 'sk-owner-0123456789abcdefgh', default_model: 'x.gguf' });
    const { settings } = await json(fetch(`${t.url}/api/settings`));
    expect(settings.openai_key).toBe('****efgh');
    const response = await put(`${t.url}/api/settings`, { ...settings, is_test: false });
    expect(response.status).toBe(200);
    expect(JSON.parse(await readFile(join(t.dataDir, 'config.json'), 'utf8'))).toEqual({ is_test: false, openai_key: 'sk-owner-0123456789abcdefgh', default_model: 'x.gguf' });
  });

  it('changes every setting when the owner allowed it, and says so in the state', async () => {
    expect((await put(`${open.url}/api/settings`, { openai_key: 'sk-caller-0123456789abcdefgh' })).status).toBe(200);
    expect(await open.akachat.settings.openaiKey()).toBe('sk-caller-0123456789abcdefgh');
    expect(await json(fetch(`${open.url}/api/models/state`))).toMatchObject({ allow_settings: true, allow_pull: false, caller_settings: ['is_test'], settings_environment: { openai_key: 'OPENAI_API_KEY' } });
    expect(await json(fetch(`${t.url}/api/models/state`))).toMatchObject({ allow_settings: false });
  });
});

describe('hf: pulls', () => {
  const h = hubServers(stories ?? Buffer.alloc(300_000, 7));

  it('refuses a pull with 403 naming the CLI command, and downloads nothing', async () => {
    const response = await postJson(`${h.locked.url}/api/models/pull`, { model: 'hf:acme/stories:260K' });
    expect(response.status).toBe(403);
    expect((await response.json()).message).toMatch(/Downloads are chosen by the server's owner: run `akachat pull hf:acme\/stories:260K` .*--allow-pull/);
    expect(h.hub.requests).toEqual([]);
  });

  it('with --allow-pull, streams progress, then lists the model as a preset by its file name', async () => {
    const response = await postJson(`${h.pulls.url}/api/models/pull`, { model: 'hf:acme/stories:260K' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    // A second pull while this one runs is refused.
    const second = await postJson(`${h.pulls.url}/api/models/pull`, { model: 'hf:acme/stories:260K' });
    expect(second.status).toBe(409);
    const events = parseSse(await response.text()).map((data) => JSON.parse(data));
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toMatchObject({ file: 'stories260K.gguf', downloaded: progress.at(-1).total });
    expect(events.at(-1)).toEqual({ type: 'done', name: 'stories260K' });
    expect(existsSync(join(h.cache, 'hf', 'acme', 'stories', 'main', 'stories260K.gguf'))).toBe(true);
    expect(await h.pulls.akachat.presets.get('stories260K')).toEqual({ model: 'hf:acme/stories/stories260K.gguf' });
    const state = await json(fetch(`${h.pulls.url}/api/models/state`));
    expect(state.models).toContainEqual({ name: 'stories260K', kind: 'preset', loaded: false });
    expect(JSON.stringify(state)).not.toContain(h.cache);
  });

  it('answers errors of a pull as an error event without folders, and refuses what is not an hf: reference', async () => {
    const events = parseSse(await (await postJson(`${h.pulls.url}/api/models/pull`, { model: 'hf:acme/missing:Q4_K_M' })).text()).map((data) => JSON.parse(data));
    expect(events).toEqual([{ type: 'error', message: expect.stringMatching(/acme\/missing not found/) }]);
    for (const model of ['/etc/passwd', 'stories260K', 'hf:../x:Q4', 42]) {
      expect((await postJson(`${h.pulls.url}/api/models/pull`, { model })).status, String(model)).toBe(400);
    }
  });
});

describe.skipIf(!stories)('loaded models by listed name', () => {
  let t: TestServer;
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'akachat-models-dir-'));
    await copyFile(stories!, join(folder, 'other.gguf'));
    t = await startServer({ model: stories });
    t.akachat.modelsDir = folder;
  });
  afterAll(async () => {
    await t?.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('loads and unloads a listed model, and shows names, never paths', async () => {
    const before = await json(fetch(`${t.url}/api/models/state`));
    expect(before).toMatchObject({ default_model: 'stories260K', loaded: [], models_dir: { name: basename(folder), count: 1 } });
    expect(before.models).toEqual([
      { name: 'stories260K', kind: 'model', size: expect.any(Number), loaded: false },
      { name: 'other', kind: 'model', size: expect.any(Number), loaded: false },
    ]);
    const loaded = await json(postJson(`${t.url}/api/models/load`, { model: 'other' }));
    expect(loaded.loaded).toEqual(['other']);
    expect(t.akachat.models.loaded).toEqual([join(folder, 'other.gguf')]);
    expect(JSON.stringify(loaded)).not.toContain(folder);
    const unloaded = await json(postJson(`${t.url}/api/models/unload`, { model: 'other' }));
    expect(unloaded.loaded).toEqual([]);
    expect(t.akachat.models.loaded).toEqual([]);
  });

  it('refuses paths, hf: references and unknown names before anything loads', async () => {
    for (const model of [stories, join(folder, 'other.gguf'), '../other', 'hf:acme/stories:260K', 'nope', '']) {
      const response = await postJson(`${t.url}/api/models/load`, { model });
      expect(response.status, model).toBe(400);
      expect((await response.json()).message).toContain('Expected a model name listed by GET /api/models/state');
    }
    expect((await postJson(`${t.url}/api/models/unload`, { model: 'other' })).status).toBe(400);
    expect(t.akachat.models.loaded).toEqual([]);
  });

  it('makes a listed file the default model, loaded', async () => {
    const state = await json(put(`${t.url}/api/models/default`, { model: 'other' }));
    expect(state).toMatchObject({ default_model: 'other', loaded: ['other'] });
    expect(t.akachat.defaultModel).toBe(join(folder, 'other.gguf'));
    expect((await put(`${t.url}/api/models/default`, { model: stories })).status).toBe(400);
    const completion = await json(postJson(`${t.url}/completion`, { prompt: 'Once upon', n_predict: 2 }));
    expect(completion.model, JSON.stringify(completion)).toBe('other');
    expect((await json(fetch(`${t.url}/api/health`))).default_model).toBe('other');
    await put(`${t.url}/api/models/default`, { model: 'stories260K' });
    expect(t.akachat.defaultModel).toBe(stories);
  });
});
