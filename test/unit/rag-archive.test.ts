import { describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, readdir, rm, symlink, writeFile, readFile, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { zipSync, strToU8 } from 'fflate';
import yazl from 'yazl';
import * as tar from 'tar';
import Encoding from 'encoding-japanese';
import { ArchiveRefusedError, detectArchiveFormat, readArchive, type ArchiveRefusalReason } from '../../src/rag/archive.js';
import { AbortError } from '../../src/errors.js';

type YazlEntry = { name: string; data: Uint8Array | string; mode?: number; compress?: boolean };

/** Builds a zip with yazl (which lets a test set any entry name and Unix mode). */
async function yazlZip(entries: YazlEntry[]): Promise<Uint8Array> {
  const zip = new yazl.ZipFile();
  for (const entry of entries) {
    const data = typeof entry.data === 'string' ? Buffer.from(entry.data) : Buffer.from(entry.data);
    zip.addBuffer(data, entry.name, { mode: entry.mode, compress: entry.compress ?? true });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** yazl validates names; unsafe ones are patched into the bytes afterwards (same length). */
function renameEntry(zip: Uint8Array, from: string, to: string): Uint8Array {
  expect(to.length).toBe(from.length);
  const bytes = Buffer.from(zip);
  const needle = Buffer.from(from);
  let at = bytes.indexOf(needle);
  let count = 0;
  while (at >= 0) {
    Buffer.from(to).copy(bytes, at);
    count++;
    at = bytes.indexOf(needle, at + 1);
  }
  expect(count).toBe(2); // local header + central directory
  return new Uint8Array(bytes);
}

async function expectRefused(promise: Promise<unknown>, reason: ArchiveRefusalReason): Promise<ArchiveRefusedError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ArchiveRefusedError);
  expect((err as ArchiveRefusedError).code).toBe('ARCHIVE_REFUSED');
  expect((err as ArchiveRefusedError).reason).toBe(reason);
  return err as ArchiveRefusedError;
}

async function tarOf(folder: string, entries: string[], gzip = false): Promise<Uint8Array> {
  const out = join(folder, gzip ? 'out.tgz' : 'out.tar');
  // Synchronous: node-tar's async packer can emit 'write after end' after its promise has
  // settled when an archive holds a hard link (seen once in CI as an uncaught error).
  tar.c({ file: out, cwd: folder, gzip, portable: true, sync: true }, entries);
  return new Uint8Array(await readFile(out));
}

describe('readArchive: zip', () => {
  it('takes nested files out and skips folders and operating-system metadata', async () => {
    const zip = zipSync({
      'docs/': new Uint8Array(0),
      'docs/a.txt': strToU8('alpha'),
      'docs/deep/b.md': strToU8('# beta'),
      '__MACOSX/docs/._a.txt': strToU8('junk'),
      'top.txt': strToU8('gamma'),
    });
    expect(detectArchiveFormat(zip)).toBe('zip');
    const contents = await readArchive(zip);
    expect(contents.format).toBe('zip');
    expect(contents.files.map((f) => f.path).sort()).toEqual(['docs/a.txt', 'docs/deep/b.md', 'top.txt']);
    expect(new TextDecoder().decode(contents.files.find((f) => f.path === 'docs/deep/b.md')!.data)).toBe('# beta');
    expect(contents.skipped).toEqual([{ file: '__MACOSX/docs/._a.txt', reason: 'operating-system metadata' }]);
  });

  it('reads stored and deflated entries and reports progress', async () => {
    const zip = await yazlZip([{ name: 'stored.txt', data: 'plain', compress: false }, { name: 'deflated.txt', data: 'x'.repeat(5000) }]);
    const seen: number[] = [];
    const contents = await readArchive(zip, { onEntry: (done, total) => seen.push(done * 10 + total) });
    expect(contents.files.map((f) => [f.path, f.data.length])).toEqual([['stored.txt', 5], ['deflated.txt', 5000]]);
    expect(seen).toEqual([12, 22]);
  });

  it('decodes Shift_JIS entry names of archives made on Japanese Windows', async () => {
    const name = '資料.txt';
    const sjis = Uint8Array.from(Encoding.convert(Encoding.stringToCode(name), { to: 'SJIS', from: 'UNICODE' }));
    expect(sjis.length).toBe(8);
    // yazl writes UTF-8 names with the UTF-8 flag; swap in Shift_JIS bytes of the same length and clear the flag.
    const zip = Buffer.from(await yazlZip([{ name: 'abcdefgh', data: 'text' }]));
    let at = zip.indexOf('abcdefgh');
    while (at >= 0) {
      Buffer.from(sjis).copy(zip, at);
      at = zip.indexOf('abcdefgh', at + 1);
    }
    for (const [signature, flagOffset] of [[0x04034b50, 6], [0x02014b50, 8]] as const) {
      for (let i = 0; i + 4 <= zip.length; i++) {
        if (zip.readUInt32LE(i) === signature) zip.writeUInt16LE(zip.readUInt16LE(i + flagOffset) & ~0x800, i + flagOffset);
      }
    }
    const contents = await readArchive(new Uint8Array(zip));
    expect(contents.files.map((f) => f.path)).toEqual([name]);
  });

  it('refuses path escapes', async () => {
    const zip = renameEntry(await yazlZip([{ name: 'xx/evil.txt', data: 'evil' }]), 'xx/evil.txt', '../evil.txt');
    const err = await expectRefused(readArchive(zip), 'path-escape');
    expect(err.entry).toBe('../evil.txt');
    expect(err.message).toMatch(/\.\.\/evil\.txt/);
    const nested = renameEntry(await yazlZip([{ name: 'a/bb/evil.txt', data: 'evil' }]), 'a/bb/evil.txt', 'a/../evil.txt');
    await expectRefused(readArchive(nested), 'path-escape');
  });

  it('refuses absolute paths, drive letters and backslashes', async () => {
    await expectRefused(readArchive(zipSync({ '/etc/passwd': strToU8('x') })), 'absolute-path');
    await expectRefused(readArchive(zipSync({ 'C:/Windows/x.txt': strToU8('x') })), 'absolute-path');
    await expectRefused(readArchive(zipSync({ 'a\\..\\..\\x.txt': strToU8('x') })), 'unsafe-name');
  });

  it('refuses a symbolic link entry and a device entry', async () => {
    const linked = await yazlZip([{ name: 'ok.txt', data: 'fine' }, { name: 'link', data: '/etc/passwd', mode: 0o120777 }]);
    const err = await expectRefused(readArchive(linked), 'link');
    expect(err.entry).toBe('link');
    const device = await yazlZip([{ name: 'dev', data: '', mode: 0o020644 }]);
    await expectRefused(readArchive(device), 'special-file');
  });

  it('refuses a zip bomb by its declared size and by its compression ratio', async () => {
    const zeros = new Uint8Array(8 * 1024 * 1024);
    const zip = zipSync({ 'bomb.txt': zeros }, { level: 9 });
    expect(zip.length).toBeLessThan(20_000);
    await expectRefused(readArchive(zip, { limits: { maxEntryBytes: 1024 * 1024 } }), 'too-large');
    await expectRefused(readArchive(zip, { limits: { maxTotalBytes: 4 * 1024 * 1024 } }), 'too-large');
    await expectRefused(readArchive(zip), 'compression-ratio');
  });

  it('stops inflating an entry that expands beyond its declared size', async () => {
    // A 2 MiB entry whose headers claim 1000 bytes: only the inflater can see the lie.
    const zip = Buffer.from(zipSync({ 'liar.txt': new Uint8Array(2 * 1024 * 1024).fill(65) }, { level: 9 }));
    for (const [signature, sizeOffset] of [[0x04034b50, 22], [0x02014b50, 24]] as const) {
      for (let i = 0; i + 4 <= zip.length; i++) {
        if (zip.readUInt32LE(i) === signature) zip.writeUInt32LE(1000, i + sizeOffset);
      }
    }
    const err = await expectRefused(readArchive(new Uint8Array(zip)), 'too-large');
    expect(err.message).toMatch(/beyond its declared 1000 bytes/);
  });

  it('refuses too many entries before reading any', async () => {
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 30; i++) files[`f${i}.txt`] = strToU8(String(i));
    await expectRefused(readArchive(zipSync(files), { limits: { maxEntries: 20 } }), 'too-many-entries');
    expect((await readArchive(zipSync(files), { limits: { maxEntries: 30 } })).files).toHaveLength(30);
  });

  it('refuses duplicate names and a file that is also a folder', async () => {
    const twice = renameEntry(await yazlZip([{ name: 'a.txt', data: '1' }, { name: 'b.txt', data: '2' }]), 'b.txt', 'a.txt');
    await expectRefused(readArchive(twice), 'duplicate-entry');
    await expectRefused(readArchive(zipSync({ a: strToU8('file'), 'a/b.txt': strToU8('in folder a') })), 'duplicate-entry');
  });

  it('refuses data that is not an archive, and a corrupt zip', async () => {
    await expectRefused(readArchive(strToU8('just some text, not an archive')), 'unsupported-format');
    const zip = zipSync({ 'a.txt': strToU8('hello '.repeat(100)) });
    await expectRefused(readArchive(zip.subarray(0, zip.length - 30)), 'corrupt');
  });

  it('reports encrypted entries as skipped', async () => {
    const zip = Buffer.from(zipSync({ 'secret.txt': strToU8('s3cr3t'), 'open.txt': strToU8('hello') }));
    for (const [signature, flagOffset, nameOffset] of [[0x04034b50, 6, 30], [0x02014b50, 8, 46]] as const) {
      for (let i = 0; i + 4 <= zip.length; i++) {
        if (zip.readUInt32LE(i) === signature && zip.toString('latin1', i + nameOffset, i + nameOffset + 6) === 'secret') {
          zip.writeUInt16LE(zip.readUInt16LE(i + flagOffset) | 1, i + flagOffset);
        }
      }
    }
    const contents = await readArchive(new Uint8Array(zip));
    expect(contents.files.map((f) => f.path)).toEqual(['open.txt']);
    expect(contents.skipped).toEqual([{ file: 'secret.txt', reason: 'encrypted' }]);
  });

  it('honours an abort signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(readArchive(zipSync({ 'a.txt': strToU8('a') }), { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
  });
});

describe('readArchive: tar and tar.gz', () => {
  it('reads a tar.gz with nested folders', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'akachat-tar-'));
    try {
      await mkdir(join(folder, 'src', 'sub'), { recursive: true });
      await writeFile(join(folder, 'src', 'one.txt'), 'one');
      await writeFile(join(folder, 'src', 'sub', 'two.md'), 'two');
      const tgz = await tarOf(folder, ['src'], true);
      expect(detectArchiveFormat(tgz)).toBe('gzip');
      const contents = await readArchive(tgz);
      expect(contents.format).toBe('tar.gz');
      expect(contents.files.map((f) => f.path).sort()).toEqual(['src/one.txt', 'src/sub/two.md']);
      const plain = await readArchive(await tarOf(folder, ['src']));
      expect(plain.format).toBe('tar');
      expect(plain.files).toHaveLength(2);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('refuses symbolic links and hard links', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'akachat-tar-'));
    try {
      await writeFile(join(folder, 'real.txt'), 'real');
      await symlink('/etc/passwd', join(folder, 'soft'));
      await expectRefused(readArchive(await tarOf(folder, ['real.txt', 'soft'])), 'link');
      await link(join(folder, 'real.txt'), join(folder, 'hard.txt'));
      await expectRefused(readArchive(await tarOf(folder, ['real.txt', 'hard.txt'])), 'link');
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('refuses a path escape inside a tar', async () => {
    const header = Buffer.alloc(512);
    const body = Buffer.from('evil');
    // A hand-made ustar header: node-tar refuses to write "../" names itself.
    header.write('../evil.txt', 0);
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(body.length.toString(8).padStart(11, '0') + '\0', 124);
    header.write('00000000000\0', 136);
    header.write('0', 156);
    header.write('ustar\0' + '00', 257);
    header.fill(' ', 148, 156);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    const tarBytes = Buffer.concat([header, body, Buffer.alloc(512 - body.length), Buffer.alloc(1024)]);
    await expectRefused(readArchive(new Uint8Array(tarBytes)), 'path-escape');
    await expectRefused(readArchive(new Uint8Array(gzipSync(tarBytes))), 'path-escape');
  });

  it('refuses a tar.gz that expands beyond the limits while decompressing', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'akachat-tar-'));
    try {
      await writeFile(join(folder, 'zeros.bin'), new Uint8Array(6 * 1024 * 1024));
      const tgz = await tarOf(folder, ['zeros.bin'], true);
      await expectRefused(readArchive(tgz, { limits: { maxTotalBytes: 1024 * 1024 } }), 'too-large');
      await expectRefused(readArchive(tgz), 'compression-ratio');
      await expectRefused(readArchive(await tarOf(folder, ['zeros.bin']), { limits: { maxEntryBytes: 1024 * 1024 } }), 'too-large');
      expect(await readdir(folder)).toEqual(['out.tar', 'out.tgz', 'zeros.bin']);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
