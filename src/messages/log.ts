import { mkdir, open as openFile, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { writeFileAtomic } from '../data/atomic.js';
import { InvalidArgumentError } from '../errors.js';
import { toChatMessage, type ChatMessage } from '../prompt/messages.js';
import { expectInteger, expectString } from '../validate.js';

export interface MessageLogOptions {
  /** Opens the log file for reading (`'r'`) or appending (`'a+'`); wrap it to observe the I/O. Default: `node:fs/promises` `open`. */
  open?: (path: string, flags: 'r' | 'a+') => Promise<FileHandle>;
}

/** Bytes read per step when reading the log backwards from its end. */
const TAIL_BLOCK_SIZE = 64 * 1024;
/** Bytes read per step when counting the lines of the whole log. */
const SCAN_BLOCK_SIZE = 1024 * 1024;
const NEWLINE = 0x0a;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * The chat history file `log/messages.jsonl`: one `{"role","content"}` object per line
 * (UTF-8), as the original akachat writes it. The operations of one MessageLog run one at a
 * time, so concurrent appends are never lost or interleaved. It fits the instruction
 * evaluator's `messages` source (`newest`, `count`).
 *
 * Size policy: the file is never rotated or cut, because it is the user's history and the
 * original keeps it in one file; instead nothing frequent depends on its size. `append()`
 * appends (a crash can leave at most a partial last line, which readers skip and the next
 * append removes); `newest(n)` (`msg(n)`) reads backwards from the end only the blocks that
 * hold those `n` lines; `count()` (`msgcount()`) scans the file once, then follows appends.
 * Only whole-history operations (`readAll`, `newest(0)`, `readText`, `replace*`, `clear`) read
 * or rewrite it all, and those are atomic rewrites.
 */
export class MessageLog {
  readonly file: string;
  readonly #open: (path: string, flags: 'r' | 'a+') => Promise<FileHandle>;
  #queue: Promise<unknown> = Promise.resolve();
  /** Message count of the file as it was when last seen (identity, size, mtime). */
  #counted: { ino: number; size: number; mtimeMs: number; count: number } | undefined;

  /** @param file path of the JSONL file, usually `<data>/log/messages.jsonl`. */
  constructor(file: string, { open = openFile }: MessageLogOptions = {}) {
    this.file = resolve(file);
    this.#open = open;
  }

  /** All messages, oldest first; `[]` when the file does not exist. A bad line throws, naming its number. */
  async readAll(): Promise<ChatMessage[]> {
    return this.#serial(async () => parseMessagesJsonl(withoutTornLine(await this.#readText()), this.file));
  }

  /**
   * The newest `limit` messages, oldest first; 0 = all. Reads only the end of the file that
   * holds them. A bad line among them throws, naming its place from the end.
   */
  async newest(limit = 0): Promise<ChatMessage[]> {
    expectInteger(limit, 'limit', 0);
    if (limit === 0) return this.readAll();
    return this.#serial(() => this.#withFile('r', async (handle) => {
      const { size } = await handle.stat();
      const newestFirst = await readLastLines(handle, size, limit);
      return newestFirst.map((line, index) => parseMessageLine(line, `line ${index + 1} from the end of ${this.file}`)).reverse();
    }, []));
  }

  /** Number of messages (non-blank lines). The first call scans the file; later ones only follow appends. */
  async count(): Promise<number> {
    return this.#serial(() => this.#withFile('r', async (handle) => {
      const stat = await handle.stat();
      const known = this.#counted;
      if (known && known.ino === stat.ino && known.size === stat.size && known.mtimeMs === stat.mtimeMs) return known.count;
      const count = await countLines(handle, stat.size);
      this.#counted = { ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs, count };
      return count;
    }, 0));
  }

  /** Appends one message or several; all are validated before anything is written. */
  async append(messages: ChatMessage | readonly ChatMessage[]): Promise<void> {
    const list = Array.isArray(messages) ? messages : [messages];
    const lines = toJsonl(list);
    if (lines === '') return;
    await this.#serial(async () => {
      await mkdir(dirname(this.file), { recursive: true });
      const handle = await this.#open(this.file, 'a+');
      try {
        const before = await handle.stat();
        let separator = '';
        if (before.size > 0 && (await readByte(handle, before.size - 1)) !== NEWLINE) {
          // The last line lacks its newline: an editor's last line (kept), or a torn append (removed).
          const [last = ''] = await readLastLines(handle, before.size, 1, { keepTorn: true });
          if (isTornLine(last)) await handle.truncate(before.size - Buffer.byteLength(last));
          else separator = '\n';
        }
        await handle.write(separator + lines);
        await handle.datasync();
        const after = await handle.stat();
        const known = this.#counted;
        const followed = known && known.ino === before.ino && known.size === before.size && known.mtimeMs === before.mtimeMs;
        this.#counted = followed ? { ino: after.ino, size: after.size, mtimeMs: after.mtimeMs, count: known.count + list.length } : undefined;
      } finally {
        await handle.close();
      }
    });
  }

  /** Replaces the whole history. */
  async replace(messages: readonly ChatMessage[]): Promise<void> {
    if (!Array.isArray(messages)) throw new InvalidArgumentError('Expected an array of messages for messages but received a non-array');
    const text = toJsonl(messages);
    await this.#serial(() => this.#rewrite(text));
  }

  /** The file's raw JSONL text (`''` when missing), for a raw editor. */
  async readText(): Promise<string> {
    return this.#serial(() => this.#readText());
  }

  /** Replaces the history with raw JSONL text after validating every line; normalizes its layout. */
  async replaceText(jsonl: string): Promise<void> {
    const messages = parseMessagesJsonl(expectString(jsonl, 'jsonl'), 'the given JSONL');
    await this.replace(messages);
  }

  async clear(): Promise<void> {
    await this.#serial(() => this.#rewrite(''));
  }

  async #rewrite(text: string): Promise<void> {
    this.#counted = undefined;
    await writeFileAtomic(this.file, text);
  }

  #readText(): Promise<string> {
    return this.#withFile('r', (handle) => handle.readFile('utf8'), '');
  }

  /** Runs `task` on the open file; `missing` when the file does not exist. */
  async #withFile<T>(flags: 'r', task: (handle: FileHandle) => Promise<T>, missing: T): Promise<T> {
    let handle: FileHandle;
    try {
      handle = await this.#open(this.file, flags);
    } catch (err) {
      if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') return missing;
      throw err;
    }
    try {
      return await task(handle);
    } finally {
      await handle.close();
    }
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task, task);
    this.#queue = result.catch(() => {});
    return result;
  }
}

/**
 * Parses JSONL chat history. Blank lines are skipped; a line that is not JSON or not a
 * valid message throws InvalidArgumentError naming its 1-based line number and `source`.
 */
export function parseMessagesJsonl(text: string, source: string): ChatMessage[] {
  const messages: ChatMessage[] = [];
  const lines = stripBom(text).split('\n');
  lines.forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '') return;
    messages.push(parseMessageLine(line, `line ${index + 1} of ${source}`));
  });
  return messages;
}

function parseMessageLine(line: string, where: string): ChatMessage {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new InvalidArgumentError(
      `Expected a JSON message object on ${where} but received invalid JSON: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return toChatMessage(value, `the message on ${where}`);
}

/** An unterminated last line that is not JSON is what a crash mid-append leaves. */
function isTornLine(line: string): boolean {
  try {
    JSON.parse(line);
    return false;
  } catch {
    return line.trim() !== '';
  }
}

function withoutTornLine(text: string): string {
  const start = text.lastIndexOf('\n') + 1;
  return start < text.length && isTornLine(stripBom(text.slice(start))) ? text.slice(0, start) : text;
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

async function readByte(handle: FileHandle, position: number): Promise<number> {
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, position);
  return byte[0]!;
}

/**
 * The last `limit` non-blank lines of the file's first `size` bytes, newest first, trimmed,
 * read backwards in blocks. A torn last line is skipped unless `keepTorn` (then it is
 * returned untrimmed, so its byte length is exact).
 */
async function readLastLines(handle: FileHandle, size: number, limit: number, { keepTorn = false } = {}): Promise<string[]> {
  const lines: string[] = [];
  let pending: Buffer[] = []; // the front of a line that started before the block read so far
  let unterminated = size > 0;
  const take = (bytes: Buffer, atFileStart: boolean) => {
    let line = bytes.toString('utf8');
    if (atFileStart) line = stripBom(line);
    const last = unterminated;
    unterminated = false;
    if (last && keepTorn) lines.push(line);
    else if (line.trim() !== '' && !(last && isTornLine(line))) lines.push(line.trim());
  };
  let position = size;
  while (position > 0 && lines.length < limit) {
    const length = Math.min(TAIL_BLOCK_SIZE, position);
    position -= length;
    const block = Buffer.alloc(length);
    await readFully(handle, block, position);
    let end = length;
    for (let at = block.lastIndexOf(NEWLINE, end - 1); at >= 0 && lines.length < limit; at = end > 0 ? block.lastIndexOf(NEWLINE, end - 1) : -1) {
      if (unterminated && at === length - 1 && position + length === size) {
        unterminated = false; // the file ends with a newline: no torn line
      } else {
        take(Buffer.concat([block.subarray(at + 1, end), ...pending]), false);
        pending = [];
      }
      end = at;
    }
    pending.unshift(block.subarray(0, end));
  }
  if (position === 0 && lines.length < limit) take(Buffer.concat(pending), true);
  return lines;
}

async function readFully(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  for (let offset = 0; offset < buffer.length;) {
    const { bytesRead } = await handle.read(buffer, offset, buffer.length - offset, position + offset);
    if (bytesRead === 0) throw new Error(`The file shrank while it was read (at byte ${position + offset})`);
    offset += bytesRead;
  }
}

/** Non-blank lines among the first `size` bytes, a torn last line not counted. */
async function countLines(handle: FileHandle, size: number): Promise<number> {
  let count = 0;
  let lineHasText = false;
  const block = Buffer.alloc(Math.min(SCAN_BLOCK_SIZE, Math.max(size, 1)));
  for (let position = 0; position < size;) {
    const length = Math.min(block.length, size - position);
    const view = block.subarray(0, length);
    await readFully(handle, view, position);
    const bom = position === 0 && view.subarray(0, 3).equals(UTF8_BOM) ? 3 : 0;
    position += length;
    for (let start = bom; start < length;) {
      const newline = view.indexOf(NEWLINE, start);
      const end = newline === -1 ? length : newline;
      if (!lineHasText) lineHasText = hasText(view, start, end);
      if (newline === -1) break;
      if (lineHasText) count++;
      lineHasText = false;
      start = newline + 1;
    }
  }
  if (lineHasText) {
    const [last] = await readLastLines(handle, size, 1, { keepTorn: true });
    if (last !== undefined && !isTornLine(last)) count++;
  }
  return count;
}

/** True when bytes `start..end` hold anything but spaces, tabs or carriage returns. */
function hasText(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return true;
  }
  return false;
}

function toJsonl(messages: readonly ChatMessage[]): string {
  return messages
    .map((message, index) => JSON.stringify(toChatMessage(message, `messages[${index}]`)) + '\n')
    .join('');
}
