import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { postJson, startServer, type TestServer } from './helpers.js';

/** Runs a saved prompt against a fake OpenAI-compatible service: no model needed. */
describe('secret option values of a saved prompt', () => {
  let t: TestServer;
  let fake: FakeOpenAi;
  const secrets = { api_key: 'sk-owner-0123456789abcdef-KEY1', my_token: 'tok-0123456789abcdef-TOK2', auth: { password: 'hunter2-pw' } };

  beforeAll(async () => {
    fake = await startFakeOpenAi();
    t = await startServer();
    await t.akachat.prompts.save('remote', 'Be brief.', { provider: 'openai', endpoint: fake.endpoint, model: 'gpt-test', temperature: 0.3, ...secrets });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('never appear in detail.options of a run route or in the speech log', async () => {
    const response = await postJson(`${t.url}/api/prompt/infer`, { name: 'remote', input: 'hello' });
    expect(response.status).toBe(200);
    const { result, detail } = await response.json() as { result: string; detail: { options: Record<string, unknown> } };
    expect(result).toBe('echo: hello');
    expect(detail.options).toMatchObject({
      provider: 'openai', endpoint: fake.endpoint, model: 'gpt-test', temperature: 0.3,
      api_key: '****KEY1', my_token: '****TOK2', auth: { password: '****' },
    });
    const speech = join(t.dataDir, 'log', 'speech');
    const logs = await Promise.all((await readdir(speech)).map((name) => readFile(join(speech, name), 'utf8')));
    expect(logs.join('')).toContain('"my_token":"****TOK2"');
    for (const text of [JSON.stringify(detail), ...logs]) {
      for (const secret of ['0123456789abcdef', 'hunter2']) expect(text).not.toContain(secret);
    }
  });
});
