import { expectInteger, invalid } from '../validate.js';

export interface ChunkOptions {
  /**
   * Most characters (UTF-16 code units) in one chunk; 0 puts each file into one chunk.
   * Default 500.
   */
  chunkSize?: number;
  /** Characters the start of a chunk repeats from the end of the one before. Must be below chunkSize. Default 0. */
  chunkOverlap?: number;
}

export const DEFAULT_CHUNK_SIZE = 500;

/** A piece of a text with where it sits: `source.slice(start, end) === text`. */
export interface TextChunk {
  text: string;
  /** Offset of the first character in the source text. */
  start: number;
  /** Offset just past the last character. */
  end: number;
  /** Position of the chunk within its file, from 0. */
  index: number;
}

/** Characters that end a sentence; a latin `.`/`!`/`?` only counts when whitespace follows. */
const CJK_SENTENCE_ENDS = '。！？．';
const LATIN_SENTENCE_ENDS = '.!?';
/** Closing quotes and brackets that belong to the sentence they end. */
const CLOSERS = '」』）)]"\'”’】〕〉》';

/** Checks chunk options from a caller and fills in the defaults. */
export function resolveChunkOptions(options: ChunkOptions = {}, name = 'options'): Required<ChunkOptions> {
  const chunkSize = expectInteger(options.chunkSize ?? DEFAULT_CHUNK_SIZE, `${name}.chunkSize`, 0);
  const chunkOverlap = expectInteger(options.chunkOverlap ?? 0, `${name}.chunkOverlap`, 0);
  if (chunkOverlap > 0 && chunkOverlap >= chunkSize) {
    throw invalid(`an integer below chunkSize (${chunkSize})`, `${name}.chunkOverlap`, chunkOverlap);
  }
  return { chunkSize, chunkOverlap };
}

/**
 * Splits a text into chunks of at most `chunkSize` characters. Each chunk ends at the last
 * paragraph break (`\n\n`) inside its window; failing that at the last line break, then the last
 * sentence end (`。！？.!?`), then exactly at `chunkSize`. Breaks that would leave a chunk
 * shorter than a quarter of `chunkSize` are passed over for the next kind. Whitespace around
 * chunks is dropped (positions still point into the source); blank chunks are left out.
 */
export function splitIntoChunks(source: string, options: ChunkOptions = {}): TextChunk[] {
  const { chunkSize, chunkOverlap } = resolveChunkOptions(options);
  const chunks: TextChunk[] = [];
  const push = (start: number, end: number) => {
    const [s, e] = trimRange(source, start, end);
    if (e > s) chunks.push({ text: source.slice(s, e), start: s, end: e, index: chunks.length });
  };
  if (chunkSize === 0) {
    push(0, source.length);
    return chunks;
  }
  const minimum = Math.max(1, Math.floor(chunkSize / 4));
  let start = skipWhitespace(source, 0);
  while (start < source.length) {
    const windowEnd = start + chunkSize;
    if (windowEnd >= source.length) {
      push(start, source.length);
      break;
    }
    const end = findBreak(source, start, windowEnd, minimum);
    push(start, end);
    const next = chunkOverlap > 0 ? avoidSplitPair(source, Math.max(end - chunkOverlap, start + 1)) : end;
    start = skipWhitespace(source, Math.max(next, start + 1));
  }
  return chunks;
}

/** Where the chunk starting at `start` should end (exclusive); never beyond `windowEnd`. */
function findBreak(source: string, start: number, windowEnd: number, minimum: number): number {
  const earliest = start + minimum;
  // Break after the separator, so it stays with the text it closes.
  const paragraph = source.lastIndexOf('\n\n', windowEnd - 2);
  if (paragraph >= 0 && paragraph + 2 >= earliest) return paragraph + 2;
  const line = source.lastIndexOf('\n', windowEnd - 1);
  if (line >= 0 && line + 1 >= earliest) return line + 1;
  for (let i = windowEnd - 1; i >= earliest - 1 && i > start; i--) {
    const end = sentenceEndAt(source, i, windowEnd);
    if (end > 0) return end;
  }
  const cut = avoidSplitPair(source, windowEnd);
  return cut > start ? cut : windowEnd;
}

/** If a sentence ends with the character at `i`, the offset just past it (and its closers); else 0. */
function sentenceEndAt(source: string, i: number, limit: number): number {
  const char = source[i];
  const cjk = CJK_SENTENCE_ENDS.includes(char);
  if (!cjk && !LATIN_SENTENCE_ENDS.includes(char)) return 0;
  let end = i + 1;
  while (end < limit && CLOSERS.includes(source[end])) end++;
  if (cjk) return end;
  // Latin: "3.14" and "e.g.x" are not sentence ends; a following space or line end is.
  return end >= source.length || /\s/.test(source[end]) ? end : 0;
}

/** Moves a cut that would fall between the halves of a surrogate pair one step back. */
function avoidSplitPair(source: string, at: number): number {
  const code = source.charCodeAt(at - 1);
  return code >= 0xd800 && code <= 0xdbff ? at - 1 : at;
}

function skipWhitespace(source: string, at: number): number {
  while (at < source.length && /\s/.test(source[at])) at++;
  return at;
}

function trimRange(source: string, start: number, end: number): [number, number] {
  while (start < end && /\s/.test(source[start])) start++;
  while (end > start && /\s/.test(source[end - 1])) end--;
  return [start, end];
}
