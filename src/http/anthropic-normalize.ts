/**
 * Normalises an Anthropic Messages API body (`POST /v1/messages`, `/v1/messages/count_tokens`)
 * into the chat messages and sampling parameters every dialect runs on, with errors that name
 * the offending field. Shapes as llama-server accepts them (tools/server/README.md), with
 * Anthropic's own rules where a wrong value would be misread: `max_tokens` is required on
 * `/v1/messages`, roles are `user` and `assistant` only (the system prompt is a top-level field),
 * temperature is between 0 and 1. Tools, tool turns and thinking become the chat layer's options
 * and turns (src/engine/chat-format.ts), so the model's own template renders them.
 */
import { checkChatFormatOptions } from '../engine/chat-format.js';
import { InvalidArgumentError } from '../errors.js';
import type { ChatFormatOptions, ChatTool, ToolChoice } from '../llm/types.js';
import { callerOverrides } from '../prompt/options.js';
import { describeValue, expectBoolean, expectInteger, expectNumber, expectString, invalid } from '../validate.js';
import { normalizeMessages } from './openai-normalize.js';
import { compact, isRecord, optional } from './route.js';
import type { ChatMessage, ResponseFormat, SamplingParams } from '../run/request.js';

/** Fields of the Messages API this server reads (`seed` and `min_p` are llama.cpp extras). */
const MESSAGES_FIELDS = new Set([
  'model', 'messages', 'system', 'max_tokens', 'temperature', 'top_p', 'top_k', 'stop_sequences', 'stream',
  'metadata', 'tools', 'tool_choice', 'thinking', 'service_tier', 'output_config', 'seed', 'min_p', 'chat_template_kwargs',
]);

/** Most stop sequences a request may carry (the engine checks each after every token). */
const MAX_STOP_SEQUENCES = 32;

export interface AnthropicRequest {
  /** Requested model name (any string; unknown names mean the default model). */
  model?: string;
  /** Default false. */
  stream: boolean;
  /** The system prompt first (when given), then the turns, same-role turns merged; tool calls and results as the chat layer's turns. */
  messages: ChatMessage[];
  sampling: SamplingParams;
  /** Tools, tool choice and thinking (`enable_thinking` for the template), checked. */
  chat: ChatFormatOptions;
}

/**
 * Normalises a Messages API body. `requireMaxTokens` is false for count_tokens, which takes the
 * same body without it. Throws InvalidArgumentError (400) naming the field, OwnerOnlyError (403)
 * for option keys only the server's owner sets (`chat_template`, `endpoint`, ...).
 */
export function normalizeAnthropicMessages(body: Record<string, unknown>, { requireMaxTokens = true } = {}): AnthropicRequest {
  refuseOptionKeys(body);
  const maxTokens = body.max_tokens;
  if (requireMaxTokens && (maxTokens === undefined || maxTokens === null)) {
    throw new InvalidArgumentError('max_tokens: Field required (the most tokens to generate, an integer >= 1)');
  }
  const system = systemText(body.system);
  const turns = turnsOf(body.messages);
  if (body.metadata !== undefined && body.metadata !== null && !isRecord(body.metadata)) throw invalid('an object', 'metadata', body.metadata);
  return {
    model: optional(body.model, 'model', (v, n) => expectString(v, n)),
    stream: optional(body.stream, 'stream', expectBoolean) ?? false,
    messages: normalizeMessages(system === undefined ? turns : [{ role: 'system', content: system }, ...turns], { toolTurns: 'keep' }),
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
    chat: chatOptions(body),
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

/**
 * `messages` as OpenAI-shaped turns for normalizeMessages (which merges same-role turns): an
 * assistant's `tool_use` blocks become its `tool_calls`, a user's `tool_result` blocks `tool`
 * turns (named after the call they answer), in the order the blocks come. Errors name the
 * Anthropic field (`messages[1].content[0].type`).
 */
function turnsOf(value: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(value) || value.length === 0) throw invalid('a non-empty array of messages', 'messages', value);
  const toolNames = new Map<string, string>();
  return value.flatMap((message: unknown, index) => {
    const path = `messages[${index}]`;
    if (!isRecord(message)) throw invalid('an object with role and content', path, message);
    const { role, content } = message;
    if (role !== 'user' && role !== 'assistant') {
      const hint = role === 'system' ? ' (the system prompt goes in the top-level system field)' : '';
      throw new InvalidArgumentError(`${invalid('"user" or "assistant"', `${path}.role`, role).message}${hint}`);
    }
    if (typeof content === 'string') return [{ role, content }];
    if (!Array.isArray(content)) throw invalid('a string or an array of content blocks', `${path}.content`, content);
    return role === 'assistant' ? [assistantTurn(content, `${path}.content`, toolNames)] : userTurns(content, `${path}.content`, toolNames);
  });
}

/** An assistant turn: its text blocks joined, its tool_use blocks as tool calls; thinking of past turns left out (templates drop it too). */
function assistantTurn(blocks: unknown[], path: string, toolNames: Map<string, string>): Record<string, unknown> {
  const texts: string[] = [];
  const calls: Array<Record<string, unknown>> = [];
  blocks.forEach((block: unknown, index) => {
    const at = `${path}[${index}]`;
    if (!isRecord(block)) throw invalid('a content block object', at, block);
    if (block.type === 'text') texts.push(expectString(block.text, `${at}.text`));
    else if (block.type === 'tool_use') {
      const id = expectString(block.id, `${at}.id`, { allowEmpty: false });
      const name = expectString(block.name, `${at}.name`, { allowEmpty: false });
      if (!isRecord(block.input)) throw invalid('an object', `${at}.input`, block.input);
      toolNames.set(id, name);
      calls.push({ id, type: 'function', function: { name, arguments: JSON.stringify(block.input) } });
    } else if (block.type !== 'thinking' && block.type !== 'redacted_thinking') {
      throw invalid('a block of type "text", "tool_use" or "thinking"', `${at}.type`, block.type);
    }
  });
  return { role: 'assistant', content: texts.join('\n'), ...(calls.length > 0 ? { tool_calls: calls } : {}) };
}

/** A user message's blocks: runs of text blocks as user turns, each tool_result block as a `tool` turn. */
function userTurns(blocks: unknown[], path: string, toolNames: Map<string, string>): Array<Record<string, unknown>> {
  const turns: Array<Record<string, unknown> & { content: string }> = [];
  blocks.forEach((block: unknown, index) => {
    const at = `${path}[${index}]`;
    if (!isRecord(block)) throw invalid('a content block object', at, block);
    if (block.type === 'text') {
      const text = expectString(block.text, `${at}.text`);
      const last = turns.at(-1);
      if (last?.role === 'user') last.content += `\n${text}`;
      else turns.push({ role: 'user', content: text });
    } else if (block.type === 'tool_result') {
      const id = expectString(block.tool_use_id, `${at}.tool_use_id`, { allowEmpty: false });
      const name = toolNames.get(id);
      turns.push({ role: 'tool', tool_call_id: id, content: toolResultText(block.content, `${at}.content`), ...(name ? { name } : {}) });
    } else {
      throw invalid('a block of type "text" or "tool_result" (this server reads text only)', `${at}.type`, block.type);
    }
  });
  return turns;
}

/** A tool result's content: a string or text blocks (absent: empty). */
function toolResultText(content: unknown, path: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid('a string or an array of text blocks', path, content);
  return content.map((block: unknown, index) => textBlock(block, `${path}[${index}]`)).join('\n');
}

/**
 * Tools, tool choice and thinking as the chat layer's options. Anthropic's tools
 * (`{name, description, input_schema}`) become functions; `tool_choice` `auto`, `any`
 * (= required), `tool` (that one), `none`. One call per turn unless `disable_parallel_tool_use`
 * is false, as llama-server has it (Anthropic allows several by default, but a grammar that
 * allows them lets a small model call on until max_tokens). `thinking` disabled or enabled sets
 * the template's `enable_thinking`, unless `chat_template_kwargs` (llama-server's extra) sets it.
 */
function chatOptions(body: Record<string, unknown>): ChatFormatOptions {
  const options: ChatFormatOptions = {};
  if (body.tools !== undefined && body.tools !== null) {
    if (!Array.isArray(body.tools)) throw invalid('an array of tools', 'tools', body.tools);
    options.tools = body.tools.map((tool: unknown, index) => functionTool(tool, `tools[${index}]`));
  }
  if (body.tool_choice !== undefined && body.tool_choice !== null) {
    const choice = body.tool_choice;
    if (!isRecord(choice)) throw invalid('an object with type "auto", "any", "tool" or "none"', 'tool_choice', choice);
    options.toolChoice = toolChoice(choice);
    if (choice.disable_parallel_tool_use !== undefined) options.parallelToolCalls = !expectBoolean(choice.disable_parallel_tool_use, 'tool_choice.disable_parallel_tool_use');
  }
  // Said outright: left unset, the chat layer would follow the template, which often allows several.
  if (options.tools !== undefined) options.parallelToolCalls ??= false;
  const thinking = optional(body.thinking, 'thinking', thinkingEnabled);
  const kwargs = body.chat_template_kwargs;
  if (kwargs !== undefined && kwargs !== null && !isRecord(kwargs)) throw invalid('an object', 'chat_template_kwargs', kwargs);
  if (thinking !== undefined || kwargs) options.chatTemplateKwargs = { ...(thinking !== undefined ? { enable_thinking: thinking } : {}), ...kwargs };
  checkChatFormatOptions(options);
  return options;
}

function functionTool(tool: unknown, path: string): ChatTool {
  if (!isRecord(tool)) throw invalid('a tool object {name, description, input_schema}', path, tool);
  if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') {
    throw new InvalidArgumentError(`Expected a tool of your own ({name, description, input_schema}) for ${path} but received the server tool ${describeValue(tool.type)}: Anthropic runs those, this server does not`);
  }
  const name = expectString(tool.name, `${path}.name`, { allowEmpty: false });
  if (!isRecord(tool.input_schema)) throw invalid('a JSON schema object', `${path}.input_schema`, tool.input_schema);
  const description = optional(tool.description, `${path}.description`, (v, n) => expectString(v, n));
  return { type: 'function', function: { name, ...(description !== undefined ? { description } : {}), parameters: tool.input_schema } };
}

function toolChoice(choice: Record<string, unknown>): ToolChoice {
  switch (choice.type) {
    case 'auto':
    case 'none':
      return choice.type;
    case 'any':
      return 'required';
    case 'tool':
      return { type: 'function', function: { name: expectString(choice.name, 'tool_choice.name', { allowEmpty: false }) } };
    default:
      throw invalid('"auto", "any", "tool" or "none"', 'tool_choice.type', choice.type);
  }
}

/**
 * `thinking`: `{type: "enabled", budget_tokens}` and `{type: "adaptive"}` turn thinking on,
 * `{type: "disabled"}` off; other types (Anthropic adds some) leave the template's default.
 */
function thinkingEnabled(value: unknown): boolean | undefined {
  if (!isRecord(value)) throw invalid('an object with a type such as "enabled" or "disabled"', 'thinking', value);
  const type = expectString(value.type, 'thinking.type');
  if (type === 'enabled') expectInteger(value.budget_tokens, 'thinking.budget_tokens', 1);
  return type === 'enabled' || type === 'adaptive' ? true : type === 'disabled' ? false : undefined;
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
