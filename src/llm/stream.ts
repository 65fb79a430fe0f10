import { ChunkQueue } from '../async/chunk-queue.js';
import type { TextStream } from '../async/text-stream.js';
import type { ChatReply } from '../engine/chat-format.js';
import { AbortError, abortReason } from '../errors.js';

export interface LlmUsage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens taken from the KV cache (local models). */
  reusedTokens?: number;
}

/** Where a local model's time went, as the engine measured it. */
export interface LlmTimings {
  /** Decoding the prompt tokens that were not reused from the KV cache. */
  promptMs: number;
  /** Generating the completion tokens. */
  generationMs: number;
  /** Getting the model ready for this call (download, quantize, load); near 0 when it was loaded. */
  loadMs?: number;
}

export interface LlmResult {
  text: string;
  /** The reply split into content, reasoning and tool calls (local chats, by llama.cpp's chat parser). */
  reply?: ChatReply;
  stopReason: string;
  usage: LlmUsage;
  /** The exact text the model saw (chat template applied, or the filled template). Local models only. */
  renderedPrompt?: string;
  /** Model path or remote model name that answered. */
  model: string;
  /** Time to the first text chunk, ms. */
  firstTokenMs?: number;
  /** Engine timings (local models). */
  timings?: LlmTimings;
}

/**
 * Text chunks of one LLM call as an `AsyncIterable<string>` (consumable once; `break` aborts
 * the call) plus `result`. The producer gets an AbortSignal that fires on `break`, on
 * `abort()` and on the caller's signal.
 */
export class LlmStream implements TextStream<LlmResult> {
  readonly result: Promise<LlmResult>;
  readonly #controller = new AbortController();
  readonly #queue = new ChunkQueue<string>();

  constructor(produce: (emit: (text: string) => void, signal: AbortSignal) => Promise<LlmResult>, signal?: AbortSignal) {
    const onAbort = () => this.#controller.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const started = performance.now();
    let firstTokenMs: number | undefined;
    this.result = (async () => {
      if (this.#controller.signal.aborted) throw new AbortError(abortReason(this.#controller.signal));
      const result = await produce((text) => {
        if (!text) return;
        firstTokenMs ??= performance.now() - started;
        this.#queue.push(text);
      }, this.#controller.signal);
      return { ...result, firstTokenMs: result.firstTokenMs ?? firstTokenMs };
    })().finally(() => signal?.removeEventListener('abort', onAbort));
    this.result.then(() => this.#queue.end(), (err) => this.#queue.end(err));
  }

  abort(): void {
    this.#controller.abort();
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return this.#queue.iterator('An LlmStream', async () => {
      this.#controller.abort();
      await this.result.catch(() => {});
    });
  }
}
