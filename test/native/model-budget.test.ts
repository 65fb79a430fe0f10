/** The ModelManager's residency budget: embedding leases count in it, and a bad file never evicts. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { templateSandbox } from '../../src/engine/template-sandbox.js';
import { ModelManager } from '../../src/llm/model-manager.js';
import { engineEmbedderFactory } from '../../src/llm/embedder.js';
import { randomLlamaBytes } from '../support/gguf-writer.js';
import { addonBuilt, sharedModel } from '../support/models.js';

const stories = addonBuilt ? sharedModel('stories') : undefined;
const bert = addonBuilt ? sharedModel('bert') : undefined;

describe.skipIf(!stories || !bert)('model residency budget', () => {
  it('counts embedding models in the budget (RAG and /v1/embeddings go through it)', async () => {
    const manager = new ModelManager({ maxResident: 1, keepAliveMs: 0, threads: 1 });
    const chat = await manager.acquire(stories!);
    chat.release();
    expect(manager.loaded).toEqual([stories]);
    const embedder = await engineEmbedderFactory(manager)(bert!);
    const [vector] = await embedder.embed(['hello']);
    expect(vector.length).toBe(embedder.dimensions);
    expect(manager.loaded).toEqual([bert]); // the chat model made room: one resident model
    // A resident chat model serves embeddings from the same weights, without a second load.
    const again = await manager.acquire(stories!);
    again.release();
    const lease = await manager.acquireEmbedding(stories!);
    expect(lease.model).toBe(again.model);
    lease.release();
    await manager.dispose();
  });

  it('a context grown for a longer call stays within the model\'s training context, as a first load does', async () => {
    const manager = new ModelManager({ keepAliveMs: 0, threads: 1, contextSize: 256, parallel: 1 });
    const small = await manager.acquire(stories!);
    const trained = small.model.info.trainContextSize;
    expect(trained).toBeGreaterThan(256);
    expect(small.context.info.contextSize).toBe(256);
    small.release();
    const large = await manager.acquire(stories!, { contextSize: trained * 8 });
    expect(large.context.info.contextSize).toBe(trained);
    large.release();
    await manager.dispose();
  });

  it('starts a chat template worker when a generation model with a Jinja template loads, so the first chat does not wait for one', async () => {
    const sandbox = templateSandbox();
    sandbox.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sandbox.workers).toBe(0);
    const dir = await mkdtemp(join(tmpdir(), 'akachat-budget-'));
    const templated = join(dir, 'templated.gguf');
    const jinja = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
    await writeFile(templated, randomLlamaBytes({ embedding: 32, layers: 1, vocab: 300, metadata: { 'tokenizer.chat_template': { type: 'string', value: jinja } } }).bytes);
    const manager = new ModelManager({ maxResident: 1, keepAliveMs: 0, threads: 1, contextSize: 256, parallel: 1 });
    try {
      (await manager.acquire(stories!)).release();  // no template: chatml renders in this process
      expect(sandbox.workers).toBe(0);
      (await manager.acquire(templated)).release();
      expect(sandbox.workers).toBe(1);
    } finally {
      await manager.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file that is not a GGUF before evicting the resident model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'akachat-budget-'));
    const broken = join(dir, 'broken.gguf');
    await writeFile(broken, 'not a gguf file at all, just text');
    const manager = new ModelManager({ maxResident: 1, keepAliveMs: 0, threads: 1 });
    (await manager.acquire(stories!)).release();
    await expect(manager.acquire(broken)).rejects.toThrow();
    expect(manager.loaded).toEqual([stories]);
    await manager.dispose();
    await rm(dir, { recursive: true, force: true });
  });
});
