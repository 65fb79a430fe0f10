import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import yazl from 'yazl';
import Encoding from 'encoding-japanese';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { Document, Packer, Paragraph, TextRun } from 'docx';
import {
  ArchiveRefusedError, EmbeddingError, HashedNgramEmbedder, Rag, ragText, type Embedder, type IngestProgress,
} from '../../src/rag/index.js';
import { AbortError, InvalidArgumentError, NotFoundError, UnsupportedError } from '../../src/errors.js';

const SJIS_TEXT = '吾輩は猫である。名前はまだ無い。\n\nどこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。';

async function pdfBytes(text: string): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  pdf.addPage([500, 200]).drawText(text, { x: 20, y: 150, size: 12, font });
  return pdf.save();
}

async function docxBytes(paragraphs: string[]): Promise<Uint8Array> {
  const document = new Document({ sections: [{ children: paragraphs.map((p) => new Paragraph({ children: [new TextRun(p)] })) }] });
  return new Uint8Array(await Packer.toBuffer(document));
}

/** The zip a user would drop in: nested folders, several formats and encodings, and two files that cannot be read. */
async function documentsZip(): Promise<Uint8Array> {
  return zipSync({
    'docs/japanese/neko.txt': Uint8Array.from(Encoding.convert(Encoding.stringToCode(SJIS_TEXT), { to: 'SJIS', from: 'UNICODE' })),
    'docs/readme.md': strToU8('# 使い方\n\nこのライブラリはローカルLLMを動かします。\n\n## 設定\n\n温度パラメータを調整してください。'),
    'web/page.html': strToU8('<html><head><script>var hidden = "スクリプト秘密";</script></head><body><p>富士山は日本一高い山です。</p></body></html>'),
    'data/prices.csv': strToU8('品名,価格\nりんご,120\nバナナ,80\n'),
    'data/info.json': strToU8(JSON.stringify({ company: '赤ちゃん商事', address: { city: '大阪市' } })),
    'papers/otters.pdf': await pdfBytes('Sea otters hold hands while they sleep.'),
    'papers/report.docx': await docxBytes(['四半期報告書', '売上は前年比で増加しました。']),
    'bin/blob.bin': Uint8Array.from([0, 1, 2, 3, 255, 254, 0, 7]),
    'empty.txt': new Uint8Array(0),
  });
}

async function yazlZip(entries: { name: string; data: string; mode?: number }[]): Promise<Uint8Array> {
  const zip = new yazl.ZipFile();
  for (const entry of entries) zip.addBuffer(Buffer.from(entry.data), entry.name, { mode: entry.mode });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** Every file under `folder` with a hash of its content: equal snapshots mean nothing changed. */
async function snapshot(folder: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    const key = path.slice(folder.length + 1);
    result[key] = entry.isFile() ? createHash('sha256').update(await readFile(path)).digest('hex').slice(0, 16) : 'dir';
  }
  return result;
}

let root: string;
let dataFolder: string;
let factoryCalls: string[];

function newRag(extra: Partial<ConstructorParameters<typeof Rag>[0]> = {}): Rag {
  return new Rag({
    dataFolder,
    embedderFactory: async (ref) => {
      factoryCalls.push(ref);
      return new HashedNgramEmbedder({ dimensions: 64 });
    },
    embedBatchSize: 4,
    ...extra,
  });
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'akachat-rag-'));
  dataFolder = join(root, 'data');
  await mkdir(dataFolder);
  factoryCalls = [];
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('Rag collections', () => {
  it('creates, lists, describes and deletes collections', async () => {
    const rag = newRag();
    const info = await rag.create('manuals', { embeddingModel: 'fake-model', chunkSize: 200, queryPrefix: 'query: ', passagePrefix: 'passage: ' });
    expect(info).toMatchObject({
      name: 'manuals', chunkSize: 200, chunkOverlap: 0, fileCount: 0, chunkCount: 0, generation: 0,
      embedding: { model: 'fake-model', modelId: 'hashed-ngram:2,3:64', dimensions: 64, queryPrefix: 'query: ', passagePrefix: 'passage: ', quantization: 'f16' },
    });
    await rag.create('notes', { embeddingModel: null });
    expect((await rag.list()).map((c) => [c.name, c.embedding?.model ?? null])).toEqual([['manuals', 'fake-model'], ['notes', null]]);
    expect(await rag.has('notes')).toBe(true);
    await expect(rag.create('notes')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await rag.delete('notes');
    expect(await rag.has('notes')).toBe(false);
    await expect(rag.delete('notes')).rejects.toBeInstanceOf(NotFoundError);
    expect((await rag.list()).map((c) => c.name)).toEqual(['manuals']);
    const config = JSON.parse(await readFile(join(dataFolder, 'rag', 'manuals', 'collection.json'), 'utf8'));
    expect(config.embedding.passagePrefix).toBe('passage: ');
  });

  it('refuses unsafe collection names and reports missing collections as NotFoundError', async () => {
    const rag = newRag();
    for (const name of ['../escape', '/abs', 'a/b', 'C:x', '']) {
      await expect(rag.create(name), name).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(rag.search('nothing-here', 'query')).rejects.toBeInstanceOf(NotFoundError);
    await expect(rag.addText('nothing-here', 'a.txt', 'text')).rejects.toBeInstanceOf(NotFoundError);
    expect(await readdir(root)).toEqual(['data']);
  });

  it('ingests a zip of mixed documents, reports unreadable files and finds every readable one', async () => {
    const rag = newRag();
    await rag.create('docs', { embeddingModel: 'fake-model', chunkSize: 60 });
    const phases = new Set<string>();
    const report = await rag.addArchive('docs', await documentsZip(), { onProgress: (p: IngestProgress) => phases.add(p.phase) });

    expect(report.added.map((a) => a.file).sort()).toEqual([
      'data/info.json', 'data/prices.csv', 'docs/japanese/neko.txt', 'docs/readme.md', 'papers/otters.pdf', 'papers/report.docx', 'web/page.html',
    ]);
    expect(report.added.find((a) => a.file === 'docs/japanese/neko.txt')).toMatchObject({ format: 'text', encoding: 'Shift_JIS' });
    expect(report.skipped).toEqual(expect.arrayContaining([
      { file: 'bin/blob.bin', reason: 'unsupported file type ".bin"' },
      { file: 'empty.txt', reason: 'empty file' },
    ]));
    expect(report.skipped).toHaveLength(2);
    expect(report.chunksAdded).toBe(report.chunkCount);
    expect(report.chunksAdded).toBeGreaterThan(report.added.length);
    expect([...phases].sort()).toEqual(['embed', 'extract', 'index', 'read', 'write']);

    // The source files are kept as extracted (Shift_JIS bytes unchanged).
    const stored = await readFile(join(dataFolder, 'rag', 'docs', 'files', 'docs', 'japanese', 'neko.txt'));
    expect(Encoding.detect(stored)).toBe('SJIS');

    const expectations: [string, string][] = [
      ['名前はまだ無い', 'docs/japanese/neko.txt'],
      ['温度パラメータ', 'docs/readme.md'],
      ['富士山', 'web/page.html'],
      ['バナナの価格', 'data/prices.csv'],
      ['大阪市', 'data/info.json'],
      ['sea otters sleep', 'papers/otters.pdf'],
      ['売上は前年比', 'papers/report.docx'],
    ];
    for (const [query, file] of expectations) {
      expect((await rag.search('docs', query, { k: 1, mode: 'lexical' }))[0]?.file, query).toBe(file);
      expect((await rag.search('docs', query, { k: 1 }))[0]?.file, `hybrid ${query}`).toBe(file);
    }
    expect(await rag.search('docs', 'スクリプト秘密', { mode: 'lexical' })).toEqual([]);
  });

  it('returns chunks with scores and sources, in each search mode', async () => {
    const rag = newRag();
    await rag.create('kb', { embeddingModel: 'fake-model', chunkSize: 20 });
    await rag.addText('kb', 'cats.txt', '猫は一日の大半を眠って過ごします。\n\n猫はとても気まぐれな動物です。');
    await rag.addText('kb', 'dogs.txt', '犬は散歩が大好きです。\n\n犬は人間の良き友です。');

    const vector = await rag.search('kb', '猫は眠って過ごします', { k: 3, mode: 'vector' });
    expect(vector).toHaveLength(3);
    expect(vector[0]).toMatchObject({ file: 'cats.txt', index: 0, start: 0, text: '猫は一日の大半を眠って過ごします。' });
    expect(vector[0].end).toBe(vector[0].start + vector[0].text.length);
    expect(vector[0].vectorScore).toBe(vector[0].score);
    for (const [i, hit] of vector.entries()) {
      expect(hit.score).toBeGreaterThanOrEqual(-1);
      expect(hit.score).toBeLessThanOrEqual(1.0001);
      if (i > 0) expect(hit.score).toBeLessThanOrEqual(vector[i - 1].score);
    }

    const lexical = await rag.search('kb', '散歩', { mode: 'lexical' });
    expect(lexical.map((h) => [h.file, h.index])).toEqual([['dogs.txt', 0]]);
    expect(lexical[0].lexicalScore).toBeGreaterThan(0);

    const hybrid = await rag.search('kb', '気まぐれな猫', { k: 2 });
    expect(hybrid[0]).toMatchObject({ file: 'cats.txt', index: 1 });
    expect(hybrid[0].vectorScore).toBeGreaterThan(0);
    expect(hybrid[0].lexicalScore).toBeGreaterThan(0);
    expect(hybrid[0].score).toBeCloseTo(2 / 61, 5);

    expect(await rag.query('kb', '散歩', 1)).toBe('犬は散歩が大好きです。');
    expect(ragText(await rag.search('kb', '犬', { k: 2, mode: 'lexical' }))).toBe('犬は散歩が大好きです。\n\n犬は人間の良き友です。');
    expect(await rag.search('kb', '   ')).toEqual([]);
    await expect(rag.search('kb', 'x', { k: 0 })).rejects.toThrow(/Expected an integer between 1 and 1000 for options.k but received 0/);
    expect(factoryCalls).toEqual(['fake-model']);
  });

  it('reopens after a restart and answers the same', async () => {
    const first = newRag();
    await first.create('kb', { embeddingModel: 'fake-model', chunkSize: 50 });
    await first.addArchive('kb', await documentsZip());
    const queries = ['名前はまだ無い', 'りんご', 'otters', '報告書'];
    const before = [];
    for (const q of queries) before.push(await first.search('kb', q, { k: 3 }));
    await first.dispose();
    await expect(first.search('kb', 'x')).rejects.toThrow(/disposed/);

    const second = newRag();
    expect(await second.info('kb')).toMatchObject({ fileCount: 7, generation: 1 });
    for (const [i, q] of queries.entries()) expect(await second.search('kb', q, { k: 3 })).toEqual(before[i]);
    const files = await readdir(join(dataFolder, 'rag', 'kb'));
    expect(files.sort()).toEqual(['chunks', 'collection.json', 'files', 'manifest.json', 'vectors']);
  });

  it('adds incrementally: old chunks stay, a file with the same path replaces its old version', async () => {
    const rag = newRag();
    await rag.create('kb', { embeddingModel: 'fake-model', chunkSize: 30 });
    const first = await rag.addText('kb', 'a.txt', '最初のファイルです。\n\n内容は古い版です。');
    const secondZip = zipSync({ 'b.txt': strToU8('二つ目のファイルです。') });
    const second = await rag.addArchive('kb', secondZip);
    expect(second.chunksAdded).toBe(1);
    expect(second.chunkCount).toBe(first.chunkCount + 1);
    expect((await rag.search('kb', '古い', { k: 1, mode: 'lexical' }))[0].file).toBe('a.txt');
    expect((await rag.search('kb', '古い版', { k: 1, mode: 'vector' }))[0].file).toBe('a.txt');

    const segmentsBefore = await readdir(join(dataFolder, 'rag', 'kb', 'chunks'));
    expect(segmentsBefore).toEqual(['000001.jsonl', '000002.jsonl']);

    const third = await rag.addText('kb', 'a.txt', '新しい版に置き換えました。');
    expect(third).toMatchObject({ replaced: ['a.txt'], chunksAdded: 1, chunksRemoved: first.chunksAdded, fileCount: 2, chunkCount: 2 });
    expect(await rag.search('kb', '古い', { mode: 'lexical' })).toEqual([]);
    for (const mode of ['vector', 'hybrid'] as const) {
      const hits = await rag.search('kb', '古い版', { k: 10, mode });
      expect(hits.map((h) => h.text).sort()).toEqual(['二つ目のファイルです。', '新しい版に置き換えました。']);
    }
    expect(await readFile(join(dataFolder, 'rag', 'kb', 'files', 'a.txt'), 'utf8')).toBe('新しい版に置き換えました。');
    const files = await rag.files('kb');
    expect(Object.keys(files).sort()).toEqual(['a.txt', 'b.txt']);
    expect(files['a.txt'].firstChunk).toBe(first.chunksAdded + 1);

    // A restart sees the same live chunks.
    const reopened = newRag();
    expect((await reopened.search('kb', 'ファイル', { k: 10, mode: 'lexical' })).map((h) => h.text).sort())
      .toEqual(['二つ目のファイルです。']);
    expect((await reopened.info('kb')).chunkCount).toBe(2);
  });

  it('rewrites the chunk segments once replaced chunks outnumber the live ones', async () => {
    const rag = new Rag({ dataFolder });
    await rag.create('kb', { chunkSize: 10 });
    const long = Array.from({ length: 1200 }, (_, i) => `項目${i}です`).join('\n\n');
    expect((await rag.addText('kb', 'long.txt', long)).chunksAdded).toBe(1200);
    await rag.addText('kb', 'keep.txt', '残る文章');
    const chunksFolder = join(dataFolder, 'rag', 'kb', 'chunks');
    expect(await readdir(chunksFolder)).toEqual(['000001.jsonl', '000002.jsonl']);
    const replaced = await rag.addText('kb', 'long.txt', '短くなった');
    expect(replaced).toMatchObject({ chunksRemoved: 1200, chunksAdded: 1, chunkCount: 2 });
    // One segment holding only the live chunks replaces the three.
    expect(await readdir(chunksFolder)).toEqual(['000003.jsonl']);
    const lines = (await readFile(join(chunksFolder, '000003.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.text).sort()).toEqual(['残る文章', '短くなった']);
    const reopened = new Rag({ dataFolder });
    expect((await reopened.search('kb', '文章'))[0].text).toBe('残る文章');
    expect(await reopened.search('kb', '項目')).toEqual([]);
  });

  it('leaves the collection unchanged, on disk and in memory, when an ingest is aborted', async () => {
    const controller = new AbortController();
    let embedCalls = 0;
    const embedder = new HashedNgramEmbedder({ dimensions: 64 });
    const abortingEmbedder: Embedder = {
      dimensions: 64,
      modelId: embedder.modelId,
      embed: async (texts, signal) => {
        embedCalls++;
        if (embedCalls === 3) controller.abort();
        return embedder.embed(texts, signal);
      },
    };
    const rag = new Rag({ dataFolder, embedderFactory: async () => abortingEmbedder, embedBatchSize: 2 });
    await rag.create('kb', { embeddingModel: 'fake-model', chunkSize: 20 });
    await rag.addText('kb', 'keep.txt', '残すべき内容です。');
    const before = await snapshot(join(dataFolder, 'rag', 'kb'));
    const infoBefore = await rag.info('kb');
    const searchBefore = await rag.search('kb', '内容', { k: 5 });

    const big = Array.from({ length: 20 }, (_, i) => `段落${i}の文章です。`).join('\n\n');
    await expect(rag.addText('kb', 'big.txt', big, { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
    expect(embedCalls).toBeGreaterThanOrEqual(3);
    expect(await snapshot(join(dataFolder, 'rag', 'kb'))).toEqual(before);
    expect(await rag.info('kb')).toEqual(infoBefore);
    expect(await rag.search('kb', '内容', { k: 5 })).toEqual(searchBefore);
    expect(await rag.search('kb', '段落', { mode: 'lexical' })).toEqual([]);

    // Aborted while writing the new generation: also rolled back.
    const late = new AbortController();
    await expect(rag.addText('kb', 'big.txt', big, {
      signal: late.signal, onProgress: (p) => { if (p.phase === 'write') late.abort(); },
    })).rejects.toBeInstanceOf(AbortError);
    expect(await snapshot(join(dataFolder, 'rag', 'kb'))).toEqual(before);

    // And the collection still takes the next ingest.
    const ok = await rag.addText('kb', 'big.txt', '小さな文章。');
    expect(ok.chunkCount).toBe(infoBefore.chunkCount + 1);
  });

  it('leaves the collection unchanged when the embedder fails or breaks its contract', async () => {
    let mode: 'ok' | 'throw' | 'short' = 'ok';
    const embedder = new HashedNgramEmbedder({ dimensions: 32 });
    const flaky: Embedder = {
      dimensions: 32,
      embed: async (texts) => {
        if (mode === 'throw') throw new Error('GPU fell over');
        if (mode === 'short') return [new Float32Array(5)];
        return embedder.embed(texts);
      },
    };
    const rag = new Rag({ dataFolder, embedderFactory: async () => flaky });
    await rag.create('kb', { embeddingModel: 'm', chunkSize: 0 });
    await rag.addText('kb', 'a.txt', 'first');
    const before = await snapshot(join(dataFolder, 'rag', 'kb'));
    mode = 'throw';
    await expect(rag.addText('kb', 'b.txt', 'second')).rejects.toThrow('GPU fell over');
    mode = 'short';
    await expect(rag.addText('kb', 'b.txt', 'second')).rejects.toBeInstanceOf(EmbeddingError);
    expect(await snapshot(join(dataFolder, 'rag', 'kb'))).toEqual(before);
    expect((await rag.info('kb')).fileCount).toBe(1);
  });

  it('refuses malicious archives and writes nothing anywhere', async () => {
    const rag = newRag({ archiveLimits: { maxEntries: 50, maxEntryBytes: 1024 * 1024 } });
    await rag.create('kb', { embeddingModel: 'fake-model' });
    await rag.addText('kb', 'existing.txt', '既存の内容');
    const rootBefore = await snapshot(root);
    const absoluteTargetExisted = existsSync('/tmp/evil.txt');

    const escape = Buffer.from(await yazlZip([{ name: 'xx/evil.txt', data: 'evil' }]));
    let at = escape.indexOf('xx/evil.txt');
    while (at >= 0) { escape.write('../evil.txt', at); at = escape.indexOf('xx/evil.txt', at + 1); }
    const manyEntries: Record<string, Uint8Array> = {};
    for (let i = 0; i < 60; i++) manyEntries[`f${i}.txt`] = strToU8(`file ${i}`);
    const malicious: [string, Uint8Array, string][] = [
      ['path escape', new Uint8Array(escape), 'path-escape'],
      ['absolute path', zipSync({ 'ok.txt': strToU8('fine'), '/tmp/evil.txt': strToU8('evil') }), 'absolute-path'],
      ['symlink', await yazlZip([{ name: 'ok.txt', data: 'fine' }, { name: 'link.txt', data: '/etc/passwd', mode: 0o120777 }]), 'link'],
      ['bomb', zipSync({ 'ok.txt': strToU8('fine'), 'bomb.txt': new Uint8Array(4 * 1024 * 1024) }, { level: 9 }), 'too-large'],
      ['too many entries', zipSync(manyEntries), 'too-many-entries'],
    ];
    for (const [what, archive, reason] of malicious) {
      const err = await rag.addArchive('kb', archive).then(() => undefined, (e: unknown) => e);
      expect(err, what).toBeInstanceOf(ArchiveRefusedError);
      expect((err as ArchiveRefusedError).reason, what).toBe(reason);
    }
    expect(await snapshot(root)).toEqual(rootBefore);
    expect(existsSync('/tmp/evil.txt')).toBe(absoluteTargetExisted);
    expect(await rag.search('kb', 'fine', { mode: 'lexical' })).toEqual([]);
    expect((await rag.info('kb')).fileCount).toBe(1);
  });

  it('reads an archive and files from disk paths', async () => {
    const rag = newRag();
    await rag.create('kb', { embeddingModel: null });
    const zipPath = join(root, 'upload.zip');
    await writeFile(zipPath, zipSync({ 'in-zip.md': strToU8('ジップの中身') }));
    const notePath = join(root, 'メモ.txt');
    await writeFile(notePath, 'ディスク上のメモ');
    await rag.addArchive('kb', zipPath);
    const report = await rag.addFiles('kb', [notePath, { name: 'sub/inline.txt', data: strToU8('インライン') }]);
    expect(report.added.map((a) => a.file)).toEqual(['メモ.txt', 'sub/inline.txt']);
    expect((await rag.search('kb', 'ジップ'))[0].file).toBe('in-zip.md');
    expect((await rag.search('kb', 'メモ'))[0].file).toBe('メモ.txt');
    await expect(rag.addFiles('kb', [{ name: '../x.txt', data: strToU8('x') }])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(rag.addFiles('kb', [root])).rejects.toThrow(/Expected a regular file/);
  });

  it('keeps lexical-only collections working without any embedder', async () => {
    const rag = new Rag({ dataFolder });
    await rag.create('plain');
    expect((await rag.info('plain')).embedding).toBeNull();
    await rag.addText('plain', 'a.txt', '検索できる日本語の文章');
    expect((await rag.search('plain', '日本語'))[0]).toMatchObject({ file: 'a.txt', lexicalScore: expect.any(Number) });
    await expect(rag.search('plain', '日本語', { mode: 'vector' })).rejects.toBeInstanceOf(UnsupportedError);
    await expect(rag.create('vec', { embeddingModel: 'some-model' })).rejects.toBeInstanceOf(UnsupportedError);
  });

  it('refuses to mix embedding models in one collection', async () => {
    await newRag().create('kb', { embeddingModel: 'fake-model' });
    const other = new Rag({ dataFolder, embedderFactory: async () => new HashedNgramEmbedder({ dimensions: 32 }) });
    await expect(other.addText('kb', 'a.txt', 'text')).rejects.toBeInstanceOf(EmbeddingError);
    await expect(other.search('kb', 'text')).rejects.toThrow(/built with hashed-ngram:2,3:64 \(64 dimensions\)/);
  });

  it('finishes a commit cut short by a crash and removes leftovers of an uncommitted ingest', async () => {
    const rag = newRag();
    await rag.create('kb', { embeddingModel: 'fake-model' });
    await rag.addText('kb', 'a.txt', 'committed text');
    const folder = join(dataFolder, 'rag', 'kb');
    // Generation 1 committed but its source file not moved yet; generation 2 written but never committed.
    await mkdir(join(folder, '.staging-1', 'files', 'sub'), { recursive: true });
    await writeFile(join(folder, '.staging-1', 'files', 'sub', 'late.txt'), 'moved on open');
    await mkdir(join(folder, '.staging-2', 'files'), { recursive: true });
    await writeFile(join(folder, '.staging-2', 'files', 'ghost.txt'), 'never committed');
    await writeFile(join(folder, 'chunks', '000002.jsonl'), '{"id":99,"file":"ghost.txt","index":0,"start":0,"end":5,"text":"ghost"}\n');

    const reopened = newRag();
    expect((await reopened.search('kb', 'committed'))[0].file).toBe('a.txt');
    expect(await reopened.search('kb', 'ghost', { mode: 'lexical' })).toEqual([]);
    expect(await readFile(join(folder, 'files', 'sub', 'late.txt'), 'utf8')).toBe('moved on open');
    expect((await readdir(folder)).sort()).toEqual(['chunks', 'collection.json', 'files', 'manifest.json', 'vectors']);
    expect(await readdir(join(folder, 'chunks'))).toEqual(['000001.jsonl']);
  });

  it('serialises concurrent ingests into one collection', async () => {
    const rag = newRag();
    await rag.create('kb', { embeddingModel: 'fake-model' });
    const reports = await Promise.all(Array.from({ length: 5 }, (_, i) => rag.addText('kb', `f${i}.txt`, `並行して追加した文章その${i}`)));
    expect(reports.map((r) => r.chunkCount).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(await rag.info('kb')).toMatchObject({ generation: 5, fileCount: 5, chunkCount: 5 });
    expect(await newRag().search('kb', '並行', { k: 10, mode: 'lexical' })).toHaveLength(5);
  });
});
