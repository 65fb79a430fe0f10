/**
 * What a client's `model` string means. Clients send whatever their UI lets the user pick (often a
 * name we listed in `/v1/models` or `/api/tags`, sometimes `gpt-4o-mini`), so names are resolved
 * in this order instead of failing on unknown ones:
 *
 * 1. a saved prompt: run it (its instruction is the persona);
 * 2. a preset from `models.json`: its options;
 * 3. a local model reference: an existing `*.gguf` path or an `hf:` reference;
 * 4. the default model (`--model`), whatever the name was.
 *
 * A trailing `:latest` (added by some Ollama clients) is ignored when the full name is unknown.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Akachat } from '../akachat.js';
import { InvalidArgumentError } from '../errors.js';
import { isHubReference } from '../llm/hub.js';
import type { PromptOptions } from '../prompt/options.js';
import type { Prompt } from '../prompt/prompt.js';
import { HttpError } from './errors.js';

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
  /** GGUF path of the default model. */
  path?: string;
  /** Bytes of the default model's file. */
  size?: number;
}

/** How to configure a model, appended to every "no model" message. */
export const HOW_TO_SET_A_MODEL =
  'start akachat with --model <file.gguf | hf:owner/repo:QUANT> (or set AKACHAT_MODEL), or send a saved prompt\'s name, a preset name (models.json) or a GGUF path as "model"';

const LATEST_TAG = ':latest';

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

  /** Resolves a client's `model` (see the module comment). Throws HttpError 503 when nothing can answer. */
  async resolve(requested: string | undefined): Promise<ModelTarget> {
    if (requested) {
      for (const name of namesToTry(requested)) {
        // Both lookups read the data folder: run them together, this is on every request's path.
        const [isPrompt, isPreset] = await Promise.all([this.#isPrompt(name), this.#akachat.presets.has(name)]);
        if (isPrompt) return { kind: 'prompt', name, prompt: await this.#akachat.prompt(name) };
        if (isPreset) return { kind: 'model', name, options: { model: name, extra: {} } };
        if (isLocalModelReference(name)) return { kind: 'model', name, options: { model: name, extra: {} } };
      }
    }
    if (!this.#akachat.defaultModel) throw noModelError(requested);
    return { kind: 'model', name: requested || this.defaultModelId()!, options: { extra: {} } };
  }

  /**
   * The local GGUF reference behind a `model` (a prompt's or preset's model, a path, or the
   * default), for routes that need the model itself: tokenize, embeddings.
   */
  async localModel(requested: string | undefined): Promise<{ ref: string; name: string }> {
    const target = await this.resolve(requested);
    const base = target.kind === 'prompt' ? target.prompt.options : target.options;
    const options = await this.#akachat.resolveOptions(base);
    if ((options.provider ?? 'local') !== 'local') {
      throw new InvalidArgumentError(`Expected a local model for model but received ${JSON.stringify(target.name)}, which runs on an OpenAI-compatible service`);
    }
    if (!options.model) throw noModelError(requested);
    return { ref: options.model, name: target.name };
  }

  /** The default model, presets and saved prompts, each usable as `model`; a prompt shadows a preset of the same name. */
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
      add({ id: this.defaultModelId()!, kind: 'model', created: file?.created ?? this.#startedAt, path: file ? resolve(ref) : undefined, size: file?.size });
    }
    const prompts = await this.#akachat.prompts.list();
    const presets = await this.#akachat.presets.list();
    for (const name of prompts) add({ id: name, kind: 'prompt', created: this.#startedAt });
    for (const name of presets) add({ id: name, kind: 'preset', created: this.#startedAt });
    return entries;
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

/** 503: nothing is configured that could answer. */
export function noModelError(requested?: string): HttpError {
  const what = requested
    ? `Model ${JSON.stringify(requested)} is not a saved prompt, a preset or a GGUF file, and no default model is configured`
    : 'No model is configured';
  return new HttpError(503, `${what}: ${HOW_TO_SET_A_MODEL}`, 'model_not_configured');
}

/** An `hf:` reference, or an existing `.gguf` file (other files are never opened on a client's word). */
export function isLocalModelReference(name: string): boolean {
  if (isHubReference(name)) return true;
  if (!/\.gguf$/i.test(name)) return false;
  try {
    return statSync(resolve(name)).isFile();
  } catch {
    return false;
  }
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
