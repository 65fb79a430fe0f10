import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSse } from '../../src/http/sse.js';
import { postJson, readChunks, startServer, stories, type TestServer } from './helpers.js';

interface Envelope {
  status: number;
  servertime: number;
  result: string;
  message?: string;
  detail: Record<string, unknown>;
}

describe.skipIf(!stories)('akachat routes (envelope, text stream, speech) on stories260K', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ model: stories });
    const saved = await postJson(`${t.url}/api/llm/save`, {
      name: 'story',
      instruction: 'Once upon a time, there was a girl named {var.name}.{test("TEST ONLY")}',
      options: { template: '{bos_token}{instruction} {input}', max_new_tokens: 8, temperature: 0 },
    });
    expect(await saved.json()).toMatchObject({ status: 0, result: 'story' });
    await t.akachat.settings.set('is_test', true);
    const response = await fetch(`${t.url}/api/vars/name`, { method: 'PUT', body: JSON.stringify({ value: 'Lily' }) });
    expect(response.status).toBe(200);
    await t.akachat.prompts.save('chat', 'You tell stories about {var.name}.', { is_messages: true, chat_template: 'chatml', max_new_tokens: 4, temperature: 0 });
  });
  afterAll(async () => t?.close());

  it('runs a saved prompt on /api/llm/main (dir) with the envelope and its detail', async () => {
    const before = Date.now() / 1000;
    const response = await postJson(`${t.url}/api/llm/main`, { dir: 'story', input: 'She' });
    expect(response.status).toBe(200);
    const body = await response.json() as Envelope;
    expect(body.status).toBe(0);
    expect(body.servertime).toBeGreaterThanOrEqual(before - 1);
    expect(body.servertime % 1).not.toBe(0); // a float, as the original's time.time()
    expect(body.result.length).toBeGreaterThan(0);
    // fromWebApi: test() text is left out even with is_test on.
    expect(body.detail.template_text).toBe('<s>Once upon a time, there was a girl named Lily. She');
    expect(body.detail.instruction).toBe('Once upon a time, there was a girl named Lily.');
    expect(body.detail.usage).toMatchObject({ completion_tokens: 8 });
    expect(body.detail.duration).toBeGreaterThan(0);
    expect(body.detail.stop_reason).toBe('maxTokens');
  });

  it('runs /api/prompt/infer with history messages and top-level option overrides', async () => {
    const history = [{ role: 'user', content: 'Who is Lily?' }, { role: 'assistant', content: 'A girl.' }];
    const body = await (await postJson(`${t.url}/api/prompt/infer`, { name: 'chat', input: 'Tell me more.', messages: history, max_new_tokens: 2 })).json() as Envelope;
    expect(body.status).toBe(0);
    expect(body.detail.messages).toEqual([
      { role: 'system', content: 'You tell stories about Lily.' },
      ...history,
      { role: 'user', content: 'Tell me more.' },
    ]);
    expect(body.detail.usage).toMatchObject({ completion_tokens: 2 });
    expect(body.detail.rendered_prompt).toContain('<|im_start|>assistant\n');
  });

  it('streams plain text on /api/llm/raw and /api/prompt/stream, chunk by chunk, equal to the envelope result', async () => {
    const whole = await (await postJson(`${t.url}/api/prompt/infer`, { name: 'story', input: 'She', max_new_tokens: 120 })).json() as Envelope;
    for (const path of ['/api/llm/raw', '/api/prompt/stream']) {
      const response = await postJson(`${t.url}${path}`, { dir: 'story', input: 'She', max_new_tokens: 120 });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      const chunks = await readChunks(response);
      expect(chunks.length, path).toBeGreaterThan(1);
      expect(chunks.join('')).toBe(whole.result);
    }
  });

  it('answers errors in the envelope with a real status and message', async () => {
    const missing = await postJson(`${t.url}/api/prompt/infer`, { name: 'no-such-prompt', input: 'x' });
    expect(missing.status).toBe(404);
    const body = await missing.json() as Envelope;
    expect(body.status).toBe(404);
    expect(body.message).toContain('"no-such-prompt" not found');
    const badInput = await postJson(`${t.url}/api/prompt/infer`, { name: 'story', input: 42 });
    expect(badInput.status).toBe(400);
    expect((await badInput.json() as Envelope).message).toBe('Expected a string for input but received 42');
    const badOption = await postJson(`${t.url}/api/prompt/infer`, { name: 'story', temperature: 'hot' });
    expect(badOption.status).toBe(400);
    expect((await badOption.json() as Envelope).message).toMatch(/temperature/);
    const streamMissing = await postJson(`${t.url}/api/llm/raw`, { dir: 'nope' });
    expect(streamMissing.status).toBe(404);
  });

  it('runs an unsaved prompt on /api/prompt/run', async () => {
    const body = await (await postJson(`${t.url}/api/prompt/run`, { instruction: 'Lily {input}', input: 'ran', options: { template: '{instruction}', max_new_tokens: 3 } })).json() as Envelope;
    expect(body.status).toBe(0);
    expect(body.detail.template_text).toBe('Lily ran');
  });

  it('streams sentences for speech: one event per sentence, then done', async () => {
    const response = await postJson(`${t.url}/api/speech/stream`, { name: 'story', input: 'She', max_new_tokens: 80 });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await readChunks(response)).flatMap((chunk) => parseSse(chunk)).map((payload) => JSON.parse(payload) as Record<string, unknown>);
    const final = events.at(-1)!;
    expect(final.done).toBe(true);
    const sentences = events.slice(0, -1);
    expect(sentences.length).toBeGreaterThan(1);
    sentences.forEach((sentence, index) => {
      expect(sentence.index).toBe(index);
      expect(typeof sentence.text).toBe('string');
      expect(typeof sentence.speech).toBe('string');
    });
    const squash = (text: string) => text.replace(/\s+/g, '');
    expect(squash(sentences.map((sentence) => sentence.text as string).join(''))).toBe(squash(final.text as string));
  });

  it('streams sentences for an OpenAI chat body, and sentence-sized deltas with "sentences": true', async () => {
    const speech = await postJson(`${t.url}/api/speech/stream`, { messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 60, temperature: 0 });
    const events = (await readChunks(speech)).flatMap((chunk) => parseSse(chunk)).map((payload) => JSON.parse(payload) as { done?: boolean; text: string });
    expect(events.at(-1)!.done).toBe(true);

    const chat = { messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 60, temperature: 0, stream: true };
    const plain = (await readChunks(await postJson(`${t.url}/v1/chat/completions`, chat))).flatMap((c) => parseSse(c)).slice(0, -1).map((p) => JSON.parse(p) as { choices: Array<{ delta: { content?: string } }> });
    const grouped = (await readChunks(await postJson(`${t.url}/v1/chat/completions`, { ...chat, sentences: true }))).flatMap((c) => parseSse(c)).slice(0, -1).map((p) => JSON.parse(p) as { choices: Array<{ delta: { content?: string } }> });
    const text = (chunks: typeof plain) => chunks.map((chunk) => chunk.choices[0].delta.content ?? '').join('');
    expect(text(grouped)).toBe(text(plain));
    // Every grouped delta but the last ends where a sentence ends (how the plain stream is cut
    // depends on timing, so the two are not compared chunk by chunk).
    const contents = grouped.map((chunk) => chunk.choices[0].delta.content ?? '').filter((c) => c !== '');
    expect(contents.length).toBeGreaterThan(1);
    for (const content of contents.slice(0, -1)) expect(content.trimEnd()).toMatch(/[.!?。！？"'」』)]$/);
    expect(text(plain)).toBe(events.at(-1)!.text);
  });
});
