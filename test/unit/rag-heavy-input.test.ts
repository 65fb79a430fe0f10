import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortError } from '../../src/errors.js';
import { LexicalIndex, Rag, splitIntoChunks } from '../../src/rag/index.js';
import { ingestWorkerStats } from '../../src/rag/ingest-pool.js';
import { cpuMsOver, deepHtmlZip, watchEventLoopLag, wideCsvDeepJsonZip } from '../support/heavy-input.js';

/** The JS thread must never be busy longer than this while an archive is ingested. */
const MAX_LAG_MS = 200;

describe('heavy input never blocks the JS thread', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'akachat-heavy-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('skips files over the per-file limits with reasons that name them, and keeps the others', async () => {
    const rag = new Rag({ dataFolder: folder });
    await rag.create('limits');
    const [deepZip, wideZip] = [deepHtmlZip(), wideCsvDeepJsonZip()];
    const lag = watchEventLoopLag();
    const deep = await rag.addArchive('limits', deepZip);
    const wide = await rag.addArchive('limits', wideZip);
    expect(lag.stop()).toBeLessThan(MAX_LAG_MS);
    expect(deep.skipped).toEqual([{ file: 'deep.html', reason: 'elements nested deeper than 512 levels (maxDepth)' }]);
    expect(wide.skipped).toEqual([
      { file: 'wide.csv', reason: 'a row of more than 16384 cells (maxColumns)' },
      { file: 'deep.json', reason: 'arrays and objects nested deeper than 512 levels (maxDepth)' },
    ]);
    expect((await rag.info('limits')).fileCount).toBe(1); // ok.md, added twice
    expect(await rag.query('limits', 'blue button')).toContain('starts the robot');
    await rag.dispose();
  });

  it('runs a long extraction on a worker thread, and an abort stops that thread at once', async () => {
    // Limits raised so that the 200,000-deep HTML really is parsed (many seconds of CPU).
    const rag = new Rag({ dataFolder: folder, documentLimits: { maxDepth: 10_000_000 } });
    await rag.create('abort');
    const controller = new AbortController();
    const archive = deepHtmlZip();
    const lag = watchEventLoopLag();
    const ingest = rag.addArchive('abort', archive, { signal: controller.signal });
    const outcome = ingest.then(() => 'finished', (err: unknown) => err);
    // While the worker parses, timers keep firing on time and the CPU is busy (the worker's).
    expect(await cpuMsOver(1500)).toBeGreaterThan(500);
    expect(ingestWorkerStats().busy).toBe(1);
    expect(lag.stop()).toBeLessThan(MAX_LAG_MS);

    const abortedAt = performance.now();
    controller.abort();
    const error = await outcome;
    expect(error).toBeInstanceOf(AbortError);
    expect(performance.now() - abortedAt).toBeLessThan(100);
    expect(ingestWorkerStats().busy).toBe(0);
    // The parse no longer runs anywhere: the process is idle.
    expect(await cpuMsOver(1000)).toBeLessThan(250);
    expect((await rag.info('abort')).fileCount).toBe(0);
    await rag.dispose();
  });

  it('creates a missing collection only once its archive is accepted', async () => {
    const rag = new Rag({ dataFolder: folder });
    const evil = (await import('fflate')).zipSync({ '../evil.txt': new TextEncoder().encode('x') });
    await expect(rag.addArchive('fresh', evil, { createIfMissing: true })).rejects.toMatchObject({ code: 'ARCHIVE_REFUSED' });
    expect(await rag.has('fresh')).toBe(false);
    // Aborted after acceptance, while reading: still nothing left behind.
    const controller = new AbortController();
    const aborted = rag.addArchive('fresh', deepHtmlZip(), { createIfMissing: true, signal: controller.signal, onProgress: (p) => { if (p.phase === 'read') controller.abort(); } });
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    expect(await rag.has('fresh')).toBe(false);
    const report = await rag.addArchive('fresh', deepHtmlZip(), { createIfMissing: true, chunkSize: 100 });
    expect(report.added.map((a) => a.file)).toEqual(['ok.md']);
    expect((await rag.info('fresh')).chunkSize).toBe(100);
    await rag.dispose();
  });

  it('builds the lexical index of a large collection on a worker thread, as the same index built here', async () => {
    const words = ['robot', 'button', 'red', 'blue', 'reset', 'start', '猫', '犬', '東京', '電車', 'manual', 'power'];
    let seed = 1;
    const word = () => words[(seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % words.length];
    const text = Array.from({ length: 6000 }, (_, i) => `${Array.from({ length: 40 }, word).join(' ')} (${i}).`).join('\n\n');
    expect(text.length).toBeGreaterThan(1_000_000); // several batches for the worker
    const rag = new Rag({ dataFolder: folder });
    await rag.create('large', { chunkSize: 300 });
    await rag.addText('large', 'large.txt', text);
    const lag = watchEventLoopLag();
    const found = await rag.search('large', 'red robot 東京', { k: 10 });
    expect(lag.stop()).toBeLessThan(MAX_LAG_MS);

    // The same chunks (ids from 0 in a new collection), indexed on this thread.
    const direct = new LexicalIndex();
    splitIntoChunks(text, { chunkSize: 300 }).forEach((chunk, id) => direct.add(id, chunk.text));
    expect(found.map((hit) => [hit.chunkId, hit.score])).toEqual(direct.search('red robot 東京', 10).map((hit) => [hit.id, hit.score]));
    await rag.dispose();
  });
});
