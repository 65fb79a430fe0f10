import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Akachat } from '../../src/akachat.js';
import { RemoteError } from '../../src/errors.js';
import { OpenAiLlm } from '../../src/llm/openai.js';
import { DEFAULT_GENERATION_SETTINGS } from '../../src/prompt/options.js';

// A minimal OpenAI-compatible server on loopback: it streams the reply word by word and
// records each request body.
const bodies: Record<string, unknown>[] = [];
const auth: (string | undefined)[] = [];
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = JSON.parse(raw || '{}');
    bodies.push(body);
    auth.push(req.headers.authorization);
    if (body.model === 'broken') {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'model broken does not exist', type: 'invalid_request_error', code: 'model_not_found' } }));
      return;
    }
    if (body.model === 'slow') { setTimeout(() => res.end(), 5000); return; }
    const chat = req.url === '/v1/chat/completions';
    const reply = chat ? `echo: ${body.messages.at(-1).content}` : `completed: ${body.prompt}`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const word of reply.split(/(?<= )/)) {
      const choice = chat ? { index: 0, delta: { content: word }, finish_reason: null } : { index: 0, text: word, finish_reason: null };
      res.write(`data: ${JSON.stringify({ id: 'x', object: chat ? 'chat.completion.chunk' : 'text_completion', created: 0, model: body.model, choices: [choice] })}\n\n`);
    }
    const last = chat ? { index: 0, delta: {}, finish_reason: 'stop' } : { index: 0, text: '', finish_reason: 'length' };
    res.write(`data: ${JSON.stringify({ id: 'x', object: 'chunk', created: 0, model: body.model, choices: [last] })}\n\n`);
    res.write(`data: ${JSON.stringify({ id: 'x', object: 'chunk', created: 0, model: body.model, choices: [], usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 } })}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('openai location', () => {
  it('runs a saved prompt in messages mode, mapping every sampling option and the key from settings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'akachat-openai-'));
    const aka = new Akachat({ dataDir: dir });
    await aka.settings.set('openai_key', 'sk-test-123');
    await aka.prompts.save('remote', 'Be brief.', {
      provider: 'openai', endpoint, model: 'gpt-test', temperature: 0.3, top_p: 0.7, max_new_tokens: 33, stop: ['END'], seed: 5,
    });
    const stream = (await aka.prompt('remote')).stream('hello there');
    const chunks: string[] = [];
    for await (const c of stream) chunks.push(c);
    const result = await stream.result;
    expect(chunks.length).toBeGreaterThan(1);
    expect(result.text).toBe('echo: hello there');
    expect(result.usage).toEqual({ promptTokens: 11, completionTokens: 3 });
    expect(result.provider).toBe('openai');
    const sent = bodies.at(-1)!;
    expect(sent).toMatchObject({ model: 'gpt-test', temperature: 0.3, top_p: 0.7, max_tokens: 33, stop: ['END'], seed: 5, stream: true });
    expect(sent.messages).toEqual([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello there' }]);
    expect(auth.at(-1)).toBe('Bearer sk-test-123');
    await rm(dir, { recursive: true, force: true });
  });

  it('uses text completions in template mode', async () => {
    const llm = new OpenAiLlm({ apiKey: 'k' });
    const result = await llm.stream({ text: 'Once upon', settings: { ...DEFAULT_GENERATION_SETTINGS, stop: [] }, model: 'm', endpoint }).result;
    expect(result.text).toBe('completed: Once upon');
    expect(result.stopReason).toBe('maxTokens');
  });

  it('surfaces the service\'s error message', async () => {
    const llm = new OpenAiLlm({ apiKey: 'k' });
    const err = await llm.stream({ messages: [{ role: 'user', content: 'x' }], settings: { ...DEFAULT_GENERATION_SETTINGS, stop: [] }, model: 'broken', endpoint }).result.catch((e) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toMatch(/answered 400: .*model broken does not exist/);
    expect(err.status).toBe(400);
  });

  it('times out', async () => {
    const llm = new OpenAiLlm({ apiKey: 'k', timeoutMs: 300, maxRetries: 0 });
    await expect(llm.stream({ messages: [{ role: 'user', content: 'x' }], settings: { ...DEFAULT_GENERATION_SETTINGS, stop: [] }, model: 'slow', endpoint }).result)
      .rejects.toThrow(/timed out|timeout/i);
  });
});
