import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { splitIntoChunks, type TextChunk } from '../../src/rag/chunker.js';
import { InvalidArgumentError } from '../../src/errors.js';

const texts = (chunks: TextChunk[]) => chunks.map((c) => c.text);

function expectPositionsHold(source: string, chunks: TextChunk[]): void {
  chunks.forEach((chunk, i) => {
    expect(source.slice(chunk.start, chunk.end)).toBe(chunk.text);
    expect(chunk.index).toBe(i);
  });
}

describe('splitIntoChunks', () => {
  it('puts a whole file in one chunk when chunkSize is 0, trimmed, with its offsets', () => {
    const source = '\n\n  本文です。\n\n二段落目。  \n';
    const chunks = splitIntoChunks(source, { chunkSize: 0 });
    expect(chunks).toEqual([{ text: '本文です。\n\n二段落目。', start: 4, end: 16, index: 0 }]);
    expect(splitIntoChunks(' \n ', { chunkSize: 0 })).toEqual([]);
  });

  it('prefers a paragraph break over later line breaks and sentence ends', () => {
    const source = 'First paragraph here.\n\nSecond line one.\nSecond line two. More words';
    const chunks = splitIntoChunks(source, { chunkSize: 50 });
    expect(texts(chunks)).toEqual(['First paragraph here.', 'Second line one.\nSecond line two. More words']);
    expectPositionsHold(source, chunks);
  });

  it('falls back to a line break, then to a sentence end', () => {
    const lines = 'あいうえお。かきくけこ\nさしすせそ。たちつてと';
    expect(texts(splitIntoChunks(lines, { chunkSize: 16 }))).toEqual(['あいうえお。かきくけこ', 'さしすせそ。たちつてと']);
    const sentences = '吾輩は猫である。名前はまだ無い。どこで生れたか';
    expect(texts(splitIntoChunks(sentences, { chunkSize: 18 }))).toEqual(['吾輩は猫である。名前はまだ無い。', 'どこで生れたか']);
    const latin = 'Pi is 3.14 exactly. Or is it? Nobody knows';
    expect(texts(splitIntoChunks(latin, { chunkSize: 32 }))).toEqual(['Pi is 3.14 exactly. Or is it?', 'Nobody knows']);
  });

  it('keeps closing quotes with the sentence they end', () => {
    const source = '彼は「行くぞ！」と言った。「待て。」そして';
    expect(texts(splitIntoChunks(source, { chunkSize: 20 }))[0]).toBe('彼は「行くぞ！」と言った。「待て。」');
  });

  it('cuts at exactly chunkSize when there is no separator, never inside a surrogate pair', () => {
    expect(texts(splitIntoChunks('abcdefghij', { chunkSize: 4 }))).toEqual(['abcd', 'efgh', 'ij']);
    const emoji = 'ab😀cd😀ef';
    const chunks = splitIntoChunks(emoji, { chunkSize: 3 });
    expect(texts(chunks)).toEqual(['ab', '😀c', 'd😀', 'ef']);
    expectPositionsHold(emoji, chunks);
  });

  it('ignores a separator that would leave a chunk under a quarter of chunkSize', () => {
    const source = 'ab\n\ncdefghijklmnopqrstuvwxyz';
    expect(texts(splitIntoChunks(source, { chunkSize: 20 }))[0]).toBe('ab\n\ncdefghijklmnopqr');
  });

  it('repeats chunkOverlap characters at the start of the next chunk', () => {
    const source = 'abcdefghijklmnopqrstuvwxyz';
    const chunks = splitIntoChunks(source, { chunkSize: 10, chunkOverlap: 3 });
    expect(texts(chunks)).toEqual(['abcdefghij', 'hijklmnopq', 'opqrstuvwx', 'vwxyz']);
    expect(chunks.map((c) => [c.start, c.end])).toEqual([[0, 10], [7, 17], [14, 24], [21, 26]]);
    expectPositionsHold(source, chunks);
  });

  it('rejects bad options with the standard message', () => {
    expect(() => splitIntoChunks('x', { chunkSize: -1 })).toThrow(InvalidArgumentError);
    expect(() => splitIntoChunks('x', { chunkSize: 10, chunkOverlap: 10 })).toThrow(/Expected an integer below chunkSize \(10\) for options.chunkOverlap but received 10/);
    expect(() => splitIntoChunks('x', { chunkSize: 1.5 })).toThrow(/Expected an integer >= 0 for options.chunkSize/);
  });

  it('always yields in-bounds, size-limited chunks whose offsets point into the source', () => {
    const alphabet = fc.constantFrom('a', 'b', ' ', '\n', '。', '.', '!', '日', '本', '😀', '」');
    fc.assert(fc.property(
      fc.array(alphabet, { maxLength: 300 }).map((chars) => chars.join('')),
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 0, max: 59 }),
      (source, chunkSize, overlapSeed) => {
        const chunkOverlap = overlapSeed % chunkSize;
        const chunks = splitIntoChunks(source, { chunkSize, chunkOverlap });
        let previousStart = -1;
        for (const [i, chunk] of chunks.entries()) {
          expect(chunk.index).toBe(i);
          expect(source.slice(chunk.start, chunk.end)).toBe(chunk.text);
          expect(chunk.text.length).toBeGreaterThan(0);
          expect(chunk.text.length).toBeLessThanOrEqual(chunkSize);
          expect(chunk.text.trim()).toBe(chunk.text);
          expect(chunk.start).toBeGreaterThan(previousStart);
          previousStart = chunk.start;
        }
        if (chunkOverlap === 0) {
          // Without overlap the chunks cover every non-space character exactly once.
          const covered = chunks.map((c) => c.text).join('').replace(/\s/g, '');
          expect(covered).toBe(source.replace(/\s/g, ''));
        }
      },
    ), { numRuns: 300 });
  });
});
