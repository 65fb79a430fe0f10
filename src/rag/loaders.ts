import { extname } from 'node:path/posix';
import { Parser as HtmlParser } from 'htmlparser2';
import { parse as parseCsv } from 'csv-parse/sync';
import { AkachatError } from '../errors.js';
import { expectInteger } from '../validate.js';
import { ArchiveRefusedError, readArchive } from './archive.js';
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

/**
 * Limits on one file; a file over one of them is left out (skipped) with a reason that names
 * the limit, and the other files of the ingest go ahead.
 */
export interface DocumentLimits {
  /** Most bytes of one file. Default 128 MiB. */
  maxBytes?: number;
  /** Deepest nesting of HTML elements and of JSON arrays/objects. Default 512 (Blink's HTML parser limit). */
  maxDepth?: number;
  /** Most cells in one CSV row. Default 16,384 (a spreadsheet's column limit). */
  maxColumns?: number;
  /** Most characters of text taken out of one file. Default 32 Mi (2^25). */
  maxTextLength?: number;
}

export const DEFAULT_DOCUMENT_LIMITS: Readonly<Required<DocumentLimits>> = Object.freeze({
  maxBytes: 128 * 1024 * 1024,
  maxDepth: 512,
  maxColumns: 16_384,
  maxTextLength: 32 * 1024 * 1024,
});

export interface LoadOptions extends DocumentLimits {
  /** Most bytes the parts of a docx (itself a zip) may expand to. Default 128 MiB. */
  maxExpandedBytes?: number;
}

const DEFAULT_MAX_EXPANDED_BYTES = 128 * 1024 * 1024;

/** Checks limits given by a caller and fills in the defaults. */
export function resolveDocumentLimits(limits: DocumentLimits | undefined, name = 'documentLimits'): Required<DocumentLimits> {
  const merged = { ...DEFAULT_DOCUMENT_LIMITS };
  for (const key of Object.keys(DEFAULT_DOCUMENT_LIMITS) as (keyof DocumentLimits)[]) {
    if (limits?.[key] !== undefined) merged[key] = expectInteger(limits[key], `${name}.${key}`, 1);
  }
  return merged;
}

/** A file over one of its {@link DocumentLimits}: skipped, with the limit in the reason. */
export class DocumentLimitError extends UnreadableFileError {
  readonly limit: keyof DocumentLimits;
  constructor(limit: keyof DocumentLimits, message: string) {
    super(`${message} (${limit})`);
    this.limit = limit;
  }
}

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
  const limits = resolveDocumentLimits(options, 'options');
  if (bytes.length > limits.maxBytes) throw new DocumentLimitError('maxBytes', `file larger than ${limits.maxBytes} bytes`);
  let document: LoadedDocument;
  try {
    document = await readAs(format, path, bytes, { ...options, ...limits });
    if (document.text.length > limits.maxTextLength) {
      throw tooMuchText(limits.maxTextLength);
    }
  } catch (err) {
    if (err instanceof UnreadableFileError) throw err;
    if (err instanceof NotTextError) throw new UnreadableFileError(err.message);
    throw new UnreadableFileError(`cannot read ${format}: ${(err as Error).message ?? String(err)}`);
  }
  if (document.text.trim() === '') throw new UnreadableFileError('no text');
  return document;
}

type ResolvedLoadOptions = LoadOptions & Required<DocumentLimits>;

async function readAs(format: DocumentFormat, path: string, bytes: Uint8Array, options: ResolvedLoadOptions): Promise<LoadedDocument> {
  switch (format) {
    case 'text':
    case 'markdown': {
      const { text, encoding } = decodeText(bytes);
      return { text: normaliseNewlines(text), format, encoding };
    }
    case 'html': {
      const { text, encoding } = decodeText(bytes);
      return { text: htmlToText(text, options), format, encoding };
    }
    case 'csv': {
      const { text, encoding } = decodeText(bytes);
      return { text: csvToText(text, path.toLowerCase().endsWith('.tsv') ? '\t' : ',', options), format, encoding };
    }
    case 'json': {
      const { text, encoding } = decodeText(bytes);
      const lines = /\.(jsonl|ndjson)$/i.test(path) ? jsonLinesToText(text, options) : jsonToText(parseJson(text, options), options);
      return { text: lines, format, encoding };
    }
    case 'pdf':
      return { text: await pdfToText(bytes), format };
    case 'docx':
      return { text: await docxToText(bytes, options.maxExpandedBytes ?? DEFAULT_MAX_EXPANDED_BYTES), format };
  }
}

/** Counts the characters an extractor has put out, refusing the file once past maxTextLength. */
class TextBudget {
  #left: number;
  readonly #limit: number;
  constructor(limits: Pick<DocumentLimits, 'maxTextLength'>) {
    this.#limit = limits.maxTextLength ?? DEFAULT_DOCUMENT_LIMITS.maxTextLength;
    this.#left = this.#limit;
  }

  spend(characters: number): void {
    this.#left -= characters;
    if (this.#left < 0) throw tooMuchText(this.#limit);
  }
}

function tooMuchText(limit: number): DocumentLimitError {
  return new DocumentLimitError('maxTextLength', `more than ${limit} characters of text`);
}

function tooDeep(limit: number, what: string): DocumentLimitError {
  return new DocumentLimitError('maxDepth', `${what} nested deeper than ${limit} levels`);
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
export function htmlToText(html: string, limits: Pick<DocumentLimits, 'maxDepth' | 'maxTextLength'> = {}): string {
  const maxDepth = limits.maxDepth ?? DEFAULT_DOCUMENT_LIMITS.maxDepth;
  const budget = new TextBudget(limits);
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
    budget.spend(text.length);
    out.push(text);
    dropLeadingSpace = false;
  };
  const parser = new HtmlParser({
    onopentag(name, attributes) {
      const hidden = (INVISIBLE_ELEMENTS.has(name) || 'hidden' in attributes) && name !== VISIBLE_IN_HEAD;
      // Refused at once: the parser's work on each tag grows with the depth of unclosed ones.
      if (hiddenStack.push(hidden) > maxDepth) throw tooDeep(maxDepth, 'elements');
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
export function csvToText(text: string, delimiter: ',' | '\t' = ',', limits: Pick<DocumentLimits, 'maxColumns' | 'maxTextLength'> = {}): string {
  const maxColumns = limits.maxColumns ?? DEFAULT_DOCUMENT_LIMITS.maxColumns;
  const budget = new TextBudget(limits);
  const lines: string[] = [];
  parseCsv(text, {
    delimiter, bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true,
    // Each row is turned into its line as it is parsed, so a limit stops the parse there.
    on_record: (row: string[]) => {
      if (row.length > maxColumns) throw new DocumentLimitError('maxColumns', `a row of more than ${maxColumns} cells`);
      const line = row.map((cell) => cell.replace(/\s*\n\s*/g, ' ').trim()).filter((c) => c !== '').join(', ');
      if (line !== '') {
        budget.spend(line.length + 1);
        lines.push(line);
      }
      return null;
    },
  });
  return lines.join('\n');
}

/**
 * The readable content of a JSON value: one line per scalar, prefixed with its key path
 * (`author.name: 夏目漱石`), so both keys and values can be found. Array indices are left out.
 */
export function jsonToText(value: unknown, limits: Pick<DocumentLimits, 'maxDepth' | 'maxTextLength'> = {}): string {
  const maxDepth = limits.maxDepth ?? DEFAULT_DOCUMENT_LIMITS.maxDepth;
  const budget = new TextBudget(limits);
  const lines: string[] = [];
  const visit = (node: unknown, path: string, depth: number) => {
    if (node === null || node === undefined) return;
    if (typeof node === 'object' && depth >= maxDepth) throw tooDeep(maxDepth, 'arrays and objects');
    if (Array.isArray(node)) {
      for (const item of node) visit(item, path, depth + 1);
    } else if (typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) visit(child, path ? `${path}.${key}` : key, depth + 1);
    } else {
      const text = String(node);
      if (text.trim() !== '') {
        const line = path ? `${path}: ${text}` : text;
        budget.spend(line.length + 1);
        lines.push(line);
      }
    }
  };
  visit(value, '', 0);
  return lines.join('\n');
}

/**
 * JSON.parse after a scan of the nesting depth: a deep document is refused before a parse
 * builds it (and before the recursive walk of {@link jsonToText} could overflow the stack).
 */
function parseJson(text: string, limits: Required<DocumentLimits>): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limits.maxDepth) throw tooDeep(limits.maxDepth, 'arrays and objects');
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return JSON.parse(text);
}

/** JSON Lines: each record's text, records separated by a blank line. */
function jsonLinesToText(text: string, limits: Required<DocumentLimits>): string {
  const records: string[] = [];
  const budget = new TextBudget(limits);
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const record = jsonToText(parseJson(line, limits), limits);
    if (record === '') continue;
    budget.spend(record.length + 2);
    records.push(record);
  }
  return records.join('\n\n');
}

async function pdfToText(bytes: Uint8Array): Promise<string> {
  const { extractText } = await import('unpdf');
  // pdf.js takes ownership of (detaches) the buffer it is given: hand it a copy.
  const { text } = await extractText(new Uint8Array(bytes), { mergePages: false });
  return text.map((page) => normaliseNewlines(page).trim()).filter((page) => page !== '').join('\n\n');
}

async function docxToText(bytes: Uint8Array, maxExpandedBytes: number): Promise<string> {
  // A docx is a zip: inflate it once through the archive reader, which stops a part the moment
  // it passes the limit or its declared size, before mammoth inflates it without limits.
  try {
    await readArchive(bytes, { limits: { maxTotalBytes: maxExpandedBytes, maxEntryBytes: maxExpandedBytes } });
  } catch (err) {
    if (!(err instanceof ArchiveRefusedError)) throw err;
    throw new UnreadableFileError(err.reason === 'too-large' || err.reason === 'compression-ratio'
      ? `docx parts expand beyond ${maxExpandedBytes} bytes or inflate suspiciously well (${err.message})`
      : `not a valid docx (${err.message})`);
  }
  const mammoth = (await import('mammoth')).default;
  const result = await mammoth.extractRawText({ buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
  return normaliseNewlines(result.value).replace(/\n{3,}/g, '\n\n').trim();
}
