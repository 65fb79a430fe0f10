import { describe, expect, it } from 'vitest';
import { forEachTerm, LexicalIndex, topByScore } from '../../src/rag/lexical.js';

function termsOf(text: string, forQuery = false): (string | number)[] {
  const terms: (string | number)[] = [];
  forEachTerm(text, forQuery, (t) => terms.push(t));
  return terms;
}

describe('forEachTerm', () => {
  it('indexes CJK runs as uni-grams and bi-grams, and latin as lower-cased words', () => {
    const terms = termsOf('東京タワー, Big Ben!');
    expect(terms).toHaveLength(5 + 4 + 2);
    expect(terms.slice(-2)).toEqual(['big', 'ben']);
    const [to, kyo, tokyo] = termsOf('東京');
    expect(terms.slice(0, 3)).toEqual([to, kyo, tokyo]);
    expect(new Set(terms).size).toBe(terms.length);
    // Basic-plane CJK terms are small integers, so the index keys them without allocating.
    expect(terms.slice(0, 9).every((t) => typeof t === 'number' && Number.isSafeInteger(t) && t < 2 ** 30)).toBe(true);
  });

  it('queries with bi-grams only, except for single characters; NFKC folds full-width and half-width forms', () => {
    expect(termsOf('東京 猫', true)).toEqual([termsOf('東京')[2], termsOf('猫')[0]]);
    expect(termsOf('ＡＢＣ ｶﾀ', true)).toEqual(['abc', termsOf('カタ', true)[0]]);
  });

  it('keeps astral ideographs as string terms', () => {
    expect(termsOf('𠮷野')).toEqual(['𠮷', termsOf('野')[0], '𠮷野']);
  });
});

describe('LexicalIndex', () => {
  const documents = [
    '吾輩は猫である。名前はまだ無い。',
    '東京都の天気は晴れ。明日は雨の予報です。',
    '京都の寺院を巡る旅。金閣寺と銀閣寺。',
    'The weather in London is rainy today.',
    '猫と犬の飼い方についての手引き。猫の食事。',
  ];

  function build(): LexicalIndex {
    const index = new LexicalIndex();
    documents.forEach((text, id) => index.add(id, text));
    return index;
  }

  it('finds the chunk holding a Japanese phrase', () => {
    const index = build();
    expect(index.search('金閣寺', 3)[0].id).toBe(2);
    expect(index.search('明日の天気', 3)[0].id).toBe(1);
    expect(index.search('weather London', 3).map((h) => h.id)).toEqual([3]);
  });

  it('ranks a document that repeats the query term higher, and separates 東京 from 京都', () => {
    const index = build();
    const cats = index.search('猫', 5);
    expect(cats.map((h) => h.id)).toEqual([4, 0]);
    expect(cats[0].score).toBeGreaterThan(cats[1].score);
    expect(index.search('東京', 5).map((h) => h.id)).toEqual([1]);
  });

  it('returns nothing for unknown terms and respects the limit', () => {
    const index = build();
    expect(index.search('ペンギン', 5)).toEqual([]);
    expect(index.search('。', 5)).toEqual([]);
    expect(index.search('の', 2)).toHaveLength(2);
  });

  it('leaves removed documents out and keeps counts', () => {
    const index = build();
    expect(index.size).toBe(5);
    index.remove(2);
    index.remove(2);
    expect(index.size).toBe(4);
    expect(index.search('金閣寺', 3)).toEqual([]);
    expect(() => index.add(2, 'again')).toThrow(/already used/);
  });

  it('keeps many documents and terms in its pooled postings', () => {
    const index = new LexicalIndex();
    for (let id = 0; id < 3000; id++) index.add(id, `共通の語 doc${id} ${id % 7 === 0 ? '七の倍数' : ''}`);
    const hits = index.search('七の倍数', 1000);
    expect(hits).toHaveLength(429);
    expect(hits.every((h) => h.id % 7 === 0)).toBe(true);
    expect(index.search('doc2999', 1)).toEqual([{ id: 2999, score: expect.any(Number) }]);
  });
});

describe('topByScore', () => {
  it('keeps the best ids, best first, ties by lower id', () => {
    const scores = [0.5, 2, 1, 2, 0.1];
    expect(topByScore([0, 1, 2, 3, 4], scores, 3).map((h) => h.id)).toEqual([1, 3, 2]);
  });
});
