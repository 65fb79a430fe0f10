import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNdjson } from '../../src/http/sse.js';
import { postJson, readChunks, startServer, stories, waitFor, type TestServer } from './helpers.js';

describe.skipIf(!stories)('Ollama-compatible routes on stories260K', () => {
  let t: TestServer;
  let ollama: Ollama;
  const messages = [{ role: 'user', content: 'Tell me about a dog.' }];

  beforeAll(async () => {
    t = await startServer({ model: stories });
    ollama = new Ollama({ host: t.url });
  });
  afterAll(async () => t?.close());

  it('chats without streaming: message, done, done_reason and counts', async () => {
    const response = await ollama.chat({ model: 'stories260K', messages, options: { num_predict: 6, temperature: 0 } });
    expect(response.message.role).toBe('assistant');
    expect(response.message.content.length).toBeGreaterThan(0);
    expect(response.done).toBe(true);
    expect(response.done_reason).toBe('length');
    expect(response.eval_count).toBe(6);
    expect(response.prompt_eval_count).toBeGreaterThan(0);
    expect(response.total_duration).toBeGreaterThan(0);
    // The engine's own prompt and generation times: both measured, and together less than the
    // whole run (which also holds the chat template, tokenizing and hand-offs).
    expect(response.prompt_eval_duration).toBeGreaterThan(0);
    expect(response.eval_duration).toBeGreaterThan(0);
    expect(response.prompt_eval_duration + response.eval_duration).toBeLessThan(response.total_duration);
  });

  it('streams the same text as NDJSON objects and ends with done:true', async () => {
    const whole = await ollama.chat({ model: 'stories260K', messages, options: { num_predict: 8, temperature: 0 } });
    const stream = await ollama.chat({ model: 'stories260K', messages, stream: true, options: { num_predict: 8, temperature: 0 } });
    const parts = [];
    for await (const part of stream) parts.push(part);
    expect(parts.at(-1)!.done).toBe(true);
    expect(parts.slice(0, -1).every((part) => part.done === false && part.message.role === 'assistant')).toBe(true);
    expect(parts.map((part) => part.message.content).join('')).toBe(whole.message.content);
  });

  it('writes one NDJSON object per line with application/x-ndjson (stream is the default)', async () => {
    const response = await postJson(`${t.url}/api/chat`, { model: 'x', messages, options: { num_predict: 5 } });
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await readChunks(response)).flatMap((chunk) => parseNdjson(chunk)) as Array<{ done: boolean }>;
    expect(lines.at(-1)!.done).toBe(true);
    expect(lines.filter((line) => line.done)).toHaveLength(1);
  });

  it('generates with and without raw, streaming and not', async () => {
    const whole = await ollama.generate({ model: 'stories260K', prompt: 'Once upon a time', raw: true, options: { num_predict: 6, temperature: 0 } });
    expect(whole.done).toBe(true);
    expect(whole.eval_count).toBe(6);
    const stream = await ollama.generate({ model: 'stories260K', prompt: 'Once upon a time', raw: true, stream: true, options: { num_predict: 6, temperature: 0 } });
    let text = '';
    for await (const part of stream) text += part.response;
    expect(text).toBe(whole.response);
    const templated = await ollama.generate({ model: 'stories260K', prompt: 'Hi', system: 'Be brief.', options: { num_predict: 3 } });
    expect(templated.prompt_eval_count).toBeGreaterThan(whole.prompt_eval_count);
  });

  it('loads the model on empty messages and unloads it with keep_alive 0', async () => {
    const unloaded = await postJson(`${t.url}/api/chat`, { model: 'stories260K', messages: [], keep_alive: 0 });
    expect(await unloaded.json()).toMatchObject({ done: true, done_reason: 'unload' });
    expect(t.akachat.models.loaded).toEqual([]);
    // load_duration: the load this call waited for, then next to nothing once it is resident.
    const cold = await ollama.chat({ model: 'stories260K', messages, options: { num_predict: 2 } });
    const warm = await ollama.chat({ model: 'stories260K', messages, options: { num_predict: 2 } });
    expect(cold.load_duration).toBeGreaterThan(0);
    expect(warm.load_duration).toBeLessThan(cold.load_duration);
    expect(cold.load_duration).toBeLessThan(cold.total_duration);
    const loaded = await ollama.chat({ model: 'stories260K', messages: [] });
    expect(loaded).toMatchObject({ done: true, done_reason: 'load' });
    expect(t.akachat.models.loaded).toEqual([stories]);
    expect((await ollama.ps()).models.map((model) => model.name)).toEqual(['stories260K']);
  });

  it('lists models in /api/tags, embeds, and reports a version', async () => {
    const list = await ollama.list();
    expect(list.models.map((model) => model.name)).toContain('stories260K');
    expect(list.models[0]).toMatchObject({ model: 'stories260K', details: { format: 'gguf' } });
    const embedded = await ollama.embed({ model: 'stories260K', input: ['cat', 'dog'] });
    expect(embedded.embeddings).toHaveLength(2);
    expect(embedded.embeddings[0]).toHaveLength(64);
    // One text alone and in a batch of two: equal up to float rounding (ggml's kernels for a
    // batch of two may sum in another order, as on AMD EPYC with AVX2).
    const single = (await ollama.embeddings({ model: 'stories260K', prompt: 'cat' })).embedding;
    expect(single).toHaveLength(64);
    single.forEach((value, i) => expect(value).toBeCloseTo(embedded.embeddings[0][i], 5));
    expect((await ollama.version()).version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('stops generating when the client aborts', async () => {
    const before = t.reports.length;
    const stream = await ollama.chat({ model: 'stories260K', messages, stream: true, options: { num_predict: 1500 } });
    const seen = await (async () => {
      for await (const part of stream) if (part.message.content) return true;
      return false;
    })().catch(() => true);
    expect(seen).toBe(true);
    stream.abort();
    await waitFor(() => t.reports.length > before, 10_000, 'the aborted generation to end');
    expect(t.reports[before].outcome).toBe('aborted');
  });

  it('answers errors as {"error": "..."} naming the field', async () => {
    const error = await ollama.chat({ model: 'stories260K', messages, options: { temperature: 'warm' as unknown as number } }).catch((e: unknown) => e);
    expect((error as { status_code: number }).status_code).toBe(400);
    expect((error as Error).message).toMatch(/options\.temperature/);
  });
});
