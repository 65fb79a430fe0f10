/**
 * The trust rule over HTTP: a request may choose generation parameters and a listed model name,
 * never a path, an endpoint, a key, a template, a context size or a download. Each case below was
 * an attack that worked before (chat_template crashing the process, the stored OpenAI key sent to
 * a caller's endpoint, model paths probed and loaded, hf: downloads started by callers). No model
 * is needed: the model manager is replaced by a recorder, and remote runs go to a fake
 * OpenAI-compatible server that records what reaches it.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OwnerOnlyError } from '../../src/errors.js';
import { HttpError, withoutPaths } from '../../src/http/errors.js';
import { callerOverrides } from '../../src/prompt/options.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { fakeModelsDir, postJson, startServer, type TestServer } from './helpers.js';

const OWNER_KEY = 'sk-owner-secret-0123456789';
const OWNER_ONLY = ['provider', 'location', 'endpoint', 'dtype', 'template', 'inst_template', 'chat_template', 'is_messages', 'input_tokens', 'api_key'];
const PROMPT_ROUTES = ['/api/llm/main', '/api/prompt/infer', '/api/llm/raw', '/api/prompt/stream', '/api/speech/stream'];
const RECURSIVE_TEMPLATE = '{% macro f(n) %}{{ f(n+1) }}{% endmacro %}{{ f(0) }}';

let fake: FakeOpenAi;
let t: TestServer;
let modelsDir: string;
/** Every model reference that reached the model manager. */
const acquired: string[] = [];

beforeAll(async () => {
  fake = await startFakeOpenAi();
  modelsDir = await fakeModelsDir();
  t = await startServer({ model: join(modelsDir, 'alpha.gguf') });
  t.akachat.modelsDir = modelsDir;
  // The model manager records and refuses: what matters is which references reach it.
  t.akachat.models.acquire = async (ref: string) => {
    acquired.push(ref);
    throw new HttpError(503, 'recorded, not loaded', 'stub_model');
  };
  await t.akachat.settings.set('openai_key', OWNER_KEY);
  await t.akachat.prompts.save('remote', 'You are Aka.', { provider: 'openai', endpoint: fake.endpoint, model: 'gpt-owner', max_new_tokens: 8 });
  await t.akachat.prompts.save('nested', '{llm("remote", "hi", endpoint="http://127.0.0.1:9/v1")}', { provider: 'openai', endpoint: fake.endpoint, model: 'gpt-owner' });
  await writeFile(join(t.dataDir, 'models.json'), JSON.stringify({ fast: { model: join(modelsDir, 'sub', 'beta.gguf'), temperature: 0.1 } }));
});
afterAll(async () => {
  await t?.close();
  await fake?.close();
  await rm(modelsDir, { recursive: true, force: true });
});
beforeEach(() => {
  acquired.length = 0;
});

const ownerRefs = () => new Set([join(modelsDir, 'alpha.gguf'), join(modelsDir, 'sub', 'beta.gguf')]);

describe('trust: per-request overrides are generation parameters only', () => {
  it('refuses every owner-only key on every prompt-run route, at the top level and in options, before anything runs', async () => {
    const before = fake.requests.length;
    for (const route of PROMPT_ROUTES) {
      for (const key of OWNER_ONLY) {
        const value = key === 'is_messages' ? true : key === 'input_tokens' ? 999999 : key === 'provider' || key === 'location' ? 'openai' : key === 'dtype' ? 'Q8_0' : RECURSIVE_TEMPLATE;
        for (const body of [{ name: 'remote', input: 'x', [key]: value }, { name: 'remote', input: 'x', options: { [key]: value } }]) {
          const response = await postJson(`${t.url}${route}`, body);
          const text = await response.text();
          expect(response.status, `${route} ${JSON.stringify(body)}`).toBe(403);
          expect(text).toContain(`${key} is chosen by the server's owner`);
        }
      }
    }
    expect(fake.requests.length).toBe(before);
    expect(acquired).toEqual([]);
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
  });

  it('passes generation parameters through, so the prompt still runs where its owner said', async () => {
    const response = await postJson(`${t.url}/api/prompt/infer`, { name: 'remote', input: 'hello', temperature: 0.25, options: { top_p: 0.5, max_new_tokens: 4, presence_penalty: 0.5 } });
    expect(response.status).toBe(200);
    expect((await response.json()).result).toBe('echo: hello');
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.body).toMatchObject({ model: 'gpt-owner', temperature: 0.25, top_p: 0.5, max_tokens: 4, presence_penalty: 0.5 });
    // A chat's penalties and response format reach the service too (they used to be dropped on the way).
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    await postJson(`${t.url}/v1/chat/completions`, { model: 'remote', messages: [{ role: 'user', content: 'x' }], frequency_penalty: 0.3, response_format: { type: 'json_schema', json_schema: { name: 'reply', schema } } });
    expect(fake.requests.at(-1)!.body).toMatchObject({ frequency_penalty: 0.3, response_format: { type: 'json_schema', json_schema: { name: 'reply', schema } } });
  });

  it('never sends the stored OpenAI key to an endpoint other than OpenAI\'s', async () => {
    await postJson(`${t.url}/api/prompt/infer`, { name: 'remote', input: 'hello' });
    expect(fake.requests.length).toBeGreaterThan(0);
    for (const request of fake.requests) expect(request.authorization).not.toContain(OWNER_KEY);
  });

  it('keeps an instruction\'s llm() from changing where the nested prompt runs', async () => {
    const before = fake.requests.length;
    const response = await postJson(`${t.url}/api/prompt/infer`, { name: 'nested', input: 'x' });
    // The instruction's evaluation error (400, naming llm() and its position) carries the refusal.
    expect(response.status).toBe(400);
    expect((await response.json()).message).toMatch(/llm\("remote"\) failed: endpoint is chosen by the server's owner/);
    expect(fake.requests.length).toBe(before);
    const error = await t.akachat.run('nested', 'x').then(() => undefined, (e: Error) => e);
    expect(error?.cause ?? error).toBeInstanceOf(OwnerOnlyError);
  });

  it('bounds stop strings', () => {
    expect(() => callerOverrides({ stop: Array.from({ length: 33 }, (_, i) => `s${i}`) })).toThrow(/at most 32 stop strings/);
    expect(() => callerOverrides({ stop: ['x'.repeat(1001)] })).toThrow(/at most 1000 characters/);
    expect(callerOverrides({ output_tokens: 5, top_k: 3, unknown: 1 })).toEqual({ max_new_tokens: 5, top_k: 3 });
  });
});

describe('trust: a model name selects among listed names, never a path or a download', () => {
  it('shows the public health route models by name and files without their folders', async () => {
    const health = JSON.stringify(await (await fetch(`${t.url}/api/health`)).json());
    expect(health).toContain('"default_model":"alpha"');
    expect(health).not.toContain(modelsDir);
    expect(health).not.toContain(process.cwd());
  });

  it('shows GET /api/models the default and loaded models by name, not their paths', async () => {
    Object.defineProperty(t.akachat.models, 'loaded', { configurable: true, get: () => [join(modelsDir, 'sub', 'beta.gguf')] });
    try {
      const models = await (await fetch(`${t.url}/api/models`)).json();
      expect(models).toMatchObject({ default_model: 'alpha', default_model_id: 'alpha', loaded: ['beta'] });
      expect(JSON.stringify(models)).not.toContain(modelsDir);
    } finally {
      delete (t.akachat.models as { loaded?: unknown }).loaded;
    }
  });

  it('lists the default model, the models folder and presets by name, with no paths', async () => {
    const models = await (await fetch(`${t.url}/v1/models`)).json();
    const ids = models.data.map((m: { id: string }) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['alpha', 'sub/beta', 'fast', 'remote']));
    const tags = JSON.stringify(await (await fetch(`${t.url}/api/tags`)).json());
    expect(tags).not.toContain(modelsDir);
    expect(JSON.stringify(models)).not.toContain(modelsDir);
  });

  it('gives a path, an hf: reference or an unknown name the default model, and tells nothing about the path', async () => {
    for (const model of ['/etc/passwd', join(modelsDir, 'sub', 'beta.gguf'), '../../etc/passwd', 'hf:someone/repo:Q4_K_M', 'gpt-4o-mini']) {
      const response = await postJson(`${t.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }] });
      const text = await response.text();
      expect(response.status).toBe(503); // the recorder's answer: the default model was asked for
      expect(text).not.toMatch(/root:|passwd|exists|ENOENT/);
    }
    expect(new Set(acquired)).toEqual(new Set([join(modelsDir, 'alpha.gguf')]));
  });

  it('runs a models-folder file or a preset by its listed name', async () => {
    await postJson(`${t.url}/v1/chat/completions`, { model: 'sub/beta', messages: [{ role: 'user', content: 'hi' }] });
    await postJson(`${t.url}/api/chat`, { model: 'fast', messages: [{ role: 'user', content: 'hi' }] });
    expect(acquired).toEqual([join(modelsDir, 'sub', 'beta.gguf'), join(modelsDir, 'sub', 'beta.gguf')]);
  });

  it('lets a prompt run pick a listed model, and answers 400 for any other name', async () => {
    await t.akachat.prompts.save('local', 'You are Aka.', { max_new_tokens: 4 });
    await postJson(`${t.url}/api/prompt/infer`, { name: 'local', input: 'x', model: 'sub/beta' });
    expect(acquired).toEqual([join(modelsDir, 'sub', 'beta.gguf')]);
    for (const model of ['/etc/passwd', 'hf:someone/repo:Q4_K_M', 'nope']) {
      const response = await postJson(`${t.url}/api/prompt/infer`, { name: 'local', input: 'x', model });
      expect(response.status).toBe(400);
      expect(await response.text()).toContain('Expected a model name listed by /v1/models');
    }
    expect(acquired).toHaveLength(1);
  });
});

describe('trust: error messages name files by base name only', () => {
  it('strips the folders of existing paths, and leaves route paths and URLs alone', () => {
    const folder = join(modelsDir, 'sub');
    expect(withoutPaths(`Model file not found: ${folder}/missing.gguf (model "x")`)).toBe('Model file not found: missing.gguf (model "x")');
    expect(withoutPaths(`cannot open ${folder}/beta.gguf: bad magic`)).toBe('cannot open beta.gguf: bad magic');
    expect(withoutPaths('No route for POST /v1/chat/completions at http://127.0.0.1:50000/v1')).toBe('No route for POST /v1/chat/completions at http://127.0.0.1:50000/v1');
    expect(withoutPaths(`working in ${process.cwd()}.`)).not.toContain(process.cwd());
  });

  it('answers a failed load of the owner\'s model without its folder', async () => {
    const other = await startServer({ model: join(modelsDir, 'sub', 'missing.gguf') });
    try {
      const response = await postJson(`${other.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }] });
      const text = await response.text();
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(text).toContain('missing.gguf');
      expect(text).not.toContain(modelsDir);
    } finally {
      await other.close();
    }
  });
});

describe('trust: override fuzz', () => {
  it('no body reaches a caller-chosen model, endpoint or key, and none gets a 5xx other than the recorder\'s', async () => {
    const keys = [...OWNER_ONLY, 'model', 'temperature', 'top_p', 'top_k', 'min_p', 'seed', 'stop', 'max_new_tokens', 'output_tokens', 'repetition_penalty', '__proto__', 'constructor', 'options', 'junk'];
    const values = fc.oneof(
      fc.constantFrom('/etc/passwd', '../../x.gguf', 'hf:evil/repo:Q4_K_M', 'http://127.0.0.1:9/v1', RECURSIVE_TEMPLATE, 'openai', 'ollama', 'Q8_0', 'fast', 'sub/beta', 'alpha', ''),
      fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.constantFrom(...keys), fc.string(), { maxKeys: 3 }),
    );
    const body = fc.dictionary(fc.constantFrom(...keys), values, { maxKeys: 5 });
    const routes = [...PROMPT_ROUTES, '/v1/chat/completions', '/api/chat', '/api/generate', '/completion', '/v1/completions', '/v1/messages'];
    const before = fake.requests.length;
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), body, fc.constantFrom('remote', 'local'), async (route, fields, name) => {
        const payload = route.startsWith('/api/') && !['/api/chat', '/api/generate'].includes(route)
          ? { name, input: 'x', ...fields }
          : { messages: [{ role: 'user', content: 'x' }], prompt: 'x', ...(route === '/v1/messages' ? { max_tokens: 4 } : {}), ...fields };
        const response = await postJson(`${t.url}${route}`, payload);
        const text = await response.text();
        sent++;
        if (response.status >= 500) expect(text, `${route} ${JSON.stringify(payload)}`).toMatch(/recorded, not loaded|stub_model/);
      }),
      { numRuns: 400, seed: 20261130 },
    );
    expect(sent).toBe(400);
    for (const ref of acquired) expect(ownerRefs().has(ref), ref).toBe(true);
    for (const request of fake.requests.slice(before)) {
      expect(request.body.model).toBe('gpt-owner');
      expect(request.authorization ?? '').not.toContain(OWNER_KEY);
    }
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
  }, 60_000);
});
