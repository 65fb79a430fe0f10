import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentBlockEvents, contentBlocks } from '../../src/http/anthropic-events.js';
import { ReasoningSplitter } from '../../src/http/reasoning.js';
import { postJson, readChunks, startServer, stories, waitFor, type TestServer } from './helpers.js';

const system = 'You tell short stories.';
const hello = [{ role: 'user' as const, content: 'Tell me about a cat.' }];

/** The params with temperature 0 (greedy): the SDK's types no longer list temperature, the API still takes it. */
function greedy<T extends object>(params: T): T & { temperature: number } {
  return { ...params, temperature: 0 };
}

interface AnthropicError {
  type: string;
  error: { type: string; message: string };
}

/** The events of an Anthropic SSE body: each `event: <name>` line with its data. */
function namedEvents(body: string): Array<{ event: string; data: { type: string } & Record<string, unknown> }> {
  return body.split('\n\n').filter((unit) => unit !== '').map((unit) => {
    const match = /^event: (\w+)\ndata: (.+)$/.exec(unit);
    if (!match) throw new Error(`not one named event: ${JSON.stringify(unit)}`);
    return { event: match[1], data: JSON.parse(match[2]) };
  });
}

describe('Anthropic content blocks', () => {
  it('streams <think> reasoning as a thinking block closed with a signature, then the text block', () => {
    const blocks = new ContentBlockEvents();
    const splitter = new ReasoningSplitter();
    const events = ['<thi', 'nk>I should', ' greet.</think>\n\nHel', 'lo!'].flatMap((text) => blocks.push(splitter.push(text)));
    events.push(...blocks.push(splitter.flush()), ...blocks.finish());
    expect(events).toEqual([
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
      { type: 'ping' },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'I should' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: ' greet.' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: '' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hel' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'lo!' } },
      { type: 'content_block_stop', index: 1 },
    ]);
    expect(contentBlocks({ reasoning: 'I should greet.', content: 'Hello!' })).toEqual([
      { type: 'thinking', thinking: 'I should greet.', signature: '' },
      { type: 'text', text: 'Hello!' },
    ]);
  });

  it('sends a ping and no block for an empty reply', () => {
    const blocks = new ContentBlockEvents();
    expect([...blocks.push({ content: '', reasoning: '' }), ...blocks.finish()]).toEqual([{ type: 'ping' }]);
    expect(contentBlocks({ reasoning: '', content: '' })).toEqual([]);
  });
});

describe.skipIf(!stories)('Anthropic Messages API on stories260K', () => {
  let t: TestServer;
  let client: Anthropic;

  beforeAll(async () => {
    t = await startServer({ model: stories });
    client = new Anthropic({ baseURL: t.url, apiKey: 'any-key-is-fine', maxRetries: 0 });
  });
  afterAll(async () => t?.close());

  it('answers a message with a text block, the model echoed, max_tokens as stop_reason and usage', async () => {
    const message = await client.messages.create(greedy({ model: 'claude-test', max_tokens: 8, system, messages: hello }));
    expect(message.type).toBe('message');
    expect(message.role).toBe('assistant');
    expect(message.id).toMatch(/^msg_[0-9a-f]{24}$/);
    expect(message.model).toBe('claude-test');
    expect(message.content).toHaveLength(1);
    expect(message.content[0].type).toBe('text');
    expect((message.content[0] as Anthropic.TextBlock).text.length).toBeGreaterThan(0);
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.stop_sequence).toBeNull();
    expect(message.usage.output_tokens).toBe(8);
    expect(message.usage.input_tokens + (message.usage.cache_read_input_tokens ?? 0)).toBeGreaterThan(10);
  });

  it('takes the system prompt as a string or as text blocks, and content as a string or text blocks', async () => {
    const asString = await client.messages.create(greedy({ max_tokens: 6, system, messages: hello, model: 'default' }));
    const asBlocks = await client.messages.create(greedy({
      model: 'default',
      max_tokens: 6,
      system: [{ type: 'text' as const, text: system }],
      messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: hello[0].content }] }],
    }));
    expect(asBlocks.content).toEqual(asString.content);
    const withoutSystem = await client.messages.countTokens({ model: 'default', messages: hello });
    const withSystem = await client.messages.countTokens({ model: 'default', system, messages: hello });
    expect(withSystem.input_tokens).toBeGreaterThan(withoutSystem.input_tokens);
  });

  it('streams message_start, content_block_start, ping, text deltas, content_block_stop, message_delta, message_stop: the same text', async () => {
    const request = greedy({ model: 'claude-test', max_tokens: 10, system, messages: hello });
    const whole = await client.messages.create(request);
    const stream = client.messages.stream(request);
    const events: Anthropic.MessageStreamEvent[] = [];
    stream.on('streamEvent', (event) => events.push(event));
    const final = await stream.finalMessage();
    const types = events.map((event) => event.type);
    expect(types.slice(0, 2)).toEqual(['message_start', 'content_block_start']);
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(types.slice(2, -3).every((type) => type === 'content_block_delta')).toBe(true);
    expect(types.length).toBeGreaterThan(5);
    const deltas = events.filter((event): event is Anthropic.RawContentBlockDeltaEvent => event.type === 'content_block_delta');
    expect(deltas.every((event) => event.index === 0 && event.delta.type === 'text_delta')).toBe(true);
    expect(final.content).toEqual(whole.content);
    expect(final.stop_reason).toBe('max_tokens');
    expect(final.usage.output_tokens).toBe(10);
    const prompt = (usage: Anthropic.Usage) => usage.input_tokens + (usage.cache_read_input_tokens ?? 0);
    expect(prompt(final.usage)).toBe(prompt(whole.usage));
  });

  it('frames each event as one "event: <type>\\ndata: <json>" unit, a ping after the first block opens', async () => {
    const response = await postJson(`${t.url}/v1/messages`, { max_tokens: 5, temperature: 0, messages: hello, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const chunks = await readChunks(response);
    // Each network read holds whole events (clients that parse by hand assume it).
    for (const chunk of chunks) expect(chunk.endsWith('\n\n'), JSON.stringify(chunk)).toBe(true);
    const events = namedEvents(chunks.join(''));
    for (const { event, data } of events) expect(data.type).toBe(event);
    expect(events.slice(0, 3).map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'ping']);
    expect(events[1].data).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    const delta = events.at(-2)!.data;
    expect(delta).toMatchObject({ type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 5 } });
  });

  it('counts the tokens of the rendered prompt: what /tokenize counts and what a generation reports', async () => {
    const counted = await client.messages.countTokens({ model: 'default', system, messages: hello });
    const { prompt } = await (await postJson(`${t.url}/apply-template`, { messages: [{ role: 'system', content: system }, ...hello] })).json() as { prompt: string };
    const { tokens } = await (await postJson(`${t.url}/tokenize`, { content: prompt, add_special: true })).json() as { tokens: number[] };
    expect(counted.input_tokens).toBe(tokens.length);
    const generated = await client.messages.create({ model: 'default', max_tokens: 1, system, messages: hello });
    expect(generated.usage.input_tokens + (generated.usage.cache_read_input_tokens ?? 0)).toBe(counted.input_tokens);
    // max_tokens is not needed here, and the count grows with the conversation.
    const longer = await postJson(`${t.url}/v1/messages/count_tokens`, { system, messages: [...hello, { role: 'assistant', content: 'A cat sat.' }, { role: 'user', content: 'More!' }] });
    expect(longer.status).toBe(200);
    expect(((await longer.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(counted.input_tokens);
  });

  it('stops at a stop sequence with stop_reason stop_sequence and names it, streamed and not', async () => {
    const request = greedy({ model: 'default', max_tokens: 30, system, messages: hello });
    const free = ((await client.messages.create(request)).content[0] as Anthropic.TextBlock).text;
    const word = free.split(/\s+/).filter((w) => /^[a-z]{3,}$/.test(w))[1];
    expect(word, free).toBeDefined();
    const stopped = await client.messages.create({ ...request, stop_sequences: [word] });
    expect(stopped.stop_reason).toBe('stop_sequence');
    expect(stopped.stop_sequence).toBe(word);
    expect(((stopped.content[0] as Anthropic.TextBlock)?.text ?? '')).toBe(free.slice(0, free.indexOf(word)));
    const streamed = await client.messages.stream({ ...request, stop_sequences: [word] }).finalMessage();
    expect(streamed.stop_reason).toBe('stop_sequence');
    expect(streamed.stop_sequence).toBe(word);
    expect(streamed.content).toEqual(stopped.content);
    // With several sequences the engine does not say which one matched.
    const several = await client.messages.create({ ...request, stop_sequences: [word, 'zzzqqq'] });
    expect(several.stop_reason).toBe('stop_sequence');
    expect(several.stop_sequence).toBeNull();
  });

  it('holds the reply to output_config.format\'s JSON schema (stories260K writes no JSON by itself)', async () => {
    const schema = { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name', 'age'], additionalProperties: false };
    const free = await client.messages.create(greedy({ model: 'default', max_tokens: 40, messages: hello }));
    expect(() => JSON.parse((free.content[0] as Anthropic.TextBlock).text)).toThrow();
    for (const seed of [1, 2]) {
      const message = await client.messages.create({ model: 'default', max_tokens: 300, messages: hello, output_config: { format: { type: 'json_schema', schema } }, ...{ seed } });
      expect(message.stop_reason).toBe('end_turn');
      const person = JSON.parse((message.content[0] as Anthropic.TextBlock).text) as { name: unknown; age: unknown };
      expect(typeof person.name).toBe('string');
      expect(Number.isInteger(person.age)).toBe(true);
    }
    const bad = await postJson(`${t.url}/v1/messages`, { max_tokens: 5, messages: hello, output_config: { format: { type: 'json_object' } } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as AnthropicError).error.message).toMatch(/for output_config\.format/);
  });

  it('stops generating when the client aborts mid-stream', async () => {
    const before = t.reports.length;
    const stream = client.messages.stream({ model: 'default', max_tokens: 1500, messages: hello });
    let deltas = 0;
    for await (const event of stream) {
      if (event.type === 'content_block_delta' && ++deltas === 2) {
        stream.abort();
        break;
      }
    }
    await waitFor(() => t.reports.length > before, 10_000, 'the aborted generation to end');
    expect(t.reports[before]).toMatchObject({ route: 'POST /v1/messages', outcome: 'aborted' });
    expect(t.reports[before].completionTokens ?? 0).toBeLessThan(1500);
  });

  it('runs a saved prompt named as model (its instruction is the persona); count_tokens refuses it', async () => {
    await t.akachat.prompts.save('anthropic-persona', 'You are Tama, a cat who loves fish and naps in the sun every afternoon.', { max_new_tokens: 3, temperature: 0 });
    const plain = await client.messages.create({ model: 'default', max_tokens: 3, messages: [{ role: 'user', content: 'Hello' }] });
    const persona = await client.messages.create({ model: 'anthropic-persona', max_tokens: 3, messages: [{ role: 'user', content: 'Hello' }] });
    expect(persona.model).toBe('anthropic-persona');
    expect(persona.usage.output_tokens).toBe(3);
    const prompt = (usage: Anthropic.Usage) => usage.input_tokens + (usage.cache_read_input_tokens ?? 0);
    expect(prompt(persona.usage)).toBeGreaterThan(prompt(plain.usage) + 10);
    expect(t.reports.at(-1)!.model).toBe('anthropic-persona');
    const count = await postJson(`${t.url}/v1/messages/count_tokens`, { model: 'anthropic-persona', messages: hello });
    expect(count.status).toBe(400);
    expect(((await count.json()) as AnthropicError).error.message).toMatch(/a saved prompt/);
  });

  it('answers bad input with 400 in Anthropic\'s error shape, naming the field', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ messages: hello }, /max_tokens: Field required/],
      [{ max_tokens: 5, messages: [{ role: 'system', content: 'x' }] }, /"user" or "assistant" for messages\[0\]\.role.*top-level system field/],
      [{ max_tokens: 5, messages: [] }, /non-empty array of messages for messages/],
      [{ max_tokens: 0, messages: hello }, /integer >= 1 for max_tokens/],
      [{ max_tokens: 5, temperature: 1.5, messages: hello }, /between 0 and 1 for temperature/],
      [{ max_tokens: 5, stop_sequences: 'x', messages: hello }, /array of strings for stop_sequences/],
      [{ max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] }, /messages\[0\]\.content\[0\]\.type/],
      [{ max_tokens: 5, system: [{ type: 'image' }], messages: hello }, /for system\[0\]/],
      [{ max_tokens: 5, stop: ['x'], messages: hello }, /stop: not a Messages API field; send .*stop_sequences/],
      [{ max_tokens: 5, tools: [{ name: 'wave', input_schema: { type: 'object' } }], messages: hello }, /tool use is not supported yet/],
      [{ max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'x', content: 'y' }] }] }, /tool use is not supported yet/],
    ];
    for (const [body, message] of cases) {
      const response = await postJson(`${t.url}/v1/messages`, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const error = await response.json() as AnthropicError;
      expect(error.type).toBe('error');
      expect(error.error.type).toBe('invalid_request_error');
      expect(error.error.message, JSON.stringify(body)).toMatch(message);
    }
    // The SDK reads it as its BadRequestError.
    const thrown = await client.messages.create({ model: 'x', max_tokens: 0, messages: hello }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(Anthropic.BadRequestError);
    expect((thrown as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    // count_tokens checks the same body, max_tokens aside.
    const count = await postJson(`${t.url}/v1/messages/count_tokens`, { messages: [{ role: 'tool', content: 'x' }] });
    expect(count.status).toBe(400);
    expect(((await count.json()) as AnthropicError).error.message).toMatch(/messages\[0\]\.role/);
  });

  it('refuses options only the owner sets with 403 permission_error, before anything runs', async () => {
    const before = t.reports.length;
    for (const [key, value] of [['chat_template', '{{ x }}'], ['endpoint', 'http://127.0.0.1:9/v1'], ['provider', 'openai'], ['input_tokens', 99999]] as const) {
      for (const path of ['/v1/messages', '/v1/messages/count_tokens']) {
        const response = await postJson(`${t.url}${path}`, { max_tokens: 5, messages: hello, [key]: value });
        expect(response.status, `${path} ${key}`).toBe(403);
        const error = await response.json() as AnthropicError;
        expect(error).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
        expect(error.error.message).toContain(`${key} is chosen by the server's owner`);
      }
    }
    expect(t.reports.length).toBe(before);
  });

  it('answers unknown methods and paths under /v1/messages in Anthropic\'s shape', async () => {
    const get = await fetch(`${t.url}/v1/messages`);
    expect(get.status).toBe(405);
    expect(await get.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('use POST') } });
    const missing = await postJson(`${t.url}/v1/messages/batches`, {});
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });

  it('lists both routes in /openapi.json', async () => {
    const doc = await (await fetch(`${t.url}/openapi.json`)).json() as { paths: Record<string, Record<string, { tags?: string[] }>> };
    expect(doc.paths['/v1/messages'].post.tags).toEqual(['Anthropic-compatible']);
    expect(doc.paths['/v1/messages/count_tokens'].post).toBeDefined();
  });
});

describe.skipIf(!stories)('Anthropic Messages API with an API key', () => {
  let t: TestServer;
  const key = 'sk-anthropic-test-key';
  const count = (headers: Record<string, string>) => postJson(`${t.url}/v1/messages/count_tokens`, { messages: hello }, { headers });

  beforeAll(async () => {
    t = await startServer({ model: stories, serve: { apiKey: key } });
  });
  afterAll(async () => t?.close());

  it('takes the key as x-api-key or as Authorization: Bearer, and refuses others with 401 authentication_error', async () => {
    expect((await count({ 'x-api-key': key })).status).toBe(200);
    expect((await count({ authorization: `Bearer ${key}` })).status).toBe(200);
    // A dummy Authorization does not hide a right x-api-key (clients send both).
    expect((await count({ authorization: 'Bearer dummy', 'x-api-key': key })).status).toBe(200);
    for (const headers of [{}, { 'x-api-key': 'wrong' }, { 'x-api-key': `${key}x` }, { authorization: 'Bearer wrong' }, { 'x-api-key': '' }] as Array<Record<string, string>>) {
      const response = await count(headers);
      expect(response.status, JSON.stringify(headers)).toBe(401);
      const error = await response.json() as AnthropicError;
      expect(error).toMatchObject({ type: 'error', error: { type: 'authentication_error', message: expect.stringContaining('x-api-key') } });
    }
    // x-api-key opens the other dialects too, as on llama-server.
    expect((await fetch(`${t.url}/v1/models`, { headers: { 'x-api-key': key } })).status).toBe(200);
  });

  it('serves the Anthropic SDK with the key, and its AuthenticationError without it', async () => {
    const client = new Anthropic({ baseURL: t.url, apiKey: key, maxRetries: 0 });
    const message = await client.messages.create({ model: 'default', max_tokens: 3, messages: hello });
    expect(message.usage.output_tokens).toBeGreaterThan(0);
    const wrong = new Anthropic({ baseURL: t.url, apiKey: 'wrong', maxRetries: 0 });
    await expect(wrong.messages.countTokens({ model: 'default', messages: hello })).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
  });
});
