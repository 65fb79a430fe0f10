/**
 * Normalises the request bodies of the three HTTP dialects avatar clients speak (OpenAI chat and
 * text completions, Ollama `/api/chat` and `/api/generate`, llama.cpp `/completion`) into one
 * {@link GenerationRequest} shape, with errors that name the offending field.
 *
 * Tolerant where real clients differ (null for "unset", `stop` as a string, a leading assistant
 * turn, several system messages, unknown fields ignored), strict where a wrong value would be
 * silently misread (a string temperature, an image the model cannot see).
 */
import { InvalidArgumentError } from '../errors.js';
import { describeValue, expectBoolean, expectInteger, expectNumber, expectString, invalid } from '../validate.js';

import { checkChatFormatOptions } from '../engine/chat-format.js';
import type { ChatFormatOptions, ChatTool, ReasoningFormat, ToolCall, ToolChoice } from '../llm/types.js';
import type { ChatMessage, ChatRole, ResponseFormat, SamplingParams } from '../run/request.js';
import { compact, isRecord, optional } from './route.js';

export type { ChatMessage, ChatRole, ResponseFormat, SamplingParams };

export interface GenerationRequest extends SamplingParams {
  messages: ChatMessage[];
}

export interface NormalizeMessagesOptions {
  /**
   * What to do with non-text content (OpenAI `image_url` / `input_audio` / `file` parts, Ollama
   * `images`): `'reject'` answers with an InvalidArgumentError naming the part, so the user learns
   * the model cannot see it; `'ignore'` drops it and keeps the text. Default `'reject'`.
   */
  nonTextParts?: 'reject' | 'ignore';
  /**
   * A conversation whose first turn (after the system message) is the assistant's, as avatar
   * clients send when the character greets first. `'keep'` leaves it; `'prepend-user'` inserts an
   * empty user turn before it, for chat templates that insist on user/assistant alternation.
   * Default `'keep'`.
   */
  leadingAssistant?: 'keep' | 'prepend-user';
  /** Accept an empty array (Ollama: empty `messages` means "load the model"). Default false. */
  allowEmpty?: boolean;
  /**
   * `'keep'`: `tool` turns and assistant `tool_calls` stay as they are (tool-capable routes: the
   * chat template renders them); `'flatten'`: they become text (see below). Default `'flatten'`.
   */
  toolTurns?: 'keep' | 'flatten';
}

/**
 * Normalises chat messages:
 * - roles: `system` and `developer` (OpenAI's newer name) are system; `user`; `assistant`;
 *   `tool` and `function` (tool results) become user turns labelled `Tool result (<name>):`,
 *   because routes without tool support still get histories replayed from tool-using sessions;
 * - content: a string, or an array of `{type:"text", text}` parts joined with `\n`
 *   (`refusal` parts count as text); `null` only on assistant turns (tool calls), which are dropped;
 * - every system message, wherever it is, is merged (blank-line separated, in order) into one
 *   leading system message: most chat templates refuse a system turn anywhere else;
 * - consecutive turns of the same role are merged with a blank line between them.
 *
 * Throws InvalidArgumentError naming the field (`messages[2].content[1].type`).
 */
export function normalizeMessages(value: unknown, options: NormalizeMessagesOptions = {}, field = 'messages'): ChatMessage[] {
  const { nonTextParts = 'reject', leadingAssistant = 'keep', allowEmpty = false, toolTurns = 'flatten' } = options;
  if (!Array.isArray(value) || (!allowEmpty && value.length === 0)) {
    throw invalid(allowEmpty ? 'an array of messages' : 'a non-empty array of messages', field, value);
  }
  const system: string[] = [];
  const turns: ChatMessage[] = [];
  value.forEach((message: unknown, index) => {
    const path = `${field}[${index}]`;
    if (!isRecord(message)) throw invalid('an object with role and content', path, message);
    const role = roleOf(message.role, `${path}.role`);
    const toolCalls = toolTurns === 'keep' && message.role === 'assistant' ? toolCallsOf(message.tool_calls, `${path}.tool_calls`) : undefined;
    const text = messageText(message, path, message.role === 'assistant', nonTextParts) ?? (toolCalls ? '' : undefined);
    if (text === undefined) return;
    if (toolTurns === 'keep' && (toolCalls || message.role === 'tool' || message.role === 'function')) {
      turns.push(toolCalls ? { role, content: text, toolCalls } : { role: 'tool', content: text, ...toolResultIds(message, path) });
      return;
    }
    if (role === 'system') {
      if (text !== '') system.push(text);
      return;
    }
    const isToolResult = message.role === 'tool' || message.role === 'function';
    const toolName = typeof message.name === 'string' && message.name !== '' ? ` (${message.name})` : '';
    const content = isToolResult ? `Tool result${toolName}:\n${text}` : text;
    const previous = turns.at(-1);
    if (previous?.role === role && !previous.toolCalls) {
      previous.content = [previous.content, content].filter((part) => part !== '').join('\n\n');
    } else {
      turns.push({ role, content });
    }
  });
  if (leadingAssistant === 'prepend-user' && turns[0]?.role === 'assistant') turns.unshift({ role: 'user', content: '' });
  return system.length > 0 ? [{ role: 'system', content: system.join('\n\n') }, ...turns] : turns;
}

/**
 * An assistant turn's calls: OpenAI's `{id, type: "function", function: {name, arguments: JSON
 * text}}`, or Ollama's `{function: {name, arguments: object}}`; undefined when there are none.
 */
function toolCallsOf(value: unknown, path: string): ToolCall[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw invalid('an array of tool calls', path, value);
  if (value.length === 0) return undefined;
  return value.map((call: unknown, index) => {
    const at = `${path}[${index}]`;
    if (!isRecord(call) || !isRecord(call.function)) throw invalid('{type: "function", function: {name, arguments}}', at, call);
    const name = expectString(call.function.name, `${at}.function.name`, { allowEmpty: false });
    const args = call.function.arguments ?? {};
    const text = typeof args === 'string' ? args : isRecord(args) ? JSON.stringify(args) : undefined;
    if (text === undefined) throw invalid('JSON text or an object', `${at}.function.arguments`, args);
    const id = call.id === undefined || call.id === null ? `call_${index}` : expectString(call.id, `${at}.id`);
    return { id, type: 'function' as const, function: { name, arguments: text } };
  });
}

/** A tool result's call id (OpenAI `tool_call_id`) and function name (`name`, Ollama `tool_name`). */
function toolResultIds(message: Record<string, unknown>, path: string): { toolCallId?: string; name?: string } {
  const id = optionalString(message.tool_call_id, `${path}.tool_call_id`);
  const name = optionalString(message.name, `${path}.name`) ?? optionalString(message.tool_name, `${path}.tool_name`);
  return compact({ toolCallId: id, name });
}

function roleOf(role: unknown, name: string): ChatRole {
  switch (role) {
    case 'system':
    case 'developer':
      return 'system';
    case 'user':
    case 'tool':
    case 'function':
      return 'user';
    case 'assistant':
      return 'assistant';
    default:
      throw invalid('"system", "user", "assistant" or "tool"', name, role);
  }
}

/** Text of one message; undefined for an assistant turn that only carries tool calls. */
function messageText(message: Record<string, unknown>, path: string, nullable: boolean, nonTextParts: 'reject' | 'ignore'): string | undefined {
  const { content, images } = message;
  if (Array.isArray(images) && images.length > 0 && nonTextParts === 'reject') {
    throw invalid('no images (this server reads text only)', `${path}.images`, images);
  }
  if (content === null || content === undefined) {
    if (nullable) return undefined;
    throw invalid('a string or an array of text parts', `${path}.content`, content);
  }
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid('a string or an array of text parts', `${path}.content`, content);
  const texts: string[] = [];
  content.forEach((part: unknown, index) => {
    const partPath = `${path}.content[${index}]`;
    if (typeof part === 'string') {
      texts.push(part); // some clients send bare strings
      return;
    }
    if (!isRecord(part)) throw invalid('a content part object', partPath, part);
    if (part.type === 'text') texts.push(expectString(part.text, `${partPath}.text`));
    else if (part.type === 'refusal') texts.push(expectString(part.refusal, `${partPath}.refusal`));
    else if (nonTextParts === 'reject') throw invalid('a part of type "text" (this server reads text only)', `${partPath}.type`, part.type);
  });
  return texts.join('\n');
}

/** OpenAI chat body, normalised. */
export interface OpenAiChatRequest {
  /** Requested model name (any string; the route maps unknown names to the default). */
  model?: string;
  /** Default false. */
  stream: boolean;
  /** `stream_options.include_usage`; default false. */
  includeUsage: boolean;
  /**
   * `tools`, `tool_choice`, `parallel_tool_calls`, `reasoning_format` and `chat_template_kwargs`
   * (llama-server's extras), checked; absent fields left out.
   */
  chat: ChatFormatOptions;
  generation: GenerationRequest;
}

/** Normalises a `POST /v1/chat/completions` body. */
export function normalizeOpenAiChat(body: unknown, options?: NormalizeMessagesOptions): OpenAiChatRequest {
  const request = expectBody(body);
  return {
    model: optionalString(request.model, 'model'),
    stream: optional(request.stream, 'stream', expectBoolean) ?? false,
    includeUsage: streamIncludesUsage(request.stream_options),
    chat: chatFormatOptions(request),
    generation: { messages: normalizeMessages(request.messages, { toolTurns: 'keep', ...options }), ...openAiSampling(request) },
  };
}

/**
 * The tool and reasoning fields of a chat body (OpenAI's `tools`, `tool_choice`,
 * `parallel_tool_calls`; llama-server's `reasoning_format`, `chat_template_kwargs`), checked and
 * bounded (src/engine/chat-format.ts). Ollama sends `tools` the OpenAI way.
 */
export function chatFormatOptions(body: Record<string, unknown>): ChatFormatOptions {
  const reasoning = optionalString(body.reasoning_format, 'reasoning_format');
  // llama-server's "deepseek-legacy" differs from "deepseek" only in streamed reasoning kept in the content.
  const reasoningFormat = reasoning === 'deepseek-legacy' ? 'deepseek' : reasoning;
  const options = compact({
    tools: optional(body.tools, 'tools', expectArray) as ChatTool[] | undefined,
    toolChoice: optional(body.tool_choice, 'tool_choice', (v) => v as ToolChoice),
    parallelToolCalls: optional(body.parallel_tool_calls, 'parallel_tool_calls', expectBoolean),
    reasoningFormat: reasoningFormat as ReasoningFormat | undefined,
    chatTemplateKwargs: withReasoningEffort(optional(body.chat_template_kwargs, 'chat_template_kwargs', expectObject), body.reasoning_effort),
  });
  checkChatFormatOptions(options);
  return options;
}

/** OpenAI text-completion body (`POST /v1/completions`), normalised. */
export interface OpenAiCompletionRequest {
  model?: string;
  prompt: string;
  stream: boolean;
  includeUsage: boolean;
  sampling: SamplingParams;
}

/** Normalises a `POST /v1/completions` body; `prompt` is a string or a one-string array. */
export function normalizeOpenAiCompletion(body: unknown): OpenAiCompletionRequest {
  const request = expectBody(body);
  let prompt = request.prompt;
  if (Array.isArray(prompt) && prompt.length === 1) prompt = prompt[0];
  return {
    model: optionalString(request.model, 'model'),
    prompt: expectString(prompt, 'prompt'),
    stream: optional(request.stream, 'stream', expectBoolean) ?? false,
    includeUsage: streamIncludesUsage(request.stream_options),
    sampling: openAiSampling(request),
  };
}

/**
 * Sampling fields of an OpenAI body (chat or text completion), with the llama.cpp extras
 * `top_k`, `min_p`, `repeat_penalty`, `grammar` and `json_schema` (when no `response_format`).
 * `max_completion_tokens` wins over `max_tokens`; -1 means "no limit" (LM Studio convention).
 * Unknown fields are ignored; null counts as absent.
 */
export function openAiSampling(body: Record<string, unknown>): SamplingParams {
  const maxTokens = optional(body.max_completion_tokens, 'max_completion_tokens', expectMaxTokens)
    ?? optional(body.max_tokens, 'max_tokens', expectMaxTokens);
  return compact({
    maxTokens: maxTokens === -1 ? undefined : maxTokens,
    temperature: optional(body.temperature, 'temperature', (v, n) => expectNumber(v, n, 0, 2)),
    topP: optional(body.top_p, 'top_p', (v, n) => expectNumber(v, n, 0, 1)),
    topK: optional(body.top_k, 'top_k', (v, n) => expectInteger(v, n, 0)),
    minP: optional(body.min_p, 'min_p', (v, n) => expectNumber(v, n, 0, 1)),
    repeatPenalty: optional(body.repeat_penalty, 'repeat_penalty', (v, n) => expectNumber(v, n, 0)),
    presencePenalty: optional(body.presence_penalty, 'presence_penalty', (v, n) => expectNumber(v, n, -2, 2)),
    frequencyPenalty: optional(body.frequency_penalty, 'frequency_penalty', (v, n) => expectNumber(v, n, -2, 2)),
    seed: optional(body.seed, 'seed', (v, n) => expectInteger(v, n)),
    stop: optional(body.stop, 'stop', expectStop),
    responseFormat: optional(body.response_format, 'response_format', expectResponseFormat) ?? jsonSchemaFormat(body.json_schema),
    grammar: optionalString(body.grammar, 'grammar'),
  });
}

/** llama.cpp's `json_schema` field: a bare schema. */
function jsonSchemaFormat(value: unknown): ResponseFormat | undefined {
  const schema = optional(value, 'json_schema', expectObject);
  return schema ? { type: 'json_schema', schema } : undefined;
}

/** Ollama `/api/chat` body, normalised. */
export interface OllamaChatRequest {
  model?: string;
  /** Default true (Ollama streams unless told not to). */
  stream: boolean;
  /** `keep_alive` in milliseconds; Infinity = keep loaded forever, 0 = unload now. */
  keepAliveMs?: number;
  /**
   * `tools` (OpenAI's shape), `think` as `enable_thinking`; as akachat extensions, OpenAI's
   * `tool_choice` and `parallel_tool_calls` and llama.cpp's `reasoning_format` and `chat_template_kwargs`.
   */
  chat: ChatFormatOptions;
  /** `messages` may be empty: load the model (or unload it with `keep_alive: 0`) and answer done. */
  generation: GenerationRequest;
}

/**
 * OpenAI's `reasoning_effort` as llama-server takes it: `"none"` turns thinking off
 * (`enable_thinking: false`); another level goes to the template as `reasoning_effort` (gpt-oss reads it).
 */
function withReasoningEffort(kwargs: Record<string, unknown> | undefined, effort: unknown): Record<string, unknown> | undefined {
  if (effort === undefined || effort === null) return kwargs;
  const level = expectString(effort, 'reasoning_effort', { allowEmpty: false });
  return level === 'none' ? { ...kwargs, enable_thinking: false } : { ...kwargs, reasoning_effort: level };
}

/** Ollama's `think` (true/false) as the template variable thinking templates read. */
function thinkKwargs(think: unknown): Record<string, unknown> | undefined {
  if (think === undefined || think === null) return undefined;
  if (typeof think !== 'boolean') throw invalid('a boolean', 'think', think);
  return { enable_thinking: think };
}

/** Normalises a `POST /api/chat` body. */
export function normalizeOllamaChat(body: unknown, options: NormalizeMessagesOptions = {}): OllamaChatRequest {
  const request = expectBody(body);
  return {
    model: optionalString(request.model, 'model'),
    stream: optional(request.stream, 'stream', expectBoolean) ?? true,
    keepAliveMs: parseKeepAlive(request.keep_alive),
    // tool_choice and the llama.cpp extras are akachat extensions here (Ollama has none of them).
    chat: chatFormatOptions({ ...request, chat_template_kwargs: request.chat_template_kwargs ?? thinkKwargs(request.think) }),
    generation: {
      messages: normalizeMessages(request.messages ?? [], { allowEmpty: true, toolTurns: 'keep', ...options }),
      ...ollamaSampling(request.options),
      ...compact({ responseFormat: optional(request.format, 'format', expectOllamaFormat) }),
    },
  };
}

/** Ollama `/api/generate` body, normalised. */
export interface OllamaGenerateRequest {
  model?: string;
  /** '' when absent: an empty prompt loads the model. */
  prompt: string;
  system?: string;
  /** The prompt is already formatted: apply no template. Default false. */
  raw: boolean;
  /** Default true. */
  stream: boolean;
  keepAliveMs?: number;
  sampling: SamplingParams;
}

/** Normalises a `POST /api/generate` body. */
export function normalizeOllamaGenerate(body: unknown): OllamaGenerateRequest {
  const request = expectBody(body);
  return {
    model: optionalString(request.model, 'model'),
    prompt: optional(request.prompt, 'prompt', expectString) ?? '',
    system: optionalString(request.system, 'system'),
    raw: optional(request.raw, 'raw', expectBoolean) ?? false,
    stream: optional(request.stream, 'stream', expectBoolean) ?? true,
    keepAliveMs: parseKeepAlive(request.keep_alive),
    sampling: {
      ...ollamaSampling(request.options),
      ...compact({ responseFormat: optional(request.format, 'format', expectOllamaFormat) }),
    },
  };
}

/**
 * Ollama `options`: `temperature`, `num_predict` (-1 = no limit, -2 = fill the context: both
 * mean no `maxTokens`), `top_p`, `top_k`, `min_p`, `stop`, `num_ctx`, `seed` (-1 = random),
 * `repeat_penalty`, `presence_penalty`, `frequency_penalty`. Errors name `options.<field>`.
 * Temperature has no upper bound here (Ollama has none).
 */
export function ollamaSampling(options: unknown, field = 'options'): SamplingParams {
  if (options === undefined || options === null) return {};
  if (!isRecord(options)) throw invalid('an object', field, options);
  const name = (key: string) => `${field}.${key}`;
  const maxTokens = optional(options.num_predict, name('num_predict'), (v, n) => expectInteger(v, n, -2));
  return compact({
    maxTokens: maxTokens !== undefined && maxTokens < 0 ? undefined : maxTokens,
    temperature: optional(options.temperature, name('temperature'), (v, n) => expectNumber(v, n, 0)),
    topP: optional(options.top_p, name('top_p'), (v, n) => expectNumber(v, n, 0, 1)),
    topK: optional(options.top_k, name('top_k'), (v, n) => expectInteger(v, n, 0)),
    minP: optional(options.min_p, name('min_p'), (v, n) => expectNumber(v, n, 0, 1)),
    repeatPenalty: optional(options.repeat_penalty, name('repeat_penalty'), (v, n) => expectNumber(v, n, 0)),
    presencePenalty: optional(options.presence_penalty, name('presence_penalty'), (v, n) => expectNumber(v, n, -2, 2)),
    frequencyPenalty: optional(options.frequency_penalty, name('frequency_penalty'), (v, n) => expectNumber(v, n, -2, 2)),
    seed: randomSeedAsAbsent(optional(options.seed, name('seed'), (v, n) => expectInteger(v, n))),
    stop: optional(options.stop, name('stop'), expectStop),
    contextSize: optional(options.num_ctx, name('num_ctx'), (v, n) => expectInteger(v, n, 1)),
  });
}

/** llama.cpp `/completion` body, normalised. */
export interface LlamaCppCompletionRequest {
  /** Text, or token ids. */
  prompt: string | number[];
  /** Default false. */
  stream: boolean;
  sampling: SamplingParams;
}

/**
 * Normalises a llama.cpp `POST /completion` body: `prompt` (string or token ids), `stream`,
 * `n_predict` (-1 = no limit; 0 = only evaluate the prompt), `temperature` (>= 0), `stop`,
 * `cache_prompt`, `top_k`, `top_p`, `min_p`, `repeat_penalty`, `presence_penalty`,
 * `frequency_penalty`, `seed` (-1 = random), `json_schema`, `grammar`.
 */
export function normalizeLlamaCppCompletion(body: unknown): LlamaCppCompletionRequest {
  const request = expectBody(body);
  const maxTokens = optional(request.n_predict, 'n_predict', (v, n) => expectInteger(v, n, -1));
  return {
    prompt: expectPrompt(request.prompt),
    stream: optional(request.stream, 'stream', expectBoolean) ?? false,
    sampling: compact({
      maxTokens: maxTokens === -1 ? undefined : maxTokens,
      temperature: optional(request.temperature, 'temperature', (v, n) => expectNumber(v, n, 0)),
      topP: optional(request.top_p, 'top_p', (v, n) => expectNumber(v, n, 0, 1)),
      topK: optional(request.top_k, 'top_k', (v, n) => expectInteger(v, n, 0)),
      minP: optional(request.min_p, 'min_p', (v, n) => expectNumber(v, n, 0, 1)),
      repeatPenalty: optional(request.repeat_penalty, 'repeat_penalty', (v, n) => expectNumber(v, n, 0)),
      presencePenalty: optional(request.presence_penalty, 'presence_penalty', (v, n) => expectNumber(v, n, -2, 2)),
      frequencyPenalty: optional(request.frequency_penalty, 'frequency_penalty', (v, n) => expectNumber(v, n, -2, 2)),
      seed: randomSeedAsAbsent(optional(request.seed, 'seed', (v, n) => expectInteger(v, n))),
      stop: optional(request.stop, 'stop', expectStop),
      cachePrompt: optional(request.cache_prompt, 'cache_prompt', expectBoolean),
      responseFormat: jsonSchemaFormat(request.json_schema),
      grammar: optionalString(request.grammar, 'grammar'),
    }),
  };
}

/**
 * Ollama `keep_alive` in milliseconds: a number of seconds or a Go duration string (`"5m"`,
 * `"1h30m"`, `"10s"`, `"0"`). Negative = keep loaded forever (Infinity). Absent/null -> undefined.
 */
export function parseKeepAlive(value: unknown, field = 'keep_alive'): number | undefined {
  if (value === undefined || value === null) return undefined;
  const fromSeconds = (seconds: number) => (seconds < 0 ? Infinity : seconds * 1000);
  if (typeof value === 'number' && Number.isFinite(value)) return fromSeconds(value);
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^-?\d+(\.\d+)?$/.test(text)) return fromSeconds(Number(text));
    const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    const duration = /^(-?)((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/.exec(text);
    if (duration) {
      let ms = 0;
      for (const [, amount, unit] of duration[2].matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(amount) * units[unit];
      return duration[1] === '-' ? Infinity : ms;
    }
  }
  throw invalid('a number of seconds or a duration such as "5m"', field, value);
}

// ---------------------------------------------------------------------------------------------

function expectBody(body: unknown): Record<string, unknown> {
  if (!isRecord(body)) throw invalid('a JSON object', 'the request body', body);
  return body;
}

function expectArray(value: unknown, name: string): unknown[] {
  if (!Array.isArray(value)) throw invalid('an array', name, value);
  return value;
}

function expectObject(value: unknown, name: string): Record<string, unknown> {
  if (!isRecord(value)) throw invalid('an object', name, value);
  return value;
}

function optionalString(value: unknown, name: string): string | undefined {
  return optional(value, name, (v, n) => expectString(v, n));
}

function expectMaxTokens(value: unknown, name: string): number {
  if (value === -1) return -1;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalid('an integer >= 1 (or -1 for no limit)', name, value);
  }
  return value;
}

/** A string or an array of strings; empty strings are dropped (they would stop at once). */
function expectStop(value: unknown, name: string): string[] | undefined {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) throw invalid('a string or an array of strings', name, value);
  const stops = list.map((item: unknown, index) => expectString(item, `${name}[${index}]`)).filter((s) => s !== '');
  return stops.length > 0 ? stops : undefined;
}

function expectResponseFormat(value: unknown, name: string): ResponseFormat | undefined {
  const format = expectObject(value, name);
  switch (format.type) {
    case 'text':
      return undefined;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema': {
      const spec = expectObject(format.json_schema, `${name}.json_schema`);
      const schema = optional(spec.schema, `${name}.json_schema.schema`, expectObject) ?? {};
      return compact({
        type: 'json_schema' as const,
        schema,
        name: optionalString(spec.name, `${name}.json_schema.name`),
        strict: optional(spec.strict, `${name}.json_schema.strict`, expectBoolean),
      });
    }
    default:
      throw invalid('"text", "json_object" or "json_schema"', `${name}.type`, format.type);
  }
}

/** Ollama `format`: `"json"` or a JSON schema object; `""` = plain text. */
function expectOllamaFormat(value: unknown, name: string): ResponseFormat | undefined {
  if (value === '') return undefined;
  if (value === 'json') return { type: 'json_object' };
  if (isRecord(value)) return { type: 'json_schema', schema: value };
  throw invalid('"json" or a JSON schema object', name, value);
}

/** llama.cpp and Ollama use -1 (and llama.cpp 0xFFFFFFFF) for "pick a random seed". */
function randomSeedAsAbsent(seed: number | undefined): number | undefined {
  return seed === -1 || seed === 0xffffffff ? undefined : seed;
}

function expectPrompt(value: unknown): string | number[] {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    if (value.length === 1 && typeof value[0] === 'string') return value[0];
    if (value.every((token) => Number.isInteger(token) && (token as number) >= 0)) return value as number[];
  }
  throw new InvalidArgumentError(
    `Expected a string or an array of token ids for prompt but received ${describeValue(value)}` +
      (Array.isArray(value) && value.some((item) => typeof item === 'string') ? ' (several prompts in one request are not supported)' : ''),
  );
}

function streamIncludesUsage(streamOptions: unknown): boolean {
  const options = optional(streamOptions, 'stream_options', expectObject);
  return optional(options?.include_usage, 'stream_options.include_usage', expectBoolean) ?? false;
}
