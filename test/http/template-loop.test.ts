/**
 * A served model whose own chat template loops (GGUF metadata is the model author's, not the
 * owner's) must not freeze the server: /health and other routes answer while the template
 * renders in its worker, and the chat gets a clear error when the render's deadline passes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { randomLlamaBytes } from '../support/gguf-writer.js';
import { addonBuilt } from '../support/models.js';
import { postJson, startServer } from './helpers.js';

describe.skipIf(!addonBuilt)('a model with a looping chat template', () => {
  it('keeps /health answering while the template runs, then answers the chat with a template error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'akachat-loop-'));
    const model = join(dir, 'looping.gguf');
    await writeFile(model, randomLlamaBytes({ embedding: 32, layers: 1, vocab: 300, metadata: { 'tokenizer.chat_template': { type: 'string', value: '{% for i in range(99999999) %}{% endfor %}' } } }).bytes);
    const t = await startServer({ model });
    try {
      const chat = postJson(`${t.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
      await new Promise((resolve) => setTimeout(resolve, 1500)); // the model is loaded and the template is running
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        const health = await fetch(`${t.url}/health`);
        times.push(performance.now() - started);
        expect(health.status).toBeLessThan(500);
      }
      expect(Math.max(...times)).toBeLessThan(1000);
      const response = await chat;
      expect(response.status).toBe(400);
      const error = (await response.json() as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('template_error');
    } finally {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
