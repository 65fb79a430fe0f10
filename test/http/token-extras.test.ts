import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSse } from '../../src/http/sse.js';
import { postJson, startServer, stories, type TestServer } from './helpers.js';

interface Probability { id: number; token: string; bytes: number[]; logprob?: number; prob?: number; top_logprobs?: Probability[]; top_probs?: Probability[] }
interface CompletionBody { content: string; tokens: number[]; completion_probabilities?: Probability[]; tokens_predicted: number }

const PROMPT = 'Once upon a time';

describe.skipIf(!stories)('token-level extras over HTTP on stories260K', () => {
  let t: TestServer;
  let client: OpenAI;
  beforeAll(async () => {
    t = await startServer({ model: stories });
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'any', maxRetries: 0 });
  });
  afterAll(async () => t?.close());

  const complete = async (body: Record<string, unknown>) => {
    const response = await postJson(`${t.url}/completion`, { prompt: PROMPT, temperature: 0, ...body });
    expect(response.status).toBe(200);
    return await response.json() as CompletionBody;
  };
  const detokenize = async (tokens: number[]) => ((await (await postJson(`${t.url}/detokenize`, { tokens })).json()) as { content: string }).content;

  it('/completion return_tokens gives the generated ids, which detokenize to the content', async () => {
    const plain = await complete({ n_predict: 12 });
    expect(plain.tokens).toEqual([]);
    const body = await complete({ n_predict: 12, return_tokens: true });
    expect(body.content).toBe(plain.content);
    expect(body.tokens).toHaveLength(12);
    // Detokenizing drops a leading space of the first piece (SentencePiece).
    expect([body.content, body.content.slice(1)]).toContain(await detokenize(body.tokens));
  });

  it('/completion n_probs gives completion_probabilities with each token\'s top n, as llama-server', async () => {
    const body = await complete({ n_predict: 6, n_probs: 3, return_tokens: true });
    const probs = body.completion_probabilities!;
    expect(probs).toHaveLength(6);
    probs.forEach((p, i) => {
      expect(p.id).toBe(body.tokens[i]);
      expect(p.logprob).toBeLessThanOrEqual(0);
      expect(p.top_logprobs).toHaveLength(3);
      // Greedy: the chosen token is the most likely one, with the same logprob.
      expect(p.top_logprobs![0]).toMatchObject({ id: p.id, token: p.token, logprob: p.logprob });
      expect(Buffer.from(p.bytes).toString('utf8')).toBe(p.token);
    });
    expect(probs.map((p) => p.token).join('')).toBe(body.content);
    const post = await complete({ n_predict: 4, n_probs: 3, post_sampling_probs: true, temperature: 1, top_k: 2, seed: 1 });
    for (const p of post.completion_probabilities!) {
      expect(p.prob).toBeGreaterThan(0);
      expect(p.top_probs!.length).toBeLessThanOrEqual(2);
      expect(p.top_probs!.reduce((sum, q) => sum + q.prob!, 0)).toBeCloseTo(1, 4);
    }
  });

  it('streams each chunk\'s token ids and probabilities with its content', async () => {
    const whole = await complete({ n_predict: 10, return_tokens: true, n_probs: 2 });
    const response = await postJson(`${t.url}/completion`, { prompt: PROMPT, temperature: 0, n_predict: 10, n_probs: 2, stream: true });
    const events = parseSse(await response.text()).map((data) => JSON.parse(data) as CompletionBody & { stop: boolean });
    const chunks = events.filter((e) => !e.stop);
    expect(chunks.map((e) => e.content).join('')).toBe(whole.content);
    expect(chunks.flatMap((e) => e.tokens)).toEqual(whole.tokens);
    const streamed = chunks.flatMap((e) => e.completion_probabilities ?? []);
    expect(streamed.map((p) => p.id)).toEqual(whole.completion_probabilities!.map((p) => p.id));
    streamed.forEach((p, i) => expect(p.logprob).toBeCloseTo(whole.completion_probabilities![i].logprob!, 4));
    for (const chunk of chunks) expect(chunk.completion_probabilities!.map((p) => p.token).join('')).toBe(chunk.content);
  });

  it('/completion logit_bias: banning the greedy token changes it, +100 forces one, strings and objects work', async () => {
    const greedy = (await complete({ n_predict: 1, return_tokens: true })).tokens[0];
    const banned = await complete({ n_predict: 1, return_tokens: true, logit_bias: [[greedy, false]] });
    expect(banned.tokens[0]).not.toBe(greedy);
    const forced = await complete({ n_predict: 3, return_tokens: true, logit_bias: [[300, 100]], temperature: 0.8, seed: 4 });
    expect(forced.tokens).toEqual([300, 300, 300]);
    const asObject = await complete({ n_predict: 1, return_tokens: true, logit_bias: { [String(greedy)]: -100 } });
    expect(asObject.tokens[0]).not.toBe(greedy);
    const { tokens: dragon } = await (await postJson(`${t.url}/tokenize`, { content: ' dragon' })).json() as { tokens: number[] };
    const byString = await complete({ n_predict: 1, return_tokens: true, logit_bias: [[' dragon', 100]] });
    expect(dragon).toContain(byString.tokens[0]);
  });

  it('answers 400 for a token id outside the vocabulary and other bad token options', async () => {
    const bad = async (body: Record<string, unknown>, pattern: RegExp) => {
      const response = await postJson(`${t.url}/completion`, { prompt: PROMPT, n_predict: 2, ...body });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(pattern);
    };
    await bad({ logit_bias: [[999999, 1]] }, /logitBias\[0\]\[0\].*999999/);
    await bad({ logit_bias: [[-1, 1]] }, /logit_bias\[0\] token/);
    await bad({ logit_bias: [[1, 'x']] }, /logit_bias\[0\] bias/);
    await bad({ logit_bias: Array.from({ length: 1025 }, (_, i) => [i % 100, 1]) }, /at most 1024/);
    await bad({ n_probs: 21 }, /n_probs/);
    await bad({ return_tokens: 'yes' }, /return_tokens/);
  });

  it('/tokenize with_pieces gives each piece as llama-server does: text, or bytes where not valid UTF-8 alone', async () => {
    const { tokens } = await (await postJson(`${t.url}/tokenize`, { content: 'A 好 b', with_pieces: true })).json() as { tokens: Array<{ id: number; piece: string | number[] }> };
    // stories260K has no token for 好 (E5 A5 BD): one byte-fallback token per byte.
    expect(tokens.map((token) => token.piece)).toEqual([' ', 'A', ' ', [0xe5], [0xa5], [0xbd], ' b']);
  });

  const hello = [{ role: 'user' as const, content: 'Tell me about a cat.' }];

  it('OpenAI chat logprobs (openai SDK): each token\'s logprob and top_logprobs, the same when streamed', async () => {
    const request = { model: 'stories', messages: hello, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2 };
    const whole = await client.chat.completions.create(request);
    const content = whole.choices[0].logprobs!.content!;
    expect(content).toHaveLength(whole.usage!.completion_tokens);
    expect(content.map((entry) => entry.token).join('')).toBe(whole.choices[0].message.content);
    for (const entry of content) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.top_logprobs).toHaveLength(2);
      expect(entry.top_logprobs[0]).toMatchObject({ token: entry.token, logprob: entry.logprob });
      expect(Buffer.from(entry.bytes!).toString('utf8')).toBe(entry.token);
    }
    const stream = await client.chat.completions.create({ ...request, stream: true });
    const streamed = [];
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      // Each content delta carries its own tokens' logprobs.
      if (choice?.delta.content) expect(choice.logprobs!.content!.map((entry) => entry.token).join('')).toBe(choice.delta.content);
      streamed.push(...choice?.logprobs?.content ?? []);
    }
    // The same tokens; logprobs equal up to float noise (the second run decodes from the cached prompt).
    expect(streamed.map((entry) => entry.token)).toEqual(content.map((entry) => entry.token));
    streamed.forEach((entry, i) => expect(entry.logprob).toBeCloseTo(content[i].logprob, 4));
    // Without top_logprobs: each token's own logprob, no alternatives; without logprobs: null.
    const bare = await client.chat.completions.create({ ...request, top_logprobs: undefined });
    expect(bare.choices[0].logprobs!.content!.every((entry) => entry.top_logprobs.length === 0)).toBe(true);
    expect((await client.chat.completions.create({ ...request, logprobs: undefined, top_logprobs: undefined })).choices[0].logprobs).toBeNull();
  });

  it('OpenAI logit_bias (openai SDK): -100 on the greedy token makes another one come first', async () => {
    const request = { model: 'stories', messages: hello, max_tokens: 1, temperature: 0, logprobs: true };
    const first = (await client.chat.completions.create(request)).choices[0].logprobs!.content![0] as { id?: number; token: string };
    expect(Number.isInteger(first.id)).toBe(true);
    const biased = await client.chat.completions.create({ ...request, logit_bias: { [String(first.id)]: -100 } });
    expect((biased.choices[0].logprobs!.content![0] as { id?: number }).id).not.toBe(first.id);
  });

  it('OpenAI bad token options are 400s (openai SDK)', async () => {
    const request = { model: 'stories', messages: hello, max_tokens: 1 };
    await expect(client.chat.completions.create({ ...request, top_logprobs: 2 })).rejects.toMatchObject({ status: 400 });
    await expect(client.chat.completions.create({ ...request, logprobs: true, top_logprobs: 21 })).rejects.toMatchObject({ status: 400 });
    await expect(client.chat.completions.create({ ...request, logit_bias: { 999999: 5 } })).rejects.toMatchObject({ status: 400 });
  });

  it('a saved prompt named as model answers 400 for token options (they need a local model run)', async () => {
    await t.akachat.prompts.save('token-persona', 'You are a cat.', { max_new_tokens: 2 });
    await expect(client.chat.completions.create({ model: 'token-persona', messages: hello, logprobs: true })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/saved prompt/) });
    const response = await postJson(`${t.url}/completion`, { model: 'token-persona', prompt: PROMPT, n_probs: 2 });
    expect(response.status).toBe(400);
    expect((await postJson(`${t.url}/completion`, { model: 'token-persona', prompt: PROMPT, return_tokens: true })).status).toBe(400);
    // Without token options the prompt runs; a stream then carries no token ids.
    expect((await client.chat.completions.create({ model: 'token-persona', messages: hello })).choices[0].message.content).toBeTypeOf('string');
    const stream = await postJson(`${t.url}/completion`, { model: 'token-persona', prompt: PROMPT, stream: true });
    expect(stream.status).toBe(200);
    const events = parseSse(await stream.text()).map((data) => JSON.parse(data) as { content: string; tokens: number[]; stop: boolean });
    expect(events.at(-1)!.stop).toBe(true);
    expect(events.flatMap((e) => e.tokens)).toEqual([]);
  });

  it('OpenAI legacy completions logprobs: tokens, token_logprobs, top_logprobs and text_offset, streamed too', async () => {
    const request = { model: 'stories', prompt: PROMPT, max_tokens: 6, temperature: 0, logprobs: 2 };
    const whole = await client.completions.create(request);
    const logprobs = whole.choices[0].logprobs!;
    expect(logprobs.tokens!.join('')).toBe(whole.choices[0].text);
    expect(logprobs.token_logprobs).toHaveLength(6);
    expect(logprobs.top_logprobs!.every((top) => Object.keys(top).length >= 1 && Object.keys(top).length <= 2)).toBe(true);
    expect(logprobs.text_offset![0]).toBe(0);
    const stream = await client.completions.create({ ...request, stream: true });
    const tokens: string[] = [];
    const offsets: number[] = [];
    for await (const chunk of stream) {
      tokens.push(...chunk.choices[0].logprobs?.tokens ?? []);
      offsets.push(...chunk.choices[0].logprobs?.text_offset ?? []);
    }
    expect(tokens).toEqual(logprobs.tokens);
    expect(offsets).toEqual(logprobs.text_offset);
  });

  it('/v1/embeddings takes token ids (openai SDK, its default base64): the same vectors as the text', async () => {
    const { tokens } = await (await postJson(`${t.url}/tokenize`, { content: 'a cat', add_special: true })).json() as { tokens: number[] };
    const byText = await client.embeddings.create({ model: 'stories', input: 'a cat' });
    const byIds = await client.embeddings.create({ model: 'stories', input: tokens });
    expect(byIds.data[0].embedding).toEqual(byText.data[0].embedding);
    expect(byIds.usage.prompt_tokens).toBe(tokens.length);
    const several = await client.embeddings.create({ model: 'stories', input: [tokens, tokens.slice(0, 2)] });
    expect(several.data).toHaveLength(2);
    await expect(client.embeddings.create({ model: 'stories', input: [[1, 999999]] })).rejects.toMatchObject({ status: 400 });
    await expect(client.embeddings.create({ model: 'stories', input: [[1.5]] })).rejects.toMatchObject({ status: 400 });
  });

  it('llama.cpp /embedding takes text or token ids and answers [{index, embedding: [vector]}]', async () => {
    const { tokens } = await (await postJson(`${t.url}/tokenize`, { content: 'a cat', add_special: true })).json() as { tokens: number[] };
    const byText = await (await postJson(`${t.url}/embedding`, { content: 'a cat' })).json() as Array<{ index: number; embedding: number[][] }>;
    const byIds = await (await postJson(`${t.url}/embedding`, { content: tokens })).json() as typeof byText;
    expect(byText[0].index).toBe(0);
    expect(byText[0].embedding[0].length).toBeGreaterThan(0);
    expect(byIds[0].embedding).toEqual(byText[0].embedding);
    expect((await postJson(`${t.url}/embedding`, { content: 'a cat', embd_normalize: -1 })).status).toBe(400);
  });
});
