import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anthropicStop, ContentBlockEvents, contentBlocks } from '../../src/http/anthropic-events.js';
import { normalizeAnthropicMessages } from '../../src/http/anthropic-normalize.js';
import { ReasoningSplitter } from '../../src/http/reasoning.js';
import { DEFAULT_GENERATION_SETTINGS } from '../../src/llm/types.js';
import { loadAddon } from '../../src/engine/addon.js';
import { addonBuilt, sharedModel } from '../support/models.js';
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
    expect(contentBlocks({ reasoning: 'I should greet.', content: 'Hello!', toolCalls: [] })).toEqual([
      { type: 'thinking', thinking: 'I should greet.', signature: '' },
      { type: 'text', text: 'Hello!' },
    ]);
  });

  it('streams tool calls as tool_use blocks with input_json_delta, after the text; whole replies parse the input', () => {
    const blocks = new ContentBlockEvents();
    const events = [
      { content: 'Let me look.' },
      { toolCall: { index: 0, id: 'call_a', name: 'get_weather', arguments: '{"city":' } },
      { toolCall: { index: 0, arguments: ' "Paris"}' } },
      { toolCall: { index: 1, id: 'call_b', name: 'get_time', arguments: '' } },
      { toolCall: { index: 1, arguments: '{}' } },
    ].flatMap((delta) => blocks.push(delta));
    events.push(...blocks.finish());
    expect(events).toEqual([
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'ping' },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Let me look.' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_a', name: 'get_weather', input: {} } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: ' "Paris"}' } },
      { type: 'content_block_stop', index: 1 },
      { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'call_b', name: 'get_time', input: {} } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{}' } },
      { type: 'content_block_stop', index: 2 },
    ]);
    const calls = [
      { id: 'call_a', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city": "Paris"}' } },
      { id: 'call_b', type: 'function' as const, function: { name: 'get_time', arguments: 'not json' } },
    ];
    expect(contentBlocks({ reasoning: '', content: '', toolCalls: calls })).toEqual([
      { type: 'tool_use', id: 'call_a', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_b', name: 'get_time', input: {} },
    ]);
  });

  it('tells stop reasons apart: tool_use unless cut short; a stop string only when the request or prompt had one', () => {
    const none = { content: 'x', reasoning: '', toolCalls: [] };
    const called = { ...none, toolCalls: [{ id: 'c', type: 'function' as const, function: { name: 'f', arguments: '{}' } }] };
    const settings = (stop: string[]) => ({ ...DEFAULT_GENERATION_SETTINGS, stop });
    expect(anthropicStop(called, { stopReason: 'eos' })).toEqual({ stop_reason: 'tool_use', stop_sequence: null });
    expect(anthropicStop(called, { stopReason: 'maxTokens' })).toEqual({ stop_reason: 'max_tokens', stop_sequence: null });
    expect(anthropicStop(none, { stopReason: 'contextFull' })).toEqual({ stop_reason: 'model_context_window_exceeded', stop_sequence: null });
    expect(anthropicStop(none, { stopReason: 'stop', settings: settings(['END']) })).toEqual({ stop_reason: 'stop_sequence', stop_sequence: 'END' });
    expect(anthropicStop(none, { stopReason: 'stop', settings: settings(['END', 'FIN']) })).toEqual({ stop_reason: 'stop_sequence', stop_sequence: null });
    // A stop string of the chat template's own (llama.cpp adds some) ends the turn.
    expect(anthropicStop(none, { stopReason: 'stop', settings: settings([]) })).toEqual({ stop_reason: 'end_turn', stop_sequence: null });
    expect(anthropicStop(none, { stopReason: 'eos' })).toEqual({ stop_reason: 'end_turn', stop_sequence: null });
  });

  it('turns tool_use blocks into the assistant\'s tool calls and tool_result blocks into tool turns named after their call, in block order', () => {
    const request = normalizeAnthropicMessages({
      max_tokens: 5,
      system: [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Use tools.' }],
      messages: [
        { role: 'user', content: 'Weather in Paris and the time?' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'two tools', signature: '' }, { type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'c1', name: 'get_weather', input: { city: 'Paris' } }, { type: 'tool_use', id: 'c2', name: 'get_time', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c1', content: [{ type: 'text', text: '21 C' }] }, { type: 'tool_result', tool_use_id: 'c2', content: '10:00' }, { type: 'text', text: 'And' }, { type: 'text', text: 'tomorrow?' }] },
      ],
      tools: [{ name: 'get_weather', input_schema: { type: 'object' } }, { name: 'get_time', description: 'Now', input_schema: { type: 'object' } }],
      tool_choice: { type: 'auto', disable_parallel_tool_use: false },
      thinking: { type: 'disabled' },
    });
    expect(request.messages).toEqual([
      { role: 'system', content: 'Be brief.\nUse tools.' },
      { role: 'user', content: 'Weather in Paris and the time?' },
      { role: 'assistant', content: 'Checking.', toolCalls: [
        { id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'c2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
      ] },
      { role: 'tool', content: '21 C', toolCallId: 'c1', name: 'get_weather' },
      { role: 'tool', content: '10:00', toolCallId: 'c2', name: 'get_time' },
      { role: 'user', content: 'And\ntomorrow?' },
    ]);
    expect(request.chat).toEqual({
      tools: [
        { type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } },
        { type: 'function', function: { name: 'get_time', description: 'Now', parameters: { type: 'object' } } },
      ],
      toolChoice: 'auto',
      parallelToolCalls: true,
      chatTemplateKwargs: { enable_thinking: false },
    });
    expect(normalizeAnthropicMessages({ max_tokens: 5, messages: hello, tool_choice: { type: 'any' } }).chat).toEqual({ toolChoice: 'required' });
  });

  it('sends a ping and no block for an empty reply', () => {
    const blocks = new ContentBlockEvents();
    expect([...blocks.push({ content: '', reasoning: '' }), ...blocks.finish()]).toEqual([{ type: 'ping' }]);
    expect(contentBlocks({ reasoning: '', content: '', toolCalls: [] })).toEqual([]);
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

  it("lists the models through the Anthropic SDK's models.list()", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) {
      expect(model.type).toBe('model');
      expect(Number.isNaN(Date.parse(model.created_at))).toBe(false);
      ids.push(model.id);
    }
    expect(ids).toContain('stories260K');
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
      [{ max_tokens: 5, tools: [{ type: 'web_search_20250305', name: 'web_search' }], messages: hello }, /for tools\[0\] but received the server tool "web_search_20250305"/],
      [{ max_tokens: 5, tools: [{ name: 'wave' }], messages: hello }, /JSON schema object for tools\[0\]\.input_schema/],
      [{ max_tokens: 5, tool_choice: { type: 'required' }, messages: hello }, /for tool_choice\.type/],
      [{ max_tokens: 5, messages: [{ role: 'assistant', content: [{ type: 'tool_use', name: 'wave', input: {} }] }] }, /for messages\[0\]\.content\[0\]\.id/],
      [{ max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'tool_result', content: 'y' }] }] }, /for messages\[0\]\.content\[0\]\.tool_use_id/],
      [{ max_tokens: 5, thinking: { type: 'enabled' }, messages: hello }, /for thinking\.budget_tokens/],
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

// Tools and thinking through llama.cpp's chat layer, on llama-2-tiny-random with real models'
// templates (a preset's chat_template, the owner's choice): its random output calls a tool only
// when a grammar makes it (tool_choice any or tool), and reasons where the template opens the
// reasoning itself (DeepSeek R1). See test/http/tools.test.ts for the OpenAI side.
const chatLayer = addonBuilt && typeof loadAddon().chatTemplateApply === 'function';
const tiny = chatLayer ? sharedModel('tinyRandom32k') : undefined;
const templates = join(__dirname, '../../vendor/llama.cpp/models/templates');
const template = (name: string) => readFileSync(join(templates, `${name}.jinja`), 'utf8');

describe.skipIf(!tiny || !existsSync(templates))('Anthropic tool use and thinking (llama-2-tiny-random)', () => {
  let t: TestServer;
  let client: Anthropic;
  const weather: Anthropic.Tool = {
    name: 'get_weather',
    description: 'Current weather of a city',
    input_schema: { type: 'object', properties: { city: { type: 'string', enum: ['Paris', 'Tokyo'] } }, required: ['city'] },
  };
  const ask = [{ role: 'user' as const, content: 'Weather in Paris?' }];
  const promptTokens = (usage: Anthropic.Usage) => usage.input_tokens + (usage.cache_read_input_tokens ?? 0);

  beforeAll(async () => {
    t = await startServer({ model: tiny });
    await t.akachat.presets.set('qwen', { model: tiny!, chat_template: template('Qwen-Qwen2.5-7B-Instruct') });
    await t.akachat.presets.set('qwen3', { model: tiny!, chat_template: template('Qwen-Qwen3-0.6B') });
    await t.akachat.presets.set('r1', { model: tiny!, chat_template: template('deepseek-ai-DeepSeek-R1-Distill-Qwen-32B') });
    client = new Anthropic({ baseURL: t.url, apiKey: 'x', maxRetries: 0 });
  });
  afterAll(async () => t?.close());

  it('round-trips a tool call with the Anthropic SDK: a tool_use block and stop_reason tool_use, then the tool_result rendered by the template', async () => {
    const first = await client.messages.create(greedy({ model: 'qwen', max_tokens: 200, messages: ask, tools: [weather], tool_choice: { type: 'any' as const } }));
    expect(first.stop_reason).toBe('tool_use');
    const call = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use')!;
    expect(call).toMatchObject({ type: 'tool_use', name: 'get_weather', id: expect.stringMatching(/^call_/) });
    const city = (call.input as { city: string }).city;
    expect(['Paris', 'Tokyo']).toContain(city);

    const history: Anthropic.MessageParam[] = [
      ...ask,
      { role: 'assistant', content: first.content as Anthropic.ContentBlockParam[] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: `{"temperature": 21, "city": "${city}"}` }] },
    ];
    const second = await client.messages.create(greedy({ model: 'qwen', max_tokens: 4, messages: history, tools: [weather] }));
    expect(second.stop_reason).toBe('max_tokens');
    expect(promptTokens(second.usage)).toBeGreaterThan(promptTokens(first.usage));
    // count_tokens renders the same prompt, tools and tool turns included...
    const counted = await client.messages.countTokens({ model: 'qwen', messages: history, tools: [weather] });
    expect(counted.input_tokens).toBe(promptTokens(second.usage));
    // ...as the OpenAI route renders the same conversation in its own shape.
    const openAiHistory = [
      ...ask,
      { role: 'assistant', content: '', tool_calls: [{ id: call.id, type: 'function', function: { name: 'get_weather', arguments: JSON.stringify(call.input) } }] },
      { role: 'tool', tool_call_id: call.id, name: 'get_weather', content: `{"temperature": 21, "city": "${city}"}` },
    ];
    const openAiTool = { type: 'function', function: { name: weather.name, description: weather.description, parameters: weather.input_schema } };
    const rendered = await (await postJson(`${t.url}/apply-template`, { model: 'qwen', messages: openAiHistory, tools: [openAiTool] })).json() as { prompt: string };
    expect(rendered.prompt).toContain(`<tool_call>\n{"name": "get_weather", "arguments": {"city": "${city}"}}\n</tool_call>`);
    expect(rendered.prompt).toContain(`<tool_response>\n{"temperature": 21, "city": "${city}"}\n</tool_response>`);
    const { tokens } = await (await postJson(`${t.url}/tokenize`, { model: 'qwen', content: rendered.prompt, add_special: true })).json() as { tokens: number[] };
    expect(counted.input_tokens).toBe(tokens.length);
  });

  it('streams a named tool\'s call as a tool_use block with input_json_delta that the SDK assembles', async () => {
    const stream = client.messages.stream(greedy({ model: 'qwen', max_tokens: 200, messages: ask, tools: [weather], tool_choice: { type: 'tool' as const, name: 'get_weather' } }));
    const events: Anthropic.MessageStreamEvent[] = [];
    stream.on('streamEvent', (event) => events.push(event));
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    const call = final.content.find((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use')!;
    expect(call.name).toBe('get_weather');
    expect(['Paris', 'Tokyo']).toContain((call.input as { city: string }).city);
    const start = events.find((event): event is Anthropic.RawContentBlockStartEvent => event.type === 'content_block_start' && event.content_block.type === 'tool_use')!;
    expect(start.content_block).toMatchObject({ type: 'tool_use', id: call.id, name: 'get_weather', input: {} });
    const json = events.filter((event): event is Anthropic.RawContentBlockDeltaEvent => event.type === 'content_block_delta' && event.index === start.index);
    expect(json.length).toBeGreaterThan(0);
    expect(json.every((event) => event.delta.type === 'input_json_delta')).toBe(true);
    expect(JSON.parse(json.map((event) => (event.delta as Anthropic.InputJSONDelta).partial_json).join(''))).toEqual(call.input);
    expect(events.some((event) => event.type === 'content_block_delta' && event.delta.type === 'text_delta')).toBe(false);
  });

  it('passes a remote service\'s tool calls through as tool_use blocks, streamed and not (akachat itself as the service)', async () => {
    await t.akachat.presets.set('remote-qwen', { provider: 'openai', endpoint: `${t.url}/v1`, model: 'qwen' });
    const request = greedy({ model: 'remote-qwen', max_tokens: 200, messages: ask, tools: [weather], tool_choice: { type: 'tool' as const, name: 'get_weather' } });
    const whole = await client.messages.create(request);
    expect(whole.stop_reason).toBe('tool_use');
    const call = whole.content.find((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use')!;
    expect(call.name).toBe('get_weather');
    const streamed = await client.messages.stream(request).finalMessage();
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.content.filter((block) => block.type === 'tool_use')).toEqual([{ ...call, id: expect.any(String) }]);
  });

  it('answers in text with tool_choice auto, and 400 for a tool_choice naming no tool', async () => {
    const reply = await client.messages.create(greedy({ model: 'qwen', max_tokens: 4, messages: ask, tools: [weather] }));
    expect(reply.stop_reason).toBe('max_tokens');
    expect(reply.content.map((block) => block.type)).toEqual(['text']);
    const error = await client.messages.create({ model: 'qwen', max_tokens: 4, messages: ask, tools: [weather], tool_choice: { type: 'tool', name: 'nope' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as Error).message).toMatch(/function named in tools/);
  });

  it('gives reasoning as a thinking block (DeepSeek R1 opens <think> in its prompt), streamed as thinking deltas', async () => {
    const request = greedy({ model: 'r1', max_tokens: 6, messages: ask });
    const whole = await client.messages.create(request);
    expect(whole.content.map((block) => block.type)).toEqual(['thinking']);
    const thinking = whole.content[0] as Anthropic.ThinkingBlock;
    expect(thinking.thinking.length).toBeGreaterThan(0);
    expect(thinking.signature).toBe('');
    const stream = client.messages.stream(request);
    const events: Anthropic.MessageStreamEvent[] = [];
    stream.on('streamEvent', (event) => events.push(event));
    const final = await stream.finalMessage();
    expect(final.content).toEqual(whole.content);
    const deltas = events.flatMap((event) => (event.type === 'content_block_delta' ? [event.delta.type] : []));
    expect(new Set(deltas)).toEqual(new Set(['thinking_delta', 'signature_delta']));
    expect(deltas.at(-1)).toBe('signature_delta');
  });

  it('turns thinking on and off through the template\'s enable_thinking (Qwen3)', async () => {
    const count = async (thinking: Anthropic.ThinkingConfigParam | undefined) => (await client.messages.countTokens({ model: 'qwen3', messages: ask, ...(thinking ? { thinking } : {}) })).input_tokens;
    const on = await count({ type: 'enabled', budget_tokens: 1024 });
    const off = await count({ type: 'disabled' });
    // Qwen3's template closes an empty <think></think> in the prompt when thinking is off.
    expect(off).toBeGreaterThan(on);
    expect(await count(undefined)).toBe(on);
    const kwargs = await (await postJson(`${t.url}/v1/messages/count_tokens`, { model: 'qwen3', messages: ask, thinking: { type: 'enabled', budget_tokens: 1024 }, chat_template_kwargs: { enable_thinking: false } })).json() as { input_tokens: number };
    expect(kwargs.input_tokens).toBe(off);
  });
});
