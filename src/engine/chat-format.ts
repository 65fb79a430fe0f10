/**
 * Tool calls and reasoning through llama.cpp's own chat layer (vendor/llama.cpp/common/chat.h), so
 * every template family llama.cpp knows (Llama 3.x, Qwen, Hermes, Mistral, DeepSeek, gpt-oss, ...)
 * works without parsers of our own:
 *
 * - {@link formatChat}: messages (with assistant tool calls and `tool` results), tools, tool choice
 *   and reasoning settings through the chat template, by `common_chat_templates_apply` in the
 *   template worker process (template-sandbox.ts: it runs Jinja). It gives the prompt, a grammar
 *   for tool calls (lazy, with its triggers, when the model may also answer in text) and the
 *   parser of the reply.
 * - {@link grammarOptions}: that grammar as generate() options.
 * - {@link ChatReplyParser}: the reply, whole or while it streams, parsed by `common_chat_parse`
 *   (a PEG parser over the model's text, run in this process: no template code) into content,
 *   reasoning and tool calls, as deltas for streaming clients.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { describeValue, expectBoolean, expectNestedAtMost, expectString, invalid } from '../validate.js';
import { loadAddon } from './addon.js';
import type { NativeChatApplied, NativeChatMessage } from './addon-types.js';
import type { GenerateOptions } from './context.js';
import { isBuiltinTemplate, type Model } from './model.js';
import { callSite, fromNative, nativeCall } from './native-errors.js';
import { templateSandbox } from './template-sandbox.js';
import { ReasoningSplitter } from './think-splitter.js';

/** A function the model may call (OpenAI's `tools[]` entry). */
export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** A call the model made (OpenAI's `tool_calls[]` entry); `arguments` is JSON text. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** `'auto'` (default), `'none'`, `'required'` (one call or more), or one named function. */
export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

/** `'auto'` (default) and `'deepseek'`: reasoning apart from the content; `'none'`: left in it. */
export type ReasoningFormat = 'none' | 'auto' | 'deepseek';

/** A chat turn as llama.cpp's chat layer takes it (OpenAI's message, camel-cased). */
export interface ChatTurn {
  role: string;
  content: string;
  /** Assistant turns: the calls it made. */
  toolCalls?: ToolCall[];
  /** `tool` turns: the call this is the result of. */
  toolCallId?: string;
  /** `tool` turns: the function's name. */
  name?: string;
  /** Assistant turns: their reasoning, for templates that show it again. */
  reasoningContent?: string;
}

/** What a chat asks of the template and the reply beyond its messages. */
export interface ChatFormatOptions {
  tools?: readonly ChatTool[];
  toolChoice?: ToolChoice;
  /** Several calls in one reply. Default: whether the template supports them (as llama-server). */
  parallelToolCalls?: boolean;
  reasoningFormat?: ReasoningFormat;
  /** Extra template variables, e.g. `{ enable_thinking: false }`. */
  chatTemplateKwargs?: Record<string, unknown>;
}

/** Bounds on what a caller may send (tools and kwargs are generation inputs any client may set). */
export const MAX_TOOLS = 128;
export const MAX_TOOLS_JSON = 256 * 1024;
export const MAX_TOOL_SCHEMA_DEPTH = 32;
export const MAX_KWARGS_JSON = 16 * 1024;

/** How a reply is parsed (from {@link formatChat}); see {@link ChatReplyParser}. */
export interface ReplyFormat {
  format: number;
  reasoningFormat: ReasoningFormat;
  generationPrompt: string;
  parser: string;
  parseToolCalls: boolean;
}

export interface ChatFormat {
  prompt: string;
  /** llama.cpp's name of the template's format (`peg-native`, ...); `''` for built-in templates. */
  formatName: string;
  /** How to parse the reply; undefined where llama.cpp has no parser (built-in template names). */
  reply?: ReplyFormat;
  /** The tool-call grammar, when tools may be called. */
  grammar?: { text: string; lazy: boolean; triggers: NativeChatApplied['grammarTriggers']; generationPrompt: string; preservedTokens: string[] };
  /** Stop strings the format adds. */
  stops: string[];
}

export interface FormatChatOptions extends ChatFormatOptions {
  /** The model's own (default `''`), a Jinja source, or a llama.cpp built-in name (no tools then). */
  template?: string;
  addGenerationPrompt?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Renders a chat for `model` through llama.cpp's chat layer (see the file comment). Options are
 * checked first ({@link checkChatFormatOptions}); a template given by a built-in name renders
 * with llama.cpp's C++ formatter (tool turns as plain text, no tools, no reply parser).
 */
export async function formatChat(model: Model, messages: readonly ChatTurn[], options: FormatChatOptions = {}): Promise<ChatFormat> {
  const { template = '', addGenerationPrompt = true, timeoutMs, signal } = options;
  const checked = checkChatFormatOptions(options);
  expectString(template, 'template');
  const addon = loadAddon();
  if (isBuiltinTemplate(template) || !addon.chatTemplateApply) {
    if (offersTools(checked)) {
      throw new InvalidArgumentError(addon.chatTemplateApply
        ? `The chat template "${template}" (a llama.cpp built-in) cannot describe tools: use the model's own or a Jinja template`
        : 'The native addon was built before tool support: rebuild it (npm run build:native) to use tools');
    }
    return { prompt: await model.applyChatTemplate(flattenToolTurns(messages), { template, addGenerationPrompt, signal }), formatName: '', stops: [] };
  }
  const info = model.info;
  const source = template || info.chatTemplate || info.toolUseTemplate || 'chatml';
  const inputs = JSON.stringify(nativeInputs(messages, checked, addGenerationPrompt));
  const site = callSite();
  let applied: NativeChatApplied;
  try {
    applied = JSON.parse(await templateSandbox().render({ template: source, bos: info.bosText, eos: info.eosText, messages: [], addGenerationPrompt, inputs }, { timeoutMs, signal }));
  } catch (err) {
    throw fromNative(err, site);
  }
  const calls = offersTools(checked);
  const forced = calls && checked.toolChoice !== 'auto';
  const grammar = calls && applied.grammar && !applied.grammarLazy
    ? withoutGenerationPrompt(forced ? strictToolGrammar(applied.grammar, checked.parallelToolCalls ?? applied.parallelToolCalls ?? false) : applied.grammar, applied.generationPrompt)
    : { text: applied.grammar, generationPrompt: applied.generationPrompt };
  return {
    prompt: applied.prompt,
    formatName: applied.formatName,
    reply: { format: applied.format, reasoningFormat: checked.reasoningFormat, generationPrompt: applied.generationPrompt, parser: applied.parser, parseToolCalls: calls },
    grammar: calls && applied.grammar
      ? { ...grammar, lazy: applied.grammarLazy, triggers: applied.grammarTriggers, preservedTokens: applied.preservedTokens }
      : undefined,
    stops: applied.additionalStops,
  };
}

/**
 * llama.cpp's grammar for a required tool call lets the model write any text before the call,
 * and several calls even without parallel calls; OpenAI's `required` (and a named function)
 * means the reply is the call, one unless parallel calls are on. The root rule's optional
 * free-text part (`until-N?` right before the calls) is dropped, and without parallel calls a
 * repeated call rule becomes one call; a grammar of another shape is left as it is.
 */
function strictToolGrammar(grammar: string, parallel: boolean): string {
  const strict = grammar.replace(/^(root ::= .*?)\s*until-\d+\?\s+(tool-calls?)\s*$/m, '$1 $2');
  return parallel ? strict : strict.replace(/^tool-calls ::= \(tool-call space\)\+$/m, 'tool-calls ::= tool-call space');
}

/**
 * llama.cpp's non-lazy grammars start with the generation prompt, which the prompt already ends
 * with; llama.cpp feeds the grammar that text's tokens first. Where the root rule starts with it
 * as one literal, the literal is dropped instead: no tokens to feed, whatever the tokenizer (a
 * SentencePiece vocabulary may merge the prompt's last characters across that boundary).
 * Otherwise the generation prompt stays to be fed (see grammarOptions).
 */
function withoutGenerationPrompt(grammar: string, generationPrompt: string): { text: string; generationPrompt: string } {
  const root = /^root ::= "((?:[^"\\]|\\.)*)"/m.exec(grammar);
  const unescape = (literal: string) => literal.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[c] ?? c);
  if (!root || generationPrompt === '' || unescape(root[1]) !== generationPrompt) return { text: grammar, generationPrompt };
  return { text: grammar.slice(0, root.index) + 'root ::= ' + grammar.slice(root.index + root[0].length).replace(/^ /, ''), generationPrompt: '' };
}

/** Whether a chat offers the model tools to call. */
export function offersTools(options: Pick<ChatFormatOptions, 'tools' | 'toolChoice'>): boolean {
  return (options.tools?.length ?? 0) > 0 && options.toolChoice !== 'none';
}

interface CheckedOptions {
  tools: ChatTool[];
  toolChoice: 'auto' | 'none' | 'required';
  parallelToolCalls?: boolean;
  reasoningFormat: ReasoningFormat;
  kwargs?: Record<string, unknown>;
}

/**
 * Checks tools, tool choice and reasoning options with errors that name the field, and bounds
 * their size (tool count, JSON size, schema depth). A named function choice becomes `required`
 * with only that tool.
 */
export function checkChatFormatOptions(options: ChatFormatOptions): CheckedOptions {
  const { tools = [], toolChoice = 'auto', parallelToolCalls, reasoningFormat = 'auto', chatTemplateKwargs } = options;
  if (!Array.isArray(tools)) throw invalid('an array of tools', 'tools', tools);
  if (tools.length > MAX_TOOLS) throw invalid(`at most ${MAX_TOOLS} tools`, 'tools', tools);
  if (JSON.stringify(tools).length > MAX_TOOLS_JSON) throw invalid(`tools of at most ${MAX_TOOLS_JSON / 1024} KiB as JSON`, 'tools', tools);
  const checked = tools.map((tool, i) => checkTool(tool, `tools[${i}]`));
  if (parallelToolCalls !== undefined) expectBoolean(parallelToolCalls, 'parallel_tool_calls');
  if (!['none', 'auto', 'deepseek'].includes(reasoningFormat)) throw invalid('"none", "auto" or "deepseek"', 'reasoning_format', reasoningFormat);
  if (chatTemplateKwargs !== undefined) {
    if (typeof chatTemplateKwargs !== 'object' || chatTemplateKwargs === null || Array.isArray(chatTemplateKwargs)) {
      throw invalid('an object', 'chat_template_kwargs', chatTemplateKwargs);
    }
    expectNestedAtMost(chatTemplateKwargs, 'chat_template_kwargs', 8);
    if (JSON.stringify(chatTemplateKwargs).length > MAX_KWARGS_JSON) throw invalid(`at most ${MAX_KWARGS_JSON / 1024} KiB as JSON`, 'chat_template_kwargs', chatTemplateKwargs);
    const thinking = chatTemplateKwargs.enable_thinking;
    if (thinking !== undefined) expectBoolean(thinking, 'chat_template_kwargs.enable_thinking');
  }
  if (toolChoice === 'auto' || toolChoice === 'none' || toolChoice === 'required') {
    return { tools: checked, toolChoice, parallelToolCalls, reasoningFormat, kwargs: chatTemplateKwargs };
  }
  const name = typeof toolChoice === 'object' && toolChoice !== null && toolChoice.type === 'function' ? toolChoice.function?.name : undefined;
  if (typeof name !== 'string') throw invalid('"auto", "none", "required" or {type: "function", function: {name}}', 'tool_choice', toolChoice);
  const named = checked.filter((tool) => tool.function.name === name);
  if (named.length === 0) throw new InvalidArgumentError(`Expected a function named in tools for tool_choice.function.name but received ${describeValue(name)}`);
  return { tools: named, toolChoice: 'required', parallelToolCalls, reasoningFormat, kwargs: chatTemplateKwargs };
}

function checkTool(tool: unknown, path: string): ChatTool {
  if (typeof tool !== 'object' || tool === null || (tool as ChatTool).type !== 'function') throw invalid('{type: "function", function: {...}}', path, tool);
  const fn = (tool as ChatTool).function;
  if (typeof fn !== 'object' || fn === null) throw invalid('an object', `${path}.function`, fn);
  const name = expectString(fn.name, `${path}.function.name`, { allowEmpty: false });
  if (name.length > 256) throw invalid('a name of at most 256 characters', `${path}.function.name`, name);
  const description = fn.description === undefined || fn.description === null ? undefined : expectString(fn.description, `${path}.function.description`);
  const parameters = fn.parameters === undefined || fn.parameters === null ? undefined : fn.parameters;
  if (parameters !== undefined && (typeof parameters !== 'object' || Array.isArray(parameters))) throw invalid('a JSON schema object', `${path}.function.parameters`, parameters);
  if (parameters !== undefined) expectNestedAtMost(parameters, `${path}.function.parameters`, MAX_TOOL_SCHEMA_DEPTH);
  return { type: 'function', function: { name, ...(description !== undefined ? { description } : {}), ...(parameters !== undefined ? { parameters } : {}) } };
}

/** The JSON llama.cpp's oaicompat readers take (native/chat.cpp). */
function nativeInputs(messages: readonly ChatTurn[], o: CheckedOptions, addGenerationPrompt: boolean) {
  if (!Array.isArray(messages)) throw invalid('an array of messages', 'messages', messages);
  return {
    messages: messages.map((m, i) => {
      if (typeof m?.role !== 'string' || typeof m?.content !== 'string') throw invalid('{ role: string, content: string }', `messages[${i}]`, m);
      return {
        role: m.role,
        content: m.content,
        ...(m.toolCalls?.length ? { tool_calls: m.toolCalls.map((call: ToolCall, k: number) => checkCall(call, `messages[${i}].tool_calls[${k}]`)) } : {}),
        ...(m.toolCallId !== undefined ? { tool_call_id: expectString(m.toolCallId, `messages[${i}].tool_call_id`) } : {}),
        ...(m.name !== undefined ? { name: expectString(m.name, `messages[${i}].name`) } : {}),
        ...(m.reasoningContent ? { reasoning_content: expectString(m.reasoningContent, `messages[${i}].reasoning_content`) } : {}),
      };
    }),
    ...(o.tools.length > 0 ? { tools: o.tools } : {}),
    tool_choice: o.toolChoice,
    ...(o.parallelToolCalls !== undefined ? { parallel_tool_calls: o.parallelToolCalls } : {}),
    reasoning_format: o.reasoningFormat,
    add_generation_prompt: addGenerationPrompt,
    ...(o.kwargs ? { chat_template_kwargs: o.kwargs } : {}),
  };
}

function checkCall(call: ToolCall, path: string) {
  const name = expectString(call?.function?.name, `${path}.function.name`);
  const args = expectString(call.function.arguments, `${path}.function.arguments`);
  // Templates that take arguments as an object have llama.cpp parse them: refuse what it could not.
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw invalid('JSON text', `${path}.function.arguments`, args);
  }
  expectNestedAtMost(parsed, `${path}.function.arguments`, MAX_TOOL_SCHEMA_DEPTH);
  return { type: 'function', ...(call.id ? { id: expectString(call.id, `${path}.id`) } : {}), function: { name, arguments: args } };
}

/**
 * Tool turns as plain text, for what renders no tool turns (built-in templates, remote models,
 * saved prompts): a `tool` result becomes a user turn `Tool result (<name>):`, an assistant's calls
 * are written out after its text.
 */
export function flattenToolTurns<T extends ChatTurn>(messages: readonly T[]): { role: string; content: string }[] {
  const out: { role: string; content: string }[] = [];
  for (const m of messages) {
    let role = m.role;
    let content = m.content;
    if (role === 'tool') {
      role = 'user';
      content = toolResultText(m);
    } else if (m.toolCalls?.length) {
      content = [content, ...m.toolCalls.map((c) => `Tool call: ${c.function.name}(${c.function.arguments})`)].filter(Boolean).join('\n');
    }
    const previous = out.at(-1);
    if (previous?.role === role) previous.content = [previous.content, content].filter((p) => p !== '').join('\n\n');
    else out.push({ role, content });
  }
  return out;
}

/** A `tool` turn as user text, for what renders no tool turns: `Tool result (<name>):` and the result. */
export function toolResultText(m: { name?: string; content: string }): string {
  return `Tool result${m.name ? ` (${m.name})` : ''}:\n${m.content}`;
}

/**
 * generate() options for a chat's tool-call grammar: lazy ones with their triggers (a trigger word
 * that is one special token becomes a token trigger, as llama-server does), others prefilled with
 * the generation prompt's tokens taken from the end of `promptTokens`.
 */
export function grammarOptions(model: Model, format: ChatFormat, promptTokens: Int32Array): Pick<GenerateOptions, 'grammar' | 'grammarTriggers' | 'grammarPrefill'> {
  const g = format.grammar;
  if (!g) return {};
  if (!g.lazy) return { grammar: g.text, grammarPrefill: promptSuffixTokens(model, promptTokens, g.generationPrompt) };
  const patterns: string[] = [];
  const tokens: number[] = [];
  for (const trigger of g.triggers) {
    if (trigger.type === 'word') {
      const ids = model.tokenize(trigger.value, { addSpecial: false, parseSpecial: true });
      if (ids.length === 1 && g.preservedTokens.includes(trigger.value)) tokens.push(ids[0]);
      else patterns.push(trigger.value.replace(/[.^$|()*+?[\]{}\\]/g, '\\$&'));
    } else if (trigger.type === 'pattern') {
      patterns.push(trigger.value);
    } else if (trigger.type === 'pattern_full') {
      patterns.push(`${trigger.value.startsWith('^') ? '' : '^'}${trigger.value}${trigger.value.endsWith('$') ? '' : '$'}`);
    }
  }
  return { grammar: g.text, grammarTriggers: { patterns, tokens } };
}

/** The last tokens of the prompt that spell `text` exactly, or `text` tokenized alone. */
function promptSuffixTokens(model: Model, promptTokens: Int32Array, text: string): number[] {
  if (text === '') return [];
  let spelled = '';
  for (let i = promptTokens.length - 1; i >= 0 && spelled.length < text.length; i--) {
    spelled = model.detokenize([promptTokens[i]], { special: true }) + spelled;
    if (spelled === text) return Array.from(promptTokens.subarray(i));
  }
  return Array.from(model.tokenize(text, { addSpecial: false, parseSpecial: true }));
}

/** A reply split up: the answer, the reasoning, the tool calls. */
export interface ChatReply {
  content: string;
  reasoning: string;
  toolCalls: ToolCall[];
}

/** What a streamed reply adds; a tool call's first delta carries its id and name. */
export interface ReplyDelta {
  content?: string;
  reasoning?: string;
  toolCall?: { index: number; id?: string; name?: string; arguments: string };
}

/**
 * Replies deeper than this in `[`/`{` are not given to llama.cpp's parser (it recurses on the
 * native stack: ~3000 levels overflow 8 MiB and crash the process); they stay content.
 */
export const MAX_REPLY_NESTING = 256;

/** Replies longer than this (characters) stay content: one parse of them would hold the event loop ~0.2 s. */
export const MAX_PARSED_REPLY = 1 << 20;

/**
 * Parses a reply while it streams (see the file comment). With no ReplyFormat (built-in
 * templates, remote models), `<think>` reasoning is split off by the {@link ReasoningSplitter}.
 * A partial reply is parsed again as a whole at each push (as llama-server does), but never more
 * than ~20% of the time: parses that cost more than a token's time wait for more text.
 */
export class ChatReplyParser {
  readonly #parser?: NativeParser;
  readonly #splitter?: ReasoningSplitter;
  #text = '';
  #sent: ChatReply = { content: '', reasoning: '', toolCalls: [] };
  /** Calls whose id and name were sent. */
  #announced = 0;
  #ids: string[] = [];
  #nextParseAt = 0;
  #failed = false;

  /** `splitThinking: false`: without a format, the text is all content (reasoning format `none`). */
  constructor(format?: ReplyFormat, { splitThinking = true } = {}) {
    if (!format) {
      if (splitThinking) this.#splitter = new ReasoningSplitter();
      return;
    }
    const parser = nativeParser(format);
    if (parser) this.#parser = parser;
    else if (splitThinking) this.#splitter = new ReasoningSplitter();
  }

  /** The reply so far, as sent in deltas. */
  get reply(): ChatReply {
    return this.#sent;
  }

  push(text: string): ReplyDelta[] {
    if (this.#splitter) {
      const part = this.#splitter.push(text);
      return this.#sendText(part.content, part.reasoning);
    }
    if (!this.#parser) return this.#sendText(text, '');
    this.#text += text;
    if (performance.now() < this.#nextParseAt) return [];
    return this.#parse(true);
  }

  /** The end of the reply (with its last `text`, if any): what was held back, and the final parse. */
  finish(text = ''): ReplyDelta[] {
    if (this.#splitter) {
      const last = this.#splitter.push(text);
      const part = this.#splitter.flush();
      return this.#sendText(last.content + part.content, last.reasoning + part.reasoning);
    }
    if (!this.#parser) return this.#sendText(text, '');
    this.#text += text;
    return this.#parse(false);
  }

  #sendText(content: string, reasoning: string): ReplyDelta[] {
    this.#sent.content += content;
    this.#sent.reasoning += reasoning;
    const out: ReplyDelta[] = [];
    if (reasoning) out.push({ reasoning });
    if (content) out.push({ content });
    return out;
  }

  #parse(partial: boolean): ReplyDelta[] {
    const started = performance.now();
    const message = this.#failed ? undefined : this.#nativeParse(partial);
    this.#nextParseAt = performance.now() + 4 * (performance.now() - started);
    if (!message) {
      // Unparsable (or too deep): the text goes out as content, past what was sent.
      if (partial) return [];
      return this.#sendText(this.#text.startsWith(this.#sent.content) ? this.#text.slice(this.#sent.content.length) : '', '');
    }
    const out: ReplyDelta[] = [];
    const more = (sent: string, now: string) => (now.startsWith(sent) && now.length > sent.length ? now.slice(sent.length) : '');
    const reasoning = more(this.#sent.reasoning, message.reasoningContent);
    if (reasoning) {
      this.#sent.reasoning += reasoning;
      out.push({ reasoning });
    }
    const content = more(this.#sent.content, message.content);
    if (content) {
      this.#sent.content += content;
      out.push({ content });
    }
    message.toolCalls.forEach((call, index) => {
      // A call is announced once its arguments begin (its name is whole then), or at the end.
      if (index >= this.#announced) {
        if (!call.name || (partial && call.arguments === '')) return;
        if (index > this.#announced) return;  // calls are announced in order
        this.#ids[index] = call.id || `call_${randomBytes(12).toString('hex')}`;
        this.#sent.toolCalls.push({ id: this.#ids[index], type: 'function', function: { name: call.name, arguments: call.arguments } });
        this.#announced++;
        out.push({ toolCall: { index, id: this.#ids[index], name: call.name, arguments: call.arguments } });
        return;
      }
      const sent = this.#sent.toolCalls[index].function;
      const args = more(sent.arguments, call.arguments);
      if (args) {
        sent.arguments += args;
        out.push({ toolCall: { index, arguments: args } });
      }
    });
    return out;
  }

  #nativeParse(partial: boolean): NativeChatMessage | undefined {
    if (this.#text.length > MAX_PARSED_REPLY || nestingDepth(this.#text) > MAX_REPLY_NESTING) {
      this.#failed = true;
      return undefined;
    }
    try {
      return this.#parser!.parse(this.#text, partial);
    } catch {
      // The reply does not match the template's format (a model that ignored it): plain content.
      if (!partial) this.#failed = true;
      return undefined;
    }
  }
}

type NativeParser = { parse(text: string, partial: boolean): NativeChatMessage };

/**
 * llama.cpp's parsers by reply format. Building one loads its PEG parser (~0.7 ms for a tool
 * template), the same for every reply of a template and settings (a streamed reply and its
 * whole-reply parse too); parse() leaves it as it was, so one serves them all.
 */
const nativeParsers = new Map<string, NativeParser>();

/** The parser of `format`, or undefined with an addon built before ChatParser. */
function nativeParser(format: ReplyFormat): NativeParser | undefined {
  const { ChatParser } = loadAddon();
  if (!ChatParser) return undefined;
  const key = `${format.format}\0${format.reasoningFormat}\0${format.parseToolCalls}\0${format.generationPrompt}\0${format.parser}`;
  let parser = nativeParsers.get(key);
  if (!parser) {
    parser = nativeCall(() => new ChatParser(format));
    if (nativeParsers.size >= 32) nativeParsers.clear(); // formats in use are few; bound the cache anyway
    nativeParsers.set(key, parser);
  }
  return parser;
}

/** Deepest nesting of `[` and `{` in the text (quotes ignored: an upper bound). */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return max;
}

/** A whole reply parsed (see {@link ChatReplyParser}): once, as final (no partial parse first). */
export function parseChatReply(format: ReplyFormat | undefined, text: string, options?: { splitThinking?: boolean }): ChatReply {
  const parser = new ChatReplyParser(format, options);
  parser.finish(text);
  return parser.reply;
}
