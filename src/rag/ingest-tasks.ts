/**
 * The heavy parts of an ingest, as tasks for a worker thread (see ingest-pool.ts): taking files
 * out of an archive, turning files into text and chunks, counting the terms of chunks. Plain
 * functions of their input: the worker runs them, and so can a test.
 */
import { AkachatError, InvalidArgumentError } from '../errors.js';
import { ArchiveRefusedError, readArchive, type ArchiveContents, type ArchiveLimits } from './archive.js';
import { splitIntoChunks } from './chunker.js';
import type { IngestItem } from './collection.js';
import type { TextEncodingName } from './encoding.js';
import { countTerms, type CountedTerms } from './lexical.js';
import { loadDocument, UnreadableFileError, type DocumentFormat, type LoadOptions } from './loaders.js';


export type IngestTask =
  | { task: 'extract'; bytes: Uint8Array; limits: Required<ArchiveLimits> }
  | { task: 'prepare'; items: IngestItem[]; chunkSize: number; chunkOverlap: number; loadOptions: LoadOptions; countTerms: boolean }
  | { task: 'count'; texts: string[] };

/** A file read and chunked: `bounds` holds each chunk's start and end in `text`. */
export type PreparedItem =
  | { path: string; text: string; format: DocumentFormat; encoding?: TextEncodingName; bounds: Int32Array; terms?: CountedTerms }
  | { path: string; skipped: string };

/** What a task sends back before its result: a file taken out (extract) or read (prepare). */
export type TaskPart = { kind: 'extracted'; done: number; total: number } | { kind: 'prepared'; item: PreparedItem };

/** What a task sends back: the result and the buffers to hand over rather than copy. */
export interface TaskOutput {
  value: unknown;
  transfer: ArrayBuffer[];
}

export type SendPart = (part: TaskPart, transfer?: ArrayBuffer[]) => void;

/** Runs one task; `send` passes on its parts as they are ready. */
export async function runTask(request: IngestTask, send: SendPart): Promise<TaskOutput> {
  switch (request.task) {
    case 'extract': {
      const contents: ArchiveContents = await readArchive(request.bytes, {
        limits: request.limits, onEntry: (done, total) => send({ kind: 'extracted', done, total }),
      });
      const files = contents.files.map((file) => ({ path: file.path, data: ownBuffer(file.data) }));
      return { value: { ...contents, files }, transfer: files.map((file) => file.data.buffer) };
    }
    case 'prepare':
      for (const item of request.items) {
        const prepared = await prepareItem(item, request);
        const buffers = 'bounds' in prepared ? [prepared.bounds.buffer, ...(prepared.terms ? [prepared.terms.numbers.buffer] : [])] : [];
        send({ kind: 'prepared', item: prepared }, buffers as ArrayBuffer[]);
      }
      return { value: null, transfer: [] };
    case 'count': {
      const counted = countTerms(request.texts);
      return { value: counted, transfer: [counted.numbers.buffer as ArrayBuffer] };
    }
  }
}

/** Reads and chunks one file; a file that cannot be read comes back with the reason. */
export async function prepareItem(item: IngestItem,
  options: { chunkSize: number; chunkOverlap: number; loadOptions: LoadOptions; countTerms: boolean }): Promise<PreparedItem> {
  try {
    const loaded = 'text' in item
      ? { text: item.text.replace(/\r\n?/g, '\n'), format: 'text' as const, encoding: undefined }
      : await loadDocument(item.path, item.bytes, options.loadOptions);
    const pieces = splitIntoChunks(loaded.text, { chunkSize: options.chunkSize, chunkOverlap: options.chunkOverlap });
    if (pieces.length === 0) throw new UnreadableFileError('no text');
    const bounds = new Int32Array(pieces.length * 2);
    pieces.forEach((piece, i) => {
      bounds[2 * i] = piece.start;
      bounds[2 * i + 1] = piece.end;
    });
    return {
      path: item.path, text: loaded.text, format: loaded.format, ...(loaded.encoding ? { encoding: loaded.encoding } : {}), bounds,
      ...(options.countTerms ? { terms: countTerms(pieces.map((piece) => piece.text)) } : {}),
    };
  } catch (err) {
    if (!(err instanceof UnreadableFileError)) throw err;
    return { path: item.path, skipped: err.message };
  }
}

/** A view that owns its whole buffer, so it can be transferred without taking its neighbours along. */
export function ownBuffer(data: Uint8Array): Uint8Array<ArrayBuffer> {
  const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
  return whole ? data as Uint8Array<ArrayBuffer> : new Uint8Array(data); // a copy, even of a Buffer
}

/** An error as it crosses the thread boundary. */
export interface SerialisedError {
  name: string;
  message: string;
  code?: string;
  reason?: string;
  entry?: string;
}

export function serialiseError(err: unknown): SerialisedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const { name, message } = err;
  const code = err instanceof AkachatError ? err.code : undefined;
  if (err instanceof ArchiveRefusedError) return { name: 'ArchiveRefusedError', message, code, reason: err.reason, entry: err.entry };
  return { name: err.constructor?.name ?? name, message, code };
}

/** The error a worker reported, as the class it was thrown as where that matters to callers. */
export function deserialiseError(error: SerialisedError): Error {
  switch (error.name) {
    case 'ArchiveRefusedError':
      return new ArchiveRefusedError(error.reason as ArchiveRefusedError['reason'], error.message.replace(/^Archive refused: /, ''), error.entry);
    case 'InvalidArgumentError':
      return new InvalidArgumentError(error.message);
    default:
      return new AkachatError(error.message, error.code ?? 'RAG_WORKER_FAILED');
  }
}
