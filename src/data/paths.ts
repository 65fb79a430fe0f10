import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';

/**
 * Checks a user-supplied name (prompt name, var key, RAG collection) and returns the path it
 * names inside `folder`. Names may contain `/` (sub-folders) when `allowSubfolders` is set.
 * Refused: empty, `..` or `.` segments, absolute paths, drive letters, backslashes, NUL and
 * control characters.
 */
export function confinedPath(folder: string, name: unknown, what: string, { allowSubfolders = true, suffix = '' } = {}): string {
  const reason = unsafeNameReason(name, allowSubfolders);
  if (reason) {
    throw new InvalidArgumentError(`Expected a safe ${what} name for ${what} but received ${describeValue(name)}: ${reason}`);
  }
  const base = resolve(folder);
  const full = resolve(base, (name as string) + suffix);
  const rel = relative(base, full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new InvalidArgumentError(`Expected a ${what} name inside ${base} but received ${describeValue(name)}`);
  }
  return full;
}

/** Why a name is unsafe, or undefined when it is fine. */
export function unsafeNameReason(name: unknown, allowSubfolders = true): string | undefined {
  if (typeof name !== 'string') return 'not a string';
  if (name.length === 0) return 'empty';
  if (name.length > 255) return 'longer than 255 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains NUL or a control character';
  if (name.includes('\\')) return 'contains a backslash';
  if (/^[A-Za-z]:/.test(name)) return 'starts with a drive letter';
  if (name.startsWith('/')) return 'is an absolute path';
  const parts = name.split('/');
  if (!allowSubfolders && parts.length > 1) return 'contains "/"';
  for (const part of parts) {
    if (part === '') return 'has an empty path segment';
    if (part === '.' || part === '..') return `has a "${part}" segment`;
  }
  return undefined;
}

/** Relative name of `file` inside `folder` with `/` separators (for listings). */
export function nameInside(folder: string, file: string): string {
  return relative(folder, file).split(sep).join('/');
}

export { join };
