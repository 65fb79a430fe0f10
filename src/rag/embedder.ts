import { AkachatError, throwIfAborted } from '../errors.js';
import { expectInteger } from '../validate.js';

/**
 * Turns texts into vectors. Implemented by the engine's embedding models; {@link HashedNgramEmbedder}
 * is a model-free one for tests and benchmarks.
 */
export interface Embedder {
  /** Length of every vector `embed` returns. */
  readonly dimensions: number;
  /**
   * Names the model exactly (file name, hash, ...). Stored with a collection, so adding to it or
   * searching it later with a different model is refused instead of silently mixing vector spaces.
   */
  readonly modelId?: string;
  /** Put before each query when the collection sets none (e5 style: `'query: '`). */
  readonly queryPrefix?: string;
  /** Put before each chunk when the collection sets none (e5 style: `'passage: '`). */
  readonly passagePrefix?: string;
  /** One L2-normalised vector per text, in order. */
  embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]>;
  /** Frees the model; called by `Rag.dispose()`. */
  dispose?(): void | Promise<void>;
}

/** Gives the embedder for a model reference (a GGUF path, an `hf:` reference, a preset name, ...). */
export type EmbedderFactory = (modelRef: string) => Promise<Embedder>;

/** The embedder broke its contract (wrong count, length or non-finite values). */
export class EmbeddingError extends AkachatError {
  constructor(message: string, options?: ErrorOptions) { super(message, 'EMBEDDING_FAILED', options); }
}

/** Calls `embedder.embed` and checks what comes back. */
export async function embedChecked(embedder: Embedder, texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
  throwIfAborted(signal);
  const vectors = await embedder.embed(texts, signal);
  throwIfAborted(signal);
  if (!Array.isArray(vectors) || vectors.length !== texts.length) {
    throw new EmbeddingError(`The embedder returned ${Array.isArray(vectors) ? vectors.length : 'no'} vectors for ${texts.length} texts`);
  }
  for (const vector of vectors) {
    if (!(vector instanceof Float32Array) || vector.length !== embedder.dimensions) {
      throw new EmbeddingError(`The embedder returned a vector of length ${(vector as { length?: number })?.length}, expected a Float32Array of ${embedder.dimensions}`);
    }
    for (let i = 0; i < vector.length; i++) {
      if (!Number.isFinite(vector[i])) throw new EmbeddingError('The embedder returned a vector with NaN or infinite values');
    }
  }
  return vectors;
}

export interface HashedNgramEmbedderOptions {
  /** Vector length. Default 256. */
  dimensions?: number;
  /** Character n-gram lengths hashed into the vector. Default [2, 3]. */
  ngramSizes?: number[];
}

/**
 * A deterministic embedder that needs no model: character n-grams (NFKC, lower-cased) are hashed
 * into a signed, L2-normalised vector. Texts sharing many n-grams land close together, which is
 * enough for tests, benchmarks and demos; it knows nothing about meaning.
 */
export class HashedNgramEmbedder implements Embedder {
  readonly dimensions: number;
  readonly modelId: string;
  readonly #ngramSizes: number[];

  constructor(options: HashedNgramEmbedderOptions = {}) {
    this.dimensions = expectInteger(options.dimensions ?? 256, 'options.dimensions', 1);
    this.#ngramSizes = (options.ngramSizes ?? [2, 3]).map((n, i) => expectInteger(n, `options.ngramSizes[${i}]`, 1));
    this.modelId = `hashed-ngram:${this.#ngramSizes.join(',')}:${this.dimensions}`;
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    throwIfAborted(signal);
    return texts.map((text) => this.embedOne(text));
  }

  embedOne(text: string): Float32Array {
    const vector = new Float32Array(this.dimensions);
    const chars = Array.from(text.normalize('NFKC').toLowerCase());
    let features = 0;
    const addNgrams = (n: number) => {
      for (let i = 0; i + n <= chars.length; i++, features++) {
        const hash = fnv1a(chars, i, n);
        vector[hash % this.dimensions] += hash & 0x80000000 ? -1 : 1;
      }
    };
    for (const n of this.#ngramSizes) addNgrams(n);
    // Texts shorter than every n-gram still get a direction from their characters.
    if (features === 0) addNgrams(1);
    return normalise(vector);
  }
}

function fnv1a(chars: string[], from: number, count: number): number {
  let hash = 0x811c9dc5;
  for (let i = from; i < from + count; i++) {
    const cp = chars[i].codePointAt(0)!;
    for (let shift = 0; shift < 24; shift += 8) {
      hash ^= (cp >>> shift) & 0xff;
      hash = Math.imul(hash, 0x01000193);
    }
  }
  return hash >>> 0;
}

/** Scales a vector to length 1 in place (a zero vector stays zero). */
export function normalise(vector: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i] * vector[i];
  if (sum > 0) {
    const scale = 1 / Math.sqrt(sum);
    for (let i = 0; i < vector.length; i++) vector[i] *= scale;
  }
  return vector;
}
