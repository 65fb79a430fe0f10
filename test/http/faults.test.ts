import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSse } from '../../src/http/sse.js';
import { postJson, readChunks, startServer, stories, waitFor, type TestServer } from './helpers.js';

const long = { messages: [{ role: 'user', content: 'Tell me a very long story.' }], max_tokens: 1500, temperature: 0.8 };

describe.skipIf(!stories)('behaviour under load and faults on stories260K', () => {
  let t: TestServer;
  let slow: TestServer;
  beforeAll(async () => {
    t = await startServer({ model: stories, serve: { maxQueue: 1 } });
    slow = await startServer({ model: stories, serve: { requestTimeoutMs: 300 } });
  });
  afterAll(async () => {
    await t?.close();
    await slow?.close();
  });

  it('queues in order, answers 503 with Retry-After when the queue is full, and drops a waiting request whose client left', async () => {
    const queue = t.server.app.queue;
    const reportsBefore = t.reports.length;
    const first = new AbortController();
    const running = await postJson(`${t.url}/v1/chat/completions`, { ...long, stream: true }, { signal: first.signal });
    expect(running.status).toBe(200); // headers arrive with the first token: it is generating
    expect(queue.running).toBe(1);

    const second = new AbortController();
    const waiting = postJson(`${t.url}/v1/chat/completions`, { ...long, max_tokens: 2 }, { signal: second.signal }).catch((e: unknown) => e);
    await waitFor(() => queue.waiting === 1, 5000, 'the second request to queue');

    const refused = await postJson(`${t.url}/v1/chat/completions`, { ...long, max_tokens: 2 });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const error = (await refused.json() as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('queue_full');
    expect(error.message).toMatch(/busy/);

    second.abort();
    expect(await waiting).toBeInstanceOf(Error);
    await waitFor(() => queue.waiting === 0, 5000, 'the aborted request to leave the queue');

    first.abort();
    await waitFor(() => queue.running === 0, 5000, 'the running request to stop');
    await waitFor(() => t.reports.length > reportsBefore, 5000, 'the report');
    expect(t.reports.slice(reportsBefore).map((report) => report.outcome)).toEqual(['aborted']);

    const next = await postJson(`${t.url}/v1/chat/completions`, { ...long, max_tokens: 2 });
    expect(next.status).toBe(200);
  });

  it('aborts a non-streaming generation when its client disconnects', async () => {
    const before = t.reports.length;
    const controller = new AbortController();
    const request = postJson(`${t.url}/api/chat`, { messages: long.messages, stream: false, options: { num_predict: 1500 } }, { signal: controller.signal }).catch((e: unknown) => e);
    await waitFor(() => t.server.app.queue.running === 1, 5000, 'the generation to start');
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    expect(await request).toBeInstanceOf(Error);
    await waitFor(() => t.reports.length > before, 5000, 'the report');
    expect(t.reports[before]).toMatchObject({ route: 'POST /api/chat', outcome: 'aborted' });
  });

  it('aborts a plain-text stream (/api/llm/raw) when its client disconnects', async () => {
    await t.akachat.prompts.save('long', 'Once upon a time', { template: '{instruction}', max_new_tokens: 1500, temperature: 0.8 });
    const before = t.reports.length;
    const controller = new AbortController();
    const response = await postJson(`${t.url}/api/llm/raw`, { dir: 'long' }, { signal: controller.signal });
    const reader = response.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    controller.abort();
    await waitFor(() => t.reports.length > before, 5000, 'the report');
    expect(t.reports[before]).toMatchObject({ model: 'long', outcome: 'aborted' });
  });

  it('stops a request at its timeout: 408 before the answer started, an error event after', async () => {
    const whole = await postJson(`${slow.url}/v1/chat/completions`, long);
    expect(whole.status).toBe(408);
    expect((await whole.json() as { error: { message: string } }).error.message).toMatch(/took longer than 300 ms/);
    const streamed = await postJson(`${slow.url}/v1/chat/completions`, { ...long, stream: true });
    expect(streamed.status).toBe(200);
    const payloads = (await readChunks(streamed)).flatMap((chunk) => parseSse(chunk));
    const last = JSON.parse(payloads.at(-1)!) as { error?: { type: string } };
    expect(last.error?.type).toBe('timeout_error');
    await waitFor(() => slow.reports.length >= 2, 5000, 'the reports');
    expect(slow.reports.map((report) => report.outcome)).toEqual(['aborted', 'aborted']);
  });

  it('survives a model that fails to load: 500 with the reason, then serves on', async () => {
    // The owner's preset names a broken file (a caller can only pick listed names).
    const broken = join(t.dataDir, 'broken.gguf');
    await writeFile(broken, 'this is not a GGUF file');
    await t.akachat.presets.set('broken', { model: broken });
    const response = await postJson(`${t.url}/v1/chat/completions`, { model: 'broken', messages: long.messages, max_tokens: 2 });
    expect(response.status).toBe(500);
    const error = (await response.json() as { error: { message: string; code: string } }).error;
    expect(error.code).toBe('model_load_failed');
    expect(error.message.length).toBeGreaterThan(10);
    expect(error.message).not.toContain(t.dataDir);
    expect((await postJson(`${t.url}/v1/chat/completions`, { messages: long.messages, max_tokens: 2 })).status).toBe(200);
  });
});
