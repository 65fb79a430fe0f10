import { describe, expect, it } from 'vitest';
import Encoding from 'encoding-japanese';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { Document, Packer, Paragraph, TextRun } from 'docx';
import { zipSync } from 'fflate';
import { decodeText, NotTextError } from '../../src/rag/encoding.js';
import {
  csvToText, documentFormatOf, DocumentLimitError, htmlToText, jsonToText, loadDocument, resolveDocumentLimits, UnreadableFileError,
} from '../../src/rag/loaders.js';

const JAPANESE = '吾輩は猫である。名前はまだ無い。\nどこで生れたかとんと見当がつかぬ。ｶﾀｶﾅ';

function encode(text: string, to: Encoding.Encoding): Uint8Array {
  return Uint8Array.from(Encoding.convert(Encoding.stringToCode(text), { to, from: 'UNICODE' }));
}

async function makePdf(lines: string[]): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const line of lines) {
    const page = pdf.addPage([400, 200]);
    page.drawText(line, { x: 20, y: 150, size: 14, font });
  }
  return pdf.save();
}

async function makeDocx(paragraphs: string[]): Promise<Uint8Array> {
  const document = new Document({ sections: [{ children: paragraphs.map((p) => new Paragraph({ children: [new TextRun(p)] })) }] });
  return new Uint8Array(await Packer.toBuffer(document));
}

describe('decodeText', () => {
  it('reads UTF-8 with and without a BOM', () => {
    const bytes = new TextEncoder().encode(JAPANESE);
    expect(decodeText(bytes)).toEqual({ text: JAPANESE, encoding: 'UTF-8', bom: false });
    expect(decodeText(Uint8Array.from([0xef, 0xbb, 0xbf, ...bytes]))).toEqual({ text: JAPANESE, encoding: 'UTF-8', bom: true });
  });

  it('reads UTF-16 LE and BE by their BOM', () => {
    const le = Buffer.from(JAPANESE, 'utf16le');
    expect(decodeText(Uint8Array.from([0xff, 0xfe, ...le]))).toMatchObject({ text: JAPANESE, encoding: 'UTF-16LE' });
    const be = Buffer.from(le).swap16();
    expect(decodeText(Uint8Array.from([0xfe, 0xff, ...be]))).toMatchObject({ text: JAPANESE, encoding: 'UTF-16BE' });
  });

  it('detects Shift_JIS, EUC-JP and ISO-2022-JP', () => {
    expect(decodeText(encode(JAPANESE, 'SJIS'))).toMatchObject({ text: JAPANESE, encoding: 'Shift_JIS' });
    expect(decodeText(encode(JAPANESE, 'EUCJP'))).toMatchObject({ text: JAPANESE, encoding: 'EUC-JP' });
    const jis = encode('日本語のメール', 'JIS');
    expect(jis.includes(0x1b)).toBe(true);
    expect(decodeText(jis)).toMatchObject({ text: '日本語のメール', encoding: 'ISO-2022-JP' });
  });

  it('refuses binary data', () => {
    expect(() => decodeText(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0xff]))).toThrow(NotTextError);
  });
});

describe('format readers', () => {
  it('maps extensions to formats', () => {
    expect(documentFormatOf('a/b/readme.MD')).toBe('markdown');
    expect(documentFormatOf('README')).toBe('text');
    expect(documentFormatOf('.env')).toBe('text');
    expect(documentFormatOf('x.tsv')).toBe('csv');
    expect(documentFormatOf('image.png')).toBeUndefined();
  });

  it('keeps only the visible text of HTML', () => {
    const html = `<!doctype html><html><head><title>題名</title><style>body{color:red}</style>
      <script>var secret = "do not index";</script></head>
      <body><h1>見出し</h1><p>本文の<b>大事な</b>段落&amp;記号</p><noscript>no js</noscript>
      <div hidden>隠し</div><ul><li>一つ目</li><li>二つ目</li></ul><pre>  keep
  spacing</pre><table><tr><td>A</td><td>B</td></tr></table></body></html>`;
    const text = htmlToText(html);
    expect(text).toContain('題名');
    expect(text).toContain('見出し\n\n本文の大事な段落&記号');
    expect(text).toContain('一つ目\n二つ目');
    expect(text).toContain('  keep\n  spacing');
    expect(text).toMatch(/A\tB/);
    for (const hidden of ['color:red', 'do not index', 'no js', '隠し']) expect(text).not.toContain(hidden);
  });

  it('turns CSV rows into lines, resolving quotes', () => {
    expect(csvToText('名前,値\n"田中, 太郎",1\n"改\n行",2\n')).toBe('名前, 値\n田中, 太郎, 1\n改 行, 2');
    expect(csvToText('a\tb\n1\t2', '\t')).toBe('a, b\n1, 2');
  });

  it('turns JSON into key: value lines', () => {
    expect(jsonToText({ title: '坊っちゃん', author: { name: '夏目漱石' }, tags: ['小説', '明治'], year: 1906, none: null }))
      .toBe('title: 坊っちゃん\nauthor.name: 夏目漱石\ntags: 小説\ntags: 明治\nyear: 1906');
  });
});

describe('loadDocument', () => {
  it('reads a Shift_JIS text file and normalises line ends', async () => {
    const doc = await loadDocument('notes/memo.txt', encode('一行目\r\n二行目', 'SJIS'));
    expect(doc).toEqual({ text: '一行目\n二行目', format: 'text', encoding: 'Shift_JIS' });
  });

  it('reads JSON and JSON Lines', async () => {
    expect((await loadDocument('a.json', new TextEncoder().encode('{"q":"質問","a":"答え"}'))).text).toBe('q: 質問\na: 答え');
    expect((await loadDocument('a.jsonl', new TextEncoder().encode('{"t":"一"}\n{"t":"二"}\n'))).text).toBe('t: 一\n\nt: 二');
  });

  it('extracts the text of a PDF', async () => {
    const doc = await loadDocument('paper.pdf', await makePdf(['The first page speaks of otters.', 'Page two: rivers.']));
    expect(doc.format).toBe('pdf');
    expect(doc.text).toContain('The first page speaks of otters.');
    expect(doc.text).toContain('Page two: rivers.');
    expect(doc.text.indexOf('otters')).toBeLessThan(doc.text.indexOf('rivers'));
  });

  it('extracts the text of a DOCX', async () => {
    const doc = await loadDocument('report.docx', await makeDocx(['第一段落です。', 'Second paragraph.']));
    expect(doc).toEqual({ text: '第一段落です。\n\nSecond paragraph.', format: 'docx' });
  });

  it('skips unsupported, binary, empty, blank and broken files with a reason', async () => {
    const reasons: Record<string, string> = {};
    const cases: [string, Uint8Array][] = [
      ['photo.png', Uint8Array.from([0x89, 0x50, 0x4e, 0x47])],
      ['data.txt', Uint8Array.from([0x01, 0x00, 0x02, 0x00])],
      ['empty.md', new Uint8Array(0)],
      ['blank.txt', new TextEncoder().encode(' \n\t\n')],
      ['broken.json', new TextEncoder().encode('{"a": ')],
      ['broken.pdf', new TextEncoder().encode('%PDF-1.4 nonsense')],
      ['broken.docx', new TextEncoder().encode('not a zip')],
    ];
    for (const [name, bytes] of cases) {
      const err = await loadDocument(name, bytes).then(() => undefined, (e: unknown) => e);
      expect(err, name).toBeInstanceOf(UnreadableFileError);
      reasons[name] = (err as Error).message;
    }
    expect(reasons['photo.png']).toMatch(/unsupported file type "\.png"/);
    expect(reasons['data.txt']).toMatch(/binary/);
    expect(reasons['empty.md']).toBe('empty file');
    expect(reasons['blank.txt']).toBe('no text');
    expect(reasons['broken.json']).toMatch(/cannot read json/);
    expect(reasons['broken.pdf']).toMatch(/cannot read pdf/);
    expect(reasons['broken.docx']).toMatch(/not a valid docx/);
  });

  it('refuses a docx whose parts expand beyond the limit', async () => {
    const bomb = zipSync({ 'word/document.xml': new Uint8Array(4 * 1024 * 1024) });
    await expect(loadDocument('bomb.docx', bomb, { maxExpandedBytes: 1024 * 1024 })).rejects.toThrow(/expand beyond 1048576 bytes/);
  });
});

describe('per-file limits', () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const limitOf = (work: () => unknown) => {
    try {
      work();
    } catch (err) {
      expect(err).toBeInstanceOf(DocumentLimitError);
      return `${(err as DocumentLimitError).limit}: ${(err as Error).message}`;
    }
    return 'no error';
  };

  it('refuses HTML and JSON nested deeper than maxDepth, and takes them at that depth', async () => {
    expect(htmlToText('<div>'.repeat(512) + 'deep')).toBe('deep');
    expect(limitOf(() => htmlToText('<div>'.repeat(513) + 'deep'))).toBe('maxDepth: elements nested deeper than 512 levels (maxDepth)');
    expect(limitOf(() => htmlToText('<b>'.repeat(11), { maxDepth: 10 }))).toMatch(/^maxDepth:/);
    expect(jsonToText(JSON.parse('['.repeat(512) + '"x"' + ']'.repeat(512)))).toBe('x');
    expect(limitOf(() => jsonToText(JSON.parse('['.repeat(513) + ']'.repeat(513))))).toMatch(/^maxDepth: arrays and objects nested deeper than 512/);
    // Refused by a scan before JSON.parse builds it; brackets inside strings do not count.
    await expect(loadDocument('deep.json', bytes('['.repeat(100_000) + ']'.repeat(100_000)))).rejects.toThrow('arrays and objects nested deeper than 512 levels (maxDepth)');
    expect((await loadDocument('brackets.json', bytes(JSON.stringify({ a: '[{'.repeat(1000) })))).text).toBe(`a: ${'[{'.repeat(1000)}`);
    await expect(loadDocument('deep.jsonl', bytes(`{"a":1}\n${'['.repeat(600)}${']'.repeat(600)}`))).rejects.toThrow(/maxDepth/);
  });

  it('refuses a CSV row of more than maxColumns cells', async () => {
    expect(csvToText('a,b,c\nd,e,f', ',', { maxColumns: 3 })).toBe('a, b, c\nd, e, f');
    expect(limitOf(() => csvToText('a,b\nc,d,e', ',', { maxColumns: 2 }))).toBe('maxColumns: a row of more than 2 cells (maxColumns)');
    const wide = Array.from({ length: 20_000 }, (_, i) => `c${i}`).join(',');
    await expect(loadDocument('wide.csv', bytes(wide))).rejects.toThrow('a row of more than 16384 cells (maxColumns)');
  });

  it('refuses more text than maxTextLength, and files over maxBytes', async () => {
    const long = 'word '.repeat(100);
    expect((await loadDocument('a.txt', bytes(long), { maxTextLength: 500 })).text).toBe(long);
    await expect(loadDocument('a.txt', bytes(long), { maxTextLength: 499 })).rejects.toThrow('more than 499 characters of text (maxTextLength)');
    // Extractors stop as soon as they pass the limit.
    expect(limitOf(() => htmlToText('<p>abc</p>'.repeat(1000), { maxTextLength: 100 }))).toBe('maxTextLength: more than 100 characters of text (maxTextLength)');
    expect(limitOf(() => csvToText('abc\n'.repeat(1000), ',', { maxTextLength: 100 }))).toMatch(/^maxTextLength:/);
    expect(limitOf(() => jsonToText(Array.from({ length: 1000 }, () => 'abc'), { maxTextLength: 100 }))).toMatch(/^maxTextLength:/);
    await expect(loadDocument('a.jsonl', bytes('{"a":"abc"}\n'.repeat(100)), { maxTextLength: 100 })).rejects.toThrow(/maxTextLength/);
    await expect(loadDocument('a.txt', bytes(long), { maxBytes: 499 })).rejects.toThrow('file larger than 499 bytes (maxBytes)');
    await expect(loadDocument('a.txt', bytes(long), { maxBytes: 499 })).rejects.toBeInstanceOf(UnreadableFileError);
  });

  it('checks limits given by a caller', () => {
    expect(resolveDocumentLimits({ maxDepth: 64 })).toEqual({ maxBytes: 128 * 1024 * 1024, maxDepth: 64, maxColumns: 16_384, maxTextLength: 32 * 1024 * 1024 });
    expect(() => resolveDocumentLimits({ maxColumns: 0 })).toThrow('Expected an integer >= 1 for documentLimits.maxColumns but received 0');
  });
});

