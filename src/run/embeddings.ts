/**
 * Embeddings for `/v1/embeddings` and Ollama's `/api/embed`: one embedding context per model file,
 * created on first use and kept while the model stays resident (the ModelManager disposes it with
 * the model, and a new one is made after a reload).
 */
import type { Akachat } from '../akachat.js';
import { throwIfAborted } from '../errors.js';
import type { EmbeddingContext, Model } from '../engine/index.js';
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
  readonly #contexts = new Map<string, Promise<EmbeddingContext>>();

  constructor(akachat: Akachat, catalog: ModelCatalog) {
    this.#akachat = akachat;
    this.#catalog = catalog;
  }

  /** Embeds every text with the resolved model (a preset's or prompt's model, a GGUF path, or the default). */
  async embed(requested: string | undefined, texts: readonly string[], signal?: AbortSignal): Promise<EmbeddingResult> {
    const started = performance.now();
    const { ref, name } = await this.#catalog.localModel(requested);
    throwIfAborted(signal);
    // The lease keeps the model resident while it embeds.
    const lease = await this.#akachat.models.acquire(ref, { signal });
    try {
      const context = await this.#context(lease.path, lease.model);
      const vectors = await context.embed(texts, { signal });
      const promptTokens = texts.reduce((sum, text) => sum + lease.model.tokenize(text, { addSpecial: true }).length, 0);
      return { model: name, vectors, promptTokens, durationMs: performance.now() - started };
    } finally {
      lease.release();
    }
  }

  async #context(path: string, model: Model): Promise<EmbeddingContext> {
    const cached = this.#contexts.get(path);
    if (cached) {
      const context = await cached.catch(() => undefined);
      if (context && !context.disposed && context.model === model) return context;
    }
    const created = model.createEmbeddingContext();
    this.#contexts.set(path, created);
    created.catch(() => this.#contexts.delete(path));
    return created;
  }
}
