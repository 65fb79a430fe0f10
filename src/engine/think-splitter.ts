/**
 * Separates the reasoning of thinking models (`<think> ... </think>` at the start of a reply, as
 * Qwen3 and DeepSeek-R1 write it) from the answer, while streaming. The fallback of
 * chat-format.ts's ChatReplyParser for replies llama.cpp's chat parser does not know (templates
 * given by a built-in name, remote models): avatar clients speak every `content` delta aloud, so
 * reasoning must travel apart from the answer.
 */

const OPEN = '<think>';
const CLOSE = '</think>';

/** Text of one streamed piece, split in two; either part may be empty. */
export interface ReplyPart {
  content: string;
  reasoning: string;
}

/**
 * Streaming splitter. A reply counts as starting with reasoning only when its first
 * non-whitespace text is `<think>`; everything up to `</think>` is reasoning, the rest (leading
 * whitespace removed) is content. A reply without `<think>` passes through unchanged, held back
 * only while its first characters could still be the start of `<think>`.
 */
export class ReasoningSplitter {
  #state: 'start' | 'thinking' | 'after' | 'content' = 'start';
  #held = '';

  push(text: string): ReplyPart {
    this.#held += text;
    const part: ReplyPart = { content: '', reasoning: '' };
    for (;;) {
      switch (this.#state) {
        case 'start': {
          const trimmed = this.#held.trimStart();
          if (trimmed === '' || (trimmed.length < OPEN.length && OPEN.startsWith(trimmed))) return part;
          if (trimmed.startsWith(OPEN)) {
            this.#held = trimmed.slice(OPEN.length);
            this.#state = 'thinking';
            continue;
          }
          this.#state = 'content';
          continue;
        }
        case 'thinking': {
          const end = this.#held.indexOf(CLOSE);
          if (end !== -1) {
            part.reasoning += this.#held.slice(0, end);
            this.#held = this.#held.slice(end + CLOSE.length);
            this.#state = 'after';
            continue;
          }
          // Keep back a tail that could be the start of `</think>`.
          const keep = partialSuffix(this.#held, CLOSE);
          part.reasoning += this.#held.slice(0, this.#held.length - keep);
          this.#held = this.#held.slice(this.#held.length - keep);
          return part;
        }
        case 'after': {
          this.#held = this.#held.trimStart();
          if (this.#held === '') return part;
          this.#state = 'content';
          continue;
        }
        case 'content':
          part.content += this.#held;
          this.#held = '';
          return part;
      }
    }
  }

  /** The end of the reply: whatever was held back. */
  flush(): ReplyPart {
    const held = this.#held;
    this.#held = '';
    if (this.#state === 'thinking') return { content: '', reasoning: held };
    if (this.#state === 'after') return { content: '', reasoning: '' };
    return { content: held, reasoning: '' };
  }
}

/** Splits a complete reply at once (same result as streaming it). */
export function splitReasoning(text: string): ReplyPart {
  const splitter = new ReasoningSplitter();
  const a = splitter.push(text);
  const b = splitter.flush();
  return { content: a.content + b.content, reasoning: a.reasoning + b.reasoning };
}

/** Length of the longest end of `text` that is a proper start of `tag`. */
function partialSuffix(text: string, tag: string): number {
  for (let length = Math.min(tag.length - 1, text.length); length > 0; length--) {
    if (tag.startsWith(text.slice(text.length - length))) return length;
  }
  return 0;
}
