import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { Model, type Context } from '../../src/engine/index.js';
import { LocalLlm } from '../../src/llm/local.js';
import { ModelManager } from '../../src/llm/model-manager.js';
import { callerOverrides, llmRequest, normalizeOptions } from '../../src/prompt/options.js';
import { addonBuilt, sharedModel } from '../support/models.js';

const stories = addonBuilt ? sharedModel('stories') : undefined;
const tiny = addonBuilt ? sharedModel('tinyRandom32k') : undefined;

const PERSON = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer' } },
  required: ['name', 'age'],
};

/** Parses `text` as a PERSON: an object with a string name and an integer age. */
function expectPerson(text: string): void {
  const value = JSON.parse(text) as Record<string, unknown>;
  expect(typeof value).toBe('object');
  expect(typeof value.name).toBe('string');
  expect(Number.isInteger(value.age)).toBe(true);
}

// Neither model writes JSON by itself (stories260K tells children's stories, the other has
// random weights): whatever JSON comes back, the grammar made it. A grammar cannot make a
// model end a string: the random one picks a closing quote about once in 32k tokens, so its
// schema bounds the name's length and it gets no open-ended object.
const BOUNDED_PERSON = { ...PERSON, properties: { ...PERSON.properties, name: { type: 'string', maxLength: 12 } } };

describe.each([
  ['stories260K', stories, PERSON],
  ['llama-2-tiny-random', tiny, BOUNDED_PERSON],
])('grammar-constrained generation with %s', (name, path, person) => {
  let model: Model;
  let ctx: Context;
  beforeAll(async () => {
    if (!path) return;
    model = await Model.load(path);
    ctx = await model.createContext({ contextSize: 512, threads: 2, parallel: 2 });
  });
  afterAll(() => model?.dispose());

  it.skipIf(!path)('without a constraint the model does not write JSON', async () => {
    const text = await ctx.generate('Once upon a time', { temperature: 0, maxTokens: 40 }).text();
    expect(() => JSON.parse(text)).toThrow();
  });

  it.skipIf(!path)('a JSON schema forces JSON that matches it, for several seeds', async () => {
    // The grammar allows only JSON, but when a string ends is the model's choice: a few
    // samples may still be inside one at maxTokens, and say so.
    let complete = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const result = await ctx.generate('Once upon a time', { jsonSchema: person, seed, temperature: 1, maxTokens: 200 }).result;
      if (result.stopReason === 'maxTokens') continue;
      expect(result.stopReason).toBe('eos'); // the grammar was complete: only end of generation was left
      expectPerson(result.text);
      complete++;
    }
    expect(complete).toBeGreaterThanOrEqual(4);
  });

  it.skipIf(!path)('greedy with a JSON schema too', async () => {
    expectPerson(await ctx.generate('Once upon a time', { jsonSchema: person, temperature: 0, maxTokens: 200 }).text());
  });

  it.skipIf(!path || name !== 'stories260K')('the schema {"type":"object"} gives a JSON object', async () => {
    const result = await ctx.generate('Hello', { jsonSchema: { type: 'object' }, seed: 7, maxTokens: 200 }).result;
    expect(result.stopReason).toBe('eos');
    const value: unknown = JSON.parse(result.text);
    expect(value !== null && typeof value === 'object' && !Array.isArray(value)).toBe(true);
  });

  it.skipIf(!path)('a GBNF grammar gives exactly one of its strings', async () => {
    for (const seed of [1, 2, 3]) {
      const text = await ctx.generate('Once upon a time', { grammar: 'root ::= "yes" | "no"', seed, maxTokens: 20 }).text();
      expect(['yes', 'no']).toContain(text);
    }
  });

  it.skipIf(!path)('a bad grammar or schema is an InvalidArgumentError and the context still works', async () => {
    await expect(ctx.generate('Hi', { grammar: 'root ::= "unclosed' }).result).rejects.toThrow(InvalidArgumentError);
    await expect(ctx.generate('Hi', { grammar: 'start ::= "x"' }).result).rejects.toThrow(/Invalid GBNF grammar/);
    expect(() => ctx.generate('Hi', { jsonSchema: { type: 'object', properties: { a: { $ref: '#/nowhere' } } } }))
      .toThrow(InvalidArgumentError);
    expect(() => ctx.generate('Hi', { jsonSchema: 'object' as unknown as object })).toThrow(/Expected a JSON schema object for jsonSchema/);
    expect(() => ctx.generate('Hi', { grammar: 'root ::= "a"', jsonSchema: {} })).toThrow(InvalidArgumentError);
    expect(await ctx.generate('Hi', { grammar: 'root ::= "ok"', maxTokens: 5 }).text()).toBe('ok');
  });

  it.skipIf(!path)('a grammar no token can continue fails that generation only', async () => {
    // No token's text is a NUL byte: every candidate is refused.
    const dead = ctx.generate('Hi', { grammar: 'root ::= "\\x00"', seed: 1 });
    const free = ctx.generate('Hi', { temperature: 0, maxTokens: 8, ignoreEos: true });
    await expect(dead.result).rejects.toThrow(/Sampling failed after 0 tokens: the grammar allows no token/);
    await expect(dead.result).rejects.toThrow(InvalidArgumentError);
    expect((await free.result).generatedTokens).toBe(8);
    expect(await ctx.generate('Hi', { grammar: 'root ::= "ok"', temperature: 0 }).text()).toBe('ok');
  });

  it.skipIf(!path)('runs beside an unconstrained generation on another slot', async () => {
    const free = ctx.generate('Once upon a time', { temperature: 0, maxTokens: 60, ignoreEos: true });
    const json = ctx.generate('Once upon a time', { jsonSchema: person, seed: 5, maxTokens: 200 });
    const [freeResult, jsonResult] = await Promise.all([free.result, json.result]);
    expectPerson(jsonResult.text);
    expect(freeResult.generatedTokens).toBe(60);
    // The free one is the text it gives alone: the other slot's grammar did not touch it.
    expect(freeResult.text).toBe(await ctx.generate('Once upon a time', { temperature: 0, maxTokens: 60, ignoreEos: true }).text());
  });

  it.skipIf(!path)('output cut short by maxTokens says so', async () => {
    const result = await ctx.generate('Hi', { jsonSchema: person, seed: 1, maxTokens: 3 }).result;
    expect(result.stopReason).toBe('maxTokens');
    expect(() => JSON.parse(result.text)).toThrow();
  });
});

describe.skipIf(!stories)('structured output through prompt options and LocalLlm (stories260K)', () => {
  let manager: ModelManager;
  beforeAll(() => { manager = new ModelManager({ threads: 1, contextSize: 512, keepAliveMs: 0 }); });
  afterAll(async () => manager?.dispose());

  /** Runs `raw` options (stored prompt JSON, as a caller may override them) on stories260K. */
  async function run(raw: Record<string, unknown>): Promise<string> {
    const options = normalizeOptions({ ...callerOverrides(raw), model: stories });
    return (await new LocalLlm(manager).stream(llmRequest(options, { text: 'Once upon a time' })).result).text;
  }

  it('response_format json_schema', async () => {
    expectPerson(await run({ response_format: { type: 'json_schema', json_schema: { name: 'person', schema: PERSON } }, seed: 1, max_new_tokens: 300 }));
  });

  it('json_schema (llama.cpp\'s name for a bare schema)', async () => {
    const options = normalizeOptions({ json_schema: PERSON });
    expect(options.responseFormat).toEqual({ type: 'json_schema', schema: PERSON });
    expectPerson(await run({ json_schema: PERSON, seed: 1, max_new_tokens: 300 }));
  });

  it('response_format json_object', async () => {
    const value: unknown = JSON.parse(await run({ response_format: { type: 'json_object' }, seed: 5, max_new_tokens: 300 }));
    expect(value !== null && typeof value === 'object' && !Array.isArray(value)).toBe(true);
  });

  it('grammar', async () => {
    expect(await run({ grammar: 'root ::= "yes" | "no"', seed: 2 })).toMatch(/^(yes|no)$/);
    expect(() => normalizeOptions({ grammar: 3 })).toThrow('Expected a string for grammar but received 3');
  });
});
