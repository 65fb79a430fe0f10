import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSse } from '../../src/http/sse.js';
import { postJson, startServer, stories, type TestServer } from './helpers.js';

interface Probability { id: number; token: string; bytes: number[]; logprob?: number; prob?: number; top_logprobs?: Probability[]; top_probs?: Probability[] }
interface CompletionBody { content: string; tokens: number[]; completion_probabilities?: Probability[]; tokens_predicted: number }

const PROMPT = 'Once upon a time';

describe.skipIf(!stories)('token-level extras over HTTP on stories260K', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ model: stories });
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
    expect(chunks.flatMap((e) => e.completion_probabilities ?? [])).toEqual(whole.completion_probabilities);
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
});
