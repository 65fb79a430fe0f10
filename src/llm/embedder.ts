import { basename } from 'node:path';
import type { Embedder, EmbedderFactory } from '../rag/embedder.js';
import type { ModelManager } from './model-manager.js';

/**
 * Embedders for RAG collections, backed by llama.cpp embedding contexts of the ModelManager: the
 * same embedding path as `/v1/embeddings`, inside the manager's residency budget (each call
 * holds a lease; the model stays resident between calls until the budget needs the room).
 */
export function engineEmbedderFactory(manager: ModelManager): EmbedderFactory {
  return async (modelRef: string) => {
    // One lease up front: it loads the model, tells its dimensions and identity, and fails early.
    const first = await manager.acquireEmbedding(modelRef);
    const { dimensions } = first.context;
    const modelId = `${basename(first.path)}:${first.model.info.parameters}:${first.model.info.sizeBytes}`;
    first.release();
    return {
      dimensions,
      modelId,
      embed: async (texts: string[], signal?: AbortSignal) => {
        const lease = await manager.acquireEmbedding(modelRef, { signal });
        try {
          return await lease.context.embed(texts, { signal });
        } finally {
          lease.release();
        }
      },
    } satisfies Embedder;
  };
}
