import { describe, expect, it } from 'vitest';
import { AbortError } from '../../src/errors.js';
import { ArchiveRefusedError } from '../../src/rag/archive.js';
import { ingestWorkerStats, runIngestTask } from '../../src/rag/ingest-pool.js';
import { countTerms, type CountedTerms } from '../../src/rag/lexical.js';
import { DEFAULT_ARCHIVE_LIMITS } from '../../src/rag/index.js';

describe('RAG ingestion worker pool', () => {
  it('runs tasks on workers with the results of the same work done here', async () => {
    const texts = ['東京の電車は速い。', 'The red button resets the robot.'];
    const counted = await runIngestTask<CountedTerms>({ task: 'count', texts });
    expect({ numbers: [...counted.numbers], strings: counted.strings }).toEqual({ numbers: [...countTerms(texts).numbers], strings: countTerms(texts).strings });
    expect(ingestWorkerStats().busy).toBe(0);
  });

  it('gives back refusals as the errors they were thrown as', async () => {
    const refused = runIngestTask({ task: 'extract', bytes: new TextEncoder().encode('not an archive'), limits: { ...DEFAULT_ARCHIVE_LIMITS } });
    await expect(refused).rejects.toBeInstanceOf(ArchiveRefusedError);
    await expect(refused).rejects.toMatchObject({ reason: 'unsupported-format', code: 'ARCHIVE_REFUSED', message: 'Archive refused: not a zip, tar or tar.gz archive' });
  });

  it('runs more tasks than workers one after another, and drops aborted ones while they wait', async () => {
    const texts = Array.from({ length: 2000 }, (_, i) => `chunk ${i} 東京の電車`);
    const controller = new AbortController();
    const tasks = Array.from({ length: 6 }, (_, i) => runIngestTask<CountedTerms>({ task: 'count', texts }, i % 2 ? { signal: controller.signal } : {}));
    const settled = Promise.allSettled(tasks);
    controller.abort();
    const results = await settled;
    results.forEach((result, i) => {
      if (i % 2) expect((result as PromiseRejectedResult).reason).toBeInstanceOf(AbortError);
      else expect((result as PromiseFulfilledResult<CountedTerms>).value.strings.length).toBeGreaterThan(0);
    });
    expect(ingestWorkerStats().busy).toBe(0);
    expect(await runIngestTask<CountedTerms>({ task: 'count', texts: ['after'] })).toMatchObject({ strings: ['after'] });
  });
});
