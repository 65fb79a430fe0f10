/**
 * Sentence-sized deltas for OpenAI streams (`"sentences": true`, an akachat extension): the reply
 * text is passed on unchanged, only regrouped so that each delta ends at a sentence end. Clients
 * that hand every delta to TTS then never speak half a sentence, and the deltas still join up to
 * exactly the reply (tags such as `[happy]` and whitespace included).
 */
import { SentenceSplitter, type SentenceSplitterOptions } from './speech.js';

export class SentenceChunker {
  readonly #splitter: SentenceSplitter;
  /** Raw text received and not passed on yet. */
  #pending = '';

  constructor(options?: SentenceSplitterOptions) {
    this.#splitter = new SentenceSplitter(options);
  }

  /** Adds streamed text; returns the raw text of the sentences it completed ('' when none). */
  push(text: string): string {
    this.#pending += text;
    const sentences = this.#splitter.push(text);
    // Each sentence's display text is a verbatim piece of the raw text (tags and surrounding
    // whitespace cut off), so finding them in order gives where the last one ends.
    let end = 0;
    for (const sentence of sentences) {
      if (sentence.text === '') continue;
      const at = this.#pending.indexOf(sentence.text, end);
      if (at !== -1) end = at + sentence.text.length;
    }
    const ready = this.#pending.slice(0, end);
    this.#pending = this.#pending.slice(end);
    return ready;
  }

  /** The end of the reply: the rest of the text. */
  flush(): string {
    this.#splitter.flush();
    const rest = this.#pending;
    this.#pending = '';
    return rest;
  }
}
