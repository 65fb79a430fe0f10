/**
 * A reply as Anthropic's content blocks: whole (`content` of a message) or streamed (the
 * content_block_start / content_block_delta / content_block_stop events of `POST /v1/messages`).
 * Blocks come in the reply's order (reasoning as a `thinking` block, the `text`, each tool call as
 * a `tool_use` block), each closed before the next opens, as Anthropic streams them.
 */
import type { ChatReply, ReplyDelta } from '../engine/chat-format.js';
import type { RunResult } from '../run/runner.js';
import { argumentsObject } from './reasoning.js';
import { sseEvent } from './sse.js';

/** One Anthropic stream event (its `type` is also the SSE event name). */
export interface AnthropicEvent {
  type: string;
  [field: string]: unknown;
}

/** One named SSE event, `event: <type>\ndata: <json>\n\n`, written in one piece (Anthropic's SDKs dispatch on the name). */
export function namedEvent(event: AnthropicEvent): string {
  return `event: ${event.type}\n${sseEvent(event)}`;
}

/**
 * A whole reply's content blocks: thinking (when the model reasoned), the text (when not empty),
 * a tool_use block per call (its arguments parsed; `{}` when they are no JSON object).
 */
export function contentBlocks(reply: ChatReply): AnthropicEvent[] {
  return [
    ...(reply.reasoning ? [{ type: 'thinking', thinking: reply.reasoning, signature: '' }] : []),
    ...(reply.content ? [{ type: 'text', text: reply.content }] : []),
    ...reply.toolCalls.map((call) => ({ type: 'tool_use', id: call.id, name: call.function.name, input: argumentsObject(call.function.arguments) ?? {} })),
  ];
}

/**
 * Anthropic's `stop_reason` and `stop_sequence` for a finished run: `tool_use` when the reply
 * called tools and was not cut short; `stop_sequence` when a stop string of the request (or of
 * the prompt) matched, named when there was one only (the engine says that a stop string matched,
 * not which). A stop string of the chat template (llama.cpp adds some) ends the turn.
 */
export function anthropicStop(reply: ChatReply, result: Pick<RunResult, 'stopReason' | 'settings'>): { stop_reason: string; stop_sequence: string | null } {
  const stops = result.settings?.stop ?? [];
  const reason = (stop_reason: string, stop_sequence: string | null = null) => ({ stop_reason, stop_sequence });
  if (result.stopReason === 'maxTokens') return reason('max_tokens');
  if (result.stopReason === 'contextFull') return reason('model_context_window_exceeded');
  if (reply.toolCalls.length > 0) return reason('tool_use');
  if (result.stopReason === 'stop' && stops.length > 0) return reason('stop_sequence', stops.length === 1 ? stops[0] : null);
  return reason('end_turn');
}

/**
 * Streamed content blocks: `push` each delta of the reply (the chat parser's), `finish` at its
 * end. A `ping` follows the first content_block_start (or comes at the end of a reply without
 * blocks), as Anthropic sends it. Thinking blocks close with an empty `signature_delta` (a local
 * model signs nothing; clients that pass thinking back expect the field). A tool call opens a
 * tool_use block when the parser names it; its arguments follow as `input_json_delta`s.
 */
export class ContentBlockEvents {
  #index = -1;
  #open: 'thinking' | 'text' | 'tool_use' | undefined;
  #pinged = false;
  /** Block index of each tool call (by the parser's call index). */
  readonly #toolBlocks = new Map<number, number>();

  push(delta: ReplyDelta): AnthropicEvent[] {
    return [
      ...(delta.reasoning ? this.#delta('thinking', delta.reasoning) : []),
      ...(delta.content ? this.#delta('text', delta.content) : []),
      ...(delta.toolCall ? this.#toolCall(delta.toolCall) : []),
    ];
  }

  finish(): AnthropicEvent[] {
    const out = this.#close();
    if (!this.#pinged) out.push({ type: 'ping' });
    this.#pinged = true;
    return out;
  }

  #delta(kind: 'thinking' | 'text', text: string): AnthropicEvent[] {
    const out = this.#open === kind ? [] : this.#start(kind, kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' });
    const delta = kind === 'text' ? { type: 'text_delta', text } : { type: 'thinking_delta', thinking: text };
    out.push({ type: 'content_block_delta', index: this.#index, delta });
    return out;
  }

  #toolCall(call: NonNullable<ReplyDelta['toolCall']>): AnthropicEvent[] {
    const out = call.name === undefined ? [] : this.#start('tool_use', { type: 'tool_use', id: call.id, name: call.name, input: {} });
    if (call.name !== undefined) this.#toolBlocks.set(call.index, this.#index);
    // Arguments of a call whose block was closed already still name that block (the SDKs accumulate by index).
    const index = this.#toolBlocks.get(call.index);
    if (call.arguments && index !== undefined) out.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: call.arguments } });
    return out;
  }

  #start(kind: 'thinking' | 'text' | 'tool_use', block: Record<string, unknown>): AnthropicEvent[] {
    const out = this.#close();
    this.#open = kind;
    this.#index++;
    out.push({ type: 'content_block_start', index: this.#index, content_block: block });
    if (!this.#pinged) out.push({ type: 'ping' });
    this.#pinged = true;
    return out;
  }

  #close(): AnthropicEvent[] {
    if (!this.#open) return [];
    const out: AnthropicEvent[] = [];
    if (this.#open === 'thinking') out.push({ type: 'content_block_delta', index: this.#index, delta: { type: 'signature_delta', signature: '' } });
    out.push({ type: 'content_block_stop', index: this.#index });
    this.#open = undefined;
    return out;
  }
}
