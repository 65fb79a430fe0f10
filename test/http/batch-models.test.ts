/** POST /api/batch names models as other HTTP callers do: listed names, never paths or hf: references. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSse } from '../../src/http/sse.js';
import { postJson, startServer, stories, type TestServer } from './helpers.js';

describe('batch models over HTTP', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ model: stories });
    await t.akachat.prompts.save('story', 'Once upon a time', { max_new_tokens: 4 });
  });
  afterAll(async () => t?.close());

  it('refuses paths and hf: references with 403 before a batch starts', async () => {
    for (const model of ['/etc/passwd', 'models/x.gguf', '../x', 'hf:someone/repo:Q4_K_M']) {
      const response = await postJson(`${t.url}/api/batch`, { prompts: ['story'], models: [model], inputs: ['x'] });
      expect(response.status, model).toBe(403);
      expect((await response.json()).message).toContain('is not a model this server lists');
    }
    expect((await (await fetch(`${t.url}/api/batch`)).json()).runs).toEqual([]);
  });

  it.skipIf(!stories)('runs a listed name on the file it names', async () => {
    const started = await postJson(`${t.url}/api/batch`, { prompts: ['story'], models: ['stories260K'], temperatures: [0], inputs: ['x'] });
    expect(started.status).toBe(202);
    const { id } = await started.json();
    const events = parseSse(await (await fetch(`${t.url}/api/batch/${id}/events`)).text()).map((e) => JSON.parse(e));
    const cell = events.find((e) => e.type === 'cell').result;
    expect(cell.error).toBeUndefined();
    expect(cell.model).toBe(stories);
  });
});
