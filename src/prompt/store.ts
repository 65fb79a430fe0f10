import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { toJsonText, writeFileAtomic } from '../data/atomic.js';
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

/** How deep `list()` descends into sub-folders; a guard against pathological trees. */
const MAX_LIST_DEPTH = 32;

/**
 * The saved prompts of one data folder: `prompt/{name}.txt` (instruction) and
 * `prompt/{name}.json` (options), file-compatible with the original akachat. Names may
 * contain `/` for sub-folders; every name is confined to the prompt folder. Writes are atomic.
 */
export class PromptStore {
  /** The `prompt/` folder this store owns. */
  readonly folder: string;

  /** @param dataFolder the akachat data folder; prompts live in its `prompt/` sub-folder. */
  constructor(dataFolder: string) {
    this.folder = resolve(dataFolder, 'prompt');
  }

  /** Names of all saved prompts (sub-folder names joined with `/`), sorted. */
  async list(): Promise<string[]> {
    const names = new Set<string>();
    const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue; // hidden files and atomic-write temporaries
        if (entry.isDirectory()) {
          if (depth < MAX_LIST_DEPTH) await walk(join(dir, entry.name), `${prefix}${entry.name}/`, depth + 1);
          continue;
        }
        const match = /^(.+)\.(txt|json)$/.exec(entry.name);
        if (!match || !(entry.isFile() || entry.isSymbolicLink())) continue;
        const name = prefix + match[1];
        if (unsafeNameReason(name) === undefined) names.add(name);
      }
    };
    await walk(this.folder, '', 0);
    return [...names].sort();
  }

  /** True when the prompt has a .txt or a .json file. Invalid names throw. */
  async exists(name: string): Promise<boolean> {
    const { txt, json } = this.#paths(name);
    return (await readIfExists(txt)) !== undefined || (await readIfExists(json)) !== undefined;
  }

  /**
   * Loads a prompt. A missing .txt means an empty instruction and a missing .json means no
   * options; when both are missing it throws NotFoundError. Old-schema options load too.
   */
  async load(name: string): Promise<StoredPrompt> {
    const { txt, json } = this.#paths(name);
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
   * and `{name}.txt`, each atomically. The options are validated first (an invalid value or an
   * unsupported provider throws and nothing is written). To save normalized `PromptOptions`,
   * pass `toRawOptions(options)`.
   */
  async save(name: string, instruction: string, options: RawOptions = {}): Promise<void> {
    const { txt, json } = this.#paths(name);
    expectString(instruction, 'instruction');
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid('an options object', 'options', options);
    normalizeOptions(options);
    await writeFileAtomic(json, toJsonText(options));
    await writeFileAtomic(txt, instruction);
  }

  /** Deletes both files of a prompt (and sub-folders left empty); NotFoundError when neither exists. */
  async delete(name: string): Promise<void> {
    const { txt, json } = this.#paths(name);
    const removed = (await Promise.all([removeIfExists(txt), removeIfExists(json)])).some(Boolean);
    if (!removed) throw new NotFoundError(`Prompt ${JSON.stringify(name)} not found in ${this.folder}`);
    for (let dir = dirname(txt); dir.startsWith(this.folder + sep); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break; // not empty (or already gone): the parents are not empty either
      }
    }
  }

  #paths(name: string): { txt: string; json: string } {
    const txt = confinedPath(this.folder, name, 'prompt', { suffix: '.txt' });
    return { txt, json: confinedPath(this.folder, name, 'prompt', { suffix: '.json' }) };
  }
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
