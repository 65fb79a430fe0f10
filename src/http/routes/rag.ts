/**
 * RAG routes: search a collection, add an archive or a text to one, list them. Every call the
 * routes make on the RAG backend is in this file, through {@link RagCollections}; the routes
 * answer 501 while `akachat.rag` is not set (or lacks a call).
 */
import { basename } from 'node:path';
import type { Context } from 'hono';
import { invalid } from '../../validate.js';
import { errorBody, HttpError, statusOf } from '../errors.js';
import type { JsonSchema } from '../openapi.js';
import { isRecord, modelFileName, optionalIntegerField, readJson, streamResponse, stringField, type RouteContext, type RouteSpec } from '../route.js';
import { ndjsonLine, NDJSON_HEADERS } from '../sse.js';
import { envelope } from './akachat.js';

/** The RAG calls these routes need (the Rag class of src/rag fits). */
export interface RagCollections {
  /** The collections (names, or descriptions with a name). */
  list(): Promise<unknown>;
  /** The best chunks of collection `dir` for `query`, best first, with scores. */
  search(dir: string, query: string, options: { k?: number; mode?: string; signal?: AbortSignal }): Promise<readonly unknown[]>;
  /**
   * Extracts an archive (zip, tar, tar.gz) into collection `dir` and indexes its files; stops
   * when `signal` fires (the client went away). With `createIfMissing`, a missing collection is
   * created only once the archive has been accepted, so a refused upload leaves none behind.
   */
  addArchive(dir: string, data: Uint8Array, options: IngestCallOptions & { createIfMissing?: boolean }): Promise<unknown>;
  /** Adds one text document named `name` to collection `dir`. */
  addText(dir: string, name: string, text: string, options: { chunkSize?: number; signal?: AbortSignal }): Promise<unknown>;
  /** Whether collection `dir` exists; with `create`, saving into a new collection creates it (as the original did). */
  has?(dir: string): Promise<boolean>;
  /** Creates collection `dir` with its default chunk size. */
  create?(dir: string, options: { chunkSize?: number }): Promise<unknown>;
  /** Adds single documents (a .md, .pdf, .html... upload that is not an archive) to collection `dir`. */
  addFiles?(dir: string, files: { name: string; data: Uint8Array }[], options: IngestCallOptions): Promise<unknown>;
  /** Deletes collection `dir` and its files. */
  delete?(dir: string): Promise<void>;
  /** The source files of collection `dir` by path, with their chunk counts. */
  files?(dir: string): Promise<Record<string, unknown>>;
}

/** Options of an ingest: chunk size, cancellation and progress (extract, read, embed, index, write). */
export interface IngestCallOptions {
  chunkSize?: number;
  signal?: AbortSignal;
  onProgress?: (progress: { phase: string; done: number; total: number }) => void;
}

/** Saving into a collection that does not exist yet creates it, when the backend can. */
async function ensureCollection(rag: RagCollections, dir: string, chunkSize: number | undefined): Promise<void> {
  if (!rag.has || !rag.create || (await rag.has(dir))) return;
  try {
    await rag.create(dir, chunkSize === undefined ? {} : { chunkSize });
  } catch (error) {
    if (!(await rag.has(dir))) throw error; // another upload created it meanwhile: fine
  }
}

/** Largest upload for /api/rag/save: 100 MiB. */
export const DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024;

/** Default `k` of a search, as `rag(dir, query, k=1)` in instructions. */
const DEFAULT_K = 1;
const MAX_K = 100;

function collections(ctx: RouteContext, call: keyof RagCollections): RagCollections {
  const rag = ctx.akachat.rag as Partial<RagCollections> | undefined;
  if (!rag) {
    throw new HttpError(501, 'RAG is not set up on this server: create the Akachat with a Rag (rag option) to use the /api/rag routes', 'rag_not_configured');
  }
  if (typeof rag[call] !== 'function') {
    throw new HttpError(501, `The RAG backend of this server has no ${call}() call`, 'rag_not_supported');
  }
  return rag as RagCollections;
}

/** The text of one search result, whatever the backend names its field. */
function resultText(result: unknown): string {
  if (typeof result === 'string') return result;
  if (isRecord(result)) {
    for (const key of ['text', 'content', 'chunk']) if (typeof result[key] === 'string') return result[key] as string;
  }
  return '';
}

/**
 * The smallest chunk size a caller may ask for: each chunk costs about 1 KB and 1 ms to ingest,
 * so tiny chunks turn an allowed upload into hours of work and gigabytes (chunk_size 1 on 225k
 * characters: 3 minutes, 190 MB).
 */
const MIN_CHUNK_SIZE = 32;

function chunkSizeOf(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || (number !== 0 && number < MIN_CHUNK_SIZE)) {
    throw invalid(`an integer >= ${MIN_CHUNK_SIZE} (characters), or 0 (one chunk per file)`, 'chunk_size', value);
  }
  return number;
}

/** Uploads with these names are archives; any other upload is one document (when the backend takes files). */
const ARCHIVE_NAME = /\.(zip|tar|tar\.gz|tgz)$/i;

/**
 * Collection infos as a caller may see them: an embedding model given as a path (the owner's
 * AKACHAT_EMBEDDING_MODEL) is named by its file, as the public status routes name models.
 */
function publicInfo(info: unknown): unknown {
  if (!isRecord(info) || !isRecord(info.embedding) || typeof info.embedding.model !== 'string') return info;
  const model = info.embedding.model;
  if (!/[\\/]/.test(model) || model.startsWith('hf:')) return info;
  return { ...info, embedding: { ...info.embedding, model: modelFileName(model.replace(/\\/g, '/')) } };
}

/**
 * Runs an ingest and answers NDJSON: `{"progress": {phase, done, total}}` lines while it runs
 * (when the client reads slower than the ingest reports, the newest of each phase), then one
 * `{"done": <envelope>}` or `{"error": <error body>}` line. Closing the connection cancels it.
 */
function ingestStream(signal: AbortSignal, run: (options: IngestCallOptions) => Promise<Record<string, unknown>>): Response {
  const stop = new AbortController();
  const cancel = () => stop.abort(signal.reason);
  if (signal.aborted) cancel();
  else signal.addEventListener('abort', cancel, { once: true });
  const pending: { phase: string; done: number; total: number }[] = [];
  let wake: (() => void) | undefined;
  let outcome: { line: string } | undefined;
  const finish = (line: string) => {
    outcome = { line };
    wake?.();
  };
  const onProgress = (progress: { phase: string; done: number; total: number }) => {
    if (pending.at(-1)?.phase === progress.phase) pending.pop();
    pending.push({ ...progress });
    wake?.();
  };
  run({ signal: stop.signal, onProgress }).then(
    (done) => finish(ndjsonLine({ done })),
    (error: unknown) => finish(ndjsonLine({ error: errorBody('akachat', error, statusOf(error, signal.aborted)) })),
  );
  async function* lines(): AsyncGenerator<string> {
    try {
      for (;;) {
        const progress = pending.shift();
        if (progress) {
          yield ndjsonLine({ progress });
        } else if (outcome) {
          yield outcome.line;
          return;
        } else {
          await new Promise<void>((resolve) => { wake = resolve; });
          wake = undefined;
        }
      }
    } finally {
      signal.removeEventListener('abort', cancel);
      if (!outcome) cancel();
    }
  }
  return streamResponse(lines(), NDJSON_HEADERS);
}

function wantsProgress(c: Context): boolean {
  return (c.req.header('accept') ?? '').toLowerCase().includes('application/x-ndjson');
}

const SEARCH_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['dir', 'query'],
  properties: {
    dir: { type: 'string', description: 'Collection name' },
    query: { type: 'string' },
    k: { type: 'integer', minimum: 1, maximum: MAX_K, default: DEFAULT_K },
    mode: { type: 'string', description: 'Search mode of the backend (e.g. vector, lexical, hybrid)' },
  },
};

export function ragRoutes(ctx: RouteContext, maxUploadBytes = DEFAULT_MAX_UPLOAD_BYTES): RouteSpec[] {
  const search: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    const dir = stringField(body, 'dir', { allowEmpty: false });
    const query = stringField(body, 'query');
    const k = optionalIntegerField(body, 'k', 1, MAX_K) ?? DEFAULT_K;
    const mode = body.mode === undefined || body.mode === null ? undefined : stringField(body, 'mode');
    const results = await collections(ctx, 'search').search(dir, query, { k, ...(mode ? { mode } : {}), signal });
    return c.json(envelope(results.map(resultText).filter(Boolean).join('\n\n'), { dir, query, k, results }));
  };

  /** Answers an ingest as JSON, or as an NDJSON progress stream when the client asks for one (Accept: application/x-ndjson). */
  const answer = (c: Context, signal: AbortSignal, run: (options: IngestCallOptions) => Promise<Record<string, unknown>>) => {
    if (wantsProgress(c)) return ingestStream(signal, run);
    return run({ signal }).then((done) => c.json(done));
  };

  const save: RouteSpec['handler'] = async (c: Context, signal) => {
    const type = (c.req.header('content-type') ?? '').toLowerCase();
    if (type.startsWith('multipart/form-data')) {
      const form = await c.req.parseBody();
      const dir = form.dir;
      if (typeof dir !== 'string' || dir === '') throw invalid('a collection name', 'dir', dir);
      const file = form.file;
      if (!(file instanceof File)) throw invalid('an uploaded archive', 'file', file);
      const chunkSize = chunkSizeOf(form.chunk_size);
      const data = new Uint8Array(await file.arrayBuffer());
      const rag = collections(ctx, 'addArchive');
      const single = !ARCHIVE_NAME.test(file.name) && typeof rag.addFiles === 'function';
      return answer(c, signal, async (options) => {
        let added: unknown;
        if (single) {
          await ensureCollection(rag, dir, chunkSize);
          added = await rag.addFiles!(dir, [{ name: basename(file.name), data }], { ...options, chunkSize });
        } else {
          added = await rag.addArchive(dir, data, { ...options, chunkSize, createIfMissing: true });
        }
        return envelope(dir, { dir, file: file.name, bytes: file.size, added: added ?? null });
      });
    }
    if (type.startsWith('application/json') || type === '') {
      const body = await readJson(c);
      const dir = stringField(body, 'dir', { allowEmpty: false });
      const text = stringField(body, 'text');
      const name = body.name === undefined || body.name === null ? 'text.txt' : stringField(body, 'name', { allowEmpty: false });
      const chunkSize = chunkSizeOf(body.chunk_size);
      const rag = collections(ctx, 'addText');
      await ensureCollection(rag, dir, chunkSize);
      const added = await rag.addText(dir, name, text, { chunkSize, signal });
      return c.json(envelope(dir, { dir, name, added: added ?? null }));
    }
    // Raw archive bytes (curl --data-binary @docs.zip): the collection and chunk size come in the query.
    const dir = c.req.query('dir');
    if (!dir) throw invalid('a collection name in the query (?dir=...)', 'dir', dir);
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    const chunkSize = chunkSizeOf(c.req.query('chunk_size'));
    const rag = collections(ctx, 'addArchive');
    return answer(c, signal, async (options) => {
      const added = await rag.addArchive(dir, bytes, { ...options, chunkSize, createIfMissing: true });
      return envelope(dir, { dir, bytes: bytes.byteLength, added: added ?? null });
    });
  };

  const list: RouteSpec['handler'] = async (c) => {
    const listed = await collections(ctx, 'list').list();
    return c.json({ collections: Array.isArray(listed) ? listed.map(publicInfo) : listed });
  };

  // The playground asks here first: a page that can live without RAG must not log a failed (501) request.
  const overview: RouteSpec['handler'] = async (c) => {
    const rag = ctx.akachat.rag as Partial<RagCollections> | undefined;
    if (typeof rag?.list !== 'function') return c.json({ configured: false, collections: [] });
    const listed = await rag.list();
    return c.json({ configured: true, collections: Array.isArray(listed) ? listed.map(publicInfo) : listed });
  };

  const create: RouteSpec['handler'] = async (c) => {
    const body = await readJson(c);
    const dir = stringField(body, 'dir', { allowEmpty: false });
    const chunkSize = chunkSizeOf(body.chunk_size);
    const rag = collections(ctx, 'create');
    if (await rag.has?.(dir)) throw new HttpError(409, `RAG collection ${JSON.stringify(dir)} already exists`, 'already_exists');
    const info = await rag.create!(dir, chunkSize === undefined ? {} : { chunkSize });
    return c.json({ ok: true, dir, collection: publicInfo(info) ?? null });
  };

  const remove: RouteSpec['handler'] = async (c) => {
    const dir = c.req.param('dir') ?? '';
    await collections(ctx, 'delete').delete!(dir);
    return c.json({ ok: true, dir });
  };

  const files: RouteSpec['handler'] = async (c) => {
    const dir = c.req.param('dir') ?? '';
    const byPath = await collections(ctx, 'files').files!(dir);
    return c.json({ dir, files: Object.entries(byPath).map(([path, record]) => ({ ...(isRecord(record) ? record : {}), path })) });
  };

  return [
    {
      method: 'POST',
      path: '/api/rag/search',
      summary: 'Search a RAG collection (501 while RAG is not set up)',
      tags: ['rag'],
      requestBody: { schema: SEARCH_SCHEMA, example: { dir: 'manual', query: 'How do I reset it?', k: 3 } },
      responses: { 200: { description: 'Envelope: result = the chunks\' text, detail.results = the results with scores' }, 501: { description: 'RAG is not set up' } },
      errors: 'akachat',
      handler: search,
    },
    {
      method: 'POST',
      path: '/api/rag/save',
      summary: 'Add documents to a RAG collection (created when new): a multipart upload (dir, file, chunk_size) of an archive or one document, JSON text {dir, text, name, chunk_size}, or raw archive bytes with ?dir=',
      description: 'With `Accept: application/x-ndjson` an upload answers a stream: `{"progress": {phase, done, total}}` lines (extract, read, embed, index, write), then `{"done": <envelope>}` or `{"error": {...}}`.',
      tags: ['rag'],
      management: true,
      maxBodyBytes: maxUploadBytes,
      requestBody: {
        contentType: 'multipart/form-data',
        schema: { type: 'object', required: ['dir', 'file'], properties: { dir: { type: 'string' }, file: { type: 'string', format: 'binary' }, chunk_size: { type: 'integer', minimum: 0, default: 500, description: '0 (one chunk per file) or at least 32 characters' } } },
      },
      responses: { 200: { description: 'Envelope' }, 413: { description: 'Upload too large' }, 501: { description: 'RAG is not set up' } },
      errors: 'akachat',
      handler: save,
    },
    {
      method: 'GET',
      path: '/api/rag/collections',
      summary: 'List RAG collections (501 while RAG is not set up)',
      tags: ['rag'],
      responses: { 200: { description: '{collections}' } },
      errors: 'akachat',
      handler: list,
    },
    {
      method: 'GET',
      path: '/api/rag',
      summary: 'Whether RAG is set up, and its collections (200 either way)',
      tags: ['rag'],
      responses: { 200: { description: '{configured, collections}' } },
      errors: 'akachat',
      handler: overview,
    },
    {
      method: 'POST',
      path: '/api/rag/collections',
      summary: 'Create an empty RAG collection (lexical-only, or with the server\'s embedding model); 409 when it exists',
      tags: ['rag'],
      management: true,
      requestBody: { schema: { type: 'object', required: ['dir'], properties: { dir: { type: 'string' }, chunk_size: { type: 'integer', minimum: 0, default: 500, description: '0 (one chunk per file) or at least 32 characters' } } }, example: { dir: 'manual', chunk_size: 500 } },
      responses: { 200: { description: '{ok, dir, collection}' }, 409: { description: 'The collection exists' }, 501: { description: 'RAG is not set up' } },
      errors: 'akachat',
      handler: create,
    },
    {
      method: 'DELETE',
      path: '/api/rag/collections/:dir',
      summary: 'Delete a RAG collection and its files',
      tags: ['rag'],
      management: true,
      responses: { 200: { description: '{ok, dir}' }, 404: { description: 'No such collection' }, 501: { description: 'RAG is not set up' } },
      errors: 'akachat',
      handler: remove,
    },
    {
      method: 'GET',
      path: '/api/rag/collections/:dir/files',
      summary: 'The files of a RAG collection with their chunk counts, sizes and formats',
      tags: ['rag'],
      management: true,
      responses: { 200: { description: '{dir, files: [{path, chunkCount, bytes, format, addedAt}...]}' }, 404: { description: 'No such collection' }, 501: { description: 'RAG is not set up' } },
      errors: 'akachat',
      handler: files,
    },
  ];
}
