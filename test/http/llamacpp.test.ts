import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSse } from '../../src/http/sse.js';
import { postJson, readChunks, startServer, stories, type TestServer } from './helpers.js';

describe.skipIf(!stories)('llama.cpp-compatible routes on stories260K', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ model: stories });
  });
  afterAll(async () => t?.close());

  it('completes without streaming, with llama-server\'s fields', async () => {
    const response = await postJson(`${t.url}/completion`, { prompt: 'Once upon a time', n_predict: 8, temperature: 0 });
    expect(response.status).toBe(200);
    const body = await response.json() as Record<string, unknown>;
    expect(body).toMatchObject({ stop: true, tokens_predicted: 8, stop_type: 'limit', stopped_limit: true });
    expect(typeof body.content).toBe('string');
    expect((body.content as string).length).toBeGreaterThan(0);
    const timings = body.timings as { prompt_n: number; prompt_ms: number; predicted_n: number; predicted_ms: number; predicted_per_second: number };
    expect(timings.predicted_n).toBe(8);
    expect(timings.prompt_ms).toBeGreaterThan(0);
    expect(timings.predicted_ms).toBeGreaterThan(0);
    // The first token costs no decode step (it comes from the prompt's logits): 7 steps, not 8.
    expect(timings.predicted_per_second).toBeCloseTo((7 * 1000) / timings.predicted_ms, 6);
    expect(body).toMatchObject({
      truncated: false,
      has_new_line: (body.content as string).includes('\n'),
      generation_settings: { n_predict: 8, temperature: 0, seed: -1, top_k: 40, stop: [] },
      timings: { cache_n: 0, predicted_per_token_ms: timings.predicted_ms / 7, prompt_per_token_ms: timings.prompt_ms / timings.prompt_n },
    });
    // The same prompt again: its tokens come from the KV cache, one is decoded for logits.
    const again = await (await postJson(`${t.url}/completion`, { prompt: 'Once upon a time', n_predict: 8, temperature: 0 })).json() as { timings: typeof timings & { cache_n: number }; tokens_cached: number };
    expect(again.timings.prompt_n).toBe(1);
    expect(again.tokens_cached).toBeGreaterThan(0);
    expect(again.timings.cache_n).toBe(again.tokens_cached);
  });

  it('only evaluates the prompt with n_predict 0', async () => {
    const body = await (await postJson(`${t.url}/completion`, { prompt: 'One day a cat', n_predict: 0 })).json() as Record<string, unknown>;
    expect(body).toMatchObject({ content: '', tokens_predicted: 0, truncated: false, generation_settings: { n_predict: 0 } });
    expect(body.tokens_evaluated).toBeGreaterThan(1);
  });

  it('streams {content, stop:false} events and a final {content:"", stop:true} without [DONE]', async () => {
    const whole = await (await postJson(`${t.url}/completion`, { prompt: 'Once upon a time', n_predict: 8, temperature: 0 })).json() as { content: string };
    const response = await postJson(`${t.url}/completion`, { prompt: 'Once upon a time', n_predict: 8, temperature: 0, stream: true });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await readChunks(response)).flatMap((chunk) => parseSse(chunk)).map((payload) => JSON.parse(payload) as { content: string; stop: boolean });
    const last = events.at(-1)!;
    expect(last).toMatchObject({ content: '', stop: true, tokens_predicted: 8 });
    expect(events.slice(0, -1).every((event) => event.stop === false && event.content !== '')).toBe(true);
    expect(events.map((event) => event.content).join('')).toBe(whole.content);
  });

  it('accepts a prompt of token ids', async () => {
    const { tokens } = await (await postJson(`${t.url}/tokenize`, { content: 'Once upon a time' })).json() as { tokens: number[] };
    const byText = await (await postJson(`${t.url}/completion`, { prompt: 'Once upon a time', n_predict: 4, temperature: 0 })).json() as { content: string };
    const byIds = await (await postJson(`${t.url}/completion`, { prompt: tokens, n_predict: 4, temperature: 0 })).json() as { content: string };
    expect(byIds.content).toBe(byText.content);
  });

  it('tokenizes and detokenizes round trip, with pieces on request', async () => {
    const { tokens } = await (await postJson(`${t.url}/tokenize`, { content: 'Hello world' })).json() as { tokens: number[] };
    expect(tokens.length).toBeGreaterThan(1);
    expect(tokens.every(Number.isInteger)).toBe(true);
    const { content } = await (await postJson(`${t.url}/detokenize`, { tokens })).json() as { content: string };
    expect(content.trim()).toBe('Hello world');
    const withSpecial = await (await postJson(`${t.url}/tokenize`, { content: 'Hello', add_special: true })).json() as { tokens: number[] };
    expect(withSpecial.tokens.length).toBe((await (await postJson(`${t.url}/tokenize`, { content: 'Hello' })).json() as { tokens: number[] }).tokens.length + 1);
    const pieces = await (await postJson(`${t.url}/tokenize`, { content: 'Hello world', with_pieces: true })).json() as { tokens: Array<{ id: number; piece: string }> };
    expect(pieces.tokens.map((token) => token.id)).toEqual(tokens);
    expect(pieces.tokens.map((token) => token.piece).join('').trim()).toBe('Hello world');
  });

  it('gives byte-fallback pieces as their bytes, as llama-server does', async () => {
    // stories260K has no token for 好 (E5 A5 BD): it falls back to one token per byte.
    const { tokens } = await (await postJson(`${t.url}/tokenize`, { content: 'A 好 b', with_pieces: true })).json() as { tokens: Array<{ id: number; piece: string | number[] }> };
    expect(tokens.map((token) => token.piece)).toEqual([' ', 'A', ' ', [0xe5], [0xa5], [0xbd], ' b']);
  });

  it('refuses token ids outside the vocabulary with a 400 naming the index', async () => {
    const response = await postJson(`${t.url}/detokenize`, { tokens: [1, 999999] });
    expect(response.status).toBe(400);
    const body = await response.json() as { error: { code: number; message: string } };
    expect(body.error.code).toBe(400);
    expect(body.error.message).toMatch(/tokens\[1\]/);
  });

  it('reports health', async () => {
    const response = await fetch(`${t.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});
