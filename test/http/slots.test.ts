/** Admission to slots over HTTP: a model served with `parallel` slots answers that many chats at once. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Akachat } from '../../src/akachat.js';
import { serve } from '../../src/http/serve.js';
import { postJson, stories } from './helpers.js';

async function firstAndLastChunk(url: string): Promise<{ first: number; last: number }> {
  const response = await postJson(`${url}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 48, temperature: 0, stream: true });
  const reader = response.body!.getReader();
  let first = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) first ||= performance.now();
  return { first, last: performance.now() };
}

describe.skipIf(!stories)('slots over HTTP', () => {
  for (const parallel of [1, 2]) {
    it(`with parallel ${parallel}, ${parallel === 1 ? 'the second request waits for the first' : 'two requests stream at the same time'}`, async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'akachat-slots-http-'));
      const akachat = new Akachat({ dataDir, defaultModel: stories, rag: null, models: { keepAliveMs: 0, threads: 1, parallel } });
      const server = await serve(akachat, { port: 0, onServerError: () => {} });
      try {
        await firstAndLastChunk(server.url); // load the model first
        const [a, b] = await Promise.all([firstAndLastChunk(server.url), firstAndLastChunk(server.url)]);
        const [early, late] = a.first <= b.first ? [a, b] : [b, a];
        // With one slot the later request's first text comes after the earlier one ended.
        if (parallel === 1) expect(late.first).toBeGreaterThanOrEqual(early.last - 20);
        else expect(late.first).toBeLessThan(early.last);
      } finally {
        await server.close();
        await akachat.dispose();
        await rm(dataDir, { recursive: true, force: true });
      }
    }, 60_000);
  }
});
