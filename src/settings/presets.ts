import { resolve } from 'node:path';
import { toJsonText, writeFileAtomic } from '../data/atomic.js';
import { readJsonObjectFile } from '../data/json-file.js';
import { NotFoundError } from '../errors.js';
import { normalizeOptions, type PromptOptions, type RawOptions } from '../prompt/options.js';
import { invalid } from '../validate.js';

/**
 * Model presets of one data folder, `models.json`: display name -> options object (either
 * schema). Presets keep the file's order. Options are validated when set, handed out as
 * copies, and written atomically one change at a time.
 */
export class Presets {
  readonly file: string;
  #queue: Promise<unknown> = Promise.resolve();

  /** @param dataFolder the akachat data folder holding `models.json`. */
  constructor(dataFolder: string) {
    this.file = resolve(dataFolder, 'models.json');
  }

  /** Display names in file order. */
  async list(): Promise<string[]> {
    return [...(await this.#read()).keys()];
  }

  async has(name: string): Promise<boolean> {
    return (await this.#read()).has(name);
  }

  /** The preset's options as stored (a copy); NotFoundError when there is no such preset. */
  async get(name: string): Promise<RawOptions> {
    const options = (await this.#read()).get(name);
    if (options === undefined) throw new NotFoundError(`Preset ${JSON.stringify(name)} not found in ${this.file}`);
    return options;
  }

  /** The preset's options normalized, ready for `mergeOptions`. */
  async getOptions(name: string): Promise<PromptOptions> {
    return normalizeOptions(await this.get(name), `preset ${name}`);
  }

  /** Every preset, in file order (copies). */
  async entries(): Promise<Array<[name: string, options: RawOptions]>> {
    return [...(await this.#read())];
  }

  /** Adds or replaces a preset (keeps its place when replacing); the options are validated first. */
  async set(name: string, options: RawOptions): Promise<void> {
    checkName(name);
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid('an options object', `preset ${name}`, options);
    normalizeOptions(options, `preset ${name}`);
    const copy = structuredClone(options);
    await this.#serial(async () => {
      const presets = await this.#read();
      presets.set(name, copy);
      await this.#write(presets);
    });
  }

  /** Removes a preset; NotFoundError when there is no such preset. */
  async delete(name: string): Promise<void> {
    await this.#serial(async () => {
      const presets = await this.#read();
      if (!presets.delete(name)) throw new NotFoundError(`Preset ${JSON.stringify(name)} not found in ${this.file}`);
      await this.#write(presets);
    });
  }

  // A Map keeps names like "__proto__" as plain data.
  async #read(): Promise<Map<string, RawOptions>> {
    const parsed = await readJsonObjectFile(this.file);
    if (!parsed) return new Map();
    const presets = new Map<string, RawOptions>();
    for (const [name, options] of Object.entries(parsed)) {
      if (typeof options !== 'object' || options === null || Array.isArray(options)) {
        throw invalid('an options object', `preset ${JSON.stringify(name)} in ${this.file}`, options);
      }
      presets.set(name, options as RawOptions);
    }
    return presets;
  }

  async #write(presets: Map<string, RawOptions>): Promise<void> {
    await writeFileAtomic(this.file, toJsonText(Object.fromEntries(presets)));
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task, task);
    this.#queue = result.catch(() => {});
    return result;
  }
}

function checkName(name: unknown): asserts name is string {
  // eslint-disable-next-line no-control-regex
  if (typeof name !== 'string' || name.trim() === '' || name.length > 255 || /[\u0000-\u001f\u007f]/.test(name)) {
    throw invalid('a non-empty preset name without control characters', 'preset name', name);
  }
}
