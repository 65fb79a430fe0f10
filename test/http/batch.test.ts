/** The batch routes, against a fake OpenAI-compatible service (no model needed). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOriginalLog } from '../../src/batch/reports.js';
import { parseSse } from '../../src/http/sse.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { postJson, startServer, waitFor, type TestServer } from './helpers.js';

let fake: FakeOpenAi;
let t: TestServer;

beforeAll(async () => {
  fake = await startFakeOpenAi();
  t = await startServer();
  await t.akachat.prompts.save('echo', 'Repeat.', { provider: 'openai', endpoint: fake.endpoint, model: 'own', max_new_tokens: 8 });
});
afterAll(async () => {
  await t?.close();
  await fake?.close();
});

const events = async (id: string) => parseSse(await (await fetch(`${t.url}/api/batch/${id}/events`)).text()).map((e) => JSON.parse(e));

describe('batch routes', () => {
  it('starts a batch, streams its cells and progress, and serves its reports', async () => {
    const started = await postJson(`${t.url}/api/batch`, { prompts: ['echo'], models: ['m1', 'm2'], temperatures: '0 1', inputs: ['hi'], checks: [{ type: 'contains', value: 'hi' }] });
    expect(started.status).toBe(202);
    const { id, total, state } = await started.json();
    expect(id).toMatch(/^batch_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d/);
    expect([total, state]).toEqual([4, 'running']);
    const all = await events(id); // replayed from the start, then followed to the end
    expect(all[0]).toEqual({ type: 'start', id, total: 4 });
    const cells = all.filter((e) => e.type === 'cell').map((e) => e.result);
    expect(cells.map((c) => [c.model, c.temperature, c.output, c.pass])).toEqual([['m1', 0, 'echo: hi', true], ['m1', 1, 'echo: hi', true], ['m2', 0, 'echo: hi', true], ['m2', 1, 'echo: hi', true]]);
    expect(all.filter((e) => e.type === 'progress').at(-1)).toMatchObject({ done: 4, total: 4 });
    expect(all.at(-1)).toMatchObject({ type: 'done', summary: { cells: 4, checksPassed: 4, checksFailed: 0 } });

    const status = await (await fetch(`${t.url}/api/batch/${id}`)).json();
    expect(status).toMatchObject({ id, state: 'done', done: 4 });
    expect(status.results).toHaveLength(4);
    expect((await (await fetch(`${t.url}/api/batch`)).json()).runs[0].id).toBe(id);

    const log = await fetch(`${t.url}/api/batch/${id}/report/log`);
    expect(log.headers.get('content-type')).toContain('text/plain');
    expect(parseOriginalLog(await log.text()).map((e) => e.model)).toEqual(['m1', 'm1', 'm2', 'm2']);
    const html = await fetch(`${t.url}/api/batch/${id}/report/html`);
    expect(await html.text()).toContain('<th>m2 / t=1</th>');
    expect((await fetch(`${t.url}/api/batch/${id}/report/csv`)).headers.get('content-type')).toContain('text/csv');
  });

  it('cancels a running batch and reports what was done', async () => {
    const before = fake.requests.length;
    const { id } = await (await postJson(`${t.url}/api/batch`, { prompts: ['echo'], models: ['slow', 'm1'], temperatures: [0] })).json();
    await waitFor(() => fake.requests.some((r) => r.body.model === 'slow'), 5000, 'the slow cell');
    const cancelled = await fetch(`${t.url}/api/batch/${id}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    const all = await events(id);
    expect(all.at(-1)).toMatchObject({ type: 'done', summary: { cancelled: true } });
    expect((await (await fetch(`${t.url}/api/batch/${id}`)).json()).state).toBe('cancelled');
    expect(fake.requests.slice(before).map((r) => r.body.model)).toEqual(['slow']); // m1's cell never ran
  });

  it('answers clear errors: bad bodies 400, unknown runs and reports 404, other origins 403', async () => {
    expect((await postJson(`${t.url}/api/batch`, { temperatures: '0 hot' })).status).toBe(400);
    expect((await postJson(`${t.url}/api/batch`, { checks: [{ type: 'custom' }] })).status).toBe(400);
    expect((await postJson(`${t.url}/api/batch`, { prompts: 'echo' })).status).toBe(400);
    expect((await fetch(`${t.url}/api/batch/batch_nope`)).status).toBe(404);
    expect((await fetch(`${t.url}/api/batch/batch_nope/report/json`)).status).toBe(404);
    expect((await fetch(`${t.url}/api/batch/batch_x/report/exe`)).status).toBe(400);
    expect((await fetch(`${t.url}/api/batch/..%2Fconfig/report/json`)).status).toBe(400);
    expect((await fetch(`${t.url}/api/batch`, { method: 'POST', headers: { Origin: 'http://localhost:3000', 'Content-Type': 'application/json' }, body: '{}' })).status).toBe(403);
  });
});
