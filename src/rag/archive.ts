import yauzl from 'yauzl';
import { crc32 } from 'node:zlib';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Gunzip, Unzip, UnzipInflate, strFromU8, unzipSync, type UnzipFile } from 'fflate';
import { Parser as TarParser, type ReadEntry } from 'tar';
import Encoding from 'encoding-japanese';
import { AkachatError, throwIfAborted } from '../errors.js';
import { expectInteger, expectNumber } from '../validate.js';

/**
 * Limits applied to every archive before anything is written. An archive that breaks one of
 * them is refused as a whole with {@link ArchiveRefusedError}.
 */
export interface ArchiveLimits {
  /** Most entries (files and folders) one archive may hold. Default 10,000. */
  maxEntries?: number;
  /** Most bytes all entries together may expand to. Default 512 MiB. */
  maxTotalBytes?: number;
  /** Most bytes one entry may expand to. Default 128 MiB. */
  maxEntryBytes?: number;
  /**
   * Highest expanded/compressed size ratio of one zip entry (or of a whole tar.gz stream),
   * checked for anything that expands beyond 1 MiB, where zip bombs live; small entries may
   * compress as well as they like. Default 200.
   */
  maxCompressionRatio?: number;
}

export const DEFAULT_ARCHIVE_LIMITS: Readonly<Required<ArchiveLimits>> = Object.freeze({
  maxEntries: 10_000,
  maxTotalBytes: 512 * 1024 * 1024,
  maxEntryBytes: 128 * 1024 * 1024,
  maxCompressionRatio: 200,
});

/** Entries expanding to less than this are never refused for their compression ratio. */
const RATIO_CHECK_MIN_BYTES = 1024 * 1024;
/** Compressed bytes handed to the inflater per step, so one step can expand to ~1 MiB at most. */
const INFLATE_STEP_BYTES = 1024;
const TAR_BLOCK = 512;
/** How many inflated bytes come out between two turns of the event loop. */
const YIELD_EVERY_BYTES = 4 * 1024 * 1024;

export type ArchiveRefusalReason =
  | 'unsupported-format'
  | 'corrupt'
  | 'path-escape'
  | 'absolute-path'
  | 'unsafe-name'
  | 'link'
  | 'special-file'
  | 'duplicate-entry'
  | 'too-many-entries'
  | 'too-large'
  | 'compression-ratio';

/** An archive was refused as a whole; nothing from it was written. `entry` names the culprit. */
export class ArchiveRefusedError extends AkachatError {
  readonly reason: ArchiveRefusalReason;
  readonly entry?: string;
  constructor(reason: ArchiveRefusalReason, message: string, entry?: string, options?: ErrorOptions) {
    super(`Archive refused: ${message}`, 'ARCHIVE_REFUSED', options);
    this.reason = reason;
    this.entry = entry;
  }
}

/** A file taken out of an archive, with its safe relative path (`/` separated, NFC). */
export interface ArchiveFile {
  path: string;
  data: Uint8Array;
}

/** A file that was not taken out, and why (encrypted, operating-system metadata, ...). */
export interface SkippedFile {
  file: string;
  reason: string;
}

export interface ArchiveContents {
  format: ArchiveFormat;
  files: ArchiveFile[];
  skipped: SkippedFile[];
}

export type ArchiveFormat = 'zip' | 'tar' | 'tar.gz';

export interface ReadArchiveOptions {
  limits?: ArchiveLimits;
  signal?: AbortSignal;
  /** Called after each file taken out. */
  onEntry?: (done: number, total: number) => void;
}

/** Checks limits given by a caller and fills in the defaults. */
export function resolveArchiveLimits(limits: ArchiveLimits | undefined, name = 'archiveLimits'): Required<ArchiveLimits> {
  const merged = { ...DEFAULT_ARCHIVE_LIMITS, ...stripUndefined(limits ?? {}) };
  expectInteger(merged.maxEntries, `${name}.maxEntries`, 1);
  expectInteger(merged.maxTotalBytes, `${name}.maxTotalBytes`, 1);
  expectInteger(merged.maxEntryBytes, `${name}.maxEntryBytes`, 1);
  expectNumber(merged.maxCompressionRatio, `${name}.maxCompressionRatio`, 1);
  return merged;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Recognises an archive by its first bytes (not by its name). */
export function detectArchiveFormat(bytes: Uint8Array): ArchiveFormat | 'gzip' | undefined {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5) && (bytes[3] === 4 || bytes[3] === 6)) return 'zip';
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  if (isTar(bytes)) return 'tar';
  return undefined;
}

function isTar(bytes: Uint8Array): boolean {
  return bytes.length >= 512 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar';
}

/**
 * Takes every regular file out of a zip, tar or tar.gz held in memory. Names, types, counts
 * and declared sizes are checked before any data is inflated (zip) or as each header is met
 * (tar), and sizes are counted again while inflating; nothing is returned, and nothing is
 * written anywhere, unless the whole archive passes.
 *
 * Refused: `..` segments, absolute paths, drive letters, backslashes, control characters,
 * symlinks, hard links, devices and FIFOs, duplicate names, and anything over the limits.
 */
export async function readArchive(bytes: Uint8Array, options: ReadArchiveOptions = {}): Promise<ArchiveContents> {
  const limits = resolveArchiveLimits(options.limits);
  throwIfAborted(options.signal);
  const format = detectArchiveFormat(bytes);
  if (format === 'zip') return { format, ...(await readZip(bytes, limits, options)) };
  if (format === 'tar') return { format, ...(await readTar(bytes, limits, options)) };
  if (format === 'gzip') return { format: 'tar.gz', ...(await readTar(bytes, limits, options, true)) };
  throw new ArchiveRefusedError('unsupported-format', 'not a zip, tar or tar.gz archive');
}

// ---------------------------------------------------------------------------------------
// Entry names and types

/**
 * Why an entry name is unsafe to write inside a folder, or undefined when it is fine.
 * Names are checked as stored: nothing is "repaired" into a different path.
 */
export function archivePathProblem(name: string): { reason: ArchiveRefusalReason; detail: string } | undefined {
  if (name.length === 0) return { reason: 'unsafe-name', detail: 'an empty name' };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return { reason: 'unsafe-name', detail: 'a NUL or control character' };
  if (name.includes('\\')) return { reason: 'unsafe-name', detail: 'a backslash' };
  if (/^[A-Za-z]:/.test(name)) return { reason: 'absolute-path', detail: 'a drive letter' };
  if (name.startsWith('/')) return { reason: 'absolute-path', detail: 'an absolute path' };
  const segments = name.split('/');
  if (segments.includes('..')) return { reason: 'path-escape', detail: 'a ".." segment' };
  if (segments.some((s) => s.length > 255)) return { reason: 'unsafe-name', detail: 'a segment longer than 255 characters' };
  return undefined;
}

/** `a/./b//c/` -> `a/b/c`, NFC (macOS archives store decomposed kana). Only for names already checked. */
function normaliseEntryPath(name: string): string {
  return name.normalize('NFC').split('/').filter((s) => s !== '' && s !== '.').join('/');
}

/** Folders and files that operating systems add to archives; never user documents. */
export function isSystemMetadataPath(path: string): boolean {
  const segments = path.split('/');
  const base = segments[segments.length - 1];
  return segments.includes('__MACOSX') || base.startsWith('._') || base === '.DS_Store'
    || base === 'Thumbs.db' || base === 'desktop.ini';
}

function refuseUnsafePath(name: string): void {
  const problem = archivePathProblem(name);
  if (problem) throw new ArchiveRefusedError(problem.reason, `entry ${JSON.stringify(name)} has ${problem.detail}`, name);
}

function refuseIfTooMany(limits: Required<ArchiveLimits>, count: number, name?: string): void {
  if (count > limits.maxEntries) {
    throw new ArchiveRefusedError('too-many-entries', `more than ${limits.maxEntries} entries (maxEntries)`, name);
  }
}

/** `entryBytes`: what this entry expands to (so far); `totalBytes`: all entries so far, this one included. */
function refuseIfTooLarge(limits: Required<ArchiveLimits>, name: string, entryBytes: number, totalBytes: number): void {
  if (entryBytes > limits.maxEntryBytes) {
    throw new ArchiveRefusedError('too-large', `entry ${JSON.stringify(name)} expands beyond ${limits.maxEntryBytes} bytes (maxEntryBytes)`, name);
  }
  if (totalBytes > limits.maxTotalBytes) {
    throw new ArchiveRefusedError('too-large', `entries expand beyond ${limits.maxTotalBytes} bytes in all (maxTotalBytes)`, name);
  }
}

/** A file `a` next to a file `a/b` cannot both be written. */
function refuseFileFolderClash(paths: Iterable<string>): void {
  const files = new Set(paths);
  for (const path of files) {
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const folder = segments.slice(0, i).join('/');
      if (files.has(folder)) {
        throw new ArchiveRefusedError('duplicate-entry', `${JSON.stringify(folder)} is both a file and a folder`, folder);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// zip (fflate)

/** What fflate does not expose about a central-directory record: flags, file mode, CRC. */
interface ZipRecordAttributes {
  rawName: Uint8Array;
  flags: number;
  unixMode: number;
  crc: number;
}

/** One central-directory entry after its checks, keyed by the name as fflate decodes it. */
interface ZipEntryPlan {
  /** Safe relative path; empty for folders. */
  path: string;
  declaredSize: number;
  crc: number;
  /** Why a file is left in the archive (encrypted, ...); undefined for files taken out and folders. */
  skipReason?: string;
  extract: boolean;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

async function readZip(bytes: Uint8Array, limits: Required<ArchiveLimits>, options: ReadArchiveOptions): Promise<Omit<ArchiveContents, 'format'>> {
  const plans = await planZip(bytes, limits);
  const skipped: SkippedFile[] = [];
  for (const plan of plans.values()) {
    if (plan.skipReason) skipped.push({ file: plan.path, reason: plan.skipReason });
  }
  const files = await inflateZip(bytes, plans, limits, options);
  return { files, skipped };
}

/** Checks every central-directory entry before a single byte is inflated. */
async function planZip(bytes: Uint8Array, limits: Required<ArchiveLimits>): Promise<Map<string, ZipEntryPlan>> {
  const listing: { name: string; size: number; originalSize: number; compression: number }[] = [];
  try {
    unzipSync(bytes, { filter: (file) => { listing.push({ ...file }); return false; } });
  } catch (err) {
    throw new ArchiveRefusedError('corrupt', `unreadable zip (${(err as Error).message})`, undefined, { cause: err });
  }
  refuseIfTooMany(limits, listing.length);
  const attributes = await readZipAttributes(bytes);
  if (attributes.length !== listing.length) {
    throw new ArchiveRefusedError('corrupt', 'the zip central directory is inconsistent');
  }
  const plans = new Map<string, ZipEntryPlan>();
  const filePaths = new Set<string>();
  let totalBytes = 0;
  listing.forEach((entry, i) => {
    const attrs = attributes[i];
    const name = decodeZipName(attrs.rawName, attrs.flags);
    if (entry.name !== strFromU8(attrs.rawName, (attrs.flags & 0x800) === 0)) {
      throw new ArchiveRefusedError('corrupt', 'the zip central directory is inconsistent', name);
    }
    refuseUnsafePath(name);
    const type = attrs.unixMode & S_IFMT;
    if (type === S_IFLNK) throw new ArchiveRefusedError('link', `entry ${JSON.stringify(name)} is a symbolic link`, name);
    if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
      throw new ArchiveRefusedError('special-file', `entry ${JSON.stringify(name)} is a device, FIFO or socket`, name);
    }
    const isFolder = name.endsWith('/') || type === S_IFDIR;
    const path = isFolder ? '' : normaliseEntryPath(name);
    if (!isFolder && path === '') throw new ArchiveRefusedError('unsafe-name', `entry ${JSON.stringify(name)} names no file`, name);
    if (plans.has(entry.name) || filePaths.has(path)) {
      throw new ArchiveRefusedError('duplicate-entry', `entry ${JSON.stringify(name)} appears twice`, name);
    }
    if (!isFolder) filePaths.add(path);
    totalBytes += entry.originalSize;
    refuseIfTooLarge(limits, name, entry.originalSize, totalBytes);
    const ratio = entry.originalSize / Math.max(entry.size, 1);
    if (entry.originalSize > RATIO_CHECK_MIN_BYTES && ratio > limits.maxCompressionRatio) {
      throw new ArchiveRefusedError('compression-ratio',
        `entry ${JSON.stringify(name)} expands ${Math.round(ratio)} times, more than ${limits.maxCompressionRatio} (maxCompressionRatio)`, name);
    }
    let skipReason: string | undefined;
    if (isFolder) skipReason = undefined;
    else if (isSystemMetadataPath(path)) skipReason = 'operating-system metadata';
    else if (attrs.flags & 1) skipReason = 'encrypted';
    else if (entry.compression !== 0 && entry.compression !== 8) skipReason = `unsupported zip compression method ${entry.compression}`;
    plans.set(entry.name, {
      path, declaredSize: entry.originalSize, crc: attrs.crc, skipReason, extract: !isFolder && skipReason === undefined,
    });
  });
  refuseFileFolderClash(filePaths);
  return plans;
}

/**
 * Streams the zip through fflate's inflater in small steps and counts what comes out, so an
 * entry that lies about its size is stopped as soon as it passes its declared size.
 */
async function inflateZip(bytes: Uint8Array, plans: Map<string, ZipEntryPlan>,
  limits: Required<ArchiveLimits>, options: ReadArchiveOptions): Promise<ArchiveFile[]> {
  const wantedCount = [...plans.values()].filter((p) => p.extract).length;
  const files: ArchiveFile[] = [];
  const seen = new Set<string>();
  let totalBytes = 0;
  // fflate catches what its callbacks throw, so refusals are kept here and thrown between pushes.
  let failure: unknown;
  const fail = (err: unknown) => { failure ??= err; };
  const unzip = new Unzip((file: UnzipFile) => {
    const plan = plans.get(file.name);
    if (!plan || seen.has(file.name)) {
      fail(new ArchiveRefusedError('corrupt', `local entry ${JSON.stringify(file.name)} is not listed once in the central directory`, file.name));
      return;
    }
    seen.add(file.name);
    if (!plan.extract || failure) return;
    const chunks: Uint8Array[] = [];
    let size = 0;
    file.ondata = (err, chunk, final) => {
      if (failure) return;
      if (err) {
        fail(new ArchiveRefusedError('corrupt', `entry ${JSON.stringify(plan.path)} cannot be inflated (${err.message})`, plan.path, { cause: err }));
        return;
      }
      size += chunk.length;
      totalBytes += chunk.length;
      try {
        if (size > plan.declaredSize) {
          throw new ArchiveRefusedError('too-large', `entry ${JSON.stringify(plan.path)} inflates beyond its declared ${plan.declaredSize} bytes`, plan.path);
        }
        refuseIfTooLarge(limits, plan.path, size, totalBytes);
      } catch (refusal) {
        file.terminate();
        fail(refusal);
        return;
      }
      chunks.push(chunk);
      if (final) {
        const data = concatBytes(chunks, size);
        if (size !== plan.declaredSize || crc32(data) !== plan.crc) {
          fail(new ArchiveRefusedError('corrupt', `entry ${JSON.stringify(plan.path)} does not match its size or checksum`, plan.path));
          return;
        }
        files.push({ path: plan.path, data });
        options.onEntry?.(files.length, wantedCount);
      }
    };
    file.start();
  });
  unzip.register(UnzipInflate);
  try {
    await pushInSteps(bytes, (chunk, final) => unzip.push(chunk, final), () => failure !== undefined, () => totalBytes, options.signal);
  } catch (err) {
    fail(err);
  }
  if (failure) {
    if (failure instanceof AkachatError) throw failure;
    throw new ArchiveRefusedError('corrupt', `unreadable zip (${(failure as Error).message})`, undefined, { cause: failure });
  }
  throwIfAborted(options.signal);
  if (files.length !== wantedCount) {
    throw new ArchiveRefusedError('corrupt', 'some zip entries listed in the central directory have no readable data');
  }
  return files;
}

/**
 * Reads the fixed fields of the zip central directory that fflate does not report (general
 * purpose flags, Unix file mode, CRC), in directory order. Only these fields are read here;
 * fflate stays the parser for names, sizes and data.
 */
/** The central directory's per-entry attributes (fflate does not expose the Unix mode), read by yauzl. */
function readZipAttributes(bytes: Uint8Array): Promise<ZipRecordAttributes[]> {
  const corrupt = (err: unknown) => new ArchiveRefusedError('corrupt', `the zip central directory cannot be read (${(err as Error).message})`, undefined, { cause: err });
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { lazyEntries: true, decodeStrings: false, validateEntrySizes: false }, (err, zip) => {
      if (err || !zip) return reject(corrupt(err));
      const records: ZipRecordAttributes[] = [];
      zip.on('entry', (entry: yauzl.Entry) => {
        // Hosts 3 (Unix) and 19 (macOS) keep st_mode in the upper half of the external attributes.
        const host = entry.versionMadeBy >> 8;
        records.push({
          rawName: entry.fileNameRaw ?? (entry.fileName as unknown as Buffer),
          flags: entry.generalPurposeBitFlag,
          unixMode: host === 3 || host === 19 ? entry.externalFileAttributes >>> 16 : 0,
          crc: entry.crc32,
        });
        zip.readEntry();
      });
      zip.on('end', () => resolve(records));
      zip.on('error', (e: unknown) => reject(corrupt(e)));
      zip.readEntry();
    });
  });
}

/**
 * Entry names are UTF-8 when flagged; otherwise many Japanese archives (made on Windows)
 * carry Shift_JIS names, which are tried before falling back to Latin-1.
 */
function decodeZipName(raw: Uint8Array, flags: number): string {
  if (flags & 0x800) return new TextDecoder('utf-8').decode(raw);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    const detected = Encoding.detect(raw, ['SJIS', 'EUCJP']);
    if (detected) return Encoding.convert(raw, { to: 'UNICODE', from: detected, type: 'string' });
    return strFromU8(raw, true);
  }
}

function concatBytes(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// tar (node-tar) and tar.gz (node:zlib)


const TAR_FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const TAR_SPECIAL_TYPES = new Set(['CharacterDevice', 'BlockDevice', 'FIFO']);

/**
 * Parses a tar, or a tar.gz inflated in small steps straight into the parser: every header is
 * checked as it is met, and the limits apply to bytes as they come out of the inflater, so a
 * gzip bomb is stopped within one step of passing a limit and nothing but the entries taken out
 * is ever held. For a tar.gz, sizes declared in headers are also held against the ratio limit
 * (the compressed size is known), which refuses most bombs before their data is inflated.
 */
async function readTar(bytes: Uint8Array, limits: Required<ArchiveLimits>, options: ReadArchiveOptions,
  gzipped = false): Promise<Omit<ArchiveContents, 'format'>> {
  const files: ArchiveFile[] = [];
  const skipped: SkippedFile[] = [];
  const paths = new Set<string>();
  const totals = { entries: 0, declaredBytes: 0, bytes: 0 };
  let failure: unknown;
  const fail = (err: unknown) => {
    if (failure) return;
    failure = err;
    parser.abort(err instanceof Error ? err : new Error(String(err)));
  };
  const parser = new TarParser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      if (failure) { entry.resume(); return; }
      let plan: TarEntryPlan;
      try {
        totals.entries += 1;
        refuseIfTooMany(limits, totals.entries, entry.path);
        plan = planTarEntry(entry, paths);
        if (plan.kind === 'file') {
          totals.declaredBytes += entry.size;
          refuseIfTooLarge(limits, plan.path, entry.size, totals.declaredBytes);
          if (gzipped) refuseIfRatioTooHigh(limits, totals.declaredBytes, bytes.length, plan.path);
        }
      } catch (err) {
        fail(err);
        entry.resume();
        return;
      }
      if (plan.kind !== 'file') {
        if (plan.kind === 'skip') skipped.push({ file: plan.path, reason: plan.reason });
        entry.resume();
        return;
      }
      const chunks: Uint8Array[] = [];
      let size = 0;
      entry.on('data', (chunk: Buffer) => {
        if (failure) return;
        size += chunk.length;
        totals.bytes += chunk.length;
        try {
          refuseIfTooLarge(limits, plan.path, size, totals.bytes);
          chunks.push(chunk);
        } catch (err) { fail(err); }
      });
      entry.on('end', () => {
        if (!failure) files.push({ path: plan.path, data: concatBytes(chunks, size) });
      });
    },
  });
  const parsed = new Promise<void>((resolve) => {
    parser.on('error', (err: Error) => { failure ??= err; resolve(); });
    parser.on('abort', () => resolve());
    parser.on('end', () => resolve());
  });
  if (gzipped) await gunzipInto(parser, bytes, limits, options, () => failure, fail);
  else parser.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  await parsed;
  if (failure) {
    if (failure instanceof AkachatError) throw failure;
    throw new ArchiveRefusedError('corrupt', `unreadable tar (${(failure as Error).message})`, undefined, { cause: failure });
  }
  refuseFileFolderClash(paths);
  throwIfAborted(options.signal);
  files.forEach((_, i) => options.onEntry?.(i + 1, files.length));
  return { files, skipped };
}

/** Refuses `expanded` bytes coming from `compressed` ones at more than the ratio limit (past 1 MiB). */
function refuseIfRatioTooHigh(limits: Required<ArchiveLimits>, expanded: number, compressed: number, name?: string): void {
  const ratio = expanded / Math.max(compressed, 1);
  if (expanded > RATIO_CHECK_MIN_BYTES && ratio > limits.maxCompressionRatio) {
    throw new ArchiveRefusedError('compression-ratio',
      `the gzip stream expands ${Math.round(ratio)} times or more, more than ${limits.maxCompressionRatio} (maxCompressionRatio)`, name);
  }
}

/**
 * Inflates a gzip stream step by step into the tar parser. The stream as a whole is held to
 * maxTotalBytes (plus what tar headers and padding take) and to the ratio limit as it grows;
 * a stream that does not start with a tar header is refused after its first block.
 */
async function gunzipInto(parser: TarParser, bytes: Uint8Array, limits: Required<ArchiveLimits>, options: ReadArchiveOptions,
  failed: () => unknown, fail: (err: unknown) => void): Promise<void> {
  const maxOutput = limits.maxTotalBytes + (limits.maxEntries + 2) * 3 * TAR_BLOCK + 20 * TAR_BLOCK;
  let inflated = 0;
  let head: Uint8Array<ArrayBufferLike> | undefined = new Uint8Array(0);
  // Refusals inside the callback are recorded, not thrown: the loop below stops on them.
  const gunzip = new Gunzip((out) => {
    if (failed() || ended) return;
    let chunk: Uint8Array<ArrayBufferLike> = out;
    inflated += chunk.length;
    try {
      if (head) {
        // Held back until the first header is complete, to know the stream is a tar.
        head = concatBytes([head, chunk], head.length + chunk.length);
        if (head.length < TAR_BLOCK) return;
        if (!isTar(head)) throw new ArchiveRefusedError('unsupported-format', 'a gzip file that does not hold a tar archive');
        chunk = head;
        head = undefined;
      }
      parser.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      if (inflated > maxOutput) {
        throw new ArchiveRefusedError('too-large', `the gzip stream expands beyond ${maxOutput} bytes (maxTotalBytes)`);
      }
      refuseIfRatioTooHigh(limits, inflated, bytes.length);
    } catch (err) {
      fail(err);
    }
  });
  // What follows the end-of-archive blocks is never inflated (tar tools ignore it too).
  let ended = false;
  parser.on('eof', () => { ended = true; });
  try {
    await pushInSteps(bytes, (chunk, final) => gunzip.push(chunk, final), () => Boolean(failed()) || ended, () => inflated, options.signal);
    if (!failed() && !ended && head) throw new ArchiveRefusedError('unsupported-format', 'a gzip file that does not hold a tar archive');
  } catch (err) {
    fail(err instanceof AkachatError ? err
      : new ArchiveRefusedError('corrupt', `unreadable gzip stream (${(err as Error).message})`, undefined, { cause: err }));
  }
  if (!failed()) parser.end();
}

/**
 * Hands compressed `bytes` to an inflater in small steps until `stop()`, letting the event loop
 * turn (and an abort be seen) after every few MiB that come out (`produced()`).
 */
async function pushInSteps(bytes: Uint8Array, push: (chunk: Uint8Array, final: boolean) => void, stop: () => boolean,
  produced: () => number, signal: AbortSignal | undefined): Promise<void> {
  let yieldedAt = produced();
  for (let offset = 0; offset < bytes.length && !stop(); offset += INFLATE_STEP_BYTES) {
    const end = Math.min(offset + INFLATE_STEP_BYTES, bytes.length);
    push(bytes.subarray(offset, end), end === bytes.length);
    if (produced() - yieldedAt >= YIELD_EVERY_BYTES) {
      yieldedAt = produced();
      await yieldToEventLoop();
      throwIfAborted(signal);
    }
  }
}

type TarEntryPlan = { kind: 'file'; path: string } | { kind: 'skip'; path: string; reason: string } | { kind: 'folder' };

function planTarEntry(entry: ReadEntry, paths: Set<string>): TarEntryPlan {
  const name = entry.path;
  refuseUnsafePath(name);
  if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
    throw new ArchiveRefusedError('link', `entry ${JSON.stringify(name)} is a ${entry.type === 'Link' ? 'hard' : 'symbolic'} link`, name);
  }
  if (TAR_SPECIAL_TYPES.has(entry.type)) {
    throw new ArchiveRefusedError('special-file', `entry ${JSON.stringify(name)} is a device or FIFO`, name);
  }
  if (entry.type === 'Directory') return { kind: 'folder' };
  if (!TAR_FILE_TYPES.has(entry.type)) {
    throw new ArchiveRefusedError('special-file', `entry ${JSON.stringify(name)} has the unsupported tar type ${entry.type}`, name);
  }
  const path = normaliseEntryPath(name);
  if (path === '') throw new ArchiveRefusedError('unsafe-name', `entry ${JSON.stringify(name)} names no file`, name);
  if (paths.has(path)) throw new ArchiveRefusedError('duplicate-entry', `entry ${JSON.stringify(name)} appears twice`, name);
  paths.add(path);
  if (isSystemMetadataPath(path)) return { kind: 'skip', path, reason: 'operating-system metadata' };
  return { kind: 'file', path };
}
