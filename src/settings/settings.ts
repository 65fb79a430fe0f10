import { resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { toJsonText, writeFileAtomic } from '../data/atomic.js';
import { readJsonObjectFile } from '../data/json-file.js';
import { InvalidArgumentError } from '../errors.js';
import { describeValue, expectString, invalid } from '../validate.js';

/**
 * Environment variables that override `config.json` when read (never written to it):
 *
 * | variable | setting |
 * | --- | --- |
 * | `OPENAI_API_KEY` | `openai_key` |
 * | `HF_TOKEN` | `hf_token` (Hugging Face downloads) |
 * | `AKACHAT_IS_TEST` | `is_test` (`1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`) |
 *
 * An empty variable counts as unset.
 */
export const SETTINGS_ENVIRONMENT: Readonly<Record<string, string>> = Object.freeze({
  OPENAI_API_KEY: 'openai_key',
  HF_TOKEN: 'hf_token',
  AKACHAT_IS_TEST: 'is_test',
});

export type SettingsValues = Record<string, unknown>;

export interface SettingsOptions {
  /** Environment to read overrides from. Default `process.env`. */
  env?: Record<string, string | undefined>;
}

/**
 * The settings of one data folder, `config.json`: `is_test`, `openai_key`, other provider
 * keys and any other key (all kept). Values are read from the file on every call (it is
 * small, and another process may edit it), with environment overrides on top. Secrets are
 * never logged; {@link Settings.masked} is the form to show: only {@link PUBLIC_SETTING_KEYS}
 * appear as they are. Writes are atomic and run one at a time.
 */
export class Settings {
  readonly file: string;
  readonly #env: Record<string, string | undefined>;
  #queue: Promise<unknown> = Promise.resolve();

  /** @param dataFolder the akachat data folder holding `config.json`. */
  constructor(dataFolder: string, { env = process.env }: SettingsOptions = {}) {
    this.file = resolve(dataFolder, 'config.json');
    this.#env = env;
  }

  /** Every setting: the file's values with environment overrides applied. */
  async all(): Promise<SettingsValues> {
    const values = await this.stored();
    for (const [variable, key] of Object.entries(SETTINGS_ENVIRONMENT)) {
      const text = this.#env[variable];
      if (text === undefined || text === '') continue;
      setOwn(values, key, key === 'is_test' ? parseFlag(text, variable) : text);
    }
    return values;
  }

  /** Only what `config.json` holds (`{}` when it does not exist), without environment overrides. */
  async stored(): Promise<SettingsValues> {
    return ((await readJsonObjectFile(this.file)) ?? {}) as SettingsValues;
  }

  async get(key: string): Promise<unknown> {
    const values = await this.all();
    return Object.hasOwn(values, key) ? values[key] : undefined;
  }

  /** The setting `is_test` (test mode for `test()` in instructions). Default `false`. */
  async isTest(): Promise<boolean> {
    const value = await this.get('is_test');
    return value === true || value === 1 || value === 'true' || value === '1';
  }

  /** The OpenAI API key (`openai_key`, or `OPENAI_API_KEY`), or undefined. */
  async openaiKey(): Promise<string | undefined> {
    const value = await this.get('openai_key');
    return typeof value === 'string' && value !== '' ? value : undefined;
  }

  /** Sets one key in `config.json`. `is_test` must be a boolean; values must be JSON data. */
  async set(key: string, value: unknown): Promise<void> {
    await this.update({ [key]: value });
  }

  /**
   * Applies several changes to `config.json` at once; a `null` or `undefined` value removes
   * the key. Environment overrides are not written.
   */
  async update(changes: SettingsValues): Promise<void> {
    if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) throw invalid('an object', 'settings', changes);
    for (const [key, value] of Object.entries(changes)) {
      expectString(key, 'setting name', { allowEmpty: false });
      if (key === 'is_test' && value !== null && value !== undefined && typeof value !== 'boolean') throw invalid('a boolean', key, value);
      if (value !== undefined && !isJsonData(value)) throw invalid('JSON data', key, value);
    }
    await this.#serial(async () => {
      const values = await this.stored();
      for (const [key, value] of Object.entries(changes)) {
        if (value === null || value === undefined) delete values[key];
        else setOwn(values, key, structuredClone(value));
      }
      await writeFileAtomic(this.file, toJsonText(values));
    });
  }

  /** Removes one key from `config.json`. */
  async delete(key: string): Promise<void> {
    await this.update({ [key]: null });
  }

  /** Every setting (environment overrides applied) with secrets masked, safe to show or log. */
  async masked(): Promise<SettingsValues> {
    return maskSecrets(await this.all());
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task, task);
    this.#queue = result.catch(() => {});
    return result;
  }
}

/**
 * Settings that {@link Settings.masked} shows as they are: known keys that never hold a secret.
 * Every other value that could (a string or number, at any depth) is masked, whatever its
 * name, so a key named `auth`, `pass` or `api_key_1` is hidden too.
 */
export const PUBLIC_SETTING_KEYS: ReadonlySet<string> = new Set([
  'is_test', 'default_model', 'model', 'models_dir', 'models_folder', 'threads', 'theme', 'language',
]);

/** True for a setting shown unmasked (see {@link PUBLIC_SETTING_KEYS}). */
export function isPublicSettingKey(key: string): boolean {
  return PUBLIC_SETTING_KEYS.has(key);
}

/** Shortest secret whose last 4 characters are shown (`****wxyz`); shorter ones show none (`****`). */
const MIN_PARTLY_SHOWN_LENGTH = 20;

/**
 * Masks one value that may be secret: a string of 20 characters or more shows only its last 4
 * (`****wxyz`), other strings and numbers become `****`; `''`, null, booleans and undefined stay,
 * so "not set" and on/off still show. Objects and arrays are masked at every depth.
 */
export function maskSecret(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecret);
  if (typeof value === 'object' && value !== null) {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) setOwn(result, key, maskSecret(item));
    return result;
  }
  if (typeof value === 'string') {
    if (value === '') return value;
    return value.length >= MIN_PARTLY_SHOWN_LENGTH ? `****${value.slice(-4)}` : '****';
  }
  return typeof value === 'number' || typeof value === 'bigint' ? '****' : value;
}

/** Copy of a settings object with every value masked except those of {@link PUBLIC_SETTING_KEYS}. */
export function maskSecrets(settings: SettingsValues): SettingsValues {
  const result: SettingsValues = {};
  for (const [key, value] of Object.entries(settings)) setOwn(result, key, isPublicSettingKey(key) ? value : maskSecret(value));
  return result;
}

/**
 * Changes as a form that showed {@link Settings.masked} sends them back, minus the masks: a
 * top-level value equal to the masked current value is dropped (left unchanged, so an
 * environment override is never written to the file), and inside objects and arrays each
 * masked item is replaced by its current value. Anything else is a real change.
 */
export function withoutMaskEchoes(changes: SettingsValues, current: SettingsValues): SettingsValues {
  const result: SettingsValues = {};
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || isPublicSettingKey(key) || !Object.hasOwn(current, key)) {
      setOwn(result, key, value);
      continue;
    }
    const restored = restoreMasked(value, current[key]);
    if (!isDeepStrictEqual(restored, current[key])) setOwn(result, key, restored);
  }
  return result;
}

/** `sent` with every part that equals the mask of the same part of `current` replaced by it. */
function restoreMasked(sent: unknown, current: unknown): unknown {
  if (isDeepStrictEqual(sent, maskSecret(current))) return current;
  if (Array.isArray(sent) && Array.isArray(current)) return sent.map((item, index) => restoreMasked(item, current[index]));
  if (isPlainRecord(sent) && isPlainRecord(current)) {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(sent)) setOwn(result, key, Object.hasOwn(current, key) ? restoreMasked(item, current[key]) : item);
    return result;
  }
  return sent;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseFlag(text: string, variable: string): boolean {
  const normalized = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(normalized)) return true;
  if (['0', 'false', 'no', 'off'].includes(normalized)) return false;
  throw new InvalidArgumentError(`Expected 1, 0, true or false for ${variable} but received ${describeValue(text)}`);
}

function isJsonData(value: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((item) => isJsonData(item, depth + 1));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value).every((item) => isJsonData(item, depth + 1));
  }
  return false;
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
