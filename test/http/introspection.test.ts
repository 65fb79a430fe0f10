/** llama-server's introspection routes: /props, /apply-template, /metrics. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, startServer, stories, type TestServer } from './helpers.js';

describe.skipIf(!stories)('introspection routes on stories260K', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ model: stories, serve: { defaults: { temperature: 0.3, seed: 7 } } });
  });
  afterAll(() => t?.close());

  it('GET /props gives the default generation settings (server defaults applied), slots and the model by name, no path', async () => {
    const props = await (await fetch(`${t.url}/props`)).json();
    expect(props.default_generation_settings.params).toMatchObject({ temperature: 0.3, seed: 7, top_k: 40, top_p: 0.95 });
    expect(props.total_slots).toBe(1);
    expect(props.model_alias).toBe('stories260K');
    expect(props.build_info).toMatch(/^akachat \d/);
    expect(JSON.stringify(props)).not.toContain('/');
  });

  it('GET /slots tells what each slot of the loaded model holds', async () => {
    await postJson(`${t.url}/completion`, { prompt: 'Once upon a time', n_predict: 3 });
    const slots = await (await fetch(`${t.url}/slots`)).json();
    expect(slots).toHaveLength(1);
    expect(slots[0]).toMatchObject({ id: 0, model: 'stories260K', is_processing: false, state: 'idle' });
    expect(slots[0].n_cached).toBeGreaterThan(3);
    expect(slots[0].n_ctx).toBeGreaterThan(0);
    expect((await fetch(`${t.url}/slots?fail_on_no_slot=1`)).status).toBe(200);
  });

  it('POST /apply-template renders the conversation without generating', async () => {
    const before = t.reports.length;
    const response = await postJson(`${t.url}/apply-template`, { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }] });
    expect(response.status).toBe(200);
    const { prompt } = await response.json();
    expect(prompt).toContain('Be brief.');
    expect(prompt).toContain('Hello');
    expect(prompt.indexOf('Be brief.')).toBeLessThan(prompt.indexOf('Hello'));
    expect(t.reports.length).toBe(before);
    expect((await postJson(`${t.url}/apply-template`, { messages: 'x' })).status).toBe(400);
  });

  it('GET /metrics counts tokens and outcomes in the Prometheus text format', async () => {
    const text = async () => (await fetch(`${t.url}/metrics`)).text();
    const value = (body: string, name: string) => Number(new RegExp(`^${name.replace(/[{}"=]/g, '\\$&')} (\\S+)$`, 'm').exec(body)![1]);
    const before = await text();
    await postJson(`${t.url}/completion`, { prompt: 'Once upon a time', n_predict: 5 });
    const after = await text();
    expect(after).toContain('# TYPE llamacpp:tokens_predicted_total counter');
    expect(value(after, 'llamacpp:tokens_predicted_total') - value(before, 'llamacpp:tokens_predicted_total')).toBe(5);
    expect(value(after, 'llamacpp:prompt_tokens_total')).toBeGreaterThan(value(before, 'llamacpp:prompt_tokens_total'));
    expect(value(after, 'akachat_requests_total{outcome="completed"}')).toBe(value(before, 'akachat_requests_total{outcome="completed"}') + 1);
    expect(value(after, 'llamacpp:requests_processing')).toBe(0);
    // One slot: 5 tokens take the prompt step (which samples the first) and 4 more.
    expect(value(after, 'llamacpp:n_decode_total') - value(before, 'llamacpp:n_decode_total')).toBe(5);
    expect(value(after, 'llamacpp:n_busy_slots_per_decode')).toBe(1);
  });
});
