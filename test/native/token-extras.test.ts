import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { Model, type Context, type TokenChunk } from '../../src/engine/index.js';
import { addonBuilt, sharedModel } from '../support/models.js';

const stories = addonBuilt ? sharedModel('stories') : undefined;
const bert = addonBuilt ? sharedModel('bert') : undefined;
const PROMPT = 'Once upon a time';

describe.skipIf(!stories)('token-level extras with stories260K', () => {
  let model: Model;
  let ctx: Context;
  beforeAll(async () => {
    model = await Model.load(stories!);
    ctx = await model.createContext({ contextSize: 512 });
  });
  afterAll(() => model?.dispose());

  it('hands out the generated token ids with the text, which they detokenize to', async () => {
    const plain = await ctx.generate(PROMPT, { temperature: 0, maxTokens: 24 }).result;
    expect(plain.tokens).toBeUndefined();
    const chunks: TokenChunk[] = [];
    const generation = ctx.generate(PROMPT, { temperature: 0, maxTokens: 24, tokens: true, onTokens: (chunk) => chunks.push(chunk) });
    const texts: string[] = [];
    for await (const text of generation) texts.push(text);
    const result = await generation.result;
    expect(result.text).toBe(plain.text);
    expect(result.tokens).toHaveLength(24);
    expect(model.detokenize(result.tokens!.map((t) => t.id))).toBe(plain.text);
    // Each chunk's tokens come with the chunk's text: together they are the whole generation.
    expect(chunks.map((c) => c.text).join('')).toBe(result.text);
    expect(chunks.flatMap((c) => c.tokens)).toEqual(result.tokens);
    // Each token's bytes are its piece: together, the text.
    expect(Buffer.concat(result.tokens!.map((t) => t.bytes)).toString('utf8')).toBe(result.text);
  });

  it('leaves out the tokens past a stop string', async () => {
    const free = await ctx.generate(PROMPT, { temperature: 0, maxTokens: 24 }).result;
    const stop = free.text.slice(free.text.indexOf(' ', 4), free.text.indexOf(' ', 4) + 4);
    const result = await ctx.generate(PROMPT, { temperature: 0, maxTokens: 24, tokens: true, stop: [stop] }).result;
    expect(result.stopReason).toBe('stop');
    expect(model.detokenize(result.tokens!.map((t) => t.id)).startsWith(result.text)).toBe(true);
    expect(result.tokens!.length).toBeLessThan(result.generatedTokens);
  });

  it('reports each token\'s probability and the most likely ones, from the raw logits by default', async () => {
    const result = await ctx.generate(PROMPT, { temperature: 0, maxTokens: 12, probabilities: 5 }).result;
    expect(result.tokens).toHaveLength(12);
    for (const token of result.tokens!) {
      expect(token.top).toHaveLength(5);
      // Greedy: the chosen token is the most likely one.
      expect(token.top![0]).toEqual({ id: token.id, bytes: token.bytes, probability: token.probability });
      const probabilities = token.top!.map((t) => t.probability);
      expect([...probabilities].sort((a, b) => b - a)).toEqual(probabilities);
      expect(probabilities.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1.0001);
      expect(probabilities[4]).toBeGreaterThan(0);
    }
    // Sampling settings do not change the raw-logit probabilities of the same greedy choice.
    const sampled = await ctx.generate(PROMPT, { temperature: 0.5, topK: 2, seed: 3, maxTokens: 1, probabilities: 5 }).result;
    expect(sampled.tokens![0].top).toHaveLength(5);
  });

  it('takes probabilities after the sampling chain when asked: only what top-k kept, summing to 1', async () => {
    const result = await ctx.generate(PROMPT, { temperature: 1, topK: 2, topP: 1, minP: 0, seed: 5, maxTokens: 10, probabilities: 5, postSamplingProbabilities: true }).result;
    for (const token of result.tokens!) {
      expect(token.top!.length).toBeGreaterThan(0);
      expect(token.top!.length).toBeLessThanOrEqual(2);
      expect(token.top!.reduce((a, t) => a + t.probability, 0)).toBeCloseTo(1, 4);
      expect(token.top!.map((t) => t.id)).toContain(token.id);
    }
  });

  it('a generation that ends on end-of-generation leaves nothing behind for the next one on its slot', async () => {
    const eos = model.info.eosToken;
    const ended = await ctx.generate(PROMPT, { temperature: 0, maxTokens: 5, probabilities: 2, logitBias: [[eos, 100]] }).result;
    expect([ended.stopReason, ended.tokens]).toEqual(['eos', []]);
    const next = await ctx.generate(PROMPT, { temperature: 0, maxTokens: 3, probabilities: 2 }).result;
    for (const token of next.tokens!) expect(token.top![0]).toEqual({ id: token.id, bytes: token.bytes, probability: token.probability });
  });

  it('generates the same text with and without the extras', async () => {
    const plain = await ctx.generate(PROMPT, { temperature: 0.9, seed: 11, maxTokens: 30 }).text();
    const extras = await ctx.generate(PROMPT, { temperature: 0.9, seed: 11, maxTokens: 30, probabilities: 3, tokens: true }).text();
    expect(extras).toBe(plain);
  });

  it('biases logits: a banned greedy token gives way, +100 forces a token, a string biases its tokens', async () => {
    const first = (await ctx.generate(PROMPT, { temperature: 0, maxTokens: 1, tokens: true }).result).tokens![0].id;
    const banned = await ctx.generate(PROMPT, { temperature: 0, maxTokens: 1, tokens: true, logitBias: [[first, false]] }).result;
    expect(banned.tokens![0].id).not.toBe(first);
    const minus100 = await ctx.generate(PROMPT, { temperature: 0, maxTokens: 1, tokens: true, logitBias: [[first, -100]] }).result;
    expect(minus100.tokens![0].id).not.toBe(first);
    const forced = await ctx.generate(PROMPT, { temperature: 0.8, seed: 2, maxTokens: 4, tokens: true, logitBias: [[300, 100]] }).result;
    expect(forced.tokens!.map((t) => t.id)).toEqual([300, 300, 300, 300]);
    const word = model.tokenize(' dragon', { addSpecial: false });
    const byString = await ctx.generate(PROMPT, { temperature: 0, maxTokens: 2, tokens: true, logitBias: [[' dragon', 100]] }).result;
    expect(Array.from(word)).toContain(byString.tokens![0].id);
  });

  it('refuses bad token options before anything reaches llama.cpp', () => {
    const vocab = model.info.vocabSize;
    expect(() => ctx.generate(PROMPT, { logitBias: [[vocab, 1]] })).toThrow(InvalidArgumentError);
    expect(() => ctx.generate(PROMPT, { logitBias: [[-1, 1]] })).toThrow(/logitBias\[0\]\[0\]/);
    expect(() => ctx.generate(PROMPT, { logitBias: [[1, Number.NaN]] })).toThrow(/a number or false/);
    expect(() => ctx.generate(PROMPT, { logitBias: Array.from({ length: 1025 }, (_, i) => [i % 100, 1] as const) })).toThrow(/at most 1024/);
    expect(() => ctx.generate(PROMPT, { probabilities: 21 })).toThrow(/between 0 and 20/);
    expect(() => ctx.generate(PROMPT, { onTokens: () => {} })).toThrow(InvalidArgumentError);
  });

  it('each slot of a parallel context hands out its own generation\'s tokens', async () => {
    const parallel = await model.createContext({ contextSize: 256, parallel: 2 });
    try {
      const prompts = ['Once upon a time', 'The little dog'];
      const alone = await Promise.all(prompts.map((p) => ctx.generate(p, { temperature: 0, maxTokens: 16 }).text()));
      const together = await Promise.all(prompts.map((p) => parallel.generate(p, { temperature: 0, maxTokens: 16, probabilities: 2 }).result));
      together.forEach((result, i) => {
        expect(result.text).toBe(alone[i]);
        expect(Buffer.concat(result.tokens!.map((t) => t.bytes)).toString('utf8')).toBe(result.text);
        expect(result.tokens!.every((t) => t.top![0].id === t.id)).toBe(true);
      });
    } finally {
      parallel.dispose();
    }
  });

  it('a listener that throws ends the generation with its error', async () => {
    const failure = new Error('listener failed');
    const generation = ctx.generate(PROMPT, { temperature: 0, maxTokens: 50, tokens: true, onTokens: () => { throw failure; } });
    await expect(generation.text()).rejects.toBe(failure);
  });

  it('gives each token\'s raw bytes, also for byte-fallback pieces of one character', () => {
    const tokens = model.tokenize('A 好 b', { addSpecial: false });
    const pieces = model.tokenBytes(tokens).map((bytes) => Array.from(bytes));
    expect(pieces).toEqual([[0x20], [0x41], [0x20], [0xe5], [0xa5], [0xbd], [0x20, 0x62]]);
    expect(() => model.tokenBytes([model.info.vocabSize])).toThrow(/outside the vocabulary/);
  });
});

describe.skipIf(!bert)('embedding token ids', () => {
  let model: Model;
  beforeAll(async () => {
    model = await Model.load(bert!);
  });
  afterAll(() => model?.dispose());

  it('embeds token ids as the text they tokenize from, and refuses ids outside the vocabulary', async () => {
    const ctx = await model.createEmbeddingContext();
    const tokens = model.tokenize('a cat sat', { addSpecial: true });
    const [byText] = await ctx.embed(['a cat sat']);
    const [byIds] = await ctx.embed([tokens]);
    expect(Array.from(byIds)).toEqual(Array.from(byText));
    await expect(ctx.embed([Int32Array.of(1, model.info.vocabSize)])).rejects.toThrow(/texts\[0\]\[1\]/);
    await expect(ctx.embed([new Int32Array(0)])).rejects.toThrow(/at least one token/);
    ctx.dispose();
  });
});
