import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AkachatError, NotFoundError, UnsupportedError, throwIfAborted } from '../errors.js';
import { confinedPath, unsafeNameReason } from '../data/paths.js';
import { expectInteger, expectOptional, expectString, invalid } from '../validate.js';
import { resolveArchiveLimits, type ArchiveContents, type ArchiveLimits } from './archive.js';
import { resolveChunkOptions, DEFAULT_CHUNK_SIZE } from './chunker.js';
import {
  Collection, type CollectionInfo, type EmbeddingSettings, type FileRecord, type IngestItem, type IngestProgress, type IngestReport,
} from './collection.js';
import { embedChecked, EmbeddingError, type Embedder, type EmbedderFactory } from './embedder.js';
import { runIngestTask } from './ingest-pool.js';
import { ownBuffer } from './ingest-tasks.js';
import { resolveDocumentLimits, type DocumentLimits } from './loaders.js';
import type { VectorQuantization } from './vector-index.js';

export interface RagOptions {
  /** The data folder; collections live in `<dataFolder>/rag/<name>/`. */
  dataFolder: string;
  /**
   * Gives the embedder for a collection's model reference. Without it only lexical-only
   * collections can be created and filled.
   */
  embedderFactory?: EmbedderFactory;
  /**
   * Model reference for new collections that name none. Default: none, so new collections are
   * lexical-only unless `create` names a model.
   */
  defaultEmbeddingModel?: string;
  /** Limits for archives; see {@link ArchiveLimits} for the defaults. */
  archiveLimits?: ArchiveLimits;
  /** Limits for each file read (depth, columns, text length...); see {@link DocumentLimits} for the defaults. */
  documentLimits?: DocumentLimits;
  /** Chunks handed to the embedder per call. Default 32. */
  embedBatchSize?: number;
}

export interface CreateCollectionOptions {
  /**
   * Model reference for the embedder factory; null for a lexical-only collection. Default:
   * `RagOptions.defaultEmbeddingModel` (lexical-only when that is unset).
   */
  embeddingModel?: string | null;
  /** Default chunk size of this collection in characters; 0 = one chunk per file. Default 500. */
  chunkSize?: number;
  /** Default overlap between chunks in characters. Default 0. */
  chunkOverlap?: number;
  /** Put before each query (e5 style `'query: '`). Default: the embedder's `queryPrefix`, else ''. */
  queryPrefix?: string;
  /** Put before each chunk (e5 style `'passage: '`). Default: the embedder's `passagePrefix`, else ''. */
  passagePrefix?: string;
  /** How vectors are stored. Default 'f16'. */
  quantization?: VectorQuantization;
}

export interface IngestOptions {
  /** Characters per chunk for this ingest; 0 = one chunk per file. Default: the collection's chunkSize. */
  chunkSize?: number;
  /** Overlap for this ingest. Default: the collection's chunkOverlap. */
  chunkOverlap?: number;
  /** Called as the ingest moves through its phases (extract, read, embed, index, write). */
  onProgress?: (progress: IngestProgress) => void;
  /**
   * Cancels the ingest, stopping its worker thread at once; the collection then stays exactly
   * as it was.
   */
  signal?: AbortSignal;
}

export interface AddArchiveOptions extends IngestOptions {
  /**
   * Creates the collection (with this ingest's chunkSize as its default) when it does not
   * exist, once the archive has been accepted: a refused or failed archive leaves no
   * collection behind. Default false (a missing collection is a NotFoundError).
   */
  createIfMissing?: boolean;
}

/** A file to add with {@link Rag.addFiles}: a path on disk, or a name and its bytes. */
export type RagFileInput = string | { name: string; data: Uint8Array };

export type RagSearchMode = 'hybrid' | 'vector' | 'lexical';

export interface RagSearchOptions {
  /** How many chunks to return. Default 5. */
  k?: number;
  /** Default 'hybrid' for collections with embeddings, 'lexical' for the others. */
  mode?: RagSearchMode;
  signal?: AbortSignal;
}

/** A chunk found by a search, with where it comes from. */
export interface RagSearchResult {
  text: string;
  /**
   * The ranking score, higher is better: reciprocal-rank fusion for 'hybrid', cosine similarity
   * for 'vector', BM25 for 'lexical'.
   */
  score: number;
  /** Cosine similarity, when the vector search found this chunk. */
  vectorScore?: number;
  /** BM25 score, when the lexical search found this chunk. */
  lexicalScore?: number;
  /** Source file inside the collection. */
  file: string;
  /** Position of the chunk in its file, from 0. */
  index: number;
  /** Character offsets of the chunk in the text extracted from the file. */
  start: number;
  end: number;
  chunkId: number;
}

/** The checked options of a collection to create. */
interface CreationSettings {
  chunking: { chunkSize: number; chunkOverlap: number };
  model: string | null | undefined;
  quantization: VectorQuantization;
  queryPrefix: string | undefined;
  passagePrefix: string | undefined;
}

/** Rank constant of reciprocal-rank fusion (Cormack et al.): damps the weight of top ranks. */
const RRF_K = 60;
/** Candidates each side contributes to a hybrid search, at least. */
const HYBRID_MIN_CANDIDATES = 50;
const MAX_K = 1000;

/**
 * The text `{rag('dir', 'query', k)}` puts into an instruction: the chunks' texts, best first,
 * separated by a blank line.
 */
export function ragText(results: readonly Pick<RagSearchResult, 'text'>[]): string {
  return results.map((r) => r.text).join('\n\n');
}

/**
 * RAG collections of one data folder: create, list, delete, add archives / files / text
 * (incrementally), and search them by vector, lexically or both. Writes to one collection are
 * serialised; searches run against the last committed state and never wait for an ingest.
 * Use one Rag per data folder: opening a collection tidies up what an unfinished ingest left,
 * which would disturb an ingest running in another instance or process.
 */
export class Rag {
  readonly folder: string;
  readonly #embedderFactory: EmbedderFactory | undefined;
  readonly #defaultEmbeddingModel: string | undefined;
  readonly #archiveLimits: Required<ArchiveLimits>;
  readonly #documentLimits: Required<DocumentLimits>;
  readonly #embedBatchSize: number;
  readonly #opened = new Map<string, Promise<Collection>>();
  readonly #embedders = new Map<string, Promise<Embedder>>();
  readonly #writeQueues = new Map<string, Promise<unknown>>();
  #disposed = false;

  constructor(options: RagOptions) {
    const dataFolder = expectString(options?.dataFolder, 'options.dataFolder', { allowEmpty: false });
    this.folder = join(dataFolder, 'rag');
    if (options.embedderFactory !== undefined && typeof options.embedderFactory !== 'function') {
      throw invalid('a function', 'options.embedderFactory', options.embedderFactory);
    }
    this.#embedderFactory = options.embedderFactory;
    this.#defaultEmbeddingModel = expectOptional(options.defaultEmbeddingModel, (v) => expectString(v, 'options.defaultEmbeddingModel', { allowEmpty: false }));
    this.#archiveLimits = resolveArchiveLimits(options.archiveLimits, 'options.archiveLimits');
    this.#documentLimits = resolveDocumentLimits(options.documentLimits, 'options.documentLimits');
    this.#embedBatchSize = expectInteger(options.embedBatchSize ?? 32, 'options.embedBatchSize', 1);
  }

  /** Creates an empty collection. Throws when it already exists. */
  async create(dir: string, options: CreateCollectionOptions = {}): Promise<CollectionInfo> {
    const folder = this.#folderOf(dir);
    const settings = this.#creationSettings(options);
    return this.#exclusive(dir, async () => (await this.#create(dir, folder, settings)).info);
  }

  #creationSettings(options: CreateCollectionOptions): CreationSettings {
    const chunking = resolveChunkOptions({ chunkSize: options.chunkSize ?? DEFAULT_CHUNK_SIZE, chunkOverlap: options.chunkOverlap }, 'options');
    const model = options.embeddingModel === undefined ? this.#defaultEmbeddingModel : options.embeddingModel;
    if (model !== null && model !== undefined) expectString(model, 'options.embeddingModel', { allowEmpty: false });
    const quantization = options.quantization ?? 'f16';
    if (!['f32', 'f16', 'i8'].includes(quantization)) throw invalid("'f32', 'f16' or 'i8'", 'options.quantization', quantization);
    const queryPrefix = expectOptional(options.queryPrefix, (v) => expectString(v, 'options.queryPrefix'));
    const passagePrefix = expectOptional(options.passagePrefix, (v) => expectString(v, 'options.passagePrefix'));
    return { chunking, model, quantization, queryPrefix, passagePrefix };
  }

  /** Creates the collection; called inside {@link #exclusive}. */
  async #create(dir: string, folder: string, settings: CreationSettings): Promise<Collection> {
    const { chunking, model, quantization, queryPrefix, passagePrefix } = settings;
    let embedding: EmbeddingSettings | null = null;
    if (model) {
      const embedder = await this.#embedder(model);
      embedding = {
        model, ...(embedder.modelId ? { modelId: embedder.modelId } : {}), dimensions: embedder.dimensions,
        queryPrefix: queryPrefix ?? embedder.queryPrefix ?? '', passagePrefix: passagePrefix ?? embedder.passagePrefix ?? '', quantization,
      };
    }
    await mkdir(folder, { recursive: true });
    const collection = await Collection.create(folder, dir, { embedding, ...chunking });
    this.#opened.set(dir, Promise.resolve(collection));
    return collection;
  }

  /** True when the collection exists. */
  async has(dir: string): Promise<boolean> {
    const folder = this.#folderOf(dir);
    try {
      await Collection.readInfo(folder, dir);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** The collections of the data folder, by name. */
  async list(): Promise<CollectionInfo[]> {
    this.#checkNotDisposed();
    const entries = await readdir(this.folder, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    const infos: CollectionInfo[] = [];
    for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (unsafeNameReason(entry.name, false)) continue;
      try {
        infos.push(await Collection.readInfo(join(this.folder, entry.name), entry.name));
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    return infos;
  }

  /** Settings and counts of one collection. */
  async info(dir: string): Promise<CollectionInfo> {
    const opened = this.#opened.get(dir);
    return opened ? (await opened).info : Collection.readInfo(this.#folderOf(dir), dir);
  }

  /** The source files of a collection with their chunk counts, by path. */
  async files(dir: string): Promise<Record<string, FileRecord>> {
    return structuredClone((await this.#open(dir)).files) as Record<string, FileRecord>;
  }

  /** Deletes a collection and its files. Throws NotFoundError when it does not exist. */
  async delete(dir: string): Promise<void> {
    const folder = this.#folderOf(dir);
    await this.#exclusive(dir, async () => {
      await Collection.readInfo(folder, dir);
      this.#opened.delete(dir);
      await rm(folder, { recursive: true, force: true });
    });
  }

  /**
   * Extracts an archive (zip, tar or tar.gz; bytes or a path) into the collection and adds the
   * readable files. The archive is checked as a whole first: one unsafe entry (path escape, link,
   * device, over the limits) refuses it with ArchiveRefusedError and nothing is written.
   * Extraction and reading run on a worker thread.
   */
  async addArchive(dir: string, archive: Uint8Array | string, options: AddArchiveOptions = {}): Promise<IngestReport> {
    const folder = this.#folderOf(dir);
    const settings = options.createIfMissing ? this.#creationSettings({ chunkSize: options.chunkSize }) : undefined;
    return this.#exclusive(dir, async () => {
      const missing = settings !== undefined && !(await this.has(dir));
      const collection = missing ? undefined : await this.#open(dir);
      const bytes = typeof archive === 'string' ? await this.#readArchiveFile(archive) : archive;
      if (!(bytes instanceof Uint8Array)) throw invalid('a Uint8Array or a file path', 'archive', archive);
      // Handed over to the worker: a copy of the caller's bytes, the file's own buffer as it is.
      const copy = typeof archive === 'string' ? ownBuffer(bytes) : new Uint8Array(bytes);
      const contents = await runIngestTask<ArchiveContents>({ task: 'extract', bytes: copy, limits: this.#archiveLimits }, {
        transfer: [copy.buffer], signal: options.signal,
        onPart: (part) => { if (part.kind === 'extracted') options.onProgress?.({ phase: 'extract', done: part.done, total: part.total }); },
      });
      const items: IngestItem[] = contents.files.map((f) => ({ path: f.path, bytes: f.data }));
      if (collection) return this.#ingest(collection, items, options, contents.skipped);
      const folderExisted = await stat(folder).then(() => true, () => false);
      const created = await this.#create(dir, folder, settings!);
      try {
        return await this.#ingest(created, items, options, contents.skipped);
      } catch (err) {
        // Still empty: nothing else writes to it meanwhile (writes to one collection are serialised).
        this.#opened.delete(dir);
        await (folderExisted ? Collection.discard(folder) : rm(folder, { recursive: true, force: true }));
        throw err;
      }
    });
  }

  /** Adds files: paths on disk (added under their base name) or names with their bytes. */
  async addFiles(dir: string, files: readonly RagFileInput[], options: IngestOptions = {}): Promise<IngestReport> {
    this.#folderOf(dir);
    if (!Array.isArray(files)) throw invalid('an array of files', 'files', files);
    return this.#exclusive(dir, async () => {
      const collection = await this.#open(dir);
      const items: IngestItem[] = [];
      for (const [i, file] of files.entries()) {
        throwIfAborted(options.signal);
        if (typeof file === 'string') {
          const info = await stat(file);
          if (!info.isFile()) throw invalid('a regular file', `files[${i}]`, file);
          items.push({ path: checkedFileName(basename(file), `files[${i}]`), bytes: await readFile(file) });
        } else if (file && typeof file === 'object' && file.data instanceof Uint8Array) {
          items.push({ path: checkedFileName(file.name, `files[${i}].name`), bytes: file.data });
        } else {
          throw invalid('a path or { name, data: Uint8Array }', `files[${i}]`, file);
        }
      }
      return this.#ingest(collection, items, options, []);
    });
  }

  /** Adds a text as the file `name` (plain text, whatever its extension). */
  async addText(dir: string, name: string, text: string, options: IngestOptions = {}): Promise<IngestReport> {
    this.#folderOf(dir);
    const path = checkedFileName(name, 'name');
    expectString(text, 'text');
    return this.#exclusive(dir, async () => this.#ingest(await this.#open(dir), [{ path, text }], options, []));
  }

  /** The best `k` chunks for a query. Throws NotFoundError for a missing collection. */
  async search(dir: string, query: string, options: RagSearchOptions = {}): Promise<RagSearchResult[]> {
    expectString(query, 'query');
    const k = expectInteger(options.k ?? 5, 'options.k', 1, MAX_K);
    const collection = await this.#open(dir);
    const embedding = collection.config.embedding;
    const mode = options.mode ?? (embedding ? 'hybrid' : 'lexical');
    if (!['hybrid', 'vector', 'lexical'].includes(mode)) throw invalid("'hybrid', 'vector' or 'lexical'", 'options.mode', mode);
    if (mode !== 'lexical' && !embedding) {
      throw new UnsupportedError(`RAG collection ${JSON.stringify(dir)} has no embedding model: search it with mode 'lexical'`);
    }
    throwIfAborted(options.signal);
    if (query.trim() === '') return [];

    const toResult = (id: number, score: number, vectorScore?: number, lexicalScore?: number): RagSearchResult => {
      const chunk = collection.chunk(id)!;
      return {
        text: chunk.text, score, ...(vectorScore !== undefined ? { vectorScore } : {}), ...(lexicalScore !== undefined ? { lexicalScore } : {}),
        file: chunk.file, index: chunk.index, start: chunk.start, end: chunk.end, chunkId: id,
      };
    };
    if (mode === 'lexical') {
      return (await collection.lexicalSearch(query, k)).map((hit) => toResult(hit.id, hit.score, undefined, hit.score));
    }
    const embedder = await this.#embedderFor(collection);
    const [queryVector] = await embedChecked(embedder, [embedding!.queryPrefix + query], options.signal);
    if (mode === 'vector') {
      return collection.vectorSearch(queryVector, k).map((hit) => toResult(hit.id, hit.similarity, hit.similarity));
    }
    const candidates = Math.max(k * 4, HYBRID_MIN_CANDIDATES);
    const vectorHits = collection.vectorSearch(queryVector, candidates);
    const lexicalHits = await collection.lexicalSearch(query, candidates);
    const fused = new Map<number, { score: number; vector?: number; lexical?: number }>();
    vectorHits.forEach((hit, rank) => fused.set(hit.id, { score: 1 / (RRF_K + rank + 1), vector: hit.similarity }));
    lexicalHits.forEach((hit, rank) => {
      const entry = fused.get(hit.id) ?? { score: 0 };
      entry.score += 1 / (RRF_K + rank + 1);
      entry.lexical = hit.score;
      fused.set(hit.id, entry);
    });
    // Ties (same fused rank) go to the closer vector, then to the older chunk.
    return [...fused.entries()]
      .sort(([idA, a], [idB, b]) => b.score - a.score || (b.vector ?? -2) - (a.vector ?? -2) || idA - idB)
      .slice(0, k)
      .map(([id, entry]) => toResult(id, entry.score, entry.vector, entry.lexical));
  }

  /** What `{rag(dir, query, k)}` inserts into an instruction: the top `k` chunks' text. */
  async query(dir: string, query: string, k = 1, options: { signal?: AbortSignal } = {}): Promise<string> {
    return ragText(await this.search(dir, query, { k, signal: options.signal }));
  }

  /** Frees the embedders this instance created and forgets open collections. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.allSettled([...this.#writeQueues.values()]);
    const embedders = await Promise.allSettled([...this.#embedders.values()]);
    this.#embedders.clear();
    this.#opened.clear();
    for (const result of embedders) {
      if (result.status === 'fulfilled') await result.value.dispose?.();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  async #ingest(collection: Collection, items: IngestItem[], options: IngestOptions, skipped: IngestReport['skipped']): Promise<IngestReport> {
    const chunkSize = options.chunkSize ?? collection.config.chunkSize;
    // The collection's overlap only carries over to a chunk size it fits in.
    const inheritedOverlap = collection.config.chunkOverlap < chunkSize ? collection.config.chunkOverlap : 0;
    const chunking = resolveChunkOptions({ chunkSize, chunkOverlap: options.chunkOverlap ?? inheritedOverlap }, 'options');
    const embedder = collection.config.embedding ? await this.#embedderFor(collection) : undefined;
    return collection.ingest(items, {
      ...chunking, embedder, embedBatchSize: this.#embedBatchSize, skipped,
      loadOptions: { maxExpandedBytes: this.#archiveLimits.maxEntryBytes, ...this.#documentLimits },
      onProgress: options.onProgress, signal: options.signal,
    });
  }

  async #readArchiveFile(path: string): Promise<Uint8Array> {
    const info = await stat(path);
    if (!info.isFile()) throw invalid('a path to an archive file', 'archive', path);
    return readFile(path);
  }

  #folderOf(dir: string): string {
    this.#checkNotDisposed();
    return confinedPath(this.folder, dir, 'RAG collection', { allowSubfolders: false });
  }

  #checkNotDisposed(): void {
    if (this.#disposed) throw new AkachatError('This Rag has been disposed', 'DISPOSED');
  }

  /** Opens a collection once per instance and keeps it; a failed open is retried next time. */
  #open(dir: string): Promise<Collection> {
    const folder = this.#folderOf(dir);
    let opened = this.#opened.get(dir);
    if (!opened) {
      opened = Collection.open(folder, dir);
      this.#opened.set(dir, opened);
      opened.catch(() => { if (this.#opened.get(dir) === opened) this.#opened.delete(dir); });
    }
    return opened;
  }

  /** Runs writes to one collection one after another. */
  #exclusive<T>(dir: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#writeQueues.get(dir) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(work);
    const settled = run.catch(() => {});
    this.#writeQueues.set(dir, settled);
    void settled.then(() => { if (this.#writeQueues.get(dir) === settled) this.#writeQueues.delete(dir); });
    return run;
  }

  #embedder(model: string): Promise<Embedder> {
    if (!this.#embedderFactory) {
      return Promise.reject(new UnsupportedError(`No embedderFactory is configured, so embedding model ${JSON.stringify(model)} cannot be used`));
    }
    let embedder = this.#embedders.get(model);
    if (!embedder) {
      embedder = this.#embedderFactory(model).then((e) => {
        if (!e || typeof e.embed !== 'function') throw new EmbeddingError(`The embedderFactory gave no embedder for ${JSON.stringify(model)}`);
        expectInteger(e.dimensions, 'embedder.dimensions', 1);
        return e;
      });
      this.#embedders.set(model, embedder);
      embedder.catch(() => { if (this.#embedders.get(model) === embedder) this.#embedders.delete(model); });
    }
    return embedder;
  }

  /** The collection's embedder, refused when it is not the model the collection was built with. */
  async #embedderFor(collection: Collection): Promise<Embedder> {
    const settings = collection.config.embedding!;
    const embedder = await this.#embedder(settings.model);
    if (embedder.dimensions !== settings.dimensions || (settings.modelId && embedder.modelId && embedder.modelId !== settings.modelId)) {
      throw new EmbeddingError(`RAG collection ${JSON.stringify(collection.name)} was built with ${settings.modelId ?? settings.model} `
        + `(${settings.dimensions} dimensions) but the embedder is ${embedder.modelId ?? settings.model} (${embedder.dimensions} dimensions)`);
    }
    return embedder;
  }
}

/** A file name given by a caller: a safe relative path (sub-folders allowed), NFC. */
function checkedFileName(name: unknown, what: string): string {
  const reason = unsafeNameReason(name, true);
  if (reason) throw invalid(`a safe relative file name (${reason})`, what, name);
  return (name as string).normalize('NFC');
}
