import { describe, expect, it } from 'vitest';
import { createGzip } from 'node:zlib';
import { ArchiveRefusedError, readArchive } from '../../src/rag/archive.js';

/**
 * Gzip bombs must be refused while they inflate, not after: the limits apply to bytes as they
 * come out of the inflater. Measured as the growth of the process's peak resident memory, which
 * a full inflate up to the limits (hundreds of MB) cannot hide. This file runs alone in its
 * process (vitest forks), so the peak before the bombs is this test's own.
 */

const MiB = 1024 * 1024;

/** Gzip of `head` followed by `zeros` zero bytes, made in a stream (never held inflated). */
async function gzipBomb(head: Uint8Array, zeros: number): Promise<Uint8Array> {
  const gzip = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const done = new Promise((resolve) => gzip.on('end', resolve));
  const block = Buffer.alloc(MiB);
  gzip.write(head);
  for (let written = 0; written < zeros; written += MiB) {
    if (!gzip.write(block.subarray(0, Math.min(MiB, zeros - written)))) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end();
  await done;
  return new Uint8Array(Buffer.concat(out));
}

/** A ustar header for a regular file of `size` bytes. */
function tarHeader(name: string, size: number): Uint8Array {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(size.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return header;
}

const peakRss = () => process.resourceUsage().maxRSS * 1024;

/** Runs `work` and expects the peak resident memory of the process to grow by less than 48 MiB. */
async function expectCheap<T>(work: () => Promise<T>): Promise<T> {
  const before = peakRss();
  const result = await work();
  const grown = peakRss() - before;
  expect(grown, `peak memory grew ${Math.round(grown / MiB)} MiB`).toBeLessThan(48 * MiB);
  return result;
}

async function expectRefusedCheaply(archives: Uint8Array[], reason: string): Promise<void> {
  const results = await expectCheap(() => Promise.allSettled(archives.map((archive) => readArchive(archive))));
  for (const result of results) {
    expect(result.status).toBe('rejected');
    const error = (result as PromiseRejectedResult).reason as ArchiveRefusedError;
    expect(error).toBeInstanceOf(ArchiveRefusedError);
    expect(error.reason).toBe(reason);
  }
}

// Four at once, as in the reproduction (a 717 KB bomb then cost about 475 MB before its
// refusal, four at once 2.4 GB); 256 MiB of zeros gzip to about 250 KB.
describe('gzip bombs are refused as they inflate', () => {
  it('refuses a gzip that is not a tar after its first block', async () => {
    const bomb = await gzipBomb(new Uint8Array(0), 256 * MiB);
    await expectRefusedCheaply([bomb, bomb, bomb, bomb], 'unsupported-format');
  });

  it('refuses a tar.gz whose entries declare more than the ratio limit allows, before their data', async () => {
    // 100 MiB is under the per-entry limit (128 MiB), but hundreds of times the whole archive.
    const bomb = await gzipBomb(tarHeader('zeros.bin', 100 * MiB), 100 * MiB);
    await expectRefusedCheaply([bomb, bomb, bomb, bomb], 'compression-ratio');
  });

  it('stops inflating at the end of the archive: zeros hidden after it are never inflated', async () => {
    const tar = Buffer.concat([tarHeader('a.txt', 5), Buffer.from('hello'), Buffer.alloc(507), Buffer.alloc(1024)]);
    const bomb = await gzipBomb(tar, 256 * MiB);
    const started = performance.now();
    const contents = await expectCheap(() => Promise.all([bomb, bomb, bomb, bomb].map((archive) => readArchive(archive))));
    expect(performance.now() - started).toBeLessThan(2000); // inflating 4 x 256 MiB takes longer
    for (const { files } of contents) expect(files.map((f) => [f.path, Buffer.from(f.data).toString()])).toEqual([['a.txt', 'hello']]);
  });
});
