import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rag as RagType } from '../../src/rag/index.js';
import type { RagCollections } from '../../src/http/routes/rag.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { ingestWorkerStats } from '../../src/rag/ingest-pool.js';
import { cpuMsOver, deepHtmlZip, watchEventLoopLag } from '../support/heavy-input.js';
import { postJson, startServer, waitFor, type TestServer } from './helpers.js';

/** Records the calls the routes make; answers like the Rag class. */
class FakeRag implements RagCollections {
  calls: Array<{ call: string; args: unknown[] }> = [];
  async list() {
    this.calls.push({ call: 'list', args: [] });
    return [{ name: 'manual', files: 2 }];
  }
  async search(dir: string, query: string, options: { k?: number; mode?: string }) {
    this.calls.push({ call: 'search', args: [dir, query, { k: options.k, mode: options.mode }] });
    return [{ text: 'Press the red button.', score: 0.9, file: 'a.md' }, { text: 'Hold for 3 s.', score: 0.5, file: 'b.md' }].slice(0, options.k);
  }
  async addArchive(dir: string, data: Uint8Array, options: { chunkSize?: number }) {
    this.calls.push({ call: 'addArchive', args: [dir, Buffer.from(data).toString(), { chunkSize: options.chunkSize }] });
    return { files: 1 };
  }
  async addText(dir: string, name: string, text: string, options: { chunkSize?: number }) {
    this.calls.push({ call: 'addText', args: [dir, name, text, { chunkSize: options.chunkSize }] });
    return { files: 1 };
  }
  async dispose() {}
}

describe('RAG routes over a RAG backend', () => {
  let t: TestServer;
  let rag: FakeRag;
  beforeAll(async () => {
    t = await startServer({ serve: { maxUploadBytes: 4096 } });
    rag = new FakeRag();
    t.akachat.rag = rag as unknown as RagType;
  });
  afterAll(async () => t?.close());

  it('searches a collection and answers the envelope with the chunks', async () => {
    const body = await (await postJson(`${t.url}/api/rag/search`, { dir: 'manual', query: 'reset', k: 2, mode: 'lexical' })).json() as { status: number; result: string; detail: { results: unknown[] } };
    expect(body.status).toBe(0);
    expect(body.result).toBe('Press the red button.\n\nHold for 3 s.');
    expect(body.detail.results).toHaveLength(2);
    expect(rag.calls.at(-1)).toEqual({ call: 'search', args: ['manual', 'reset', { k: 2, mode: 'lexical' }] });
    await postJson(`${t.url}/api/rag/search`, { dir: 'manual', query: 'reset' });
    expect(rag.calls.at(-1)!.args[2]).toEqual({ k: 1, mode: undefined });
    const bad = await postJson(`${t.url}/api/rag/search`, { dir: 'manual', query: 'x', k: 0 });
    expect(bad.status).toBe(400);
    expect((await bad.json() as { message: string }).message).toMatch(/for k/);
  });

  it('adds an uploaded archive (multipart), a text (JSON) and raw archive bytes', async () => {
    const form = new FormData();
    form.set('dir', 'manual');
    form.set('chunk_size', '300');
    form.set('file', new Blob(['PK-fake-zip']), 'docs.zip');
    const uploaded = await fetch(`${t.url}/api/rag/save`, { method: 'POST', body: form });
    expect(uploaded.status).toBe(200);
    expect(rag.calls.at(-1)).toEqual({ call: 'addArchive', args: ['manual', 'PK-fake-zip', { chunkSize: 300 }] });

    expect((await postJson(`${t.url}/api/rag/save`, { dir: 'notes', text: 'hello', name: 'a.txt', chunk_size: 0 })).status).toBe(200);
    expect(rag.calls.at(-1)).toEqual({ call: 'addText', args: ['notes', 'a.txt', 'hello', { chunkSize: 0 }] });

    const raw = await fetch(`${t.url}/api/rag/save?dir=manual`, { method: 'POST', headers: { 'Content-Type': 'application/zip' }, body: 'raw-bytes' });
    expect(raw.status).toBe(200);
    expect(rag.calls.at(-1)).toEqual({ call: 'addArchive', args: ['manual', 'raw-bytes', { chunkSize: undefined }] });

    const noFile = new FormData();
    noFile.set('dir', 'manual');
    expect((await fetch(`${t.url}/api/rag/save`, { method: 'POST', body: noFile })).status).toBe(400);
  });

  it('refuses uploads over the upload limit, and uploads from other origins', async () => {
    const form = new FormData();
    form.set('dir', 'manual');
    form.set('file', new Blob(['x'.repeat(8192)]), 'big.zip');
    const big = await fetch(`${t.url}/api/rag/save`, { method: 'POST', body: form });
    expect(big.status).toBe(413);
    const crossSite = await fetch(`${t.url}/api/rag/save`, { method: 'POST', headers: { Origin: 'http://localhost:3000' }, body: JSON.stringify({ dir: 'x', text: 'y' }) });
    expect(crossSite.status).toBe(403);
  });

  it('lists collections', async () => {
    expect(await (await fetch(`${t.url}/api/rag/collections`)).json()).toEqual({ collections: [{ name: 'manual', files: 2 }] });
  });
});

describe('RAG routes over the Rag class (lexical-only collection, no model needed)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
    const { Rag } = await import('../../src/rag/index.js');
    t.akachat.rag = new Rag({ dataFolder: t.dataDir }) as unknown as RagType;
  });
  afterAll(async () => t?.close());

  it('creates a collection on the first save, then searches and lists it', async () => {
    const saved = await postJson(`${t.url}/api/rag/save`, { dir: 'robot', name: 'manual.txt', text: 'The red button resets the robot.\n\nThe blue button starts it.', chunk_size: 40 });
    expect(saved.status).toBe(200);
    const found = await (await postJson(`${t.url}/api/rag/search`, { dir: 'robot', query: 'red button', k: 1 })).json() as { result: string; detail: { results: Array<{ file: string }> } };
    expect(found.result).toContain('resets the robot');
    expect(found.detail.results[0].file).toBe('manual.txt');
    const listed = await (await fetch(`${t.url}/api/rag/collections`)).json() as { collections: Array<{ name: string }> };
    expect(listed.collections.map((collection) => collection.name)).toEqual(['robot']);
    const missing = await postJson(`${t.url}/api/rag/search`, { dir: 'nothing', query: 'x' });
    expect(missing.status).toBe(404);
    const unsafe = await postJson(`${t.url}/api/rag/save`, { dir: '../escape', text: 'x' });
    expect(unsafe.status).toBe(400);
  });

  it('refuses an unsafe archive without leaving a new collection behind', async () => {
    const evil = zipSync({ '../evil.txt': new TextEncoder().encode('x') });
    const refused = await fetch(`${t.url}/api/rag/save?dir=fresh`, { method: 'POST', headers: { 'Content-Type': 'application/zip' }, body: evil });
    expect(refused.status).toBe(400);
    expect((await refused.json() as { message: string }).message).toMatch(/Archive refused/);
    const listed = await (await fetch(`${t.url}/api/rag/collections`)).json() as { collections: Array<{ name: string }> };
    expect(listed.collections.map((collection) => collection.name)).not.toContain('fresh');
    expect(existsSync(join(t.dataDir, 'rag', 'fresh'))).toBe(false);
  });

  it('answers /health while an archive is ingested, and stops the ingest when the client goes away', async () => {
    const { Rag } = await import('../../src/rag/index.js');
    const previous = t.akachat.rag;
    // Limits raised so that the 200,000-deep HTML really is parsed (many seconds of CPU).
    t.akachat.rag = new Rag({ dataFolder: t.dataDir, documentLimits: { maxDepth: 10_000_000 } }) as unknown as RagType;
    try {
      const archive = deepHtmlZip();
      const client = new AbortController();
      const upload = fetch(`${t.url}/api/rag/save?dir=heavy`, { method: 'POST', headers: { 'Content-Type': 'application/zip' }, body: archive, signal: client.signal })
        .catch((err: unknown) => err);
      await waitFor(() => ingestWorkerStats().busy === 1, 10_000, 'the ingest to start on its worker');
      const lag = watchEventLoopLag();
      for (let i = 0; i < 10; i++) {
        const started = performance.now();
        const health = await fetch(`${t.url}/health`);
        await health.arrayBuffer();
        expect(performance.now() - started).toBeLessThan(200);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(lag.stop()).toBeLessThan(200);
      expect(ingestWorkerStats().busy).toBe(1); // still parsing

      client.abort();
      expect(await upload).toMatchObject({ name: 'AbortError' });
      await waitFor(() => ingestWorkerStats().busy === 0, 1000, 'the worker to stop after the client left');
      expect(await cpuMsOver(1000)).toBeLessThan(250);
      expect(existsSync(join(t.dataDir, 'rag', 'heavy'))).toBe(false);
    } finally {
      await (t.akachat.rag as unknown as InstanceType<typeof Rag>).dispose();
      t.akachat.rag = previous;
    }
  });
});
