/**
 * Tool calls and reasoning over HTTP, with the real clients: the openai SDK (tools round trip,
 * streamed tool-call deltas through its stream helper), the ollama client, raw llama.cpp
 * /apply-template. The model is llama-2-tiny-random with real models' templates (a preset's
 * `chat_template`: the owner's choice); its random output calls a tool only when a grammar makes
 * it (tool_choice required), and reasons only where the template opens the reasoning itself
 * (DeepSeek R1).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/engine/addon.js';
import { addonBuilt, sharedModel } from '../support/models.js';
import { postJson, startServer, type TestServer } from './helpers.js';

// An addon built before native/chat.cpp has no chat layer: skipped, with the reason.
const chatLayer = addonBuilt && typeof loadAddon().chatTemplateApply === 'function';
if (addonBuilt && !chatLayer) console.warn('[akachat tests] skipping tools cases: the addon predates native/chat.cpp (rebuild it)');
const tiny = chatLayer ? sharedModel('tinyRandom32k') : undefined;
const templates = join(__dirname, '../../vendor/llama.cpp/models/templates');
const haveTemplates = existsSync(templates);
const template = (name: string) => readFileSync(join(templates, `${name}.jinja`), 'utf8');

const WEATHER = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string', enum: ['Paris', 'Tokyo'] } }, required: ['city'] },
  },
};
const ASK = [{ role: 'user' as const, content: 'Weather in Paris?' }];

describe.skipIf(!tiny || !haveTemplates)('tool calls and reasoning over HTTP (llama-2-tiny-random)', () => {
  let t: TestServer;
  let client: OpenAI;

  beforeAll(async () => {
    t = await startServer({ model: tiny });
    await t.akachat.presets.set('qwen', { model: tiny!, chat_template: template('Qwen-Qwen2.5-7B-Instruct') });
    await t.akachat.presets.set('qwen3', { model: tiny!, chat_template: template('Qwen-Qwen3-0.6B') });
    await t.akachat.presets.set('r1', { model: tiny!, chat_template: template('deepseek-ai-DeepSeek-R1-Distill-Qwen-32B') });
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'x', maxRetries: 0 });
  });
  afterAll(async () => t?.close());

  it('round-trips a tool call with the openai SDK: tool_calls and finish_reason, then the tool result rendered by the template', async () => {
    // One call: with parallel calls (the template's default) the random model would call on and on.
    const first = await client.chat.completions.create({ model: 'qwen', messages: ASK, tools: [WEATHER], tool_choice: 'required', parallel_tool_calls: false, temperature: 0, max_tokens: 200 });
    const choice = first.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const call = choice.message.tool_calls![0];
    expect(call.type).toBe('function');
    expect(call.id).toMatch(/^call_/);
    if (call.type !== 'function') throw new Error('not a function call');
    expect(call.function.name).toBe('get_weather');
    const city = JSON.parse(call.function.arguments).city as string;
    expect(['Paris', 'Tokyo']).toContain(city);

    const history = [...ASK, choice.message, { role: 'tool' as const, tool_call_id: call.id, content: `{"temperature": 21, "city": "${city}"}` }];
    const second = await client.chat.completions.create({ model: 'qwen', messages: history, tools: [WEATHER], temperature: 0, max_tokens: 4 });
    expect(second.choices[0].finish_reason).toBe('length');
    expect(second.usage!.prompt_tokens).toBeGreaterThan(first.usage!.prompt_tokens);

    const rendered = await (await postJson(`${t.url}/apply-template`, { model: 'qwen', messages: history, tools: [WEATHER] })).json();
    expect(rendered.prompt).toContain(`<tool_call>\n{"name": "get_weather", "arguments": {"city": "${city}"}}\n</tool_call>`);
    expect(rendered.prompt).toContain(`<tool_response>\n{"temperature": 21, "city": "${city}"}\n</tool_response>`);
    expect(rendered.prompt).not.toContain('Tool result');
    expect(rendered.grammar_lazy).toBe(true);
    expect(rendered.grammar_triggers).toEqual([{ type: 'word', value: '<tool_call>\n' }]);
  });

  it('streams tool-call deltas that the SDK assembles into the same call (named function choice)', async () => {
    const runner = client.chat.completions.stream({
      model: 'qwen', messages: ASK, tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'get_weather' } }, parallel_tool_calls: false, temperature: 0, max_tokens: 200,
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    runner.on('chunk', (chunk) => chunks.push(chunk));
    const final = await runner.finalChatCompletion();
    expect(final.choices[0].finish_reason).toBe('tool_calls');
    const call = final.choices[0].message.tool_calls![0];
    if (call.type !== 'function') throw new Error('not a function call');
    expect(call.function.name).toBe('get_weather');
    expect(['Paris', 'Tokyo']).toContain(JSON.parse(call.function.arguments).city);
    const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    expect(deltas[0]).toMatchObject({ index: 0, id: call.id, type: 'function', function: { name: 'get_weather' } });
    expect(deltas.slice(1).every((d) => d.id === undefined && d.function?.name === undefined)).toBe(true);
    expect(chunks.every((chunk) => !chunk.choices[0]?.delta.content)).toBe(true);
  });

  it('answers in text with tool_choice auto, and 400 for a tool_choice naming no tool', async () => {
    const reply = await client.chat.completions.create({ model: 'qwen', messages: ASK, tools: [WEATHER], temperature: 0, max_tokens: 4 });
    expect(reply.choices[0].finish_reason).toBe('length');
    expect(reply.choices[0].message.tool_calls).toBeUndefined();
    expect(reply.choices[0].message.content!.length).toBeGreaterThan(0);
    const error = await client.chat.completions.create({ model: 'qwen', messages: ASK, tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'nope' } } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as Error).message).toMatch(/function named in tools/);
  });

  it('puts reasoning in reasoning_content (DeepSeek R1 opens <think> in its prompt), in content with reasoning_format none', async () => {
    const parsed = await (await postJson(`${t.url}/v1/chat/completions`, { model: 'r1', messages: ASK, temperature: 0, max_tokens: 6 })).json();
    const message = parsed.choices[0].message;
    expect(message.reasoning_content.length).toBeGreaterThan(0);
    expect(message.content).toBe('');
    const raw = await (await postJson(`${t.url}/v1/chat/completions`, { model: 'r1', messages: ASK, temperature: 0, max_tokens: 6, reasoning_format: 'none' })).json();
    expect(raw.choices[0].message.reasoning_content).toBeUndefined();
    expect(raw.choices[0].message.content).toContain(message.reasoning_content.trim());

    const stream = await client.chat.completions.create({ model: 'r1', messages: ASK, temperature: 0, max_tokens: 6, stream: true });
    let reasoning = '';
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
      expect(delta?.content ?? '').toBe('');
      reasoning += delta?.reasoning_content ?? '';
    }
    expect(reasoning).toBe(message.reasoning_content);
  });

  it('passes tools to an OpenAI-compatible service and its calls back, streaming and not (akachat itself as the service)', async () => {
    await t.akachat.presets.set('remote-qwen', { provider: 'openai', endpoint: `${t.url}/v1`, model: 'qwen' });
    const request = { model: 'remote-qwen', messages: ASK, tools: [WEATHER], tool_choice: 'required' as const, parallel_tool_calls: false, temperature: 0, max_tokens: 200 };
    const whole = await client.chat.completions.create(request);
    expect(whole.choices[0].finish_reason).toBe('tool_calls');
    const call = whole.choices[0].message.tool_calls![0];
    if (call.type !== 'function') throw new Error('not a function call');
    expect(call.function.name).toBe('get_weather');
    const streamed = await client.chat.completions.stream(request).finalChatCompletion();
    expect(streamed.choices[0].finish_reason).toBe('tool_calls');
    expect(streamed.choices[0].message.tool_calls).toEqual([{ ...call, id: expect.any(String) }]);
    // The result goes back to the service as a tool turn.
    const history = [...ASK, whole.choices[0].message, { role: 'tool' as const, tool_call_id: call.id, content: '{"temperature": 21}' }];
    const next = await client.chat.completions.create({ model: 'remote-qwen', messages: history, tools: [WEATHER], max_tokens: 2 });
    expect(next.choices[0].finish_reason).toBe('length');
  });

  it('switches thinking off per request: chat_template_kwargs.enable_thinking or reasoning_effort "none"', async () => {
    const prompt = async (extra: object) => (await (await postJson(`${t.url}/apply-template`, { model: 'qwen3', messages: ASK, ...extra })).json()).prompt as string;
    expect(await prompt({})).toMatch(/<\|im_start\|>assistant\n$/);
    expect(await prompt({ chat_template_kwargs: { enable_thinking: false } })).toMatch(/<think>\n\n<\/think>\n\n$/);
    expect(await prompt({ reasoning_effort: 'none' })).toMatch(/<think>\n\n<\/think>\n\n$/);
    const bad = await postJson(`${t.url}/v1/chat/completions`, { model: 'qwen3', messages: ASK, chat_template_kwargs: { enable_thinking: 'no' } });
    expect(bad.status).toBe(400);
  });

  it('never speaks reasoning on the TTS sentence stream, also where the template opened it (R1)', async () => {
    const response = await postJson(`${t.url}/api/speech/stream`, { model: 'r1', messages: ASK, temperature: 0, max_tokens: 6 });
    const events = (await response.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => JSON.parse(e.slice(6)));
    expect(events.at(-1)).toMatchObject({ done: true, text: '' });
    expect(events.at(-1).usage.completion_tokens).toBe(6);
    expect(events.length).toBe(1);
  });

  it('gives the ollama client message.tool_calls with object arguments, streaming and not', async () => {
    const ollama = new Ollama({ host: t.url });
    const request = { model: 'qwen', messages: ASK, tools: [WEATHER], tool_choice: 'required', parallel_tool_calls: false, options: { temperature: 0, num_predict: 200 } };
    const reply = await ollama.chat({ ...request, stream: false });
    expect(reply.message.tool_calls).toHaveLength(1);
    expect(reply.message.tool_calls![0].function.name).toBe('get_weather');
    expect(['Paris', 'Tokyo']).toContain(reply.message.tool_calls![0].function.arguments.city);
    const calls = [];
    for await (const part of await ollama.chat({ ...request, stream: true })) calls.push(...(part.message.tool_calls ?? []));
    expect(calls).toEqual(reply.message.tool_calls);
    // The tool result goes back as Ollama sends it.
    const next = await ollama.chat({
      model: 'qwen', stream: false, tools: [WEATHER], options: { num_predict: 2 },
      messages: [...ASK, reply.message, { role: 'tool', content: '{"temperature": 21}', tool_name: 'get_weather' } as never],
    });
    expect(next.done).toBe(true);
  });
});
