/**
 * Embeddings for `/v1/embeddings` and Ollama's `/api/embed`, through the ModelManager's embedding
 * leases (the same path as RAG collections): the embedding context lives with the resident model.
 */
import type { Akachat } from '../akachat.js';
import { InvalidArgumentError, throwIfAborted } from '../errors.js';
import { describeValue, invalid } from '../validate.js';
import type { ModelCatalog } from './catalog.js';

/** A text, or token ids embedded as they are (checked against the model's vocabulary). */
export type EmbeddingInput = string | readonly number[];

/** Most inputs one embeddings request may carry (OpenAI's own limit). */
export const MAX_EMBEDDING_INPUTS = 2048;

/**
 * OpenAI's `input` forms: a string, an array of strings, an array of token ids (one input), or an
 * array of token-id arrays (mixed with strings too, as llama-server takes them).
 */
export function embeddingInputsWithTokens(value: unknown, name = 'input'): EmbeddingInput[] {
  const what = 'a string, token ids, or a non-empty array of strings or token-id arrays';
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value) || value.length === 0) throw invalid(what, name, value);
  if (value.length > MAX_EMBEDDING_INPUTS) throw invalid(`at most ${MAX_EMBEDDING_INPUTS} inputs`, name, value);
  if (value.every((item) => typeof item === 'number')) return [tokenIds(value, name)];
  return value.map((item: unknown, index) => {
    if (typeof item === 'string') return item;
    if (Array.isArray(item) && item.length > 0) return tokenIds(item, `${name}[${index}]`);
    throw new InvalidArgumentError(`Expected a string or a non-empty array of token ids for ${name}[${index}] but received ${describeValue(item)}`);
  });
}

function tokenIds(list: unknown[], name: string): number[] {
  const bad = list.findIndex((id) => !Number.isInteger(id) || (id as number) < 0 || (id as number) > 0x7fffffff);
  if (bad !== -1) throw invalid('a token id (an integer >= 0)', `${name}[${bad}]`, list[bad]);
  return list as number[];
}

export interface EmbeddingResult {
  /** The name the client used (or the default model's). */
  model: string;
  vectors: Float32Array[];
  /** Tokens of all inputs together. */
  promptTokens: number;
  durationMs: number;
}

export class Embedder {
  readonly #akachat: Akachat;
  readonly #catalog: ModelCatalog;

  constructor(akachat: Akachat, catalog: ModelCatalog) {
    this.#akachat = akachat;
    this.#catalog = catalog;
  }

  /** Embeds every input with the resolved model (a preset's or prompt's model, a models-folder file, or the default). */
  async embed(requested: string | undefined, inputs: readonly EmbeddingInput[], signal?: AbortSignal): Promise<EmbeddingResult> {
    const started = performance.now();
    const { ref, name } = await this.#catalog.localModel(requested);
    throwIfAborted(signal);
    // The lease keeps the model resident while it embeds.
    const lease = await this.#akachat.models.acquireEmbedding(ref, { signal });
    try {
      // Texts are tokenized once, here, as embed() would (their counts are the usage); a text of
      // no tokens stays text, for embed() to answer as it does.
      const texts = inputs.map((input) => {
        if (typeof input !== 'string') return Int32Array.from(input);
        const ids = lease.model.tokenize(input, { addSpecial: true });
        return ids.length > 0 ? ids : input;
      });
      const vectors = await lease.context.embed(texts, { signal });
      const promptTokens = texts.reduce((sum, text) => sum + (typeof text === 'string' ? 0 : text.length), 0);
      return { model: name, vectors, promptTokens, durationMs: performance.now() - started };
    } finally {
      lease.release();
    }
  }
}
