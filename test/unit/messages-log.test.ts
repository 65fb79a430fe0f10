import { mkdir, mkdtemp, open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MessageLog } from '../../src/messages/log.js';
import { renderInstruction } from '../../src/prompt/instruction/index.js';
import type { ChatMessage } from '../../src/prompt/messages.js';

let folder: string;
let file: string;

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'akachat-messages-'));
  file = join(folder, 'log', 'messages.jsonl');
  await mkdir(join(folder, 'log'));
});

afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** A MessageLog whose file reads are counted. */
function countingLog(path: string): { log: MessageLog; bytesRead: () => number } {
  let bytes = 0;
  const counting = async (p: string, flags: 'r' | 'a+'): Promise<FileHandle> => {
    const handle = await open(p, flags);
    return new Proxy(handle, {
      get(target, key) {
        if (key === 'read') {
          return async (...args: Parameters<FileHandle['read']>) => {
            const result = await target.read(...args);
            bytes += result.bytesRead;
            return result;
          };
        }
        if (key === 'readFile') {
          return async (...args: Parameters<FileHandle['readFile']>) => {
            const result = await target.readFile(...args);
            bytes += Buffer.byteLength(result);
            return result;
          };
        }
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  return { log: new MessageLog(path, { open: counting }), bytesRead: () => bytes };
}

const message = (i: number): ChatMessage => ({ role: i % 2 ? 'assistant' : 'user', content: `${i}: ${'あかちゃん '.repeat(60)}` });

describe('MessageLog at 50 MB', () => {
  it('appends and serves msg(3) reading only the end of the file', async () => {
    const lines: string[] = [];
    let size = 0;
    for (let i = 0; size < 50 * 1024 * 1024; i++) {
      const line = JSON.stringify(message(i)) + '\n';
      lines.push(line);
      size += Buffer.byteLength(line);
    }
    await writeFile(file, lines.join(''));
    const written = await open(file, 'r+');
    await written.sync(); // so that the append's own flush does not pay for writing these 50 MB
    await written.close();
    const total = lines.length;
    const { log, bytesRead } = countingLog(file);

    expect(await log.count()).toBe(total); // one scan of the whole file
    let before = bytesRead();
    let started = performance.now();
    await log.append({ role: 'user', content: 'newest' });
    const appendMs = performance.now() - started;
    const appendBytes = bytesRead() - before;

    before = bytesRead();
    started = performance.now();
    const segments = await renderInstruction('{msg(3)}', { messages: log });
    const tailMs = performance.now() - started;
    const tailBytes = bytesRead() - before;
    expect(segments).toEqual([{ type: 'messages', messages: [message(total - 2), message(total - 1), { role: 'user', content: 'newest' }] }]);

    before = bytesRead();
    expect(await log.count()).toBe(total + 1); // followed the append without reading
    expect(bytesRead() - before).toBe(0);

    console.log(`${(size / 1e6).toFixed(1)} MB: append ${appendMs.toFixed(1)} ms reading ${appendBytes} B; msg(3) ${tailMs.toFixed(1)} ms reading ${tailBytes} B`);
    expect(appendBytes).toBeLessThan(64 * 1024);
    expect(tailBytes).toBeGreaterThan(0);
    expect(tailBytes).toBeLessThanOrEqual(128 * 1024);
    // The whole file took seconds to rewrite and parse; generous bounds for a busy machine.
    expect(appendMs).toBeLessThan(300);
    expect(tailMs).toBeLessThan(300);
    const text = await readFile(file, 'utf8');
    expect(text.endsWith(`${lines.at(-1)}{"role":"user","content":"newest"}\n`)).toBe(true);
  }, 60_000);
});

describe('MessageLog tail reading', () => {
  it('matches reading the whole file for any n, across blocks, blank lines, CRLF and a BOM', async () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 12; round++) {
      const parts: string[] = round % 3 === 0 ? ['\ufeff'] : [];
      const count = 1 + Math.floor(random() * 20);
      for (let i = 0; i < count; i++) {
        const content = 'é日'.repeat(Math.floor(random() * (random() < 0.2 ? 60_000 : 50)));
        parts.push(JSON.stringify({ role: 'user', content: `${i}${content}` }) + (random() < 0.3 ? '\r\n' : '\n'));
        if (random() < 0.2) parts.push('  \n');
      }
      const text = parts.join('');
      await writeFile(file, round % 2 ? text.replace(/\r?\n$/, '') : text);
      const log = new MessageLog(file);
      const all = await log.readAll();
      expect(all).toHaveLength(count);
      expect(await log.count()).toBe(count);
      for (const n of [1, 2, 3, count - 1, count, count + 5].filter((k) => k > 0)) {
        expect(await log.newest(n)).toEqual(all.slice(-n));
      }
    }
  });

  it('names a bad line among the newest by its place from the end', async () => {
    await writeFile(file, '{"role":"user","content":"a"}\n{"role":"user"\n{"role":"user","content":"c"}\n');
    const log = new MessageLog(file);
    expect(await log.newest(1)).toEqual([{ role: 'user', content: 'c' }]);
    await expect(log.newest(2)).rejects.toThrow(/on line 2 from the end of .*messages\.jsonl but received invalid JSON/);
  });

  it('skips the partial last line a crash mid-append leaves, and the next append removes it', async () => {
    await writeFile(file, '{"role":"user","content":"a"}\n{"role":"assistant","con');
    const log = new MessageLog(file);
    expect(await log.readAll()).toEqual([{ role: 'user', content: 'a' }]);
    expect(await log.newest(5)).toEqual([{ role: 'user', content: 'a' }]);
    expect(await log.count()).toBe(1);
    await log.append({ role: 'assistant', content: 'b' });
    expect(await readFile(file, 'utf8')).toBe('{"role":"user","content":"a"}\n{"role":"assistant","content":"b"}\n');
    expect(await log.count()).toBe(2);
  });

  it('recounts after another writer changed the file', async () => {
    const log = new MessageLog(file);
    await log.append([{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }]);
    expect(await log.count()).toBe(2);
    await writeFile(file, '{"role":"user","content":"x"}\n');
    expect(await log.count()).toBe(1);
    await log.append({ role: 'user', content: 'y' });
    expect(await log.count()).toBe(2);
    await log.clear();
    expect(await log.count()).toBe(0);
    expect(await log.newest(3)).toEqual([]);
  });
});
