import { open } from 'node:fs/promises';
import { Index, MetricKind, ScalarKind } from 'usearch';
import { AkachatError } from '../errors.js';

/** How vectors are stored in the index: f16 halves memory with no measurable loss for normalised embeddings. */
export type VectorQuantization = 'f32' | 'f16' | 'i8';

export interface VectorHit {
  id: number;
  /** Cosine similarity, 1 for the same direction. */
  similarity: number;
}

/** usearch graph parameters; kept fixed so every collection file reads back the same way. */
const CONNECTIVITY = 16;
const EXPANSION_ADD = 64;
const EXPANSION_SEARCH = 128;

const SCALAR_KINDS: Record<VectorQuantization, ScalarKind> = { f32: ScalarKind.F32, f16: ScalarKind.F16, i8: ScalarKind.I8 };

/**
 * A usearch HNSW index (cosine metric) keyed by chunk id. usearch works synchronously on the
 * calling thread, so callers add in small batches and yield between them.
 */
export class VectorIndex {
  readonly dimensions: number;
  readonly quantization: VectorQuantization;
  #index: Index;

  private constructor(dimensions: number, quantization: VectorQuantization) {
    this.dimensions = dimensions;
    this.quantization = quantization;
    this.#index = new Index({
      dimensions, metric: MetricKind.Cos, quantization: SCALAR_KINDS[quantization], connectivity: CONNECTIVITY,
      expansion_add: EXPANSION_ADD, expansion_search: EXPANSION_SEARCH, multi: false,
    });
  }

  static create(dimensions: number, quantization: VectorQuantization = 'f16'): VectorIndex {
    return new VectorIndex(dimensions, quantization);
  }

  /** Reads an index file written by {@link save}; its dimensions must match. */
  static load(path: string, dimensions: number, quantization: VectorQuantization = 'f16'): VectorIndex {
    const index = new VectorIndex(dimensions, quantization);
    try {
      index.#index.load(path);
    } catch (err) {
      throw new AkachatError(`Cannot read the vector index ${path}: ${(err as Error).message}`, 'RAG_STORE_CORRUPT', { cause: err });
    }
    if (index.#index.dimensions() !== dimensions) {
      throw new AkachatError(`The vector index ${path} has ${index.#index.dimensions()} dimensions, expected ${dimensions}`, 'RAG_STORE_CORRUPT');
    }
    return index;
  }

  get size(): number {
    return this.#index.size();
  }

  /** Adds one vector per id; every vector has `dimensions` values. */
  add(ids: readonly number[], vectors: readonly Float32Array[]): void {
    if (ids.length === 0) return;
    const keys = new BigUint64Array(ids.length);
    const flat = new Float32Array(ids.length * this.dimensions);
    ids.forEach((id, i) => {
      keys[i] = BigInt(id);
      flat.set(vectors[i], i * this.dimensions);
    });
    this.#index.add(keys, flat, 1);
  }

  remove(ids: readonly number[]): void {
    if (ids.length > 0) this.#index.remove(BigUint64Array.from(ids, (id) => BigInt(id)));
  }

  /** The `k` nearest ids, nearest first. */
  search(vector: Float32Array, k: number): VectorHit[] {
    if (this.#index.size() === 0 || k <= 0) return [];
    const matches = this.#index.search(vector, k, 1);
    const hits: VectorHit[] = [];
    for (let i = 0; i < matches.keys.length; i++) {
      hits.push({ id: Number(matches.keys[i]), similarity: 1 - matches.distances[i] });
    }
    return hits;
  }

  /** Writes the index and flushes it to disk (usearch itself does not fsync). */
  async save(path: string): Promise<void> {
    this.#index.save(path);
    const handle = await open(path, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
