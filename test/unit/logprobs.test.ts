import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { chatLogprobs, completionLogprobs, completionProbabilities, llamaCppTokenRequest, openAiChatTokenRequest, openAiCompletionTokenRequest, parseLogitBias, TokenCollector } from '../../src/http/logprobs.js';
import type { GeneratedToken } from '../../src/engine/index.js';

const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
const token = (id: number, text: string | Uint8Array, probability: number, top: [number, string, number][] = []): GeneratedToken => ({
  id,
  bytes: typeof text === 'string' ? bytes(text) : text,
  probability,
  top: top.map(([topId, topText, p]) => ({ id: topId, bytes: bytes(topText), probability: p })),
});

describe('logit_bias as llama-server takes it', () => {
  it('reads pairs and objects: ids, strings, digit keys as ids, false as a ban', () => {
    expect(parseLogitBias([[15043, 1], ['Hello', false]])).toEqual([[15043, 1], ['Hello', false]]);
    expect(parseLogitBias({ 15043: -100, ' world': 2 })).toEqual([[15043, -100], [' world', 2]]);
    expect(parseLogitBias(undefined)).toBeUndefined();
  });

  it('refuses malformed entries with the field named', () => {
    expect(() => parseLogitBias([[1]])).toThrow(/logit_bias\[0\]/);
    expect(() => parseLogitBias([[1.5, 1]])).toThrow(/logit_bias\[0\] token/);
    expect(() => parseLogitBias([[1, Infinity]])).toThrow(/logit_bias\[0\] bias/);
    expect(() => parseLogitBias('x')).toThrow(InvalidArgumentError);
    expect(() => parseLogitBias(Array.from({ length: 1025 }, () => [1, 1]))).toThrow(/at most 1024/);
  });
});

describe('token requests of the dialects', () => {
  it('asks the engine only for what the body names', () => {
    expect(llamaCppTokenRequest({}, false).collector).toBeUndefined();
    // A stream carries token ids: a listener, not a request for them.
    expect(llamaCppTokenRequest({}, true).collector!.options).toMatchObject({ tokens: false, probabilities: 0 });
    expect(llamaCppTokenRequest({ n_probs: 3, return_tokens: true }, false).collector!.options).toMatchObject({ tokens: true, probabilities: 3 });
    expect(llamaCppTokenRequest({ logprobs: 2 }, false).collector!.options.probabilities).toBe(2);
    expect(() => llamaCppTokenRequest({ n_probs: 21 }, false)).toThrow(/n_probs/);
    expect(openAiChatTokenRequest({})).toBeUndefined();
    // OpenAI's own logprob needs one probability even without alternatives.
    const chat = openAiChatTokenRequest({ logprobs: true })!;
    expect([chat.options.probabilities, chat.top]).toEqual([1, 0]);
    expect(() => openAiChatTokenRequest({ top_logprobs: 2 })).toThrow(/logprobs: true/);
    expect(openAiCompletionTokenRequest({ logprobs: 0 })!.options.probabilities).toBe(1);
  });
});

describe('logprob formats', () => {
  const collector = new TokenCollector({ probabilities: 2 }, 2);
  const tokens = [token(5, 'Hi', 0.5, [[5, 'Hi', 0.5], [6, 'Ho', 0.25]]), token(7, new Uint8Array([0xe5]), 0, [[7, '', 0]])];

  it('as llama-server: token text up to an incomplete character, raw bytes, float lowest for a zero probability', () => {
    const [first, second] = completionProbabilities(tokens, collector) as Array<Record<string, unknown>>;
    expect(first).toEqual({ id: 5, token: 'Hi', bytes: [72, 105], logprob: Math.log(0.5), top_logprobs: [
      { id: 5, token: 'Hi', bytes: [72, 105], logprob: Math.log(0.5) }, { id: 6, token: 'Ho', bytes: [72, 111], logprob: Math.log(0.25) },
    ] });
    expect(second).toMatchObject({ token: '', bytes: [0xe5], logprob: -3.4028234663852886e38 });
    const post = completionProbabilities(tokens.slice(0, 1), new TokenCollector({ probabilities: 2, postSamplingProbabilities: true }, 2));
    expect(post[0]).toMatchObject({ prob: 0.5, top_probs: [{ id: 5, prob: 0.5 }, { id: 6, prob: 0.25 }] });
    expect(chatLogprobs(tokens, undefined)).toBeNull();
    expect(chatLogprobs(tokens, collector)!.content).toHaveLength(2);
  });

  it('as OpenAI legacy completions, offsets counted from the text before', () => {
    expect(completionLogprobs(tokens.slice(0, 1), collector, 10)).toEqual({
      tokens: ['Hi'], token_logprobs: [Math.log(0.5)], top_logprobs: [{ Hi: Math.log(0.5), Ho: Math.log(0.25) }], text_offset: [10],
    });
  });

  it('finds the tokens of each chunk read from a stream, and those left at the end', () => {
    const collecting = new TokenCollector({ probabilities: 0, tokens: true }, 0);
    collecting.options.onTokens!({ text: 'ab', tokens: [token(1, 'a', 1), token(2, 'b', 1)] });
    collecting.options.onTokens!({ text: 'c', tokens: [token(3, 'c', 1)] });
    collecting.options.onTokens!({ text: '', tokens: [token(4, '', 1)] });
    expect(collecting.take('ab').map((t) => t.id)).toEqual([1, 2]);
    expect(collecting.take('c').map((t) => t.id)).toEqual([3]);
    expect(collecting.rest().map((t) => t.id)).toEqual([4]);
    expect(collecting.all.map((t) => t.id)).toEqual([1, 2, 3, 4]);
  });
});
