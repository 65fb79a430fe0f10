import Encoding from 'encoding-japanese';
import { AkachatError } from '../errors.js';

/** Names of the encodings {@link decodeText} recognises. */
export type TextEncodingName = 'UTF-8' | 'UTF-16LE' | 'UTF-16BE' | 'Shift_JIS' | 'EUC-JP' | 'ISO-2022-JP';

export interface DecodedText {
  text: string;
  encoding: TextEncodingName;
  /** True when the bytes started with a byte order mark (which is not part of `text`). */
  bom: boolean;
}

/** Bytes that are not text in any encoding we read; the message says why. */
export class NotTextError extends AkachatError {
  constructor(reason: string) { super(reason, 'NOT_TEXT'); }
}

const SNIFF_BYTES = 8192;

/**
 * Decodes the bytes of a text file: UTF-8 (with or without BOM), UTF-16 LE/BE with a BOM,
 * and, for bytes that are not valid UTF-8, the Japanese legacy encodings Shift_JIS, EUC-JP and
 * ISO-2022-JP as detected by encoding-japanese. Throws {@link NotTextError} for anything else
 * (binary data, unknown 8-bit encodings).
 */
export function decodeText(bytes: Uint8Array): DecodedText {
  if (startsWith(bytes, [0xef, 0xbb, 0xbf])) return { text: decodeUtf8(bytes.subarray(3)), encoding: 'UTF-8', bom: true };
  if (startsWith(bytes, [0xff, 0xfe])) return { text: decodeUtf16(bytes.subarray(2), true), encoding: 'UTF-16LE', bom: true };
  if (startsWith(bytes, [0xfe, 0xff])) return { text: decodeUtf16(bytes.subarray(2), false), encoding: 'UTF-16BE', bom: true };
  // NUL never appears in 8-bit text; without a BOM it marks binary data (or BOM-less UTF-16).
  if (bytes.subarray(0, SNIFF_BYTES).includes(0)) throw new NotTextError('binary content (NUL bytes)');
  // ISO-2022-JP is 7-bit, so it would pass as UTF-8; its escape sequences give it away.
  if (bytes.includes(0x1b) && Encoding.detect(bytes, 'JIS') === 'JIS') {
    return { text: Encoding.convert(bytes, { to: 'UNICODE', from: 'JIS', type: 'string' }), encoding: 'ISO-2022-JP', bom: false };
  }
  try {
    return { text: decodeUtf8(bytes, true), encoding: 'UTF-8', bom: false };
  } catch {
    // Not UTF-8: try the Japanese legacy encodings below.
  }
  const detected = Encoding.detect(bytes, ['EUCJP', 'SJIS']);
  const names: Partial<Record<string, TextEncodingName>> = { SJIS: 'Shift_JIS', EUCJP: 'EUC-JP' };
  const encoding = detected ? names[detected] : undefined;
  if (!detected || !encoding) throw new NotTextError('unknown text encoding or binary content');
  const text = Encoding.convert(bytes, { to: 'UNICODE', from: detected, type: 'string' });
  return { text, encoding, bom: false };
}

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

function decodeUtf8(bytes: Uint8Array, fatal = false): string {
  return new TextDecoder('utf-8', { fatal, ignoreBOM: true }).decode(bytes);
}

function decodeUtf16(bytes: Uint8Array, littleEndian: boolean): string {
  const even = bytes.subarray(0, bytes.length - (bytes.length % 2));
  if (littleEndian) return new TextDecoder('utf-16le').decode(even);
  // Swap to little-endian: 'utf-16be' needs full ICU, which not every Node build has.
  const swapped = new Uint8Array(even.length);
  for (let i = 0; i < even.length; i += 2) {
    swapped[i] = even[i + 1];
    swapped[i + 1] = even[i];
  }
  return new TextDecoder('utf-16le').decode(swapped);
}
