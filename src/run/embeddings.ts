/**
 * Embeddings for `/v1/embeddings` and Ollama's `/api/embed`, through the ModelManager's embedding
 * leases (the same path as RAG collections): the embedding context lives with the resident model.
 */
import type { Akachat } from '../akachat.js';
import { throwIfAborted } from '../errors.js';
import type { ModelCatalog } from './catalog.js';

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

  /** Embeds every text with the resolved model (a preset's or prompt's model, a models-folder file, or the default). */
  async embed(requested: string | undefined, texts: readonly string[], signal?: AbortSignal): Promise<EmbeddingResult> {
    const started = performance.now();
    const { ref, name } = await this.#catalog.localModel(requested);
    throwIfAborted(signal);
    // The lease keeps the model resident while it embeds.
    const lease = await this.#akachat.models.acquireEmbedding(ref, { signal });
    try {
      const vectors = await lease.context.embed(texts, { signal });
      const promptTokens = texts.reduce((sum, text) => sum + lease.model.tokenize(text, { addSpecial: true }).length, 0);
      return { model: name, vectors, promptTokens, durationMs: performance.now() - started };
    } finally {
      lease.release();
    }
  }
}
