/**
 * Normalises an Anthropic Messages API body (`POST /v1/messages`, `/v1/messages/count_tokens`)
 * into the chat messages and sampling parameters every dialect runs on, with errors that name
 * the offending field. Shapes as llama-server accepts them (tools/server/README.md), with
 * Anthropic's own rules where a wrong value would be misread: `max_tokens` is required on
 * `/v1/messages`, roles are `user` and `assistant` only (the system prompt is a top-level field),
 * temperature is between 0 and 1.
 */
import { InvalidArgumentError } from '../errors.js';
import { callerOverrides } from '../prompt/options.js';
import { expectBoolean, expectInteger, expectNumber, expectString, invalid } from '../validate.js';
import { normalizeMessages } from './openai-normalize.js';
import { isRecord } from './route.js';
import type { ChatMessage, ResponseFormat, SamplingParams } from '../run/request.js';

/** Fields of the Messages API this server reads (`seed` and `min_p` are llama.cpp extras). */
const MESSAGES_FIELDS = new Set([
  'model', 'messages', 'system', 'max_tokens', 'temperature', 'top_p', 'top_k', 'stop_sequences', 'stream',
  'metadata', 'tools', 'tool_choice', 'thinking', 'service_tier', 'output_config', 'seed', 'min_p',
]);

/** Most stop sequences a request may carry (the engine checks each after every token). */
const MAX_STOP_SEQUENCES = 32;

export interface AnthropicRequest {
  /** Requested model name (any string; unknown names mean the default model). */
  model?: string;
  /** Default false. */
  stream: boolean;
  /** The system prompt first (when given), then the turns, same-role turns merged. */
  messages: ChatMessage[];
  sampling: SamplingParams;
}

/**
 * Normalises a Messages API body. `requireMaxTokens` is false for count_tokens, which takes the
 * same body without it. Throws InvalidArgumentError (400) naming the field, OwnerOnlyError (403)
 * for option keys only the server's owner sets (`chat_template`, `endpoint`, ...).
 */
export function normalizeAnthropicMessages(body: Record<string, unknown>, { requireMaxTokens = true } = {}): AnthropicRequest {
  refuseOptionKeys(body);
  refuseTools(body);
  const maxTokens = body.max_tokens;
  if (requireMaxTokens && (maxTokens === undefined || maxTokens === null)) {
    throw new InvalidArgumentError('max_tokens: Field required (the most tokens to generate, an integer >= 1)');
  }
  const system = systemText(body.system);
  const turns = turnsOf(body.messages);
  if (body.thinking !== undefined && body.thinking !== null) checkThinking(body.thinking);
  if (body.metadata !== undefined && body.metadata !== null && !isRecord(body.metadata)) throw invalid('an object', 'metadata', body.metadata);
  return {
    model: optional(body.model, 'model', (v, n) => expectString(v, n)),
    stream: optional(body.stream, 'stream', expectBoolean) ?? false,
    messages: normalizeMessages(system === undefined ? turns : [{ role: 'system', content: system }, ...turns]),
    sampling: compact({
      maxTokens: optional(maxTokens, 'max_tokens', (v, n) => expectInteger(v, n, 1)),
      temperature: optional(body.temperature, 'temperature', (v, n) => expectNumber(v, n, 0, 1)),
      topP: optional(body.top_p, 'top_p', (v, n) => expectNumber(v, n, 0, 1)),
      topK: optional(body.top_k, 'top_k', (v, n) => expectInteger(v, n, 0)),
      minP: optional(body.min_p, 'min_p', (v, n) => expectNumber(v, n, 0, 1)),
      seed: optional(body.seed, 'seed', (v, n) => expectInteger(v, n)),
      stop: optional(body.stop_sequences, 'stop_sequences', stopSequences),
      responseFormat: outputFormat(body.output_config),
    }),
  };
}

/**
 * Option keys in a Messages body go through the same gate as every caller's options: owner-only
 * ones (`chat_template`, `endpoint`, `provider`, ...) are refused with 403; generation parameters
 * under akachat's names are refused with 400 naming the Messages API's own fields, so none is
 * silently ignored. Other unknown fields are ignored, as Anthropic clients send newer ones.
 */
function refuseOptionKeys(body: Record<string, unknown>): void {
  const rest = Object.fromEntries(Object.entries(body).filter(([key]) => !MESSAGES_FIELDS.has(key)));
  const settable = Object.keys(callerOverrides(rest, 'the request body'));
  if (settable.length > 0) {
    throw new InvalidArgumentError(`${settable.join(', ')}: not a Messages API field; send max_tokens, temperature, top_p, top_k, stop_sequences (llama.cpp extras: seed, min_p)`);
  }
}

/** Tool use needs the chat layer's tool-call parser, which this route does not use yet. */
function refuseTools(body: Record<string, unknown>): void {
  const { tools, tool_choice: choice } = body;
  if (tools === undefined || tools === null) return;
  if (!Array.isArray(tools)) throw invalid('an array of tools', 'tools', tools);
  const none = isRecord(choice) && choice.type === 'none';
  if (tools.length > 0 && !none) throw new InvalidArgumentError('tools: tool use is not supported yet on /v1/messages (send no tools, or tool_choice {"type":"none"})');
}

/** `system`: a string or an array of text blocks (joined with a line break). */
function systemText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) throw invalid('a string or an array of text blocks', 'system', value);
  return value.map((block: unknown, index) => textBlock(block, `system[${index}]`)).join('\n');
}

function textBlock(block: unknown, path: string): string {
  if (!isRecord(block) || block.type !== 'text') throw invalid('a block of type "text"', path, isRecord(block) ? block.type : block);
  return expectString(block.text, `${path}.text`);
}

/** `messages` as chat turns; errors name the Anthropic field (`messages[1].content[0].type`). */
function turnsOf(value: unknown): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid('a non-empty array of messages', 'messages', value);
  return value.map((message: unknown, index): ChatMessage => {
    const path = `messages[${index}]`;
    if (!isRecord(message)) throw invalid('an object with role and content', path, message);
    const { role } = message;
    if (role !== 'user' && role !== 'assistant') {
      const hint = role === 'system' ? ' (the system prompt goes in the top-level system field)' : '';
      throw new InvalidArgumentError(`${invalid('"user" or "assistant"', `${path}.role`, role).message}${hint}`);
    }
    return { role, content: contentText(message.content, `${path}.content`) };
  });
}

/**
 * Text of a message's content: a string, or blocks. Text blocks are joined with a line break;
 * thinking blocks of earlier assistant turns are left out (templates drop past reasoning too).
 */
function contentText(content: unknown, path: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid('a string or an array of content blocks', path, content);
  const texts: string[] = [];
  content.forEach((block: unknown, index) => {
    const blockPath = `${path}[${index}]`;
    if (!isRecord(block)) throw invalid('a content block object', blockPath, block);
    switch (block.type) {
      case 'text':
        texts.push(expectString(block.text, `${blockPath}.text`));
        return;
      case 'thinking':
      case 'redacted_thinking':
        return;
      case 'tool_use':
      case 'tool_result':
        throw new InvalidArgumentError(`${blockPath}.type: tool use is not supported yet on /v1/messages (received a ${block.type} block)`);
      default:
        throw invalid('a block of type "text" (this server reads text only)', `${blockPath}.type`, block.type);
    }
  });
  return texts.join('\n');
}

/** `thinking`: `{type: "enabled", budget_tokens}`, `{type: "disabled"}`, `{type: "adaptive"}`, ... (Anthropic adds types). */
function checkThinking(value: unknown): void {
  if (!isRecord(value)) throw invalid('an object with a type such as "enabled" or "disabled"', 'thinking', value);
  expectString(value.type, 'thinking.type');
  if (value.type === 'enabled') expectInteger(value.budget_tokens, 'thinking.budget_tokens', 1);
}

/**
 * `output_config.format` (`{type: "json_schema", schema}`, Anthropic's structured output): held
 * to by a grammar as OpenAI's `response_format` is. `effort` has no local meaning and is ignored.
 */
function outputFormat(value: unknown): ResponseFormat | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw invalid('an object', 'output_config', value);
  const format = value.format;
  if (format === undefined || format === null) return undefined;
  if (!isRecord(format) || format.type !== 'json_schema') throw invalid('{"type": "json_schema", "schema": {...}}', 'output_config.format', format);
  if (!isRecord(format.schema)) throw invalid('a JSON schema object', 'output_config.format.schema', format.schema);
  return { type: 'json_schema', schema: format.schema };
}

function stopSequences(value: unknown, name: string): string[] | undefined {
  if (!Array.isArray(value)) throw invalid('an array of strings', name, value);
  if (value.length > MAX_STOP_SEQUENCES) throw invalid(`at most ${MAX_STOP_SEQUENCES} stop sequences`, name, value);
  const stops = value.map((item: unknown, index) => expectString(item, `${name}[${index}]`)).filter((stop) => stop !== '');
  return stops.length > 0 ? stops : undefined;
}

/** Runs `check` unless the value is absent; JSON clients send null for "not set". */
function optional<T>(value: unknown, name: string, check: (value: unknown, name: string) => T): T | undefined {
  return value === undefined || value === null ? undefined : check(value, name);
}

/** Drops undefined fields so spreading the result never overwrites a value with undefined. */
function compact<T extends object>(params: T): T {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as T;
}
