import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Akachat } from '../../src/akachat.js';
import { RemoteError } from '../../src/errors.js';
import { OpenAiLlm } from '../../src/llm/openai.js';
import { DEFAULT_GENERATION_SETTINGS } from '../../src/prompt/options.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';

let fake: FakeOpenAi;
let endpoint: string;

beforeAll(async () => {
  fake = await startFakeOpenAi();
  endpoint = fake.endpoint;
});
afterAll(() => fake.close());

describe('openai location', () => {
  it('runs a saved prompt in messages mode, mapping every sampling option; the key is the one configured with the endpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'akachat-openai-'));
    const aka = new Akachat({ dataDir: dir });
    await aka.settings.set('openai_key', 'sk-test-123');
    await aka.prompts.save('remote', 'Be brief.', {
      provider: 'openai', endpoint, api_key: 'sk-endpoint-key', model: 'gpt-test', temperature: 0.3, top_p: 0.7, max_new_tokens: 33, stop: ['END'], seed: 5,
    });
    const stream = (await aka.prompt('remote')).stream('hello there');
    const chunks: string[] = [];
    for await (const c of stream) chunks.push(c);
    const result = await stream.result;
    expect(chunks.length).toBeGreaterThan(1);
    expect(result.text).toBe('echo: hello there');
    expect(result.usage).toEqual({ promptTokens: 11, completionTokens: 3 });
    expect(result.provider).toBe('openai');
    const sent = fake.requests.at(-1)!.body;
    expect(sent).toMatchObject({ model: 'gpt-test', temperature: 0.3, top_p: 0.7, max_tokens: 33, stop: ['END'], seed: 5, stream: true });
    expect(sent.messages).toEqual([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello there' }]);
    // The key written beside the endpoint goes there; the settings' OpenAI key never leaves for another host.
    expect(fake.requests.at(-1)!.authorization).toBe('Bearer sk-endpoint-key');
    await aka.prompts.save('keyless', 'Be brief.', { provider: 'openai', endpoint, model: 'gpt-test' });
    await (await aka.prompt('keyless')).run('hi');
    expect(fake.requests.at(-1)!.authorization).toBe('Bearer no-key');
    expect(JSON.stringify(fake.requests)).not.toContain('sk-test-123');
    await rm(dir, { recursive: true, force: true });
  });

  it('uses text completions in template mode', async () => {
    const llm = new OpenAiLlm({ apiKey: 'k' });
    const result = await llm.stream({ text: 'Once upon', settings: { ...DEFAULT_GENERATION_SETTINGS, stop: [] }, model: 'm', endpoint }).result;
    expect(result.text).toBe('completed: Once upon');
    expect(result.stopReason).toBe('maxTokens');
  });

  it('surfaces the service\'s error message', async () => {
    const llm = new OpenAiLlm({ apiKey: 'k' });
    const err = await llm.stream({ messages: [{ role: 'user', content: 'x' }], settings: { ...DEFAULT_GENERATION_SETTINGS, stop: [] }, model: 'broken', endpoint }).result.catch((e) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toMatch(/answered 400: .*model broken does not exist/);
    expect(err.status).toBe(400);
  });

  it('refuses a GBNF grammar instead of dropping it', async () => {
    const llm = new OpenAiLlm({ apiKey: 'k' });
    const before = fake.requests.length;
    await expect(llm.stream({ messages: [{ role: 'user', content: 'x' }], settings: { ...DEFAULT_GENERATION_SETTINGS, grammar: 'root ::= "a"' }, model: 'm', endpoint }).result)
      .rejects.toThrow(/GBNF grammar constrains local models only/);
    expect(fake.requests.length).toBe(before);
  });

  it('times out', async () => {
    const llm = new OpenAiLlm({ apiKey: 'k', timeoutMs: 300, maxRetries: 0 });
    await expect(llm.stream({ messages: [{ role: 'user', content: 'x' }], settings: { ...DEFAULT_GENERATION_SETTINGS, stop: [] }, model: 'slow', endpoint }).result)
      .rejects.toThrow(/timed out|timeout/i);
  });
});
