import { readdir, readFile, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../data/atomic.js';
import { confinedPath, unsafeNameReason } from '../data/paths.js';
import { NotFoundError } from '../errors.js';
import { expectString } from '../validate.js';

/**
 * Variables of one data folder: `vars/{key}.txt`, one raw UTF-8 value per file, read by
 * `{var.key}` in instructions. Keys are single file names (no sub-folders), confined to the
 * folder. Writes are atomic. It fits the instruction evaluator's `vars` source directly.
 */
export class VarStore {
  /** The `vars/` folder this store owns. */
  readonly folder: string;

  /** @param dataFolder the akachat data folder; variables live in its `vars/` sub-folder. */
  constructor(dataFolder: string) {
    this.folder = resolve(dataFolder, 'vars');
  }

  /** The value of `key`, verbatim (a leading UTF-8 BOM removed); NotFoundError when not set. */
  async get(key: string): Promise<string> {
    const value = await this.#read(key);
    if (value === undefined) throw new NotFoundError(`Variable ${JSON.stringify(key)} not found in ${this.folder}`);
    return value;
  }

  async has(key: string): Promise<boolean> {
    return (await this.#read(key)) !== undefined;
  }

  async set(key: string, value: string): Promise<void> {
    const path = this.#path(key);
    await writeFileAtomic(path, expectString(value, `var ${key}`));
  }

  /** Removes a variable; NotFoundError when it is not set. */
  async delete(key: string): Promise<void> {
    try {
      await rm(this.#path(key));
    } catch (err) {
      if (isMissing(err)) throw new NotFoundError(`Variable ${JSON.stringify(key)} not found in ${this.folder}`);
      throw err;
    }
  }

  /** All keys, sorted. */
  async list(): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(this.folder, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    return entries
      .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && entry.name.endsWith('.txt') && !entry.name.startsWith('.'))
      .map((entry) => entry.name.slice(0, -'.txt'.length))
      .filter((key) => unsafeNameReason(key, false) === undefined)
      .sort();
  }

  /** All `[key, value]` pairs, sorted by key. */
  async entries(): Promise<Array<[key: string, value: string]>> {
    const result: Array<[string, string]> = [];
    for (const key of await this.list()) {
      const value = await this.#read(key);
      if (value !== undefined) result.push([key, value]); // deleted meanwhile: skip
    }
    return result;
  }

  async #read(key: string): Promise<string | undefined> {
    try {
      const text = await readFile(this.#path(key), 'utf8');
      return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  #path(key: string): string {
    return confinedPath(this.folder, key, 'var', { allowSubfolders: false, suffix: '.txt' });
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
