/**
 * Replies split into content, reasoning and tool calls for the chat routes (OpenAI, Ollama,
 * Anthropic). Local chats are parsed by llama.cpp's chat parser (src/engine/chat-format.ts);
 * others (saved prompts, remote models, built-in template names) fall back to the `<think>`
 * splitter.
 */
import { ChatReplyParser, parseChatReply, type ChatReply, type ReplyDelta, type ReplyFormat, type ToolCall } from '../engine/chat-format.js';
import type { LlmChatOptions } from '../llm/request.js';
import type { ChatFormatOptions } from '../llm/types.js';
import type { RunResult } from '../run/runner.js';
import { isRecord } from './route.js';

export { ReasoningSplitter, splitReasoning, type ReplyPart } from '../engine/think-splitter.js';

/** A route's link to the reply parser of one chat run. */
export interface ReplyParsing {
  /** The run's `chat` (ChatRunRequest): the caller's options plus the hook that learns the reply format. */
  readonly chat: LlmChatOptions;
  /** A streaming parser; call it once the run's first chunk arrived (the format is known then). */
  parser(): ChatReplyParser;
  /** The whole reply of a finished run. */
  reply(result: RunResult): ChatReply;
}

/**
 * Wires a chat route to the reply parser: pass `chat` as the run's options, then use `parser()`
 * while streaming or `reply(result)` at the end.
 */
export function replyParsing(options: ChatFormatOptions): ReplyParsing {
  let format: ReplyFormat | undefined;
  const splitThinking = options.reasoningFormat !== 'none';
  return {
    chat: { ...options, onReplyFormat: (f) => { format = f; } },
    parser: () => new ChatReplyParser(format, { splitThinking }),
    reply: (result) => result.reply ?? parseChatReply(undefined, result.text, { splitThinking }),
  };
}

/** Text and reasoning of some streamed deltas, each joined (their tool calls left out). */
export function joinDeltas(deltas: readonly ReplyDelta[]): { content: string; reasoning: string } {
  return { content: deltas.map((d) => d.content ?? '').join(''), reasoning: deltas.map((d) => d.reasoning ?? '').join('') };
}

/**
 * All tool calls of a streamed reply: the parser's, or the result's where a remote service sent
 * them apart from the text (its parser saw text only).
 */
export function streamedToolCalls(parser: ChatReplyParser, result: RunResult): ToolCall[] {
  const sent = result.reply?.toolCalls ?? [];
  return sent.length > parser.reply.toolCalls.length ? sent : parser.reply.toolCalls;
}

/** A call's arguments (JSON text) as an object, as Anthropic and Ollama send them; undefined when they are no JSON object. */
export function argumentsObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
