/**
 * A reply as Anthropic's content blocks: whole (`content` of a message) or streamed (the
 * content_block_start / content_block_delta / content_block_stop events of `POST /v1/messages`).
 * Blocks come in the reply's order (reasoning as a `thinking` block first, then the `text`), each
 * closed before the next opens, as Anthropic streams them.
 */
import { sseEvent } from './sse.js';

/** One Anthropic stream event (its `type` is also the SSE event name). */
export interface AnthropicEvent {
  type: string;
  [field: string]: unknown;
}

/** What a reply adds as it streams: answer text and reasoning (either may be empty). */
export interface ReplyPiece {
  content?: string;
  reasoning?: string;
}

/** One named SSE event, `event: <type>\ndata: <json>\n\n`, written in one piece (Anthropic's SDKs dispatch on the name). */
export function namedEvent(event: AnthropicEvent): string {
  return `event: ${event.type}\n${sseEvent(event)}`;
}

/** A whole reply's content blocks: thinking (when the model reasoned), then the text (when not empty). */
export function contentBlocks(reply: { content: string; reasoning: string }): AnthropicEvent[] {
  return [
    ...(reply.reasoning ? [{ type: 'thinking', thinking: reply.reasoning, signature: '' }] : []),
    ...(reply.content ? [{ type: 'text', text: reply.content }] : []),
  ];
}

/**
 * Streamed content blocks: `push` each piece of the reply, `finish` at its end. A `ping` follows
 * the first content_block_start (or comes at the end of a reply without blocks), as Anthropic
 * sends it. Thinking blocks close with an empty `signature_delta` (a local model signs nothing;
 * clients that pass thinking back expect the field).
 */
export class ContentBlockEvents {
  #index = -1;
  #open: 'thinking' | 'text' | undefined;
  #pinged = false;

  push(piece: ReplyPiece): AnthropicEvent[] {
    return [
      ...(piece.reasoning ? this.#delta('thinking', piece.reasoning) : []),
      ...(piece.content ? this.#delta('text', piece.content) : []),
    ];
  }

  finish(): AnthropicEvent[] {
    const out = this.#close();
    if (!this.#pinged) out.push({ type: 'ping' });
    this.#pinged = true;
    return out;
  }

  #delta(kind: 'thinking' | 'text', text: string): AnthropicEvent[] {
    const out: AnthropicEvent[] = [];
    if (this.#open !== kind) {
      out.push(...this.#close());
      this.#open = kind;
      this.#index++;
      const block = kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' };
      out.push({ type: 'content_block_start', index: this.#index, content_block: block });
      if (!this.#pinged) out.push({ type: 'ping' });
      this.#pinged = true;
    }
    const delta = kind === 'text' ? { type: 'text_delta', text } : { type: 'thinking_delta', thinking: text };
    out.push({ type: 'content_block_delta', index: this.#index, delta });
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
