import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { AkachatError, NotFoundError, throwIfAborted } from '../errors.js';
import { toJsonText, writeFileAtomic } from '../data/atomic.js';
import { confinedPath } from '../data/paths.js';
import { readChunkSegment, writeChunkSegment, type StoredChunk } from './chunk-store.js';
import { embedChecked, type Embedder } from './embedder.js';
import { runIngestTask } from './ingest-pool.js';
import type { PreparedItem } from './ingest-tasks.js';
import { countTerms, LexicalIndex, type CountedTerms, type LexicalHit } from './lexical.js';
import type { DocumentFormat, LoadOptions } from './loaders.js';
import type { TextEncodingName } from './encoding.js';
import type { SkippedFile } from './archive.js';
import { VectorIndex, type VectorHit, type VectorQuantization } from './vector-index.js';

/*
 * On-disk layout of one collection, `<dataFolder>/rag/<name>/`:
 *   collection.json     settings fixed at creation (embedding model, chunking defaults)
 *   manifest.json       the committed state: generation, chunk segments, vector file, files
 *   chunks/NNNNNN.jsonl immutable chunk segments, one per ingest (compacted when mostly dead)
 *   vectors/NNNNNN.usearch  the vector index of that generation
 *   files/...           the source files, as extracted
 *   .staging-N/         source files of an ingest that has not moved them into files/ yet
 * An ingest writes generation N+1 beside generation N and commits by replacing manifest.json
 * atomically; until then the collection reads exactly as before, on disk and in memory.
 * One process at a time writes a collection.
 */
const CONFIG_FILE = 'collection.json';
const MANIFEST_FILE = 'manifest.json';
const CHUNKS_FOLDER = 'chunks';
const VECTORS_FOLDER = 'vectors';
const FILES_FOLDER = 'files';
const STAGING_PREFIX = '.staging-';
const GENERATION_FILE = /^\d{6,}\.(jsonl|usearch)$/;

/** Vectors handed to usearch per step, so a large ingest leaves room for other work between steps. */
const INDEX_BATCH = 128;
/**
 * Most new chunks added to a built lexical index in place, on the JS thread, at commit (their
 * terms counted on a worker: ~50 ms for 2000 chunks).
 */
const LEXICAL_UPDATE_MAX_CHUNKS = 2000;
/** Chunk ids of replaced files that must pile up before the segments are rewritten without them. */
const COMPACTION_MIN_DEAD = 1000;
/** Input bytes (or characters) of the files sent to a worker in one task: bounds what is held twice. */
const PREPARE_BATCH_BYTES = 16 * 1024 * 1024;
/**
 * Characters of chunk text whose terms a lexical build counts per step on a worker (adding
 * them to the index here then takes tens of ms); a smaller last step is counted here.
 */
const COUNT_BATCH_CHARS = 200_000;
const COUNT_INLINE_CHARS = 20_000;

export interface EmbeddingSettings {
  /** The model reference handed to the embedder factory. */
  model: string;
  /** The embedder's exact model id when it gave one. */
  modelId?: string;
  dimensions: number;
  queryPrefix: string;
  passagePrefix: string;
  quantization: VectorQuantization;
}

export interface CollectionConfig {
  format: 'akachat-rag';
  version: 1;
  createdAt: string;
  /** null: a lexical-only collection. */
  embedding: EmbeddingSettings | null;
  chunkSize: number;
  chunkOverlap: number;
}

/** A source file of a collection. */
export interface FileRecord {
  /** The file's chunks are ids `firstChunk` to `firstChunk + chunkCount - 1`. */
  firstChunk: number;
  chunkCount: number;
  bytes: number;
  format: DocumentFormat;
  encoding?: TextEncodingName;
  addedAt: string;
}

interface CollectionManifest {
  format: 'akachat-rag-manifest';
  version: 1;
  generation: number;
  updatedAt: string;
  nextChunkId: number;
  segments: string[];
  vectors: string | null;
  files: Record<string, FileRecord>;
}

export interface CollectionInfo {
  name: string;
  embedding: EmbeddingSettings | null;
  chunkSize: number;
  chunkOverlap: number;
  fileCount: number;
  chunkCount: number;
  /** Counts committed ingests; 0 for an empty collection. */
  generation: number;
  createdAt: string;
  updatedAt: string;
}

export type IngestPhase = 'extract' | 'read' | 'embed' | 'index' | 'write';

export interface IngestProgress {
  phase: IngestPhase;
  done: number;
  total: number;
}

/** A file to add: raw bytes read by extension, or text taken as plain text. */
export type IngestItem = { path: string; bytes: Uint8Array } | { path: string; text: string };

export interface IngestReport {
  /** Files added (or replaced), with the number of chunks each gave. */
  added: { file: string; chunks: number; format: DocumentFormat; encoding?: TextEncodingName }[];
  /** Files left out, and why; the rest of the ingest went ahead. */
  skipped: SkippedFile[];
  /** Files that were already in the collection and were replaced by the new version. */
  replaced: string[];
  chunksAdded: number;
  chunksRemoved: number;
  /** The collection after the ingest. */
  fileCount: number;
  chunkCount: number;
  /** Milliseconds in all, and spent inside the embedder. */
  durationMs: number;
  embedMs: number;
}

export interface CollectionIngestOptions {
  chunkSize: number;
  chunkOverlap: number;
  /** Required for collections with embeddings. */
  embedder?: Embedder;
  embedBatchSize: number;
  loadOptions?: LoadOptions;
  /** Files already left out upstream (by the archive reader); reported with the rest. */
  skipped?: SkippedFile[];
  onProgress?: (progress: IngestProgress) => void;
  signal?: AbortSignal;
}

interface PreparedDocument {
  path: string;
  content: Uint8Array | string;
  format: DocumentFormat;
  encoding?: TextEncodingName;
  chunks: StoredChunk[];
  /** The chunks' terms, counted while the collection had a lexical index to update. */
  terms?: CountedTerms;
}

/**
 * One collection opened in memory: its live chunks, its vector index and (built on first use)
 * its lexical index. Mutated only by {@link ingest}, which swaps in the new state at commit.
 */
export class Collection {
  readonly name: string;
  readonly folder: string;
  #config: CollectionConfig;
  #manifest: CollectionManifest;
  /** Live chunks by id; replaced chunks are undefined. */
  #chunks: (StoredChunk | undefined)[];
  #vectors: VectorIndex | undefined;
  #lexical: LexicalIndex | undefined;
  #lexicalBuilding: Promise<LexicalIndex> | undefined;

  private constructor(name: string, folder: string, config: CollectionConfig, manifest: CollectionManifest,
    chunks: (StoredChunk | undefined)[], vectors: VectorIndex | undefined) {
    this.name = name;
    this.folder = folder;
    this.#config = config;
    this.#manifest = manifest;
    this.#chunks = chunks;
    this.#vectors = vectors;
  }

  /** Creates an empty collection in `folder` (which may already hold other files). */
  static async create(folder: string, name: string, settings: Omit<CollectionConfig, 'format' | 'version' | 'createdAt'>): Promise<Collection> {
    if (await readJson(join(folder, CONFIG_FILE)) !== undefined) {
      throw new AkachatError(`RAG collection ${JSON.stringify(name)} already exists`, 'ALREADY_EXISTS');
    }
    const now = new Date().toISOString();
    const config: CollectionConfig = { format: 'akachat-rag', version: 1, createdAt: now, ...settings };
    const manifest: CollectionManifest = {
      format: 'akachat-rag-manifest', version: 1, generation: 0, updatedAt: now, nextChunkId: 0, segments: [], vectors: null, files: {},
    };
    // The config is written last: a folder without it is not a collection.
    await writeFileAtomic(join(folder, MANIFEST_FILE), toJsonText(manifest));
    await writeFileAtomic(join(folder, CONFIG_FILE), toJsonText(config));
    return new Collection(name, folder, config, manifest, [], undefined);
  }

  /** Undoes {@link create} of a collection left empty: its folder is no collection any more. */
  static async discard(folder: string): Promise<void> {
    await rm(join(folder, CONFIG_FILE), { force: true });
    await rm(join(folder, MANIFEST_FILE), { force: true });
  }

  /**
   * Opens a collection, finishing a committed ingest that was cut short and removing what an
   * uncommitted one left behind.
   */
  static async open(folder: string, name: string): Promise<Collection> {
    const { config, manifest } = await readState(folder, name);
    await recover(folder, manifest);
    const chunks: (StoredChunk | undefined)[] = new Array(manifest.nextChunkId);
    for (const segment of manifest.segments) {
      for (const chunk of await readChunkSegment(join(folder, CHUNKS_FOLDER, segment))) {
        if (isLive(manifest, chunk)) chunks[chunk.id] = chunk;
      }
    }
    let vectors: VectorIndex | undefined;
    if (config.embedding && manifest.vectors) {
      vectors = VectorIndex.load(join(folder, VECTORS_FOLDER, manifest.vectors), config.embedding.dimensions, config.embedding.quantization);
    }
    return new Collection(name, folder, config, manifest, chunks, vectors);
  }

  /** Reads the settings and counts of a collection without loading it. */
  static async readInfo(folder: string, name: string): Promise<CollectionInfo> {
    const { config, manifest } = await readState(folder, name);
    return describe(name, config, manifest);
  }

  get config(): Readonly<CollectionConfig> {
    return this.#config;
  }

  get info(): CollectionInfo {
    return describe(this.name, this.#config, this.#manifest);
  }

  /** The collection's source files by path. */
  get files(): Readonly<Record<string, Readonly<FileRecord>>> {
    return this.#manifest.files;
  }

  chunk(id: number): StoredChunk | undefined {
    return this.#chunks[id];
  }

  /** Nearest live chunks to a query vector; empty for lexical-only collections. */
  vectorSearch(vector: Float32Array, limit: number): VectorHit[] {
    if (!this.#vectors) return [];
    return this.#vectors.search(vector, limit).filter((hit) => this.#chunks[hit.id] !== undefined);
  }

  /** Best live chunks for a query by BM25; builds the lexical index on first use. */
  async lexicalSearch(query: string, limit: number): Promise<LexicalHit[]> {
    const lexical = this.#lexical ?? (await this.#buildLexical());
    return lexical.search(query, limit);
  }

  /**
   * Builds the lexical index from the live chunks; single flight. Terms are counted on a
   * worker thread in steps, and only added to the index here.
   */
  #buildLexical(): Promise<LexicalIndex> {
    this.#lexicalBuilding ??= (async () => {
      try {
        for (;;) {
          const generation = this.#manifest.generation;
          const index = new LexicalIndex();
          let batch: StoredChunk[] = [];
          let characters = 0;
          // One batch is counted while the one before is added here.
          let counting: { ids: number[]; counted: Promise<CountedTerms> } | undefined;
          const addCounted = async () => {
            if (!counting) return;
            index.addCounted(counting.ids, await counting.counted);
            counting = undefined;
            await yieldToEventLoop();
          };
          const flush = async () => {
            const texts = batch.map((chunk) => chunk.text);
            const counted = characters < COUNT_INLINE_CHARS
              ? Promise.resolve(countTerms(texts))
              : runIngestTask<CountedTerms>({ task: 'count', texts });
            counted.catch(() => {}); // awaited below, after the batch before it
            const ids = batch.map((chunk) => chunk.id);
            batch = [];
            characters = 0;
            await addCounted();
            counting = { ids, counted };
          };
          for (const chunk of this.#chunks) {
            if (!chunk) continue;
            batch.push(chunk);
            characters += chunk.text.length;
            if (characters >= COUNT_BATCH_CHARS) await flush();
          }
          if (batch.length > 0) await flush();
          await addCounted();
          // An ingest committed while building: build again from the new state.
          if (generation !== this.#manifest.generation) continue;
          this.#lexical = index;
          return index;
        }
      } finally {
        this.#lexicalBuilding = undefined;
      }
    })();
    return this.#lexicalBuilding;
  }

  /**
   * Adds files: reads, chunks, embeds and indexes them into a new generation, then commits it.
   * A file whose path is already in the collection replaces the old one. Any failure or abort
   * before the commit leaves the collection as it was.
   */
  async ingest(items: readonly IngestItem[], options: CollectionIngestOptions): Promise<IngestReport> {
    const started = performance.now();
    const { signal } = options;
    const progress = (phase: IngestPhase, done: number, total: number) => options.onProgress?.({ phase, done, total });
    const embedding = this.#config.embedding;
    if (embedding && !options.embedder) throw new AkachatError(`RAG collection ${JSON.stringify(this.name)} needs an embedder`, 'EMBEDDING_FAILED');

    const skipped = [...(options.skipped ?? [])];
    const documents = await this.#prepareDocuments(items, options, skipped, progress);
    let nextChunkId = this.#manifest.nextChunkId;
    for (const document of documents) {
      for (const chunk of document.chunks) chunk.id = nextChunkId++;
    }
    const newChunks = documents.flatMap((d) => d.chunks);
    const replaced = documents.map((d) => d.path).filter((path) => this.#manifest.files[path] !== undefined);
    const removedIds = replaced.flatMap((path) => idsOf(this.#manifest.files[path]));

    let embedMs = 0;
    let vectors: VectorIndex | undefined;
    if (embedding && options.embedder && newChunks.length > 0) {
      const embedder = options.embedder;
      const embedded: Float32Array[] = [];
      for (let from = 0; from < newChunks.length; from += options.embedBatchSize) {
        const batch = newChunks.slice(from, from + options.embedBatchSize);
        const t0 = performance.now();
        embedded.push(...await embedChecked(embedder, batch.map((c) => embedding.passagePrefix + c.text), signal));
        embedMs += performance.now() - t0;
        progress('embed', embedded.length, newChunks.length);
      }
      vectors = this.#manifest.vectors
        ? VectorIndex.load(join(this.folder, VECTORS_FOLDER, this.#manifest.vectors), embedding.dimensions, embedding.quantization)
        : VectorIndex.create(embedding.dimensions, embedding.quantization);
      vectors.remove(removedIds);
      for (let from = 0; from < newChunks.length; from += INDEX_BATCH) {
        throwIfAborted(signal);
        const batch = newChunks.slice(from, from + INDEX_BATCH);
        vectors.add(batch.map((c) => c.id), embedded.slice(from, from + INDEX_BATCH));
        progress('index', Math.min(from + INDEX_BATCH, newChunks.length), newChunks.length);
        await yieldToEventLoop();
      }
    }
    throwIfAborted(signal);

    const report = (): IngestReport => ({
      added: documents.map((d) => ({ file: d.path, chunks: d.chunks.length, format: d.format, ...(d.encoding ? { encoding: d.encoding } : {}) })),
      skipped, replaced, chunksAdded: newChunks.length, chunksRemoved: removedIds.length,
      fileCount: Object.keys(this.#manifest.files).length, chunkCount: liveChunkCount(this.#manifest),
      durationMs: performance.now() - started, embedMs,
    });
    if (documents.length === 0) return report();

    const manifest = await this.#writeGeneration(documents, newChunks, removedIds, nextChunkId, vectors, signal, progress);
    // Committed: from here on the new state is the collection's state.
    // A large ingest drops the lexical index instead (rebuilding it later yields to other work),
    // and so does one whose terms were not counted (the index was built while it ran).
    if (newChunks.length > LEXICAL_UPDATE_MAX_CHUNKS || documents.some((d) => !d.terms)) this.#lexical = undefined;
    for (const id of removedIds) {
      this.#chunks[id] = undefined;
      this.#lexical?.remove(id);
    }
    for (const chunk of newChunks) this.#chunks[chunk.id] = chunk;
    for (const document of documents) this.#lexical?.addCounted(document.chunks.map((c) => c.id), document.terms!);
    this.#manifest = manifest;
    if (vectors) this.#vectors = vectors;
    await finishCommit(this.folder, manifest);
    return report();
  }

  /** Reads and chunks the files on worker threads; files that clash or cannot be read are skipped. */
  async #prepareDocuments(items: readonly IngestItem[], options: CollectionIngestOptions, skipped: SkippedFile[],
    progress: (phase: IngestPhase, done: number, total: number) => void): Promise<PreparedDocument[]> {
    const existing = new Set(Object.keys(this.#manifest.files));
    const sent = items.filter((item) => folderClash(item.path, existing) === undefined);
    const prepared: PreparedItem[] = [];
    let done = items.length - sent.length;
    const withTerms = this.#lexical !== undefined;
    for (let from = 0; from < sent.length;) {
      const batch: IngestItem[] = [];
      const transfer: ArrayBuffer[] = [];
      for (let bytes = 0; from < sent.length && (batch.length === 0 || bytes < PREPARE_BATCH_BYTES); from++) {
        const item = sent[from];
        if ('text' in item) {
          batch.push(item);
          bytes += item.text.length;
        } else {
          // A copy the worker owns: the caller keeps its bytes, and the files are written from them.
          const copy = new Uint8Array(item.bytes);
          batch.push({ path: item.path, bytes: copy });
          transfer.push(copy.buffer);
          bytes += copy.length;
        }
      }
      await runIngestTask({
        task: 'prepare', items: batch, chunkSize: options.chunkSize, chunkOverlap: options.chunkOverlap,
        loadOptions: options.loadOptions ?? {}, countTerms: withTerms,
      }, {
        transfer, signal: options.signal,
        onPart: (part) => {
          if (part.kind !== 'prepared') return;
          prepared.push(part.item);
          progress('read', ++done, items.length);
        },
      });
    }

    const documents: PreparedDocument[] = [];
    const paths = new Set<string>();
    let next = 0;
    for (const item of items) {
      const clash = folderClash(item.path, existing);
      const result = clash === undefined ? prepared[next++] : undefined;
      const laterClash = clash ?? folderClash(item.path, paths);
      if (laterClash) {
        skipped.push({ file: item.path, reason: `clashes with ${JSON.stringify(laterClash)} (a file and a folder cannot share a name)` });
      } else if (paths.has(item.path)) {
        skipped.push({ file: item.path, reason: 'given twice' });
      } else if ('skipped' in result!) {
        skipped.push({ file: item.path, reason: result.skipped });
      } else {
        paths.add(item.path);
        const { text, bounds } = result!;
        const chunks: StoredChunk[] = [];
        for (let i = 0; i < bounds.length; i += 2) {
          chunks.push({ id: -1, file: item.path, index: i / 2, start: bounds[i], end: bounds[i + 1], text: text.slice(bounds[i], bounds[i + 1]) });
        }
        documents.push({
          path: item.path, content: 'text' in item ? item.text : item.bytes, format: result!.format, encoding: result!.encoding,
          chunks, ...(result!.terms ? { terms: result!.terms } : {}),
        });
      }
    }
    return documents;
  }

  /** Writes generation N+1 beside N and commits it by replacing the manifest. */
  async #writeGeneration(documents: PreparedDocument[], newChunks: StoredChunk[], removedIds: number[], nextChunkId: number,
    vectors: VectorIndex | undefined, signal: AbortSignal | undefined,
    progress: (phase: IngestPhase, done: number, total: number) => void): Promise<CollectionManifest> {
    const old = this.#manifest;
    const generation = old.generation + 1;
    const now = new Date().toISOString();
    const files = { ...old.files };
    let firstChunk = newChunks.length ? newChunks[0].id : nextChunkId;
    for (const document of documents) {
      files[document.path] = {
        firstChunk, chunkCount: document.chunks.length, bytes: byteLength(document.content),
        format: document.format, ...(document.encoding ? { encoding: document.encoding } : {}), addedAt: now,
      };
      firstChunk += document.chunks.length;
    }
    const segmentName = `${pad(generation)}.jsonl`;
    const liveTotal = Object.values(files).reduce((sum, f) => sum + f.chunkCount, 0);
    const dead = nextChunkId - liveTotal;
    const compact = dead >= COMPACTION_MIN_DEAD && dead > liveTotal;
    const removed = new Set(removedIds);
    const segmentChunks = compact
      ? [...this.#chunks.filter((c): c is StoredChunk => c !== undefined && !removed.has(c.id)), ...newChunks]
      : newChunks;
    const manifest: CollectionManifest = {
      ...old, generation, updatedAt: now, nextChunkId, files,
      segments: compact ? [segmentName] : [...old.segments, segmentName],
      vectors: vectors ? `${pad(generation)}.usearch` : old.vectors,
    };

    const staging = join(this.folder, `${STAGING_PREFIX}${generation}`);
    const written = [join(this.folder, CHUNKS_FOLDER, segmentName), staging];
    try {
      await rm(staging, { recursive: true, force: true });
      await writeChunkSegment(written[0], segmentChunks);
      if (vectors) {
        const vectorPath = join(this.folder, VECTORS_FOLDER, manifest.vectors!);
        written.push(vectorPath);
        await mkdir(dirname(vectorPath), { recursive: true });
        await vectors.save(vectorPath);
      }
      let done = 0;
      for (const document of documents) {
        throwIfAborted(signal);
        await writeFileAtomic(confinedPath(join(staging, FILES_FOLDER), document.path, 'source file'), document.content);
        progress('write', ++done, documents.length);
      }
      throwIfAborted(signal);
      await writeFileAtomic(join(this.folder, MANIFEST_FILE), toJsonText(manifest));
    } catch (err) {
      await Promise.all(written.map((path) => rm(path, { recursive: true, force: true }).catch(() => {})));
      throw err;
    }
    return manifest;
  }
}

function describe(name: string, config: CollectionConfig, manifest: CollectionManifest): CollectionInfo {
  return {
    name, embedding: config.embedding, chunkSize: config.chunkSize, chunkOverlap: config.chunkOverlap,
    fileCount: Object.keys(manifest.files).length, chunkCount: liveChunkCount(manifest),
    generation: manifest.generation, createdAt: config.createdAt, updatedAt: manifest.updatedAt,
  };
}

function liveChunkCount(manifest: CollectionManifest): number {
  let count = 0;
  for (const file of Object.values(manifest.files)) count += file.chunkCount;
  return count;
}

function isLive(manifest: CollectionManifest, chunk: StoredChunk): boolean {
  const file = manifest.files[chunk.file];
  return file !== undefined && chunk.id >= file.firstChunk && chunk.id < file.firstChunk + file.chunkCount;
}

function idsOf(file: FileRecord): number[] {
  return Array.from({ length: file.chunkCount }, (_, i) => file.firstChunk + i);
}

/** A path in `paths` that is a folder of `path`, or that has `path` as a folder; else undefined. */
function folderClash(path: string, paths: Set<string>): string | undefined {
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const folder = segments.slice(0, i).join('/');
    if (paths.has(folder)) return folder;
  }
  const prefix = path + '/';
  for (const other of paths) if (other.startsWith(prefix)) return other;
  return undefined;
}

function byteLength(content: Uint8Array | string): number {
  return typeof content === 'string' ? Buffer.byteLength(content) : content.length;
}

function pad(generation: number): string {
  return String(generation).padStart(6, '0');
}

/** Moves the committed generation's source files into place and removes what no generation needs. */
async function finishCommit(folder: string, manifest: CollectionManifest): Promise<void> {
  // Failures here are retried by the next open; the commit itself already happened.
  await recover(folder, manifest).catch(() => {});
}

async function recover(folder: string, manifest: CollectionManifest): Promise<void> {
  const entries = await readdir(folder, { withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(STAGING_PREFIX)) continue;
    const staging = join(folder, entry.name);
    if (entry.name === `${STAGING_PREFIX}${manifest.generation}`) await moveStagedFiles(join(staging, FILES_FOLDER), join(folder, FILES_FOLDER));
    await rm(staging, { recursive: true, force: true });
  }
  const referenced = new Set([...manifest.segments, ...(manifest.vectors ? [manifest.vectors] : [])]);
  for (const sub of [CHUNKS_FOLDER, VECTORS_FOLDER]) {
    const names = await readdir(join(folder, sub)).catch(() => [] as string[]);
    for (const name of names) {
      if (!referenced.has(name)) await rm(join(folder, sub, name), { force: true });
    }
  }
}

async function moveStagedFiles(from: string, to: string): Promise<void> {
  const entries = await readdir(from, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const source = join(entry.parentPath, entry.name);
    const target = join(to, source.slice(from.length + 1));
    await mkdir(dirname(target), { recursive: true });
    await rename(source, target);
  }
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AkachatError(`${path} is not valid JSON`, 'RAG_STORE_CORRUPT', { cause: err });
  }
}

async function readState(folder: string, name: string): Promise<{ config: CollectionConfig; manifest: CollectionManifest }> {
  const config = await readJson(join(folder, CONFIG_FILE));
  if (config === undefined) throw new NotFoundError(`RAG collection ${JSON.stringify(name)} does not exist`);
  const manifest = await readJson(join(folder, MANIFEST_FILE));
  if (!isConfig(config)) throw new AkachatError(`${join(folder, CONFIG_FILE)} is not an akachat RAG collection config`, 'RAG_STORE_CORRUPT');
  if (!isManifest(manifest)) throw new AkachatError(`${join(folder, MANIFEST_FILE)} is missing or not an akachat RAG manifest`, 'RAG_STORE_CORRUPT');
  return { config, manifest };
}

function isConfig(value: unknown): value is CollectionConfig {
  const v = value as CollectionConfig;
  return typeof v === 'object' && v !== null && v.format === 'akachat-rag' && v.version === 1
    && Number.isInteger(v.chunkSize) && Number.isInteger(v.chunkOverlap)
    && (v.embedding === null || (typeof v.embedding === 'object' && typeof v.embedding.model === 'string'
      && Number.isInteger(v.embedding.dimensions) && v.embedding.dimensions > 0
      && typeof v.embedding.queryPrefix === 'string' && typeof v.embedding.passagePrefix === 'string'
      && ['f32', 'f16', 'i8'].includes(v.embedding.quantization)));
}

function isManifest(value: unknown): value is CollectionManifest {
  const v = value as CollectionManifest;
  return typeof v === 'object' && v !== null && v.format === 'akachat-rag-manifest' && v.version === 1
    && Number.isInteger(v.generation) && Number.isInteger(v.nextChunkId)
    && Array.isArray(v.segments) && v.segments.every((s) => typeof s === 'string' && GENERATION_FILE.test(s))
    && (v.vectors === null || (typeof v.vectors === 'string' && GENERATION_FILE.test(v.vectors)))
    && typeof v.files === 'object' && v.files !== null;
}
