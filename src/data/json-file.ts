import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors.js';
import { invalid } from '../validate.js';

/**
 * Reads a JSON file that must hold one object (config.json, models.json). A missing or empty
 * file is `undefined`; a UTF-8 BOM is tolerated; bad JSON or a non-object is a clear error.
 */
export async function readJsonObjectFile(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') return undefined;
    throw err;
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`Expected valid JSON in ${file} but received a parse error: ${(err as Error).message}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid('a JSON object', file, parsed);
  return parsed as Record<string, unknown>;
}
