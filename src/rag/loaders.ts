import { extname } from 'node:path/posix';
import { Parser as HtmlParser } from 'htmlparser2';
import { parse as parseCsv } from 'csv-parse/sync';
import { unzipSync } from 'fflate';
import { AkachatError } from '../errors.js';
import { decodeText, NotTextError, type TextEncodingName } from './encoding.js';

/**
 * A file that cannot be turned into text (unsupported type, binary, empty, broken); the
 * message is the reason. Ingest reports such files in `skipped` and carries on with the others.
 */
export class UnreadableFileError extends AkachatError {
  constructor(reason: string, options?: ErrorOptions) { super(reason, 'UNREADABLE_FILE', options); }
}

export type DocumentFormat = 'text' | 'markdown' | 'html' | 'csv' | 'json' | 'pdf' | 'docx';

export interface LoadedDocument {
  text: string;
  format: DocumentFormat;
  /** The detected encoding of text formats; undefined for pdf and docx. */
  encoding?: TextEncodingName;
}

export interface LoadOptions {
  /** Most bytes the parts of a docx (itself a zip) may expand to. Default 128 MiB. */
  maxExpandedBytes?: number;
}

const DEFAULT_MAX_EXPANDED_BYTES = 128 * 1024 * 1024;

const FORMAT_BY_EXTENSION: Readonly<Record<string, DocumentFormat>> = {
  '.txt': 'text', '.text': 'text', '.log': 'text', '.rst': 'text', '': 'text',
  '.md': 'markdown', '.markdown': 'markdown',
  '.html': 'html', '.htm': 'html', '.xhtml': 'html',
  '.csv': 'csv', '.tsv': 'csv',
  '.json': 'json', '.jsonl': 'json', '.ndjson': 'json',
  '.pdf': 'pdf',
  '.docx': 'docx',
};

/** The format a file name maps to, or undefined for types we do not read. */
export function documentFormatOf(path: string): DocumentFormat | undefined {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const extension = base.startsWith('.') && base.indexOf('.', 1) < 0 ? '' : extname(base).toLowerCase();
  return FORMAT_BY_EXTENSION[extension];
}

/**
 * Turns one file into plain text, choosing the reader by the file's extension: txt/md
 * (encoding detected), html (visible text), csv/tsv (one row per line), json/jsonl (string
 * values), pdf (unpdf) and docx (mammoth). Throws {@link UnreadableFileError} with the reason
 * when the file cannot be read or holds no text.
 */
export async function loadDocument(path: string, bytes: Uint8Array, options: LoadOptions = {}): Promise<LoadedDocument> {
  const format = documentFormatOf(path);
  if (format === undefined) throw new UnreadableFileError(`unsupported file type "${extname(path) || path}"`);
  if (bytes.length === 0) throw new UnreadableFileError('empty file');
  let document: LoadedDocument;
  try {
    document = await readAs(format, path, bytes, options);
  } catch (err) {
    if (err instanceof UnreadableFileError) throw err;
    if (err instanceof NotTextError) throw new UnreadableFileError(err.message);
    throw new UnreadableFileError(`cannot read ${format}: ${(err as Error).message ?? String(err)}`);
  }
  if (document.text.trim() === '') throw new UnreadableFileError('no text');
  return document;
}

async function readAs(format: DocumentFormat, path: string, bytes: Uint8Array, options: LoadOptions): Promise<LoadedDocument> {
  switch (format) {
    case 'text':
    case 'markdown': {
      const { text, encoding } = decodeText(bytes);
      return { text: normaliseNewlines(text), format, encoding };
    }
    case 'html': {
      const { text, encoding } = decodeText(bytes);
      return { text: htmlToText(text), format, encoding };
    }
    case 'csv': {
      const { text, encoding } = decodeText(bytes);
      return { text: csvToText(text, path.toLowerCase().endsWith('.tsv') ? '\t' : ','), format, encoding };
    }
    case 'json': {
      const { text, encoding } = decodeText(bytes);
      const lines = /\.(jsonl|ndjson)$/i.test(path) ? jsonLinesToText(text) : jsonToText(JSON.parse(text));
      return { text: lines, format, encoding };
    }
    case 'pdf':
      return { text: await pdfToText(bytes), format };
    case 'docx':
      return { text: await docxToText(bytes, options.maxExpandedBytes ?? DEFAULT_MAX_EXPANDED_BYTES), format };
  }
}

function normaliseNewlines(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

// ---------------------------------------------------------------------------------------

/** Elements whose content is never shown. */
const INVISIBLE_ELEMENTS = new Set(['script', 'style', 'noscript', 'template', 'svg', 'math', 'canvas', 'iframe', 'object', 'head']);
/** `title` is inside `head` but shown in the tab; keep it as the first line. */
const VISIBLE_IN_HEAD = 'title';
const PARAGRAPH_ELEMENTS = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'section', 'article', 'header', 'footer',
  'blockquote', 'pre', 'table', 'ul', 'ol', 'dl', 'figure', 'main', 'aside', 'nav', 'form', 'fieldset', 'hr', 'title']);
const LINE_ELEMENTS = new Set(['br', 'div', 'li', 'tr', 'dt', 'dd', 'figcaption', 'caption', 'address', 'option', 'legend']);
const CELL_ELEMENTS = new Set(['td', 'th']);

/**
 * The visible text of an HTML document: script, style and other invisible elements (and any
 * element with the `hidden` attribute) dropped, whitespace collapsed as a browser would
 * (except inside `pre`), block elements on their own lines, paragraphs separated by a blank line.
 */
export function htmlToText(html: string): string {
  const out: string[] = [];
  const hiddenStack: boolean[] = [];
  let hiddenDepth = 0;
  let preDepth = 0;
  let inTitle = 0;
  /** Line breaks owed before the next text: 0, 1 (line) or 2 (paragraph); adjacent blocks share them. */
  let pendingBreak = 0;
  /** A collapsed space at the start of a line or cell is not shown. */
  let dropLeadingSpace = true;
  const breakBefore = (level: number) => {
    if (out.length > 0) pendingBreak = Math.max(pendingBreak, level);
  };
  const emit = (text: string) => {
    if (pendingBreak > 0) {
      out[out.length - 1] = out[out.length - 1].replace(/ +$/, '');
      out.push(pendingBreak === 2 ? '\n\n' : '\n');
      pendingBreak = 0;
      dropLeadingSpace = true;
    }
    out.push(text);
    dropLeadingSpace = false;
  };
  const parser = new HtmlParser({
    onopentag(name, attributes) {
      const hidden = (INVISIBLE_ELEMENTS.has(name) || 'hidden' in attributes) && name !== VISIBLE_IN_HEAD;
      hiddenStack.push(hidden);
      if (hidden) hiddenDepth++;
      if (name === 'pre') preDepth++;
      if (name === VISIBLE_IN_HEAD) inTitle++;
      if (PARAGRAPH_ELEMENTS.has(name)) breakBefore(2);
      else if (LINE_ELEMENTS.has(name)) breakBefore(1);
    },
    onclosetag(name) {
      if (hiddenStack.pop()) hiddenDepth--;
      if (name === 'pre') preDepth--;
      if (name === VISIBLE_IN_HEAD) inTitle--;
      if (PARAGRAPH_ELEMENTS.has(name)) breakBefore(2);
      else if (LINE_ELEMENTS.has(name) && name !== 'br') breakBefore(1);
      else if (CELL_ELEMENTS.has(name) && pendingBreak === 0 && out.length > 0) {
        emit('\t');
        dropLeadingSpace = true;
      }
    },
    ontext(text) {
      if (hiddenDepth > 0 && inTitle === 0) return;
      if (preDepth > 0) {
        emit(normaliseNewlines(text));
        return;
      }
      let collapsed = text.replace(/[ \t\n\r\f]+/g, ' ');
      if (dropLeadingSpace || pendingBreak > 0) collapsed = collapsed.replace(/^ /, '');
      if (collapsed !== '') emit(collapsed);
    },
  }, { decodeEntities: true });
  parser.end(html);
  return out.join('').replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').trim();
}

/** One CSV row per line, cells separated by ", " (quotes and embedded newlines resolved). */
export function csvToText(text: string, delimiter: ',' | '\t' = ','): string {
  const rows = parseCsv(text, {
    delimiter, bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true,
  }) as string[][];
  return rows.map((row) => row.map((cell) => cell.replace(/\s*\n\s*/g, ' ').trim()).filter((c) => c !== '').join(', '))
    .filter((line) => line !== '')
    .join('\n');
}

/**
 * The readable content of a JSON value: one line per scalar, prefixed with its key path
 * (`author.name: 夏目漱石`), so both keys and values can be found. Array indices are left out.
 */
export function jsonToText(value: unknown): string {
  const lines: string[] = [];
  const visit = (node: unknown, path: string) => {
    if (node === null || node === undefined) return;
    if (Array.isArray(node)) {
      for (const item of node) visit(item, path);
    } else if (typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) visit(child, path ? `${path}.${key}` : key);
    } else {
      const text = String(node);
      if (text.trim() !== '') lines.push(path ? `${path}: ${text}` : text);
    }
  };
  visit(value, '');
  return lines.join('\n');
}

/** JSON Lines: each record's text, records separated by a blank line. */
function jsonLinesToText(text: string): string {
  return text.split(/\r?\n/).filter((line) => line.trim() !== '')
    .map((line) => jsonToText(JSON.parse(line)))
    .filter((record) => record !== '')
    .join('\n\n');
}

async function pdfToText(bytes: Uint8Array): Promise<string> {
  const { extractText } = await import('unpdf');
  // pdf.js takes ownership of (detaches) the buffer it is given: hand it a copy.
  const { text } = await extractText(new Uint8Array(bytes), { mergePages: false });
  return text.map((page) => normaliseNewlines(page).trim()).filter((page) => page !== '').join('\n\n');
}

async function docxToText(bytes: Uint8Array, maxExpandedBytes: number): Promise<string> {
  // A docx is a zip: refuse to hand mammoth one whose parts declare more than the limit.
  let expanded = 0;
  try {
    unzipSync(bytes, { filter: (part) => { expanded += part.originalSize; return false; } });
  } catch (err) {
    throw new UnreadableFileError(`not a valid docx (${(err as Error).message})`);
  }
  if (expanded > maxExpandedBytes) throw new UnreadableFileError(`docx parts expand beyond ${maxExpandedBytes} bytes`);
  const mammoth = (await import('mammoth')).default;
  const result = await mammoth.extractRawText({ buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
  return normaliseNewlines(result.value).replace(/\n{3,}/g, '\n\n').trim();
}
