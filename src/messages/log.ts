import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../data/atomic.js';
import { InvalidArgumentError } from '../errors.js';
import { toChatMessage, type ChatMessage } from '../prompt/messages.js';
import { expectInteger, expectString } from '../validate.js';

/**
 * The chat history file `log/messages.jsonl`: one `{"role","content"}` object per line.
 * Every change rewrites the file atomically, and the operations of one MessageLog run one
 * at a time, so concurrent appends are never lost or interleaved. It fits the instruction
 * evaluator's `messages` source (`newest`, `count`).
 */
export class MessageLog {
  readonly file: string;
  #queue: Promise<unknown> = Promise.resolve();

  /** @param file path of the JSONL file, usually `<data>/log/messages.jsonl`. */
  constructor(file: string) {
    this.file = resolve(file);
  }

  /** All messages, oldest first; `[]` when the file does not exist. A bad line throws, naming its number. */
  async readAll(): Promise<ChatMessage[]> {
    return this.#serial(async () => parseMessagesJsonl(await this.#readText(), this.file));
  }

  /** The newest `limit` messages, oldest first; 0 = all. */
  async newest(limit = 0): Promise<ChatMessage[]> {
    expectInteger(limit, 'limit', 0);
    const all = await this.readAll();
    return limit === 0 ? all : all.slice(-limit);
  }

  async count(): Promise<number> {
    return (await this.readAll()).length;
  }

  /** Appends one message or several; all are validated before anything is written. */
  async append(messages: ChatMessage | readonly ChatMessage[]): Promise<void> {
    const list = Array.isArray(messages) ? messages : [messages];
    const lines = toJsonl(list);
    if (lines === '') return;
    await this.#serial(async () => {
      const existing = await this.#readText();
      const separator = existing === '' || existing.endsWith('\n') ? '' : '\n';
      await writeFileAtomic(this.file, existing + separator + lines);
    });
  }

  /** Replaces the whole history. */
  async replace(messages: readonly ChatMessage[]): Promise<void> {
    if (!Array.isArray(messages)) throw new InvalidArgumentError('Expected an array of messages for messages but received a non-array');
    const text = toJsonl(messages);
    await this.#serial(() => writeFileAtomic(this.file, text));
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
    await this.#serial(() => writeFileAtomic(this.file, ''));
  }

  async #readText(): Promise<string> {
    try {
      return await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') return '';
      throw err;
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
  const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split('\n');
  lines.forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '') return;
    const where = `line ${index + 1} of ${source}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new InvalidArgumentError(
        `Expected a JSON message object on ${where} but received invalid JSON: ${(err as Error).message}`,
        { cause: err },
      );
    }
    messages.push(toChatMessage(value, `the message on ${where}`));
  });
  return messages;
}

function toJsonl(messages: readonly ChatMessage[]): string {
  return messages
    .map((message, index) => JSON.stringify(toChatMessage(message, `messages[${index}]`)) + '\n')
    .join('');
}
