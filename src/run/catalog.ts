/**
 * What a client's `model` string means. Clients send whatever their UI lets the user pick (often a
 * name we listed in `/v1/models` or `/api/tags`, sometimes `gpt-4o-mini`), so names are resolved
 * among the names the server lists, in this order, instead of failing on unknown ones:
 *
 * 1. a saved prompt: run it (its instruction is the persona);
 * 2. a preset from `models.json`: its options;
 * 3. a GGUF file in the owner's models folder (`--models-dir`), by its name without `.gguf`;
 * 4. the default model (`--model`), whatever the name was.
 *
 * A client's name is never a path or an `hf:` reference: what runs, and what is downloaded or
 * quantized, is the owner's choice (the trust rule in the README's security section).
 * A trailing `:latest` (added by some Ollama clients) is ignored when the full name is unknown.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import type { Akachat } from '../akachat.js';
import { InvalidArgumentError, NoModelError } from '../errors.js';
import { isHubReference } from '../llm/hub.js';
import type { PromptOptions } from '../prompt/options.js';
import type { Prompt } from '../prompt/prompt.js';

/** A resolved `model`: a saved prompt, or options naming a model (preset, path or default). */
export type ModelTarget =
  | { kind: 'prompt'; name: string; prompt: Prompt }
  | { kind: 'model'; name: string; options: PromptOptions };

/** One entry of `/v1/models` and `/api/tags`. */
export interface CatalogEntry {
  /** The name a client sends back as `model`. */
  id: string;
  kind: 'model' | 'preset' | 'prompt';
  /** Unix seconds (file time where there is a file, else the server's start). */
  created: number;
  /** Bytes of the model's file (the default model, models-folder files). */
  size?: number;
}

/** How to configure a model, appended to every "no model" message. */
export const HOW_TO_SET_A_MODEL =
  'start akachat with --model <file.gguf | hf:owner/repo:QUANT> (or set AKACHAT_MODEL) or --models-dir <folder>, or send a name listed by /v1/models (a saved prompt, a preset from models.json, a file of the models folder) as "model"';

const LATEST_TAG = ':latest';
const MAX_FOLDER_MODELS = 1000;
const MAX_FOLDER_DEPTH = 3;

export class ModelCatalog {
  readonly #akachat: Akachat;
  readonly #startedAt = Math.floor(Date.now() / 1000);

  constructor(akachat: Akachat) {
    this.#akachat = akachat;
  }

  /** The name under which the default model is listed: the file name without `.gguf`, or the `hf:` reference. */
  defaultModelId(): string | undefined {
    const ref = this.#akachat.defaultModel;
    if (!ref) return undefined;
    return isHubReference(ref) ? ref : basename(ref).replace(/\.gguf$/i, '');
  }

  /** Resolves a client's `model` (see the module comment). Throws NoModelError (HTTP 503) when nothing can answer. */
  async resolve(requested: string | undefined): Promise<ModelTarget> {
    if (requested) {
      for (const name of namesToTry(requested)) {
        // Both lookups read the data folder: run them together, this is on every request's path.
        const [isPrompt, isPreset] = await Promise.all([this.#isPrompt(name), this.#akachat.presets.has(name)]);
        if (isPrompt) return { kind: 'prompt', name, prompt: await this.#akachat.prompt(name) };
        if (isPreset) return { kind: 'model', name, options: { model: name, extra: {} } };
        const file = await this.#folderModel(name);
        if (file) return { kind: 'model', name, options: { model: file, extra: {} } };
      }
    }
    if (!this.#akachat.defaultModel) throw noModelError(requested);
    return { kind: 'model', name: requested || this.defaultModelId()!, options: { extra: {} } };
  }

  /**
   * The local GGUF reference behind a `model` (a prompt's or preset's model, a path, or the
   * default), for routes that need the model itself: tokenize, embeddings.
   */
  async localModel(requested: string | undefined): Promise<{ ref: string; name: string; chatTemplate?: string }> {
    const target = await this.resolve(requested);
    const base = target.kind === 'prompt' ? target.prompt.options : target.options;
    const options = await this.#akachat.resolveOptions(base);
    if ((options.provider ?? 'local') !== 'local') {
      throw new InvalidArgumentError(`Expected a local model for model but received ${JSON.stringify(target.name)}, which runs on an OpenAI-compatible service`);
    }
    if (!options.model) throw noModelError(requested);
    return { ref: options.model, name: target.name, chatTemplate: options.chatTemplate };
  }

  /**
   * A model a caller may pick by name for a saved prompt's run (a preset, a models-folder file or
   * the default model's name), as the `model` option of that run; undefined for any other name.
   */
  async modelOverride(requested: string): Promise<string | undefined> {
    return this.#listed(requested, true);
  }

  /**
   * The file behind a listed model name (a models-folder file or the default model's name), or
   * undefined. Presets and prompts are not files: callers resolve those themselves.
   */
  async fileOf(name: string): Promise<string | undefined> {
    return this.#listed(name, false);
  }

  /** For each name to try: a preset's name (with `presets`), a models-folder file, or the default model. */
  async #listed(requested: string, presets: boolean): Promise<string | undefined> {
    for (const name of namesToTry(requested)) {
      if (presets && (await this.#akachat.presets.has(name))) return name;
      const file = await this.#folderModel(name);
      if (file) return file;
      if (name === this.defaultModelId()) return this.#akachat.defaultModel;
    }
    return undefined;
  }

  /** The default model, presets, models-folder files and saved prompts, each usable as `model`; a prompt shadows a preset of the same name. */
  async list(): Promise<CatalogEntry[]> {
    const entries: CatalogEntry[] = [];
    const seen = new Set<string>();
    const add = (entry: CatalogEntry) => {
      if (seen.has(entry.id)) return;
      seen.add(entry.id);
      entries.push(entry);
    };
    const ref = this.#akachat.defaultModel;
    if (ref) {
      const file = isHubReference(ref) ? undefined : fileInfo(resolve(ref));
      add({ id: this.defaultModelId()!, kind: 'model', created: file?.created ?? this.#startedAt, size: file?.size });
    }
    for (const [id, path] of await this.#folderModels()) {
      const file = fileInfo(path);
      if (file) add({ id, kind: 'model', created: file.created, size: file.size });
    }
    const prompts = await this.#akachat.prompts.list();
    const presets = await this.#akachat.presets.list();
    for (const name of prompts) add({ id: name, kind: 'prompt', created: this.#startedAt });
    for (const name of presets) add({ id: name, kind: 'preset', created: this.#startedAt });
    return entries;
  }

  /** The models folder's file for `name`, if it lists one. */
  async #folderModel(name: string): Promise<string | undefined> {
    if (!this.#akachat.modelsDir) return undefined;
    return (await this.#folderModels()).get(name);
  }

  /**
   * `*.gguf` files of the models folder (sub-folders to depth 3, at most 1000 files), by name.
   * Read on each call: the owner may drop a new file in while the server runs.
   */
  async #folderModels(): Promise<Map<string, string>> {
    const folder = this.#akachat.modelsDir;
    const found = new Map<string, string>();
    if (!folder) return found;
    const walk = async (dir: string, depth: number): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return; // a missing or unreadable folder lists nothing
      }
      for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        if (found.size >= MAX_FOLDER_MODELS || entry.name.startsWith('.')) continue;
        const path = join(dir, entry.name);
        if (entry.isDirectory() && depth < MAX_FOLDER_DEPTH) await walk(path, depth + 1);
        else if (entry.isFile() && /\.gguf$/i.test(entry.name)) found.set(relative(folder, path).split(sep).join('/').replace(/\.gguf$/i, ''), path);
      }
    };
    await walk(folder, 1);
    return found;
  }

  async #isPrompt(name: string): Promise<boolean> {
    try {
      return await this.#akachat.prompts.exists(name);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'INVALID_ARGUMENT') return false; // not a valid prompt name: some other kind of name
      throw error;
    }
  }
}

/** Nothing is configured that could answer (HTTP 503). */
export function noModelError(requested?: string): NoModelError {
  const what = requested
    ? `Model ${JSON.stringify(requested)} is not a name this server lists, and no default model is configured`
    : 'No model is configured';
  return new NoModelError(`${what}: ${HOW_TO_SET_A_MODEL}`);
}

function namesToTry(requested: string): string[] {
  return requested.endsWith(LATEST_TAG) && requested.length > LATEST_TAG.length
    ? [requested, requested.slice(0, -LATEST_TAG.length)]
    : [requested];
}

function fileInfo(path: string): { created: number; size: number } | undefined {
  if (!existsSync(path)) return undefined;
  const stat = statSync(path);
  return { created: Math.floor(stat.mtimeMs / 1000), size: stat.size };
}
