/** `serve --seed --temp -n ...`: server-wide sampling defaults and where they sit among the others. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNLIMITED_TOKENS, withServerDefaults } from '../../src/run/runner.js';
import { postJson, startServer, stories, type TestServer } from './helpers.js';

describe('withServerDefaults', () => {
  it('fills only the fields the options leave unset (max_new_tokens 0 counts as unset)', () => {
    const defaults = { seed: 1, temperature: 0.2, topK: 3, maxTokens: 9 };
    expect(withServerDefaults({ extra: {}, temperature: 0.7, maxNewTokens: 0 }, defaults)).toMatchObject({ seed: 1, temperature: 0.7, topK: 3, maxNewTokens: 9 });
    expect(withServerDefaults({ extra: {}, seed: -1, maxNewTokens: 4 }, defaults)).toMatchObject({ seed: -1, maxNewTokens: 4 });
  });

  it('gives -n -1 to local models only: a remote service is never asked for unlimited tokens', () => {
    expect(withServerDefaults({ extra: {} }, { maxTokens: -1 }).maxNewTokens).toBe(UNLIMITED_TOKENS);
    expect(withServerDefaults({ extra: {}, provider: 'openai' }, { maxTokens: -1 }).maxNewTokens).toBeUndefined();
  });
});

interface CompletionBody {
  tokens_predicted: number;
  tokens_evaluated: number;
  truncated: boolean;
  generation_settings: Record<string, unknown>;
}

describe.skipIf(!stories)('server defaults on stories260K', () => {
  let t: TestServer;
  const complete = async (body: Record<string, unknown>) => (await postJson(`${t.url}/completion`, { prompt: 'Once upon a time', ...body })).json() as Promise<CompletionBody>;
  beforeAll(async () => {
    t = await startServer({ model: stories, serve: { defaults: { seed: 11, temperature: 0, topK: 5, maxTokens: 5 } } });
    await t.akachat.presets.set('small-context', { model: stories!, input_tokens: 64, temperature: 0.3 });
  });
  afterAll(async () => t?.close());

  it('applies to a request that names none', async () => {
    const body = await complete({});
    expect(body.tokens_predicted).toBe(5);
    expect(body.generation_settings).toMatchObject({ seed: 11, temperature: 0, top_k: 5, n_predict: 5, top_p: 0.95 });
  });

  it('loses to the request\'s own values', async () => {
    const body = await complete({ temperature: 0.5, n_predict: 3, seed: 2 });
    expect(body.tokens_predicted).toBe(3);
    expect(body.generation_settings).toMatchObject({ seed: 2, temperature: 0.5, top_k: 5, n_predict: 3 });
  });

  it('loses to a preset\'s options, which lose to the request', async () => {
    expect((await complete({ model: 'small-context' })).generation_settings).toMatchObject({ temperature: 0.3, top_k: 5 });
    expect((await complete({ model: 'small-context', temperature: 0.1 })).generation_settings).toMatchObject({ temperature: 0.1 });
  });

  it('reaches the OpenAI routes too', async () => {
    const response = await postJson(`${t.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'Hi' }] });
    const body = await response.json() as { usage: { completion_tokens: number } };
    expect(body.usage.completion_tokens).toBe(5);
  });
});

describe.skipIf(!stories)('n_predict -1 with a server default limit, on stories260K', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ model: stories, serve: { defaults: { maxTokens: 5 } } });
    // The first context of a fresh server: a small one (the engine allocates 256 at least) fills up quickly.
    await t.akachat.presets.set('small-context', { model: stories!, input_tokens: 64 });
  });
  afterAll(async () => t?.close());

  it('runs past the default limit until the context is full', async () => {
    const body = await (await postJson(`${t.url}/completion`, { model: 'small-context', prompt: 'Once upon a time', n_predict: -1, temperature: 0 })).json() as CompletionBody;
    expect(body.truncated).toBe(true);
    expect(body.tokens_predicted).toBeGreaterThan(5);
    expect(body.tokens_evaluated + body.tokens_predicted).toBeLessThanOrEqual(256);
    expect(body.generation_settings.n_predict).toBe(-1);
  });
});
