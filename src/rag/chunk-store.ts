import { readFile } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { AkachatError } from '../errors.js';
import { writeFileAtomic } from '../data/atomic.js';

/** One chunk as stored: its text and where it came from. */
export interface StoredChunk {
  /** Collection-wide id; also the key of its vector. */
  id: number;
  /** Path of the source file inside the collection (`/` separated). */
  file: string;
  /** Position of the chunk within its file, from 0. */
  index: number;
  /** Character offsets of the chunk in the text extracted from the file. */
  start: number;
  end: number;
  text: string;
}

/** Characters of chunk records serialised between two turns of the event loop. */
const SEGMENT_STEP_CHARS = 4 * 1024 * 1024;

/**
 * Chunks live in immutable JSON Lines segments, one written per ingest, so adding files never
 * rewrites what is already stored. Plain data only: nothing in a segment is ever executed.
 */
export async function writeChunkSegment(path: string, chunks: readonly StoredChunk[]): Promise<void> {
  // Serialised and encoded a few MB at a time, with the event loop free in between.
  const parts: Buffer[] = [];
  let lines: string[] = [];
  let characters = 0;
  for (const c of chunks) {
    const line = JSON.stringify({ id: c.id, file: c.file, index: c.index, start: c.start, end: c.end, text: c.text });
    lines.push(line, '\n');
    characters += line.length;
    if (characters >= SEGMENT_STEP_CHARS) {
      parts.push(Buffer.from(lines.join('')));
      lines = [];
      characters = 0;
      await yieldToEventLoop();
    }
  }
  parts.push(Buffer.from(lines.join('')));
  await writeFileAtomic(path, parts.length === 1 ? parts[0] : Buffer.concat(parts));
}

export async function readChunkSegment(path: string): Promise<StoredChunk[]> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (err) {
    throw new AkachatError(`Cannot read the chunk segment ${path}: ${(err as Error).message}`, 'RAG_STORE_CORRUPT', { cause: err });
  }
  const chunks: StoredChunk[] = [];
  let lineNumber = 0;
  for (const line of content.split('\n')) {
    lineNumber++;
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new AkachatError(`Line ${lineNumber} of ${path} is not JSON`, 'RAG_STORE_CORRUPT', { cause: err });
    }
    if (!isStoredChunk(value)) throw new AkachatError(`Line ${lineNumber} of ${path} is not a chunk record`, 'RAG_STORE_CORRUPT');
    chunks.push(value);
  }
  return chunks;
}

function isStoredChunk(value: unknown): value is StoredChunk {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return Number.isInteger(v.id) && (v.id as number) >= 0 && typeof v.file === 'string' && Number.isInteger(v.index)
    && Number.isInteger(v.start) && Number.isInteger(v.end) && typeof v.text === 'string';
}
