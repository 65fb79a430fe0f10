import { basename } from 'node:path';
import { Model, type EmbeddingContext } from '../engine/index.js';
import type { Embedder, EmbedderFactory } from '../rag/embedder.js';
import type { ModelManager } from './model-manager.js';

/**
 * Embedders backed by llama.cpp embedding contexts: the reference (GGUF path or hf:) is
 * resolved through the ModelManager (downloads are shared) and the model is loaded once per
 * file, apart from the resident chat model. `threads` defaults to the physical cores.
 */
export function engineEmbedderFactory(manager: ModelManager, { threads }: { threads?: number } = {}): EmbedderFactory {
  const cache = new Map<string, Promise<Embedder>>();
  return (modelRef: string) => {
    let embedder = cache.get(modelRef);
    if (!embedder) {
      embedder = (async () => {
        const path = await manager.resolvePath(modelRef);
        const model = await Model.load(path);
        let context: EmbeddingContext;
        try {
          context = await model.createEmbeddingContext({ threads });
        } catch (err) {
          model.dispose();
          throw err;
        }
        return {
          dimensions: context.dimensions,
          modelId: `${basename(path)}:${model.info.parameters}:${model.info.sizeBytes}`,
          embed: (texts: string[], signal?: AbortSignal) => context.embed(texts, { signal }),
          dispose: () => { cache.delete(modelRef); model.dispose(); },
        } satisfies Embedder;
      })();
      embedder.catch(() => cache.delete(modelRef));
      cache.set(modelRef, embedder);
    }
    return embedder;
  };
}
