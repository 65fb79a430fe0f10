import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, startServer, type TestServer } from './helpers.js';

/** These routes need no model: they run without AKACHAT_TEST_MODELS. */
describe('management routes and a server without a model', () => {
  let t: TestServer;
  const put = (path: string, body: unknown) => fetch(`${t.url}${path}`, { method: 'PUT', body: JSON.stringify(body) });
  const del = (path: string) => fetch(`${t.url}${path}`, { method: 'DELETE' });
  const json = async (response: Response | Promise<Response>) => (await response).json() as Promise<Record<string, any>>;

  beforeAll(async () => {
    // The settings cases write API keys: only a server whose owner allowed every setting takes them.
    t = await startServer({ serve: { allowSettings: true } });
  });
  afterAll(async () => t?.close());

  it('saves, lists, loads and deletes prompts (names with sub-folders)', async () => {
    expect((await put('/api/prompts/chara/tama', { instruction: 'You are Tama.', options: { max_new_tokens: 64, 未知: 'kept' } })).status).toBe(200);
    expect(await json(postJson(`${t.url}/api/prompts`, { name: 'other', instruction: 'Hi' }))).toEqual({ ok: true, name: 'other' });
    expect((await json(fetch(`${t.url}/api/prompts`))).prompts).toEqual(['chara/tama', 'other']);
    expect(await json(fetch(`${t.url}/api/prompts/chara/tama`))).toEqual({ name: 'chara/tama', instruction: 'You are Tama.', options: { max_new_tokens: 64, 未知: 'kept' } });
    expect((await del('/api/prompts/chara/tama')).status).toBe(200);
    const gone = await fetch(`${t.url}/api/prompts/chara/tama`);
    expect(gone.status).toBe(404);
    expect((await gone.json() as { message: string }).message).toContain('"chara/tama" not found');
  });

  it('refuses path-traversal names with 400', async () => {
    const attempts: Array<[string, Promise<Response>]> = [
      ['save ../', postJson(`${t.url}/api/prompt/save`, { name: '../../outside', instruction: 'x' })],
      ['save absolute', postJson(`${t.url}/api/llm/save`, { name: '/etc/passwd', instruction: 'x' })],
      ['load encoded ../', fetch(`${t.url}/api/prompts/..%2F..%2Fetc%2Fpasswd`)],
      ['var with /', put('/api/vars/..%2Fescape', { value: 'x' })],
      ['run ../', postJson(`${t.url}/api/prompt/infer`, { name: '../secret', input: '' })],
      ['NUL', postJson(`${t.url}/api/prompts`, { name: 'a\u0000b', instruction: 'x' })],
    ];
    for (const [what, request] of attempts) {
      const response = await request;
      expect(response.status, what).toBe(400);
      const body = await response.json() as { status: number; message: string };
      expect(body.status, what).toBe(400);
      expect(body.message, what).toMatch(/Expected a safe|Expected a .* name/);
    }
  });

  it('sets, reads, lists and deletes vars', async () => {
    expect((await put('/api/vars/name', { value: 'Lily' })).status).toBe(200);
    expect(await json(fetch(`${t.url}/api/vars/name`))).toEqual({ key: 'name', value: 'Lily' });
    expect((await json(fetch(`${t.url}/api/vars`))).vars).toEqual([{ key: 'name', value: 'Lily' }]);
    expect((await put('/api/vars/name', { value: 3 })).status).toBe(400);
    expect((await del('/api/vars/name')).status).toBe(200);
    expect((await fetch(`${t.url}/api/vars/name`)).status).toBe(404);
  });

  it('appends, reads, replaces and clears messages (JSON and raw JSONL)', async () => {
    await postJson(`${t.url}/api/messages`, { role: 'user', content: 'こんにちは' });
    await postJson(`${t.url}/api/messages`, { messages: [{ role: 'assistant', content: 'やあ' }, { role: 'user', content: '元気?' }] });
    expect((await json(fetch(`${t.url}/api/messages`))).count).toBe(3);
    expect((await json(fetch(`${t.url}/api/messages?limit=1`))).messages).toEqual([{ role: 'user', content: '元気?' }]);
    expect((await fetch(`${t.url}/api/messages?limit=-1`)).status).toBe(400);
    const jsonl = await (await fetch(`${t.url}/api/messages/jsonl`)).text();
    expect(jsonl.split('\n').filter(Boolean)).toHaveLength(3);
    const bad = await fetch(`${t.url}/api/messages/jsonl`, { method: 'PUT', body: '{"role":"user","content":"ok"}\nnot json\n' });
    expect(bad.status).toBe(400);
    expect((await bad.json() as { message: string }).message).toMatch(/line 2/);
    expect((await put('/api/messages', { messages: [{ role: 'user', content: 'only' }] })).status).toBe(200);
    expect((await json(fetch(`${t.url}/api/messages`))).messages).toEqual([{ role: 'user', content: 'only' }]);
    expect((await put('/api/messages', { messages: [{ role: 'robot', content: 'x' }] })).status).toBe(400);
    await del('/api/messages');
    expect((await json(fetch(`${t.url}/api/messages`))).count).toBe(0);
  });

  it('never returns secrets unmasked, and does not store a masked value sent back', async () => {
    const secret = 'sk-test-1234567890abcdefghijkl';
    const changed = await json(put('/api/settings', { openai_key: secret, is_test: true }));
    expect(changed.settings).toEqual({ openai_key: '****ijkl', is_test: true });
    expect(JSON.stringify(await json(fetch(`${t.url}/api/settings`)))).not.toContain(secret);
    await put('/api/settings', { openai_key: '****ijkl', is_test: false });
    const stored = JSON.parse(await readFile(join(t.dataDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(stored).toEqual({ openai_key: secret, is_test: false });
    expect((await put('/api/settings', { is_test: 'yes' })).status).toBe(400);
  });

  it('masks every setting but the known public ones, whatever the secret is called', async () => {
    const secrets = {
      api_key_1: 'sk-first-secret-0123456789-k1k1', openai_key_backup: 'sk-backup-secret-0123456789-bkbk',
      credentials: 'user:hunter2', auth: 'Bearer auth-secret-0123456789-auth', pass: 'hunter2pass',
    };
    await put('/api/settings', { ...secrets, default_model: 'models/tiny.gguf', nested: { token: 'nested-secret-0123456789-nnnn' } });
    const { settings } = await json(fetch(`${t.url}/api/settings`));
    expect(settings).toMatchObject({
      api_key_1: '****k1k1', openai_key_backup: '****bkbk', credentials: '****', auth: '****auth', pass: '****',
      default_model: 'models/tiny.gguf', nested: { token: '****nnnn' },
    });
    const shown = JSON.stringify(settings);
    for (const secret of [...Object.values(secrets), 'secret-0123456789']) expect(shown).not.toContain(secret);
    // Saving the masked form back keeps every secret as it was.
    await put('/api/settings', settings);
    const stored = JSON.parse(await readFile(join(t.dataDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(stored).toMatchObject({ ...secrets, nested: { token: 'nested-secret-0123456789-nnnn' } });
    await put('/api/settings', Object.fromEntries(Object.keys({ ...secrets, default_model: 0, nested: 0 }).map((key) => [key, null])));
  });

  it('manages presets', async () => {
    expect((await put('/api/presets/fast', { options: { model: 'hf:owner/repo:Q4_K_M', temperature: 0.5 } })).status).toBe(200);
    expect(await json(fetch(`${t.url}/api/presets`))).toEqual({ presets: [{ name: 'fast', options: { model: 'hf:owner/repo:Q4_K_M', temperature: 0.5 } }] });
    expect((await put('/api/presets/bad', { options: { temperature: 'x' } })).status).toBe(400);
    expect((await del('/api/presets/fast')).status).toBe(200);
    expect((await fetch(`${t.url}/api/presets/fast`)).status).toBe(404);
  });

  it('answers the RAG routes with 501 while RAG is not set up', async () => {
    for (const response of [
      await postJson(`${t.url}/api/rag/search`, { dir: 'docs', query: 'x' }),
      await postJson(`${t.url}/api/rag/save`, { dir: 'docs', text: 'hello' }),
      await fetch(`${t.url}/api/rag/collections`),
    ]) {
      expect(response.status).toBe(501);
      expect((await response.json() as { message: string }).message).toMatch(/RAG is not set up/);
    }
    expect((await postJson(`${t.url}/api/rag/search`, { query: 'x' })).status).toBe(400);
  });

  it('says how to set a model where one is needed (503), and keeps serving the rest', async () => {
    const chat = await postJson(`${t.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }] });
    expect(chat.status).toBe(503);
    const error = (await chat.json() as { error: { message: string; type: string } }).error;
    expect(error.message).toMatch(/--model/);
    expect(error.message).toMatch(/AKACHAT_MODEL/);
    expect(error.type).toBe('unavailable_error');
    const ollama = await postJson(`${t.url}/api/chat`, { model: 'llama3', messages: [{ role: 'user', content: 'hi' }] });
    expect(ollama.status).toBe(503);
    expect((await ollama.json() as { error: string }).error).toMatch(/"llama3" is not a name this server lists.*--model/);
    for (const [path, body] of [['/v1/embeddings', { input: 'x' }], ['/tokenize', { content: 'x' }], ['/completion', { prompt: 'x' }]] as const) {
      expect((await postJson(`${t.url}${path}`, body)).status, path).toBe(503);
    }
    await t.akachat.prompts.save('modelless', 'Hello', {});
    const infer = await postJson(`${t.url}/api/prompt/infer`, { name: 'modelless' });
    expect(infer.status).toBe(503);
    expect((await infer.json() as { message: string }).message).toMatch(/--model/);
    expect(await json(fetch(`${t.url}/health`))).toEqual({ status: 'ok' });
    expect(await json(fetch(`${t.url}/api/health`))).toMatchObject({ status: 'ok', model: 'none', default_model: null });
    // Only saved prompts are listed: no default model.
    expect((await json(fetch(`${t.url}/v1/models`))).data.map((m: { id: string }) => m.id)).toEqual(await t.akachat.prompts.list());
  });

  it('answers unknown routes and wrong methods clearly', async () => {
    const unknown = await fetch(`${t.url}/v1/nothing-here`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json() as { error: { message: string } }).error.message).toMatch(/No route for GET \/v1\/nothing-here/);
    const wrongMethod = await fetch(`${t.url}/api/prompt/infer`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    const notJson = await fetch(`${t.url}/api/prompt/infer`, { method: 'POST', body: '{"name":' });
    expect(notJson.status).toBe(400);
    expect((await notJson.json() as { message: string }).message).toMatch(/invalid JSON/);
  });
});
