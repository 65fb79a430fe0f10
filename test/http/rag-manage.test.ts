/** The RAG management routes the playground uses: create / delete collections, their files, single documents, upload progress. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashedNgramEmbedder, Rag, type Rag as RagType } from '../../src/rag/index.js';
import { ingestWorkerStats } from '../../src/rag/ingest-pool.js';
import { deepHtmlZip } from '../support/heavy-input.js';
import { postJson, startServer, waitFor, type TestServer } from './helpers.js';

const encode = (text: string) => new TextEncoder().encode(text);

function upload(url: string, dir: string, name: string, data: Uint8Array | string, accept?: string): Promise<Response> {
  const form = new FormData();
  form.set('dir', dir);
  form.set('chunk_size', '40');
  form.set('file', new Blob([typeof data === 'string' ? data : new Uint8Array(data)]), name);
  return fetch(`${url}/api/rag/save`, { method: 'POST', body: form, headers: accept ? { Accept: accept } : {} });
}

function ndjson(text: string): Array<Record<string, unknown>> {
  return text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('RAG management routes over the Rag class', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
    // The owner's embedding model given as a path: callers must see its name only.
    t.akachat.rag = new Rag({
      dataFolder: t.dataDir,
      embedderFactory: async () => new HashedNgramEmbedder({ dimensions: 32 }),
      defaultEmbeddingModel: join(t.dataDir, 'secret-models', 'embedder-q8.gguf'),
    }) as unknown as RagType;
  });
  afterAll(async () => {
    await (t?.akachat.rag as RagType | undefined)?.dispose();
    await t?.close();
  });

  it('creates a collection (409 when it exists, 400 for an unsafe name) and lists it without the model path', async () => {
    const created = await postJson(`${t.url}/api/rag/collections`, { dir: 'manual', chunk_size: 120 });
    expect(created.status).toBe(200);
    expect(await created.json()).toMatchObject({ ok: true, dir: 'manual', collection: { name: 'manual', chunkSize: 120, fileCount: 0 } });
    expect(existsSync(join(t.dataDir, 'rag', 'manual'))).toBe(true);

    const again = await postJson(`${t.url}/api/rag/collections`, { dir: 'manual' });
    expect(again.status).toBe(409);
    expect((await again.json() as { message: string }).message).toMatch(/already exists/);
    expect((await postJson(`${t.url}/api/rag/collections`, { dir: '../escape' })).status).toBe(400);
    expect((await postJson(`${t.url}/api/rag/collections`, { dir: 'x', chunk_size: -1 })).status).toBe(400);

    const listed = await (await fetch(`${t.url}/api/rag/collections`)).json() as { collections: Array<{ name: string; embedding: { model: string } }> };
    expect(listed.collections.map((c) => c.name)).toEqual(['manual']);
    expect(listed.collections[0].embedding.model).toBe('embedder-q8');
    expect(JSON.stringify(listed)).not.toContain(t.dataDir);
    expect(await (await fetch(`${t.url}/api/rag`)).json()).toEqual({ configured: true, collections: listed.collections });
  });

  it('adds a single document (not an archive) and lists the collection\'s files', async () => {
    const saved = await upload(t.url, 'manual', 'reset.md', '# Reset\n\nHold the red button for three seconds to reset the robot.');
    expect(saved.status).toBe(200);
    const files = await (await fetch(`${t.url}/api/rag/collections/manual/files`)).json() as { dir: string; files: Array<{ path: string; chunkCount: number; format: string }> };
    expect(files.dir).toBe('manual');
    expect(files.files).toEqual([expect.objectContaining({ path: 'reset.md', format: 'markdown' })]);
    expect(files.files[0].chunkCount).toBeGreaterThan(0);
    const found = await (await postJson(`${t.url}/api/rag/search`, { dir: 'manual', query: 'red button reset', k: 2 })).json() as { detail: { results: Array<{ file: string; score: number }> } };
    expect(found.detail.results[0].file).toBe('reset.md');
    expect(found.detail.results[0].score).toBeGreaterThan(0);
  });

  it('streams ingest progress as NDJSON when asked, ending with the envelope', async () => {
    const archive = zipSync({ 'a.txt': encode('Apples are red. '.repeat(20)), 'docs/b.txt': encode('Bananas are yellow. '.repeat(20)) });
    const response = await upload(t.url, 'fruit', 'fruit.zip', archive, 'application/x-ndjson');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    const lines = ndjson(await response.text());
    const phases = lines.filter((line) => line.progress).map((line) => (line.progress as { phase: string }).phase);
    // Each phase is reported (its newest count at least), in order.
    expect([...new Set(phases)]).toEqual(['extract', 'read', 'embed', 'index', 'write']);
    const last = lines.at(-1)!;
    expect(last.done).toMatchObject({ status: 0, result: 'fruit', detail: { dir: 'fruit', file: 'fruit.zip' } });
    const files = await (await fetch(`${t.url}/api/rag/collections/fruit/files`)).json() as { files: Array<{ path: string }> };
    expect(files.files.map((f) => f.path).sort()).toEqual(['a.txt', 'docs/b.txt']);
  });

  it('ends a progress stream with the error when the archive is refused, leaving no collection', async () => {
    const evil = zipSync({ '../evil.txt': encode('x') });
    const response = await upload(t.url, 'evil', 'evil.zip', evil, 'application/x-ndjson');
    const last = ndjson(await response.text()).at(-1)!;
    expect(last.error).toMatchObject({ status: 400, error: { code: 'archive_refused' } });
    expect((last.error as { message: string }).message).toMatch(/Archive refused/);
    expect(existsSync(join(t.dataDir, 'rag', 'evil'))).toBe(false);
  });

  it('stops the ingest when the client leaves a progress stream', async () => {
    const previous = t.akachat.rag;
    // Limits raised so that the 200,000-deep HTML really is parsed (seconds of CPU on the worker).
    const heavy = new Rag({ dataFolder: t.dataDir, documentLimits: { maxDepth: 10_000_000 } });
    t.akachat.rag = heavy as unknown as RagType;
    try {
      const client = new AbortController();
      const form = new FormData();
      form.set('dir', 'heavy');
      form.set('file', new Blob([deepHtmlZip()]), 'heavy.zip');
      const response = await fetch(`${t.url}/api/rag/save`, { method: 'POST', body: form, headers: { Accept: 'application/x-ndjson' }, signal: client.signal });
      const reader = response.body!.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toMatch(/"progress"/);
      await waitFor(() => ingestWorkerStats().busy === 1, 10_000, 'the ingest to run on its worker');
      client.abort();
      await waitFor(() => ingestWorkerStats().busy === 0, 2000, 'the worker to stop after the client left');
      await waitFor(() => !existsSync(join(t.dataDir, 'rag', 'heavy')), 2000, 'the new collection to be removed');
    } finally {
      await heavy.dispose();
      t.akachat.rag = previous;
    }
  });

  it('deletes a collection (404 after), and answers 404 for the files of a missing one', async () => {
    expect((await fetch(`${t.url}/api/rag/collections/fruit`, { method: 'DELETE' })).status).toBe(200);
    expect(existsSync(join(t.dataDir, 'rag', 'fruit'))).toBe(false);
    expect((await fetch(`${t.url}/api/rag/collections/fruit`, { method: 'DELETE' })).status).toBe(404);
    expect((await fetch(`${t.url}/api/rag/collections/fruit/files`)).status).toBe(404);
    expect((await fetch(`${t.url}/api/rag/collections/..%2Fvars`, { method: 'DELETE' })).status).toBe(400);
  });

  it('refuses the data-changing routes to pages of other origins', async () => {
    const headers = { Origin: 'http://localhost:3000', 'Content-Type': 'application/json' };
    expect((await fetch(`${t.url}/api/rag/collections`, { method: 'POST', headers, body: JSON.stringify({ dir: 'x' }) })).status).toBe(403);
    expect((await fetch(`${t.url}/api/rag/collections/manual`, { method: 'DELETE', headers })).status).toBe(403);
    expect((await fetch(`${t.url}/api/rag/collections/manual/files`, { headers })).status).toBe(403);
  });
});

describe('RAG management routes without RAG', () => {
  let t: TestServer;
  beforeAll(async () => { t = await startServer(); });
  afterAll(async () => t?.close());

  it('answer 501, while GET /api/rag says it is not configured', async () => {
    const overview = await fetch(`${t.url}/api/rag`);
    expect(overview.status).toBe(200);
    expect(await overview.json()).toEqual({ configured: false, collections: [] });
    expect((await postJson(`${t.url}/api/rag/collections`, { dir: 'x' })).status).toBe(501);
    expect((await fetch(`${t.url}/api/rag/collections/x`, { method: 'DELETE' })).status).toBe(501);
    expect((await fetch(`${t.url}/api/rag/collections/x/files`)).status).toBe(501);
  });
});
