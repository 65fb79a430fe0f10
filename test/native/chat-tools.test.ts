/**
 * Tool calls and reasoning through llama.cpp's chat layer (src/engine/chat-format.ts): the prompt
 * and grammar the templates produce, the parser on known outputs of each family, streamed
 * deltas, and a grammar that makes a random-weight model call a tool.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChatReplyParser, MAX_PARSED_REPLY, MAX_REPLY_NESTING, formatChat, grammarOptions, parseChatReply,
  type ChatFormat, type ChatTool, type ReplyDelta, type ReplyFormat,
} from '../../src/engine/chat-format.js';
import { loadAddon } from '../../src/engine/addon.js';
import { Model, type Context } from '../../src/engine/index.js';
import { LocalLlm } from '../../src/llm/local.js';
import { ModelManager } from '../../src/llm/model-manager.js';
import { llmRequest, normalizeOptions } from '../../src/prompt/options.js';
import { addonBuilt, sharedModel } from '../support/models.js';

// An addon built before native/chat.cpp has no chat layer: its cases are skipped, with the reason.
const chatLayer = addonBuilt && typeof loadAddon().chatTemplateApply === 'function';
if (addonBuilt && !chatLayer) console.warn('[akachat tests] skipping chat-tools cases: the addon predates native/chat.cpp (rebuild it)');
const tiny = chatLayer ? sharedModel('tinyRandom32k') : undefined;
// Real models' templates, as llama.cpp's tree has them (vendor/llama.cpp, fetched for builds).
const templates = join(__dirname, '../../vendor/llama.cpp/models/templates');
const haveTemplates = existsSync(templates);
if (!haveTemplates) console.warn('[akachat tests] skipping chat-tools cases: vendor/llama.cpp/models/templates is missing');
const template = (name: string) => readFileSync(join(templates, `${name}.jinja`), 'utf8');

const QWEN = 'Qwen-Qwen2.5-7B-Instruct';
const QWEN3 = 'Qwen-Qwen3-0.6B';
const LLAMA31 = 'meta-llama-Llama-3.1-8B-Instruct';
const MISTRAL = 'mistralai-Mistral-Nemo-Instruct-2407';
const R1 = 'deepseek-ai-DeepSeek-R1-Distill-Qwen-32B';

const WEATHER: ChatTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather of a city',
    // An enum: a grammar cannot make a random model end a free string (see grammar.test.ts).
    parameters: { type: 'object', properties: { city: { type: 'string', enum: ['Paris', 'Tokyo'] } }, required: ['city'] },
  },
};
const ASK = [{ role: 'user', content: 'Weather in Paris?' }];

/** Feeds `text` in pieces of `size` characters; returns every delta and the parser. */
function stream(format: ReplyFormat | undefined, text: string, size = 3): { deltas: ReplyDelta[]; parser: ChatReplyParser } {
  const parser = new ChatReplyParser(format);
  const deltas: ReplyDelta[] = [];
  for (let i = 0; i < text.length; i += size) deltas.push(...parser.push(text.slice(i, i + size)));
  deltas.push(...parser.finish());
  return { deltas, parser };
}

describe.skipIf(!tiny || !haveTemplates)('chat layer with tools on llama-2-tiny-random', () => {
  let model: Model;
  let ctx: Context;
  const formats = new Map<string, ChatFormat>();
  const format = async (name: string, toolChoice: 'auto' | 'required' = 'auto') => {
    const key = `${name}/${toolChoice}`;
    if (!formats.has(key)) formats.set(key, await formatChat(model, ASK, { template: template(name), tools: [WEATHER], toolChoice, parallelToolCalls: true }));
    return formats.get(key)!;
  };

  beforeAll(async () => {
    model = await Model.load(tiny!);
    ctx = await model.createContext({ contextSize: 2048 });
  });
  afterAll(() => model?.dispose());

  it('renders the tools into the prompt and gives a lazy grammar triggered by the call marker', async () => {
    const qwen = await format(QWEN);
    expect(qwen.prompt).toContain('<tools>');
    expect(qwen.prompt).toContain('"name": "get_weather"');
    expect(qwen.prompt).toContain('Current weather of a city');
    expect(qwen.prompt.endsWith('<|im_start|>assistant\n')).toBe(true);
    expect(qwen.grammar).toMatchObject({ lazy: true, triggers: [{ type: 'word', value: '<tool_call>\n' }] });
    expect(qwen.grammar!.text).toContain('get_weather');
    const llama = await format(LLAMA31);
    expect(llama.prompt).toContain('"name": "get_weather"');
    const required = await format(QWEN, 'required');
    expect(required.grammar!.lazy).toBe(false);
    // Strict: the reply is the call, no free text before it; the generation prompt the grammar
    // started with is in the prompt already.
    expect(required.grammar!.text).toMatch(/^root ::= space tool-calls$/m);
    expect(required.grammar!.generationPrompt).toBe('');
    // Parallel calls: several in one <tool_call> or several of them; without: exactly one.
    expect(required.grammar!.text).toMatch(/^tool-calls ::= \(tool-call space\)\+$/m);
    const single = await formatChat(model, ASK, { template: template(QWEN), tools: [WEATHER], toolChoice: 'required', parallelToolCalls: false });
    expect(single.grammar!.text).toMatch(/^tool-calls ::= tool-call space$/m);
    expect(single.grammar!.text).not.toContain('space "," space (tool-get-weather)');
  });

  it('renders assistant tool calls and tool results through the template, not as user text', async () => {
    const history = [
      ...ASK,
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', content: '{"temperature": 21}', toolCallId: 'call_1', name: 'get_weather' },
    ];
    const { prompt } = await formatChat(model, history, { template: template(QWEN), tools: [WEATHER] });
    expect(prompt).toContain('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>');
    expect(prompt).toContain('<tool_response>\n{"temperature": 21}\n</tool_response>');
    expect(prompt).not.toContain('Tool result');
  });

  it('switches thinking off per request with chat_template_kwargs.enable_thinking', async () => {
    const on = await formatChat(model, ASK, { template: template(QWEN3) });
    const off = await formatChat(model, ASK, { template: template(QWEN3), chatTemplateKwargs: { enable_thinking: false } });
    expect(on.prompt.endsWith('<|im_start|>assistant\n')).toBe(true);
    expect(off.prompt.endsWith('<think>\n\n</think>\n\n')).toBe(true);
  });

  it('parses Hermes/Qwen <tool_call> replies: parallel calls after text', async () => {
    const reply = parseChatReply((await format(QWEN)).reply, 'Let me check. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>');
    expect(reply.content).toBe('Let me check. ');
    expect(reply.toolCalls.map((c) => [c.function.name, JSON.parse(c.function.arguments)])).toEqual([['get_weather', { city: 'Paris' }], ['get_weather', { city: 'Tokyo' }]]);
    expect(reply.toolCalls[0].id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(reply.toolCalls[0].id).not.toBe(reply.toolCalls[1].id);
  });

  it('parses Llama 3.x JSON calls and Mistral [TOOL_CALLS] with their ids', async () => {
    const llama = parseChatReply((await format(LLAMA31)).reply, '{"name": "get_weather", "parameters": {"city": "Tokyo"}}');
    expect(llama).toMatchObject({ content: '', toolCalls: [{ type: 'function', function: { name: 'get_weather', arguments: '{"city": "Tokyo"}' } }] });
    const mistral = parseChatReply((await format(MISTRAL)).reply, '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abcDEF123"}]');
    expect(mistral.toolCalls).toEqual([{ id: 'abcDEF123', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }]);
    expect(parseChatReply((await format(MISTRAL)).reply, 'Just text.')).toEqual({ content: 'Just text.', reasoning: '', toolCalls: [] });
  });

  it('separates DeepSeek R1 reasoning (its prompt opens <think> itself), or leaves it with reasoning_format none', async () => {
    const r1 = await formatChat(model, ASK, { template: template(R1) });
    const reply = parseChatReply(r1.reply, 'The user asks about weather.\n</think>\n\nIt is sunny.');
    expect([reply.reasoning.trim(), reply.content.trim(), reply.toolCalls]).toEqual(['The user asks about weather.', 'It is sunny.', []]);
    const none = await formatChat(model, ASK, { template: template(QWEN3), reasoningFormat: 'none' });
    expect(parseChatReply(none.reply, '<think>\nhmm\n</think>\n\nHi').content).toContain('<think>');
  });

  it('streams deltas that add up to the whole parse: text, then each call announced once with id and name', async () => {
    const text = 'Sure. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>';
    const { reply } = await format(QWEN);
    const { deltas, parser } = stream(reply, text);
    const whole = parseChatReply(reply, text);
    expect(deltas.map((d) => d.content ?? '').join('')).toBe(whole.content);
    const calls = deltas.filter((d) => d.toolCall).map((d) => d.toolCall!);
    expect(calls.filter((c) => c.name !== undefined).map((c) => [c.index, c.name])).toEqual([[0, 'get_weather'], [1, 'get_weather']]);
    for (const index of [0, 1]) {
      expect(calls.filter((c) => c.index === index).map((c) => c.arguments).join('')).toBe(whole.toolCalls[index].function.arguments);
    }
    expect(parser.reply.toolCalls.map((c) => c.function)).toEqual(whole.toolCalls.map((c) => c.function));
    // No markup leaks into the content while it streams.
    expect(deltas.some((d) => d.content?.includes('<tool'))).toBe(false);
  });

  it('keeps replies that do not parse, or nest too deep for the parser, as content (no crash)', async () => {
    const { reply } = await format(QWEN);
    const deep = `<tool_call>\n{"name": "get_weather", "arguments": {"city": ${'['.repeat(20_000)}`;
    expect(parseChatReply(reply, deep)).toEqual({ content: deep, reasoning: '', toolCalls: [] });
    expect(MAX_REPLY_NESTING).toBeLessThan(1000);
    const long = 'x'.repeat(MAX_PARSED_REPLY + 1);
    expect(parseChatReply(reply, long).content).toBe(long);
    const unknown = '<tool_call>\n{"name": "launch_rocket", "arguments": {}}\n</tool_call>';
    expect(parseChatReply(reply, unknown)).toEqual({ content: unknown, reasoning: '', toolCalls: [] });
  });

  it.each([QWEN, LLAMA31])('makes the random model call the tool when tool_choice is required (%s)', async (name) => {
    const chat = await format(name, 'required');
    const tokens = model.tokenize(chat.prompt, { addSpecial: false, parseSpecial: true });
    const generation = ctx.generate(tokens, { temperature: 0, maxTokens: 200, ...grammarOptions(model, chat, tokens) });
    const result = await generation.result;
    const reply = parseChatReply(chat.reply, result.text);
    expect(reply.toolCalls.length).toBeGreaterThan(0);
    expect(reply.toolCalls[0].function.name).toBe('get_weather');
    expect(['Paris', 'Tokyo']).toContain(JSON.parse(reply.toolCalls[0].function.arguments).city);
  });

  it('leaves the random model free with tool_choice auto (lazy grammar, no trigger written)', async () => {
    const chat = await format(QWEN);
    const tokens = model.tokenize(chat.prompt, { addSpecial: false, parseSpecial: true });
    const options = grammarOptions(model, chat, tokens);
    expect(options.grammarTriggers!.patterns).toEqual(['<tool_call>\n']);
    const result = await ctx.generate(tokens, { temperature: 0, maxTokens: 8, ...options }).result;
    expect(parseChatReply(chat.reply, result.text)).toEqual({ content: result.text, reasoning: '', toolCalls: [] });
  });

  it('holds output to a lazy grammar only from its trigger on (a token or a pattern), as llama.cpp\'s tool-call grammars', async () => {
    const tokens = model.tokenize('Hello', { addSpecial: true });
    const free = await ctx.generate(tokens, { temperature: 0, maxTokens: 6, tokens: true }).result;
    const ids = free.tokens!.map((t) => t.id);
    // The third token's text as generated (a lone token's detokenized text loses its leading space).
    const before = model.detokenize(ids.slice(0, 2));
    const piece = model.detokenize(ids.slice(0, 3)).slice(before.length);
    const trigger = ids[2];
    // From the trigger token on, the grammar writes " done" and ends the text.
    const grammar = `root ::= ${JSON.stringify(piece)} " done"`;
    const byToken = await ctx.generate(tokens, { temperature: 0, maxTokens: 40, grammar, grammarTriggers: { tokens: [trigger] } }).result;
    expect(byToken.text.trimStart()).toBe(`${before}${piece} done`.trimStart());
    expect(free.text.trimStart().startsWith(`${before}${piece}`.trimStart())).toBe(true);
    expect(byToken.stopReason).toBe('eos');
    const pattern = piece.replace(/[.^$|()*+?[\]{}\\]/g, '\\$&');
    const byPattern = await ctx.generate(tokens, { temperature: 0, maxTokens: 40, grammar, grammarTriggers: { patterns: [pattern] } }).result;
    expect(byPattern.text).toBe(byToken.text);
    await expect(ctx.generate(tokens, { grammar, grammarTriggers: { patterns: ['('] } }).result).rejects.toThrow(/Invalid grammar trigger pattern/);
  });

  it('refuses built-in template names with tools, too many tools and deep schemas', async () => {
    await expect(formatChat(model, ASK, { template: 'llama2', tools: [WEATHER] })).rejects.toThrow(/cannot describe tools/);
    await expect(formatChat(model, ASK, { tools: Array(129).fill(WEATHER) })).rejects.toThrow(/at most 128 tools/);
    await expect(formatChat(model, ASK, { tools: [WEATHER], toolChoice: { type: 'function', function: { name: 'nope' } } })).rejects.toThrow(/function named in tools/);
    const bad = [...ASK, { role: 'assistant', content: '', toolCalls: [{ id: 'c', type: 'function' as const, function: { name: 'f', arguments: 'not json' } }] }];
    await expect(formatChat(model, bad, { tools: [WEATHER] })).rejects.toThrow(/JSON text for messages\[1\]\.tool_calls\[0\]\.function\.arguments/);
  });
});

describe.skipIf(!tiny || !haveTemplates)('tools on the library\'s local location (LocalLlm)', () => {
  let manager: ModelManager;
  beforeAll(() => { manager = new ModelManager({ threads: 1, contextSize: 1024, keepAliveMs: 0 }); });
  afterAll(async () => manager?.dispose());

  it('returns the parsed reply with its tool calls, and hears the reply format before any text', async () => {
    const options = normalizeOptions({ model: tiny, chat_template: template(QWEN), temperature: 0, max_new_tokens: 200 });
    const request = llmRequest(options, { messages: [{ role: 'user', content: 'Weather in Paris?' }] });
    let heard: ReplyFormat | undefined;
    request.chat = { tools: [WEATHER], toolChoice: 'required', parallelToolCalls: false, onReplyFormat: (format) => { heard = format; } };
    const stream = new LocalLlm(manager).stream(request);
    for await (const _ of stream) expect(heard?.parseToolCalls).toBe(true);
    const result = await stream.result;
    expect(result.reply!.toolCalls).toHaveLength(1);
    expect(result.reply!.toolCalls[0].function.name).toBe('get_weather');
    expect(result.stopReason).toBe('eos');
  });
});

describe.skipIf(!addonBuilt)('ChatReplyParser without a format (built-in templates, remote models)', () => {
  it('splits <think> reasoning off as before, or keeps it with splitThinking false', () => {
    expect(parseChatReply(undefined, '<think>plan</think>\n\nHello')).toEqual({ content: 'Hello', reasoning: 'plan', toolCalls: [] });
    expect(parseChatReply(undefined, '<think>plan</think>Hello', { splitThinking: false }).content).toBe('<think>plan</think>Hello');
  });
});
