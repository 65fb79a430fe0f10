import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LlmStream } from '../../src/llm/stream.js';
import { SpeechLog } from '../../src/logs/speech-log.js';
import { mergeOptions, normalizeOptions } from '../../src/prompt/options.js';
import { Prompt } from '../../src/prompt/prompt.js';
import type { PromptRuntime } from '../../src/prompt/runtime.js';
import { redactOptions, redactUrl } from '../../src/settings/redact.js';

const SECRETS = ['sk-live-0123456789abcdefSECRET', 'hunter2', 'url-pass-123', 'query-key-456', 'token-789'];

/** Options of a saved prompt with secrets where they do not belong (unknown keys, URL credentials). */
const OPTIONS = {
  provider: 'openai',
  endpoint: 'https://user:url-pass-123@llm.example.com/v1?key=query-key-456&region=eu#token-789',
  model: 'gpt-test',
  temperature: 0.2,
  stop: ['</s>'],
  my_api_key_2: 'sk-live-0123456789abcdefSECRET',
  auth: { user: 'me', password: 'hunter2', retries: 3 },
  headers: ['X-Token: token-789'],
  is_messages: true,
};

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

describe('redactOptions', () => {
  it('keeps known options, masks every other string and strips URL credentials', () => {
    const shown = redactOptions(OPTIONS);
    expect(shown).toEqual({
      provider: 'openai',
      endpoint: 'https://llm.example.com/v1?key=****&region=****',
      model: 'gpt-test',
      temperature: 0.2,
      stop: ['</s>'],
      my_api_key_2: '****CRET',
      auth: { user: '****', password: '****', retries: 3 },
      headers: ['****'],
      is_messages: true,
    });
    expectNoSecret(JSON.stringify(shown));
    expect(OPTIONS.auth.password).toBe('hunter2'); // a copy: the input is untouched
  });

  it('masks api_key even though it is a known option', () => {
    expect(redactOptions({ api_key: 'sk-0123456789abcdefghijklmn', endpoint: 'http://127.0.0.1:8080/v1' }))
      .toEqual({ api_key: '****klmn', endpoint: 'http://127.0.0.1:8080/v1' });
  });

  it('leaves URLs without credentials, paths and names as they are', () => {
    for (const text of ['http://localhost:11434/v1', 'https://api.openai.com/v1/', 'models/tiny.gguf', 'hf:owner/repo:Q4_K_M', '']) {
      expect(redactUrl(text)).toBe(text);
    }
    expect(redactUrl('http://user@host:1/v1')).toBe('http://host:1/v1');
    expect(redactUrl('https://h/v1?api_key=abc&api_key=def')).toBe('https://h/v1?api_key=****&api_key=****');
    expect(redactUrl('http://[bad')).toBe('****');
    expect(redactOptions({ model: 'https://u:p@models.example/x.gguf' })).toEqual({ model: 'https://models.example/x.gguf' });
  });

  it('refuses what is not an options object', () => {
    expect(() => redactOptions(null as unknown as Record<string, unknown>)).toThrow(/Expected an options object for options but received null/);
  });
});

describe('prompt runs', () => {
  let folder: string;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'akachat-secrets-'));
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('never show secret option values in the result options or the speech log', async () => {
    let sentEndpoint: unknown;
    const runtime: PromptRuntime = {
      resolveOptions: async (options, overrides) => mergeOptions(options, normalizeOptions(overrides)),
      evaluate: async () => [{ type: 'text', text: 'Be brief.' }],
      bosText: async () => '',
      location: () => ({
        stream: (request: { endpoint?: string }) => {
          sentEndpoint = request.endpoint;
          return new LlmStream(async (emit) => {
            emit('Hello.');
            return { text: 'Hello.', stopReason: 'stop', usage: { promptTokens: 3, completionTokens: 2 }, model: 'gpt-test' };
          });
        },
      }) as unknown as ReturnType<PromptRuntime['location']>,
      speechLog: new SpeechLog(folder),
    };
    const prompt = new Prompt(runtime, 'leaky', '{input}', OPTIONS);
    const result = await prompt.run('hi');
    expect(sentEndpoint).toBe(OPTIONS.endpoint); // the backend still gets the real endpoint
    expect(result.options).toMatchObject({ endpoint: 'https://llm.example.com/v1?key=****&region=****', my_api_key_2: '****CRET', temperature: 0.2 });
    expectNoSecret(JSON.stringify(result.options));
    const [log] = (await readdir(join(folder, 'log', 'speech'))).filter((name) => name.endsWith('.log'));
    const logged = await readFile(join(folder, 'log', 'speech', log!), 'utf8');
    expect(logged).toContain('"my_api_key_2":"****CRET"');
    expectNoSecret(logged);
  });
});
