/**
 * RAG routes: search a collection, add an archive or a text to one, list them. Every call the
 * routes make on the RAG backend is in this file, through {@link RagCollections}; the routes
 * answer 501 while `akachat.rag` is not set (or lacks a call).
 */
import type { Context } from 'hono';
import { invalid } from '../../validate.js';
import { HttpError } from '../errors.js';
import type { JsonSchema } from '../openapi.js';
import { isRecord, optionalIntegerField, readJson, stringField, type RouteContext, type RouteSpec } from '../route.js';
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
  addArchive(dir: string, data: Uint8Array, options: { chunkSize?: number; signal?: AbortSignal; createIfMissing?: boolean }): Promise<unknown>;
  /** Adds one text document named `name` to collection `dir`. */
  addText(dir: string, name: string, text: string, options: { chunkSize?: number; signal?: AbortSignal }): Promise<unknown>;
  /** Whether collection `dir` exists; with `create`, saving into a new collection creates it (as the original did). */
  has?(dir: string): Promise<boolean>;
  /** Creates collection `dir` with its default chunk size. */
  create?(dir: string, options: { chunkSize?: number }): Promise<unknown>;
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

function chunkSizeOf(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 0) throw invalid('an integer >= 0 (0 = one chunk per file)', 'chunk_size', value);
  return number;
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

  const save: RouteSpec['handler'] = async (c: Context, signal) => {
    const type = (c.req.header('content-type') ?? '').toLowerCase();
    if (type.startsWith('multipart/form-data')) {
      const form = await c.req.parseBody();
      const dir = form.dir;
      if (typeof dir !== 'string' || dir === '') throw invalid('a collection name', 'dir', dir);
      const file = form.file;
      if (!(file instanceof File)) throw invalid('an uploaded archive', 'file', file);
      const chunkSize = chunkSizeOf(form.chunk_size);
      const added = await collections(ctx, 'addArchive').addArchive(dir, new Uint8Array(await file.arrayBuffer()), { chunkSize, signal, createIfMissing: true });
      return c.json(envelope(dir, { dir, file: file.name, bytes: file.size, added: added ?? null }));
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
    const added = await collections(ctx, 'addArchive').addArchive(dir, bytes, { chunkSize, signal, createIfMissing: true });
    return c.json(envelope(dir, { dir, bytes: bytes.byteLength, added: added ?? null }));
  };

  const list: RouteSpec['handler'] = async (c) => c.json({ collections: await collections(ctx, 'list').list() });

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
      summary: 'Add documents to a RAG collection (created when new): a multipart archive upload (dir, file, chunk_size), JSON text {dir, text, name, chunk_size}, or raw archive bytes with ?dir=',
      tags: ['rag'],
      management: true,
      maxBodyBytes: maxUploadBytes,
      requestBody: {
        contentType: 'multipart/form-data',
        schema: { type: 'object', required: ['dir', 'file'], properties: { dir: { type: 'string' }, file: { type: 'string', format: 'binary' }, chunk_size: { type: 'integer', minimum: 0, default: 500 } } },
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
  ];
}
