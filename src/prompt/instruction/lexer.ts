import { TemplateError } from '../../errors.js';
import type { SourcePosition } from './tree.js';

export type Token =
  | { type: 'string'; value: string; start: number; end: number }
  | { type: 'number'; value: number; start: number; end: number }
  | { type: 'name'; value: string; start: number; end: number }
  | { type: 'punct'; value: string; start: number; end: number }
  | { type: 'eof'; value: ''; start: number; end: number };

/** Maps offsets in the instruction to 1-based line/column; built once per instruction. */
export class SourceLocator {
  readonly #lineStarts: number[] = [0];

  constructor(source: string) {
    for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) this.#lineStarts.push(i + 1);
  }

  position(offset: number): SourcePosition {
    let low = 0;
    let high = this.#lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.#lineStarts[mid] <= offset) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, column: offset - this.#lineStarts[low] + 1 };
  }
}

const WHITESPACE = /\s+/y;
const NAME = /[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*/uy;
const NUMBER = /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const TWO_CHAR_PUNCT = new Set(['==', '!=', '<=', '>=', '**']);
const ONE_CHAR_PUNCT = new Set(['(', ')', '[', ']', ',', '.', '=', '<', '>', '-', '{', '}', ':']);
const SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0', a: '\x07', b: '\b', f: '\f', v: '\v', '\n': '',
};

/**
 * Reads the tokens of the expressions inside `{ ... }` placeholders. Whitespace, newlines
 * included, separates tokens. The lexer never looks past the end of the source and every
 * step consumes at least one character, so it always terminates.
 */
export class ExpressionLexer {
  readonly #source: string;
  readonly #locator: SourceLocator;

  constructor(source: string, locator: SourceLocator) {
    this.#source = source;
    this.#locator = locator;
  }

  /** The token starting at or after `offset` (whitespace skipped). */
  read(offset: number): Token {
    const source = this.#source;
    WHITESPACE.lastIndex = offset;
    if (WHITESPACE.test(source)) offset = WHITESPACE.lastIndex;
    if (offset >= source.length) return { type: 'eof', value: '', start: offset, end: offset };
    const ch = source[offset];

    if (ch === "'" || ch === '"') return this.#readString(offset);

    NUMBER.lastIndex = offset;
    const number = NUMBER.exec(source);
    if (number) return { type: 'number', value: Number(number[0]), start: offset, end: NUMBER.lastIndex };

    NAME.lastIndex = offset;
    const name = NAME.exec(source);
    if (name) return { type: 'name', value: name[0], start: offset, end: NAME.lastIndex };

    const two = source.slice(offset, offset + 2);
    if (TWO_CHAR_PUNCT.has(two)) return { type: 'punct', value: two, start: offset, end: offset + 2 };
    if (ONE_CHAR_PUNCT.has(ch)) return { type: 'punct', value: ch, start: offset, end: offset + 1 };

    const codePoint = String.fromCodePoint(source.codePointAt(offset)!);
    throw this.error(`Unexpected character ${JSON.stringify(codePoint)} in an expression`, offset);
  }

  error(message: string, offset: number, options?: ErrorOptions): TemplateError {
    const { line, column } = this.#locator.position(offset);
    return new TemplateError(message, line, column, options);
  }

  /** Python-style string literal: '...', "...", '''...''' or """...""", with backslash escapes. */
  #readString(start: number): Token {
    const source = this.#source;
    const quoteChar = source[start];
    const tripled = source.startsWith(quoteChar.repeat(3), start);
    const quote = tripled ? quoteChar.repeat(3) : quoteChar;
    let i = start + quote.length;
    let value = '';
    let chunkStart = i;
    for (;;) {
      if (i >= source.length) throw this.error('Unterminated string literal', start);
      const ch = source[i];
      if (ch === '\\') {
        value += source.slice(chunkStart, i);
        const [decoded, next] = this.#readEscape(i);
        value += decoded;
        i = next;
        chunkStart = i;
        continue;
      }
      if (ch === quoteChar && source.startsWith(quote, i)) {
        value += source.slice(chunkStart, i);
        return { type: 'string', value, start, end: i + quote.length };
      }
      i++;
    }
  }

  /** Decodes the escape at `offset` (a backslash); returns the text and the offset after it. */
  #readEscape(offset: number): [string, number] {
    const source = this.#source;
    const kind = source[offset + 1];
    if (kind === undefined) throw this.error('Unterminated string literal', offset);
    if (Object.hasOwn(SIMPLE_ESCAPES, kind)) return [SIMPLE_ESCAPES[kind], offset + 2];
    const hexLength = kind === 'x' ? 2 : kind === 'u' ? 4 : kind === 'U' ? 8 : 0;
    if (hexLength > 0) {
      const hex = source.slice(offset + 2, offset + 2 + hexLength);
      const code = /^[0-9a-fA-F]+$/.test(hex) && hex.length === hexLength ? parseInt(hex, 16) : NaN;
      if (!(code <= 0x10ffff)) throw this.error(`Invalid escape \\${kind}${hex}`, offset);
      return [String.fromCodePoint(code), offset + 2 + hexLength];
    }
    // Unknown escapes keep the backslash, as Python does (handy for Windows paths).
    return ['\\', offset + 1];
  }
}
