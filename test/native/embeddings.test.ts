import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model, type EmbeddingContext } from '../../src/engine/index.js';
import { addonBuilt, sharedModel } from '../support/models.js';

const bert = addonBuilt ? sharedModel('bert') : undefined;
const stories = addonBuilt ? sharedModel('stories') : undefined;
const texts = ['The cat sat on the mat.', '猫がマットの上に座った。', 'Embeddings turn text into vectors.', 'a'];
const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

describe.skipIf(!bert)('embeddings with the random BERT model', () => {
  let model: Model;
  let ctx: EmbeddingContext;
  beforeAll(async () => {
    model = await Model.load(bert!);
    ctx = await model.createEmbeddingContext({ contextSize: 512 });
  });
  afterAll(() => model?.dispose());

  it('returns one unit-norm Float32Array per text with the model width', async () => {
    const vectors = await ctx.embed(texts);
    expect(vectors).toHaveLength(texts.length);
    for (const v of vectors) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v.length).toBe(32);
      expect(ctx.dimensions).toBe(32);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
    expect(vectors[0]).not.toEqual(vectors[1]);
  });

  it('a batch equals one-by-one', async () => {
    const batch = await ctx.embed(texts);
    for (let i = 0; i < texts.length; i++) {
      const [single] = await ctx.embed([texts[i]]);
      for (let d = 0; d < single.length; d++) expect(batch[i][d]).toBeCloseTo(single[d], 4);
    }
  });

  it('refuses a text longer than the batch with the sizes', async () => {
    const small = await model.createEmbeddingContext({ contextSize: 32 });
    await expect(small.embed(['word '.repeat(100)])).rejects.toThrow(/has \d+ tokens but the embedding context takes at most 32/);
    small.dispose();
  });
});

describe.skipIf(!stories)('embeddings with stories260K in embedding mode', () => {
  it('mean-pools a decoder model', async () => {
    const model = await Model.load(stories!);
    const ctx = await model.createEmbeddingContext({ contextSize: 256 });
    const [a, b] = await ctx.embed(['Lily went to the park.', 'The dog ate a bone.']);
    expect(a.length).toBe(64);
    expect(norm(a)).toBeCloseTo(1, 5);
    expect(a).not.toEqual(b);
    expect(ctx.info.pooling).toBe(1);
    model.dispose();
  });
});
