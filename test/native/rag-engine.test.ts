import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Akachat } from '../../src/akachat.js';
import { engineEmbedderFactory } from '../../src/llm/embedder.js';
import { ModelManager } from '../../src/llm/model-manager.js';
import { Rag } from '../../src/rag/index.js';
import { addonBuilt, sharedModel } from '../support/models.js';

const bert = addonBuilt ? sharedModel('bert') : undefined;
const stories = addonBuilt ? sharedModel('stories') : undefined;

const docs = {
  'lily.txt': 'Lily went to the park with her red ball. She played with her friend Tim until the sun went down.',
  'dog.txt': 'The big dog ate a bone in the garden. Then the dog slept under the tree all afternoon.',
  'cake.txt': 'Mom baked a chocolate cake for the birthday party. Everyone sang a song and ate the cake.',
};

async function collection(model: string) {
  const dataFolder = await mkdtemp(join(tmpdir(), 'akachat-rag-engine-'));
  const manager = new ModelManager({ cacheDir: join(dataFolder, 'cache') });
  const rag = new Rag({ dataFolder, embedderFactory: engineEmbedderFactory(manager) });
  await rag.create('docs', { embeddingModel: model, chunkSize: 0 });
  for (const [name, text] of Object.entries(docs)) await rag.addText('docs', name, text);
  return { dataFolder, manager, rag };
}

describe.skipIf(!bert)('RAG vector search with the random BERT embedder', () => {
  let c: Awaited<ReturnType<typeof collection>>;
  beforeAll(async () => { c = await collection(bert!); });
  afterAll(async () => { await c?.rag.dispose(); await rm(c.dataFolder, { recursive: true, force: true }); });

  it('stores 32-dimension vectors and finds an exact passage first', async () => {
    const info = await c.rag.info('docs');
    expect(info).toMatchObject({ chunkCount: 3 });
    const results = await c.rag.search('docs', docs['dog.txt'], { k: 3, mode: 'vector' });
    expect(results).toHaveLength(3);
    expect(results[0].file).toBe('dog.txt');
    expect(results[0].score).toBeCloseTo(1, 3);
  });

  it('a reopened collection answers the same', async () => {
    const before = await c.rag.search('docs', 'chocolate cake party', { k: 3, mode: 'hybrid' });
    const reopened = new Rag({ dataFolder: c.dataFolder, embedderFactory: engineEmbedderFactory(c.manager) });
    const after = await reopened.search('docs', 'chocolate cake party', { k: 3, mode: 'hybrid' });
    expect(after.map((r) => [r.file, r.score.toFixed(6)])).toEqual(before.map((r) => [r.file, r.score.toFixed(6)]));
    expect(after[0].file).toBe('cake.txt');
    await reopened.dispose();
  });
});

describe.skipIf(!stories)('RAG with stories260K in embedding mode, and rag() in an instruction', () => {
  let c: Awaited<ReturnType<typeof collection>>;
  beforeAll(async () => { c = await collection(stories!); });
  afterAll(async () => { await c?.rag.dispose(); await rm(c.dataFolder, { recursive: true, force: true }); });

  it('vector search puts the identical passage first', async () => {
    for (const [file, text] of Object.entries(docs)) {
      const [top] = await c.rag.search('docs', text, { k: 1, mode: 'vector' });
      expect(top.file).toBe(file);
    }
  });

  it('{rag(dir, query, k=1)} inserts the best chunk', async () => {
    // A lexical-only collection: the random-quality story embeddings must not decide this one.
    await c.rag.create('notes', { embeddingModel: null, chunkSize: 0 });
    for (const [name, text] of Object.entries(docs)) await c.rag.addText('notes', name, text);
    const aka = new Akachat({ dataDir: c.dataFolder, rag: c.rag, models: c.manager });
    const prompt = aka.createPrompt("Facts: {rag('notes', 'what did the dog eat in the garden', k=1)}", { template: '{instruction}', max_new_tokens: 1, model: stories });
    const result = await prompt.run('', { noLog: true });
    expect(result.instruction).toBe(`Facts: ${docs['dog.txt']}`);
  });
});
