import type { Dirent } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import {
  isAbandonedWrite, parseTempName, syncDirectory, tempPath, toJsonText, withWriteToken, writeFileSynced,
} from '../data/atomic.js';
import { confinedPath, unsafeNameReason } from '../data/paths.js';
import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { expectString, invalid } from '../validate.js';
import { normalizeOptions, type PromptOptions, type RawOptions } from './options.js';

/** A prompt as loaded from `prompt/{name}.txt` + `prompt/{name}.json`. */
export interface StoredPrompt {
  name: string;
  /** The instruction text, verbatim (a leading UTF-8 BOM removed); `''` when the .txt is missing. */
  instruction: string;
  /** The options normalized to one shape (see `normalizeOptions`). */
  options: PromptOptions;
  /** The options exactly as stored (`{}` when the .json is missing); save these to round-trip. */
  rawOptions: RawOptions;
}

/** How deep `list()` and the recovery at open descend into sub-folders; a guard against pathological trees. */
const MAX_LIST_DEPTH = 32;

/** Saves and deletes of one prompt run one at a time in this process, across store instances. */
const promptLocks = new Map<string, Promise<unknown>>();

/** `.{base}.{pid}.{hex}.commit` (a save's renames may start) or `.delete` (both files go). */
const MARKER_NAME = /^\.(.+)\.(\d+\.[0-9a-f]{12})\.(commit|delete)$/;

/**
 * The saved prompts of one data folder: `prompt/{name}.txt` (instruction) and
 * `prompt/{name}.json` (options), file-compatible with the original akachat. Names may
 * contain `/` for sub-folders; every name is confined to the prompt folder.
 *
 * A save replaces both files as one change, even across a crash: it writes two hidden
 * temporaries (`.{name}.txt.{pid}.{hex}.tmp`, `.{name}.json...`), flushes them, then creates a
 * commit marker (`.{name}.{pid}.{hex}.commit`) and renames both into place. The first use of
 * a store (its "open") finishes what a dead writer left: with a marker, the temporaries that
 * remain are renamed into place (roll forward); without one, they are removed (the old pair
 * stays). A delete works the same way with a `.delete` marker. So after a crash the two files
 * are always from the same save, and the original akachat still reads them as plain files.
 * One writing process per data folder is assumed; saves within a process run one at a time.
 */
export class PromptStore {
  /** The `prompt/` folder this store owns. */
  readonly folder: string;
  #opened: Promise<void> | undefined;

  /** @param dataFolder the akachat data folder; prompts live in its `prompt/` sub-folder. */
  constructor(dataFolder: string) {
    this.folder = resolve(dataFolder, 'prompt');
  }

  /** Names of all saved prompts (sub-folder names joined with `/`), sorted. */
  async list(): Promise<string[]> {
    await this.#open();
    const names = new Set<string>();
    await walkFolders(this.folder, (_dir, prefix, entries) => {
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue; // hidden files, temporaries and markers
        const match = /^(.+)\.(txt|json)$/.exec(entry.name);
        if (!match || !(entry.isFile() || entry.isSymbolicLink())) continue;
        const name = prefix + match[1];
        if (unsafeNameReason(name) === undefined) names.add(name);
      }
    });
    return [...names].sort();
  }

  /** True when the prompt has a .txt or a .json file. Invalid names throw. */
  async exists(name: string): Promise<boolean> {
    const { txt, json } = this.#paths(name);
    await this.#open();
    return (await readIfExists(txt)) !== undefined || (await readIfExists(json)) !== undefined;
  }

  /**
   * Loads a prompt. A missing .txt means an empty instruction and a missing .json means no
   * options; when both are missing it throws NotFoundError. Old-schema options load too.
   */
  async load(name: string): Promise<StoredPrompt> {
    const { txt, json } = this.#paths(name);
    await this.#open();
    const [instructionText, optionsText] = await Promise.all([readIfExists(txt), readIfExists(json)]);
    if (instructionText === undefined && optionsText === undefined) {
      throw new NotFoundError(`Prompt ${JSON.stringify(name)} not found in ${this.folder}`);
    }
    const rawOptions = optionsText === undefined ? {} : parseOptionsFile(optionsText, name);
    let options: PromptOptions;
    try {
      options = normalizeOptions(rawOptions, `prompt ${name} options`);
    } catch (err) {
      if (err instanceof InvalidArgumentError) {
        throw new InvalidArgumentError(`Prompt ${JSON.stringify(name)}: ${err.message}`, { cause: err });
      }
      throw err;
    }
    return { name, instruction: stripBom(instructionText ?? ''), options, rawOptions };
  }

  /**
   * Saves a prompt: `{name}.json` (options as given, unknown keys kept, UTF-8 not ASCII-escaped)
   * and `{name}.txt`, both replaced as one change (see the class). The options are validated
   * first (an invalid value or an unsupported provider throws and nothing is written). To save
   * normalized `PromptOptions`, pass `toRawOptions(options)`.
   */
  async save(name: string, instruction: string, options: RawOptions = {}): Promise<void> {
    const { txt, json } = this.#paths(name);
    expectString(instruction, 'instruction');
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid('an options object', 'options', options);
    normalizeOptions(options);
    await this.#open();
    await withPromptLock(json, (token) => writePair({ txt, json }, instruction, toJsonText(options), token));
  }

  /** Deletes both files of a prompt (and sub-folders left empty); NotFoundError when neither exists. */
  async delete(name: string): Promise<void> {
    const { txt, json } = this.#paths(name);
    await this.#open();
    const removed = await withPromptLock(json, async (token) => {
      if ((await readIfExists(txt)) === undefined && (await readIfExists(json)) === undefined) return false;
      const marker = markerPath(json, token, 'delete');
      await writeFileSynced(marker, '', { exclusive: true });
      await syncDirectory(dirname(json));
      await Promise.all([removeIfExists(txt), removeIfExists(json)]);
      await rm(marker);
      return true;
    });
    if (!removed) throw new NotFoundError(`Prompt ${JSON.stringify(name)} not found in ${this.folder}`);
    for (let dir = dirname(txt); dir.startsWith(this.folder + sep); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break; // not empty (or already gone): the parents are not empty either
      }
    }
  }

  /** Recovers what dead writers left, once per store; a failure is retried by the next call. */
  #open(): Promise<void> {
    this.#opened ??= walkFolders(this.folder, recoverFolder).catch((err: unknown) => {
      this.#opened = undefined;
      throw err;
    });
    return this.#opened;
  }

  #paths(name: string): { txt: string; json: string } {
    const txt = confinedPath(this.folder, name, 'prompt', { suffix: '.txt' });
    return { txt, json: confinedPath(this.folder, name, 'prompt', { suffix: '.json' }) };
  }
}

/** Runs `task` after every earlier save or delete of the same prompt in this process. */
async function withPromptLock<T>(key: string, task: (token: string) => Promise<T>): Promise<T> {
  const previous = promptLocks.get(key) ?? Promise.resolve();
  const run = previous.catch(() => {}).then(() => withWriteToken(task));
  const settled = run.catch(() => {});
  promptLocks.set(key, settled);
  void settled.then(() => {
    if (promptLocks.get(key) === settled) promptLocks.delete(key);
  });
  return run;
}

/** The save protocol described on {@link PromptStore}. */
async function writePair(paths: { txt: string; json: string }, instruction: string, jsonText: string, token: string): Promise<void> {
  const dir = dirname(paths.json);
  await mkdir(dir, { recursive: true });
  const temps = { json: tempPath(paths.json, token), txt: tempPath(paths.txt, token) };
  const marker = markerPath(paths.json, token, 'commit');
  try {
    await writeFileSynced(temps.json, jsonText);
    await writeFileSynced(temps.txt, instruction);
    await writeFileSynced(marker, '', { exclusive: true });
    await syncDirectory(dir);
  } catch (err) {
    await Promise.all([rm(temps.json, { force: true }), rm(temps.txt, { force: true }), rm(marker, { force: true })]);
    throw err;
  }
  // From here on the new pair is committed: if a rename fails, the next open rolls forward.
  await rename(temps.json, paths.json);
  await rename(temps.txt, paths.txt);
  await syncDirectory(dir);
  await rm(marker);
}

function markerPath(jsonPath: string, token: string, kind: 'commit' | 'delete'): string {
  return join(dirname(jsonPath), `.${basename(jsonPath, '.json')}.${token}.${kind}`);
}

/** Finishes the saves and deletes that abandoned writers left in one folder (see {@link PromptStore}). */
async function recoverFolder(dir: string, _prefix: string, entries: Dirent[]): Promise<void> {
  const names = new Set(entries.map((entry) => entry.name));
  let changed = false;
  for (const entry of entries) {
    const marker = MARKER_NAME.exec(entry.name);
    if (!marker) continue;
    const [, base = '', token = '', kind] = marker;
    if (!isAbandonedWrite(token)) continue;
    for (const target of [`${base}.json`, `${base}.txt`]) {
      const path = join(dir, target);
      if (kind === 'delete') await removeIfExists(path);
      else if (names.has(basename(tempPath(path, token)))) await rename(tempPath(path, token), path);
    }
    await syncDirectory(dir);
    await rm(join(dir, entry.name), { force: true });
    changed = true;
  }
  for (const entry of entries) {
    const temp = parseTempName(entry.name);
    if (!temp || !isAbandonedWrite(temp.token)) continue;
    await rm(join(dir, entry.name), { force: true }); // already gone when a marker above renamed it
    changed = true;
  }
  if (changed) await syncDirectory(dir);
}

/** Calls `visit` for `root` and each sub-folder (hidden ones skipped), parents first; a missing root is empty. */
async function walkFolders(
  root: string,
  visit: (dir: string, prefix: string, entries: Dirent[]) => void | Promise<void>,
): Promise<void> {
  const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    await visit(dir, prefix, entries);
    if (depth >= MAX_LIST_DEPTH) return;
    for (const entry of entries) {
      if (entry.isDirectory() && !entry.name.startsWith('.')) await walk(join(dir, entry.name), `${prefix}${entry.name}/`, depth + 1);
    }
  };
  await walk(root, '', 0);
}

function parseOptionsFile(text: string, name: string): RawOptions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stripBom(text));
  } catch (err) {
    throw new InvalidArgumentError(
      `Expected valid JSON in the options of prompt ${JSON.stringify(name)} but received a parse error: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalid('a JSON object', `the options of prompt ${JSON.stringify(name)}`, parsed);
  }
  return parsed as RawOptions;
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

async function removeIfExists(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
