import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, startServer, stories, type TestServer } from './helpers.js';

const PERSON = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer' } },
  required: ['name', 'age'],
  additionalProperties: false,
};

function expectPerson(value: unknown): void {
  const person = value as Record<string, unknown>;
  expect(typeof person).toBe('object');
  expect(typeof person.name).toBe('string');
  expect(Number.isInteger(person.age)).toBe(true);
}

// stories260K writes children's stories, never JSON: JSON in a reply is the grammar's doing.
describe.skipIf(!stories)('structured output on stories260K', () => {
  let t: TestServer;
  let client: OpenAI;
  const ask = [{ role: 'user' as const, content: 'Tell me about a cat.' }];
  const personFormat = { type: 'json_schema' as const, json_schema: { name: 'person', schema: PERSON, strict: true } };

  beforeAll(async () => {
    t = await startServer({ model: stories });
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'any-key-is-fine', maxRetries: 0 });
  });
  afterAll(async () => t?.close());

  it('without response_format the reply is no JSON', async () => {
    const completion = await client.chat.completions.create({ model: 'default', messages: ask, max_tokens: 40, temperature: 0 });
    expect(() => JSON.parse(completion.choices[0].message.content!)).toThrow();
  });

  it('response_format json_schema: the SDK parses a reply that matches the schema, for several seeds', async () => {
    for (const seed of [1, 2, 3]) {
      const completion = await client.chat.completions.parse({ model: 'default', messages: ask, max_tokens: 300, seed, response_format: personFormat });
      const choice = completion.choices[0];
      expect(choice.finish_reason).toBe('stop');
      expectPerson(choice.message.parsed);
    }
  });

  it('streams the same constrained JSON', async () => {
    const stream = await client.chat.completions.create({ model: 'default', messages: ask, max_tokens: 300, seed: 4, response_format: personFormat, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expectPerson(JSON.parse(text));
  });

  it('response_format json_object gives a JSON object', async () => {
    const completion = await client.chat.completions.create({ model: 'default', messages: ask, max_tokens: 300, seed: 5, response_format: { type: 'json_object' } });
    const value: unknown = JSON.parse(completion.choices[0].message.content!);
    expect(value !== null && typeof value === 'object' && !Array.isArray(value)).toBe(true);
  });

  it('JSON cut short by max_tokens is finish_reason "length", not "stop"', async () => {
    const completion = await client.chat.completions.create({ model: 'default', messages: ask, max_tokens: 3, seed: 1, response_format: personFormat });
    expect(completion.choices[0].finish_reason).toBe('length');
    expect(() => JSON.parse(completion.choices[0].message.content!)).toThrow();
  });

  it('a schema llama.cpp cannot convert is a 400', async () => {
    const response = await postJson(`${t.url}/v1/chat/completions`, {
      messages: ask, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { $ref: '#/nowhere' } } } } },
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toMatch(/Invalid JSON schema/);
  });

  it('llama.cpp /completion with json_schema', async () => {
    const response = await postJson(`${t.url}/completion`, { prompt: 'Once upon a time', n_predict: 300, seed: 1, json_schema: PERSON });
    expect(response.status).toBe(200);
    const body = await response.json() as { content: string; stop_type: string };
    expect(body.stop_type).toBe('eos');
    expectPerson(JSON.parse(body.content));
  });

  it('llama.cpp /completion with a GBNF grammar', async () => {
    for (const seed of [1, 2, 3]) {
      const response = await postJson(`${t.url}/completion`, { prompt: 'Once upon a time', n_predict: 20, seed, grammar: 'root ::= "yes" | "no"' });
      const body = await response.json() as { content: string };
      expect(['yes', 'no']).toContain(body.content);
    }
  });

  it('llama.cpp /completion with a grammar that does not parse is a 400', async () => {
    const response = await postJson(`${t.url}/completion`, { prompt: 'Hi', grammar: 'root ::= "unclosed' });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toMatch(/Invalid GBNF grammar/);
  });

  it('the OpenAI chat route takes llama.cpp\'s grammar field too', async () => {
    const completion = await client.chat.completions.create({ model: 'default', messages: ask, max_tokens: 20, seed: 1, grammar: 'root ::= "yes" | "no"' } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(['yes', 'no']).toContain(completion.choices[0].message.content);
  });

  it('Ollama format: a JSON schema', async () => {
    const response = await postJson(`${t.url}/api/chat`, { model: 'default', messages: ask, stream: false, format: PERSON, options: { seed: 3, num_predict: 300 } });
    const body = await response.json() as { message: { content: string } };
    expectPerson(JSON.parse(body.message.content));
  });

  it('a grammar or schema nested deep enough to overflow llama.cpp\'s recursive parser is a 400, and the server lives on', async () => {
    // 20,000 nested groups SIGSEGV'd the whole server inside llama.cpp's grammar parser.
    const grammar = `root ::= ${'('.repeat(20000)}"a"${')'.repeat(20000)}`;
    const deepGrammar = await postJson(`${t.url}/completion`, { prompt: 'Hi', n_predict: 2, grammar });
    expect(deepGrammar.status).toBe(400);
    expect(await deepGrammar.text()).toContain('nested at most 128 deep');
    // JSON.stringify cannot even write this schema: the body is built as text.
    const schema = '{"type":"object","properties":{"a":'.repeat(20000) + '{"type":"string"}' + '}}'.repeat(20000);
    const deepSchema = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: `{"messages":[{"role":"user","content":"hi"}],"max_tokens":2,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${schema}}}}`,
    });
    expect(deepSchema.status).toBe(400);
    expect(await deepSchema.text()).toContain('nested at most 64 levels deep');
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
  });
});
