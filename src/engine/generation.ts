import { ChunkQueue } from '../async/chunk-queue.js';
import type { TextStream } from '../async/text-stream.js';
import { AbortError, abortReason } from '../errors.js';
import type { NativeAbortToken, NativeGenerationResult, NativeStopReason, NativeTextCallback } from './addon-types.js';

export type StopReason = NativeStopReason;

/** A token and its probability (0..1). */
export interface TokenProbability {
  id: number;
  /** The token's raw piece (special tokens empty); may be part of a UTF-8 character. */
  bytes: Uint8Array;
  probability: number;
}

/** A generated token; with `probabilities` asked for, its probability and the most likely tokens. */
export interface GeneratedToken {
  id: number;
  /** The token's raw piece (special tokens empty); may be part of a UTF-8 character. */
  bytes: Uint8Array;
  /** Of this token (see GenerateOptions.postSamplingProbabilities). */
  probability?: number;
  /** The most likely tokens at this step, best first; fewer than asked where samplers cut the rest. */
  top?: TokenProbability[];
}

/** A text chunk of a generation and the tokens it completes (a token whose text is held back, e.g. half a UTF-8 character, goes with the chunk that completes it). */
export interface TokenChunk {
  text: string;
  tokens: GeneratedToken[];
}

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
  /** The generated tokens, when `tokens` or `probabilities` was asked for (not those cut by a stop string). */
  tokens?: GeneratedToken[];
}

/** How a Generation receives tokens: `probabilities` per token (the native layout), their pieces, and whom to tell. */
export interface TokenDelivery {
  probabilities: number;
  pieces: (ids: Int32Array) => Uint8Array[];
  onTokens?: (chunk: TokenChunk) => void;
}

/** The tokens of one native text hand-over (see NativeTextCallback for the layout). */
function generatedTokens(ids: Int32Array, probs: Float32Array, topIds: Int32Array, delivery: TokenDelivery): GeneratedToken[] {
  const n = delivery.probabilities;
  // One native call for the chosen tokens and the known top ones (-1 marks none).
  const known = topIds.filter((id) => id >= 0);
  const all = new Int32Array(ids.length + known.length);
  all.set(ids);
  all.set(known, ids.length);
  const pieces = delivery.pieces(all);
  let nextTop = ids.length;
  const tokens: GeneratedToken[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (n === 0) {
      tokens.push({ id: ids[i], bytes: pieces[i] });
      continue;
    }
    const top: TokenProbability[] = [];
    for (let k = 0; k < n; k++) {
      const id = topIds[i * n + k];
      if (id >= 0) top.push({ id, bytes: pieces[nextTop++], probability: probs[i * (n + 1) + 1 + k] });
    }
    tokens.push({ id: ids[i], bytes: pieces[i], probability: probs[i * (n + 1)], top });
  }
  return tokens;
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
  constructor(token: NativeAbortToken, start: (onText: NativeTextCallback) => Promise<NativeGenerationResult>, signal?: AbortSignal, delivery?: TokenDelivery) {
    this.#token = token;
    const onAbort = () => token.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const tokens: GeneratedToken[] | undefined = delivery ? [] : undefined;
    let listenerError: { error: unknown } | undefined;
    this.result = start((text, ids, probs, topIds) => {
      if (tokens && delivery && ids && probs && topIds) {
        // Before the text is queued: whoever reads a chunk has already heard of its tokens. A
        // listener that throws (or a model disposed meanwhile) ends the generation with its
        // error, never inside the native call.
        try {
          const chunk = generatedTokens(ids, probs, topIds, delivery);
          tokens.push(...chunk);
          delivery.onTokens?.({ text, tokens: chunk });
        } catch (error) {
          listenerError ??= { error };
          token.abort();
        }
      }
      if (!text) return;
      this.#text += text;
      this.#queue.push(text);
    }).then(
      (native) => {
        if (listenerError) throw listenerError.error;
        if (native.stopReason === 'abort' && signal?.aborted) {
          throw Object.assign(new AbortError(abortReason(signal)), { partialText: this.#text });
        }
        return { text: this.#text, ...native, ...(tokens ? { tokens } : {}) };
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
