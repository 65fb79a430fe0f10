import { ChunkQueue } from '../async/chunk-queue.js';
import type { TextStream } from '../async/text-stream.js';
import { AbortError, abortReason } from '../errors.js';
import type { NativeAbortToken, NativeGenerationResult, NativeStopReason } from './addon-types.js';

export type StopReason = NativeStopReason;

export interface GenerationResult {
  /** The whole generated text (stop string excluded). */
  text: string;
  /** Why generation ended: end-of-generation token, `maxTokens`, a stop string, abort, or a full context. */
  stopReason: StopReason;
  /** Tokens in the prompt. */
  promptTokens: number;
  /** Prompt tokens taken from the KV cache instead of being decoded again. */
  reusedTokens: number;
  generatedTokens: number;
  /** Time spent decoding the (non-reused) prompt, in milliseconds. */
  prefillMs: number;
  /** Time spent generating, in milliseconds. */
  decodeMs: number;
}

/**
 * A running generation: an `AsyncIterable<string>` of text chunks (consumable once; `break`
 * cancels it) plus `result`, which settles when the native thread is done. Aborting through
 * the caller's AbortSignal makes both the iteration and `result` reject with an AbortError.
 */
export class Generation implements TextStream<GenerationResult> {
  readonly #token: NativeAbortToken;
  readonly #queue = new ChunkQueue<string>();
  #text = '';
  readonly result: Promise<GenerationResult>;

  /** @internal */
  constructor(token: NativeAbortToken, start: (onText: (text: string) => void) => Promise<NativeGenerationResult>, signal?: AbortSignal) {
    this.#token = token;
    const onAbort = () => token.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.result = start((text) => {
      this.#text += text;
      this.#queue.push(text);
    }).then(
      (native) => {
        if (native.stopReason === 'abort' && signal?.aborted) {
          throw Object.assign(new AbortError(abortReason(signal)), { partialText: this.#text });
        }
        return { text: this.#text, ...native };
      },
    ).finally(() => signal?.removeEventListener('abort', onAbort));
    this.result.then(() => this.#queue.end(), (err) => this.#queue.end(err));
  }

  /** Stops the generation within one token; `result` resolves with stopReason `'abort'`. */
  abort(): void {
    this.#token.abort();
  }

  /** Consumes the whole generation and returns its result. */
  async text(): Promise<string> {
    return (await this.result).text;
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    // Text crosses over from the native thread while generating only once something reads it:
    // a caller that just awaits `result` gets it all at the end, without waking the JS thread.
    const iterator = this.#queue.iterator('A Generation', async () => {
      this.#token.abort();
      await this.result.catch(() => {});
    });
    this.#token.stream();
    return iterator;
  }
}
