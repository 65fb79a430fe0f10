import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSse } from '../../src/http/sse.js';
import { postJson, readChunks, startServer, stories, waitFor, type TestServer } from './helpers.js';

describe.skipIf(!stories)('OpenAI-compatible routes on stories260K', () => {
  let t: TestServer;
  let client: OpenAI;
  const hello = [{ role: 'system' as const, content: 'You tell short stories.' }, { role: 'user' as const, content: 'Tell me about a cat.' }];

  beforeAll(async () => {
    t = await startServer({ model: stories });
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'any-key-is-fine', maxRetries: 0 });
  });
  afterAll(async () => t?.close());

  it('answers a non-streaming chat completion with usage and echoes the model name', async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hello, max_tokens: 8, temperature: 0 });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('gpt-4o-mini');
    expect(completion.id).toMatch(/^chatcmpl-/);
    const choice = completion.choices[0];
    expect(choice.message.role).toBe('assistant');
    expect(choice.message.content!.length).toBeGreaterThan(0);
    expect(choice.finish_reason).toBe('length');
    expect(completion.usage!.completion_tokens).toBe(8);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + 8);
    expect(completion.system_fingerprint).toMatch(/^akachat-\d+\.\d+\.\d+\S*-[0-9a-f]{8}$/);
  });

  it('streams the same text as the non-streaming answer, role first, finish_reason last, no usage unless asked', async () => {
    const request = { model: 'stories260K', messages: hello, max_tokens: 10, temperature: 0 };
    const whole = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({ ...request, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    // As OpenAI and llama-server: the first chunk carries the role alone, no text yet.
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.slice(1).every((chunk) => chunk.choices[0].delta.role === undefined)).toBe(true);
    expect(chunks[1].choices[0].delta.content!.length).toBeGreaterThan(0);
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.choices.length === 1)).toBe(true);
    expect(chunks.every((chunk) => chunk.system_fingerprint === whole.system_fingerprint)).toBe(true);
    expect(chunks.some((chunk) => 'usage' in chunk)).toBe(false);
    const last = chunks.at(-1)!;
    expect(last.choices[0].delta).toEqual({});
    expect(last.choices[0].finish_reason).toBe('length');
    expect(chunks.map((chunk) => chunk.choices[0].delta.content ?? '').join('')).toBe(whole.choices[0].message.content);
  });

  it('sends a usage chunk with empty choices only with stream_options.include_usage', async () => {
    const stream = await client.chat.completions.create({ model: 'default', messages: hello, max_tokens: 4, temperature: 0, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const usage = chunks.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage!.completion_tokens).toBe(4);
    expect(chunks.at(-2)!.choices[0].finish_reason).toBe('length');
  });

  it('frames every SSE event as one "data: ...\\n\\n" unit and ends with [DONE]', async () => {
    const response = await postJson(`${t.url}/v1/chat/completions`, { messages: hello, max_tokens: 12, temperature: 0, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    const chunks = await readChunks(response);
    // Each network read holds whole events only (never a split one, never a comment or event: line).
    const payloads = chunks.flatMap((chunk) => parseSse(chunk));
    expect(payloads.at(-1)).toBe('[DONE]');
    expect(payloads.length).toBeGreaterThanOrEqual(3);
    for (const payload of payloads.slice(0, -1)) expect(JSON.parse(payload).object).toBe('chat.completion.chunk');
  });

  it('stops generating when the client aborts mid-stream', async () => {
    const before = t.reports.length;
    const stream = await client.chat.completions.create({ model: 'default', messages: hello, max_tokens: 1500, temperature: 0.8, stream: true });
    let received = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) received++;
      if (received === 2) {
        stream.controller.abort();
        break;
      }
    }
    await waitFor(() => t.reports.length > before, 10_000, 'the aborted generation to end');
    const report = t.reports[before];
    expect(report.outcome).toBe('aborted');
    // The next request is served at once, not after the aborted one's 1500 tokens.
    const started = performance.now();
    const next = await client.chat.completions.create({ model: 'default', messages: hello, max_tokens: 2 });
    expect(next.usage!.completion_tokens).toBeLessThanOrEqual(2);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('takes tools (the chat template renders them; see tools.test.ts) and names a bad tool in a 400', async () => {
    const wave = { type: 'function' as const, function: { name: 'wave', parameters: { type: 'object', properties: {} } } };
    const completion = await client.chat.completions.create({ model: 'my-avatar', messages: hello, tools: [wave], max_tokens: 3, temperature: 0 });
    expect(completion.choices[0].finish_reason).toBe('length');
    const error = await client.chat.completions.create({ model: 'my-avatar', messages: hello, tools: [{ ...wave, function: { name: '' } }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as Error).message).toContain('tools[0].function.name');
  });

  it('names the bad field in a 400 OpenAI error body', async () => {
    const response = await postJson(`${t.url}/v1/chat/completions`, { messages: [], temperature: 'hot' });
    expect(response.status).toBe(400);
    const body = await response.json() as { error: { message: string; type: string; code: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/for messages/);
    expect(body.error.code).toBe('invalid_argument');
  });

  it('answers chat completions under /chat/completions and any path ending in it', async () => {
    for (const path of ['/chat/completions', '/openai/v1/chat/completions', '/api/v1/chat/completions']) {
      const response = await postJson(`${t.url}${path}`, { messages: hello, max_tokens: 2 });
      expect(response.status, path).toBe(200);
      expect((await response.json() as { object: string }).object).toBe('chat.completion');
    }
  });

  it('lists the default model, saved prompts and presets under /v1/models and /models', async () => {
    await t.akachat.prompts.save('listed-persona', 'You are a cat.', {});
    await t.akachat.presets.set('listed-preset', { model: stories!, max_new_tokens: 3 });
    const list = await client.models.list();
    const ids = list.data.map((model) => model.id);
    expect(ids).toEqual(expect.arrayContaining(['stories260K', 'listed-persona', 'listed-preset']));
    expect(list.data.every((model) => model.object === 'model' && typeof model.created === 'number' && typeof model.owned_by === 'string')).toBe(true);
    const plain = await (await fetch(`${t.url}/models`)).json() as { object: string; data: unknown[] };
    expect(plain.object).toBe('list');
    expect(plain.data.length).toBe(list.data.length);
  });

  it('runs a saved prompt when model names it: its instruction is the persona', async () => {
    await t.akachat.prompts.save('cat-persona', 'You are Tama, a cat who loves fish and naps in the sun every afternoon.', { max_new_tokens: 3, temperature: 0 });
    const plain = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 3 });
    const persona = await client.chat.completions.create({ model: 'cat-persona', messages: [{ role: 'user', content: 'Hello' }] });
    expect(persona.model).toBe('cat-persona');
    expect(persona.usage!.completion_tokens).toBe(3); // the prompt's own max_new_tokens
    expect(persona.usage!.prompt_tokens).toBeGreaterThan(plain.usage!.prompt_tokens + 10);
    expect(t.reports.at(-1)!.model).toBe('cat-persona');
  });

  it('applies a preset named as model', async () => {
    await t.akachat.presets.set('three-tokens', { model: stories!, max_new_tokens: 3 });
    const completion = await client.chat.completions.create({ model: 'three-tokens', messages: hello });
    expect(completion.usage!.completion_tokens).toBe(3);
  });

  it('completes text on /v1/completions, streaming and not', async () => {
    const whole = await client.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 6, temperature: 0 });
    expect(whole.object).toBe('text_completion');
    expect(whole.choices[0].finish_reason).toBe('length');
    const stream = await client.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 6, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(whole.choices[0].text);
  });

  it('embeds text on /v1/embeddings (the SDK asks for base64; float works too)', async () => {
    const viaSdk = await client.embeddings.create({ model: 'whatever', input: ['a cat', 'a dog'] });
    expect(viaSdk.data).toHaveLength(2);
    expect(viaSdk.data[0].embedding).toHaveLength(64);
    const response = await postJson(`${t.url}/v1/embeddings`, { input: 'a cat', encoding_format: 'float' });
    const float = await response.json() as { data: Array<{ embedding: number[] }>; usage: { prompt_tokens: number } };
    expect(float.data[0].embedding).toHaveLength(64);
    expect(float.usage.prompt_tokens).toBeGreaterThan(0);
    float.data[0].embedding.forEach((value, i) => expect(value).toBeCloseTo(viaSdk.data[0].embedding[i], 5));
  });

  it('answers /completions and /embeddings without /v1 as their /v1 versions', async () => {
    const bare = new OpenAI({ baseURL: t.url, apiKey: 'any-key-is-fine', maxRetries: 0 });
    const request = { model: 'stories260K', prompt: 'Once upon a time', max_tokens: 6, temperature: 0 };
    const completion = await bare.completions.create(request);
    expect(completion.choices[0].text).toBe((await client.completions.create(request)).choices[0].text);
    expect(completion.system_fingerprint).toMatch(/^akachat-/);
    const embedding = await bare.embeddings.create({ model: 'whatever', input: 'a cat' });
    expect(embedding.data[0].embedding).toEqual((await client.embeddings.create({ model: 'whatever', input: 'a cat' })).data[0].embedding);
  });
});
