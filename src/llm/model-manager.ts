/**
 * Keeps local models resident: one by default (VRAM is scarce), so a call for another model
 * unloads the least recently used one first. Each resident model has one generation context
 * with `parallel` slots: calls on one model run together (up to `parallel`, the rest wait for a
 * slot), and each slot's prompt-prefix reuse makes repeated calls of the same prompt fast. Idle models are
 * unloaded after `keepAliveMs`. Model references are paths or `hf:` references; `dtype`
 * quantizes a higher-precision GGUF once into the cache.
 */
import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { freemem, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { AbortError, InvalidArgumentError, ModelLoadError, abortReason } from '../errors.js';
import { templateSandbox } from '../engine/template-sandbox.js';
import { Context, Model, ggufFileTypes, type EmbeddingContext, type SlotInfo, quantize, readGgufMetadata, systemInfo, type GgufFileType } from '../engine/index.js';
import { expectInteger, invalid } from '../validate.js';
import { downloadHubModel, isHubReference, type DownloadProgress } from './hub.js';
import { AUTO_PARALLEL_MAX, autoParallel, kvBytesPerToken } from './parallel.js';
import { PromptStateCache, type PromptCacheOptions } from './prompt-cache.js';
import { quantizedCachePath } from './quantize-cache.js';

export interface ModelManagerOptions {
  /** Models kept loaded at once. Default 1. */
  maxResident?: number;
  /** Unload a model after this long unused, in ms; 0 = never. Default 5 minutes. */
  keepAliveMs?: number;
  /** Downloads and quantized copies. Default: AKACHAT_CACHE_DIR or ~/.cache/akachat. */
  cacheDir?: string;
  /** GPU layers for every load. Default 'auto'. */
  gpuLayers?: 'auto' | 'max' | number;
  /** CPU threads for contexts. Default: physical cores (`defaultThreads()`). */
  threads?: number;
  /** Context size (per slot) when a call does not ask for one. Default 4096 (capped by the model). */
  contextSize?: number;
  /**
   * Generations that run at once on one model (slots of its context). Default `'auto'`: 4 when
   * the KV cache of 4 slots takes at most half of the memory free after the model is loaded
   * (the GPU's when one is used, else RAM), else 2 when 2 fit, else 1 (see parallel.ts).
   */
  parallel?: number | 'auto';
  /** Save long prompts' KV states (personas) to disk and restore them after a restart. Default: off. */
  promptCache?: PromptCacheOptions;
  /** Hub base URL for hf: references (default AKACHAT_HF_ENDPOINT or https://huggingface.co). */
  hubEndpoint?: string;
}

export type ModelEvent =
  | { type: 'download'; model: string; progress: DownloadProgress }
  | { type: 'quantize'; model: string; to: string }
  | { type: 'load'; model: string; progress: number }
  | { type: 'unload'; model: string };

export interface AcquireOptions {
  /** Minimum context size; a resident model with a smaller context gets a new one. */
  contextSize?: number;
  /** `''` (as stored) or a GGUF type such as Q4_K_M / Q8_0 / F16 / BF16. */
  ggufType?: string;
  signal?: AbortSignal;
  onEvent?: (event: ModelEvent) => void;
}

interface Resident {
  key: string;
  path: string;
  model: Model;
  /** The generation context, made on the first generation lease (an embedding model never gets one). */
  context?: Context;
  /** The embedding context, made on the first embedding lease. */
  embedding?: Promise<EmbeddingContext>;
  lastUsed: number;
  inUse: number;
  idle?: () => void;
  timer?: NodeJS.Timeout;
}

/** A model and its embedding context, held until `release()`; counts in the residency budget like a generation lease. */
export interface EmbeddingLease {
  readonly model: Model;
  readonly context: EmbeddingContext;
  readonly path: string;
  readonly loadMs: number;
  release(): void;
}

/** A model and its context, held until `release()`. */
export interface ModelLease {
  readonly model: Model;
  readonly context: Context;
  readonly path: string;
  /** Time this acquire spent getting the model ready (download, quantize, load, a new context); near 0 when it was resident. */
  readonly loadMs: number;
  /** Saved prompt states of this model and slot size (when `promptCache` is on). */
  readonly promptCache?: PromptStateCache;
  release(): void;
}

// Lower number = lower precision; quantizing only ever goes down.
const precision: Record<string, number> = { F32: 32, BF16: 16, F16: 16, Q8_0: 8, Q6_K: 6, Q5_K_M: 5, Q5_K_S: 5, Q5_0: 5, Q5_1: 5, Q4_K_M: 4, Q4_K_S: 4, Q4_0: 4, Q4_1: 4, IQ4_NL: 4, IQ4_XS: 4, Q3_K_L: 3, Q3_K_M: 3, Q3_K_S: 3, Q2_K: 2 };
const typeByNumber = new Map<number, string>(Object.entries(ggufFileTypes).map(([k, v]) => [v, k]));

export class ModelManager {
  readonly #options: Required<Omit<ModelManagerOptions, 'hubEndpoint' | 'threads' | 'promptCache'>> & Pick<ModelManagerOptions, 'hubEndpoint' | 'threads' | 'promptCache'>;
  readonly #resident = new Map<string, Resident>();
  #loading: Promise<unknown> = Promise.resolve();
  #disposed = false;

  constructor(options: ModelManagerOptions = {}) {
    this.#options = {
      maxResident: expectInteger(options.maxResident ?? 1, 'maxResident', 1, 64),
      keepAliveMs: expectInteger(options.keepAliveMs ?? 5 * 60_000, 'keepAliveMs', 0),
      cacheDir: options.cacheDir ?? process.env.AKACHAT_CACHE_DIR ?? join(homedir(), '.cache', 'akachat'),
      gpuLayers: options.gpuLayers ?? 'auto',
      contextSize: expectInteger(options.contextSize ?? 4096, 'contextSize', 1),
      parallel: options.parallel === undefined || options.parallel === 'auto' ? 'auto' : expectParallel(options.parallel),
      promptCache: options.promptCache,
      hubEndpoint: options.hubEndpoint,
      threads: options.threads,
    };
  }

  get cacheDir(): string {
    return this.#options.cacheDir;
  }

  /** The slots of each resident model's generation context (what each holds now), most recently used first. */
  get slots(): { path: string; contextSize: number; slots: SlotInfo[] }[] {
    return [...this.#resident.values()]
      .filter((r) => r.context && !r.context.disposed)
      .sort((a, b) => b.lastUsed - a.lastUsed)
      .map((r) => ({ path: r.path, contextSize: r.context!.info.contextSize, slots: r.context!.slots }));
  }

  /**
   * llama_decode calls of the resident models' generation contexts and the slots they served,
   * summed (what llama-server's n_decode_total and n_busy_slots_per_decode report).
   */
  get decodes(): { decodes: number; slotDecodes: number } {
    let decodes = 0;
    let slotDecodes = 0;
    for (const r of this.#resident.values()) {
      if (!r.context || r.context.disposed) continue;
      const info = r.context.info;
      decodes += info.decodes;
      slotDecodes += info.slotDecodes;
    }
    return { decodes, slotDecodes };
  }

  /** Context size (per slot) when a call does not ask for one. */
  get contextSize(): number {
    return this.#options.contextSize;
  }

  /**
   * Generations that run at once on one model (slots of its context). With `parallel: 'auto'`:
   * the most slots a resident model's context has, or 4 while none is loaded.
   */
  get parallel(): number {
    if (this.#options.parallel !== 'auto') return this.#options.parallel;
    const slots = [...this.#resident.values()].map((r) => (r.context && !r.context.disposed ? r.context.info.sequences : 0));
    return slots.some((n) => n > 0) ? Math.max(...slots) : AUTO_PARALLEL_MAX;
  }

  /** A generation context for `model` with `contextSize` tokens per slot and the configured or chosen slots. */
  #createContext(model: Model, contextSize: number): Promise<Context> {
    return model.createContext({ contextSize, threads: this.#options.threads, parallel: this.#slotsFor(model, contextSize) });
  }

  #slotsFor(model: Model, contextSize: number): number {
    if (this.#options.parallel !== 'auto') return this.#options.parallel;
    // The KV cache lives where the layers run: on the GPU when one is used (its free memory after
    // this model's weights), else in RAM.
    const gpus = this.#options.gpuLayers === 0 ? [] : systemInfo().devices.filter((d) => d.type === 'gpu' || d.type === 'igpu');
    const free = gpus.length > 0 ? Math.min(...gpus.map((d) => d.memoryFree)) : freemem();
    return autoParallel(kvBytesPerToken(model.metadata()), contextSize, free);
  }

  /** Paths of the models loaded now, most recently used first. */
  get loaded(): string[] {
    return [...this.#resident.values()].sort((a, b) => b.lastUsed - a.lastUsed).map((r) => r.path);
  }

  /** Turns a reference (path or hf:) into a local GGUF path, downloading or quantizing once. */
  async resolvePath(ref: string, options: AcquireOptions = {}): Promise<string> {
    if (typeof ref !== 'string' || ref.trim() === '') throw new InvalidArgumentError(`Expected a GGUF path or hf: reference for model but received ${JSON.stringify(ref)}`);
    let path: string;
    if (isHubReference(ref)) {
      path = await downloadHubModel(ref, {
        cacheDir: this.#options.cacheDir,
        endpoint: this.#options.hubEndpoint,
        signal: options.signal,
        onProgress: (progress) => options.onEvent?.({ type: 'download', model: ref, progress }),
      });
    } else {
      path = resolve(ref);
      if (!existsSync(path)) throw new ModelLoadError(`Model file not found: ${path} (model "${ref}")`);
    }
    const wanted = options.ggufType?.toUpperCase();
    if (!wanted) return path;
    if (!(wanted in ggufFileTypes)) throw new InvalidArgumentError(`Expected a GGUF type (${Object.keys(ggufFileTypes).join(', ')}) for dtype but received ${JSON.stringify(options.ggufType)}`);
    const meta = await readGgufMetadata(path);
    const current = meta.fileType === undefined ? undefined : typeByNumber.get(meta.fileType);
    if (current === wanted) return path;
    if (current !== undefined && (precision[current] ?? 0) < (precision[wanted] ?? 0)) return path; // never up-convert
    const out = quantizedCachePath(this.#options.cacheDir, path, wanted);
    if (!existsSync(out)) {
      options.onEvent?.({ type: 'quantize', model: ref, to: wanted });
      // Written beside and renamed when complete: a killed quantization leaves no file that looks done.
      const partial = `${out}.${process.pid}.partial`;
      await quantize(path, partial, wanted as GgufFileType, { signal: options.signal });
      await rename(partial, out);
    }
    return out;
  }

  /** Loads (or reuses) a model and a context of at least `contextSize`. Call `release()` when done. */
  async acquire(ref: string, options: AcquireOptions = {}): Promise<ModelLease> {
    const { resident, path, loadMs, release } = await this.#lease(ref, options, 'generate');
    const context = resident.context!;
    return { model: resident.model, context, path, loadMs, release, promptCache: this.#promptCacheFor(path, context) };
  }

  readonly #promptCaches = new Map<string, PromptStateCache>();

  #promptCacheFor(path: string, context: Context): PromptStateCache | undefined {
    if (!this.#options.promptCache) return undefined;
    const key = `${path}\0${context.info.contextSize}`;
    let cache = this.#promptCaches.get(key);
    if (!cache) this.#promptCaches.set(key, (cache = new PromptStateCache(this.#options.promptCache, path, context.info.contextSize)));
    return cache;
  }

  /**
   * Loads (or reuses) a model and its embedding context: the one embedding path (RAG collections,
   * `/v1/embeddings`), inside the same residency budget as generation models. A chat model that
   * is resident serves embeddings from the same weights.
   */
  async acquireEmbedding(ref: string, options: Omit<AcquireOptions, 'contextSize'> = {}): Promise<EmbeddingLease> {
    const started = performance.now();
    const lease = await this.#lease(ref, options, 'embed');
    try {
      const resident = lease.resident;
      if (!resident.embedding) {
        resident.embedding = resident.model.createEmbeddingContext({ threads: this.#options.threads });
        resident.embedding.catch(() => { resident.embedding = undefined; });
      }
      const context = await resident.embedding;
      return { model: resident.model, context, path: lease.path, loadMs: performance.now() - started, release: lease.release };
    } catch (error) {
      lease.release();
      throw error;
    }
  }

  async #lease(ref: string, options: AcquireOptions, purpose: 'generate' | 'embed'): Promise<{ resident: Resident; path: string; loadMs: number; release: () => void }> {
    if (this.#disposed) throw new InvalidArgumentError('ModelManager has been disposed');
    const started = performance.now();
    const path = await this.resolvePath(ref, options);
    // Loads and evictions happen one at a time.
    const run = this.#loading.then(() => this.#acquireResident(ref, path, options, purpose));
    this.#loading = run.catch(() => {});
    const resident = await run;
    resident.inUse++;
    clearTimeout(resident.timer);
    let released = false;
    return {
      resident,
      path,
      loadMs: performance.now() - started,
      release: () => {
        if (released) return;
        released = true;
        resident.inUse--;
        resident.lastUsed = Date.now();
        if (resident.inUse === 0) {
          resident.idle?.();
          this.#scheduleIdleUnload(resident);
        }
      },
    };
  }

  async #acquireResident(ref: string, path: string, options: AcquireOptions, purpose: 'generate' | 'embed'): Promise<Resident> {
    if (options.signal?.aborted) throw new AbortError(abortReason(options.signal));
    const wantedContext = options.contextSize ?? this.#options.contextSize;
    const existing = this.#resident.get(path);
    if (existing) {
      existing.lastUsed = Date.now();
      if (purpose === 'embed') return existing;
      const contextSize = cappedContextSize(existing.model, wantedContext);
      if (!existing.context) {
        existing.context = await this.#createContext(existing.model, contextSize);
      } else if (existing.context.info.contextSize < contextSize) {
        await this.#whenIdle(existing);
        existing.context.dispose();
        existing.context = await this.#createContext(existing.model, contextSize);
      }
      return existing;
    }
    // A file that is not a readable GGUF fails here, before a resident model is evicted for it.
    await readGgufMetadata(path);
    // Make room first: the least recently used models go.
    while (this.#resident.size >= this.#options.maxResident) {
      const lru = [...this.#resident.values()].sort((a, b) => a.lastUsed - b.lastUsed)[0];
      await this.#unload(lru, options.onEvent);
    }
    const model = await Model.load(path, {
      gpuLayers: this.#options.gpuLayers,
      signal: options.signal,
      onProgress: (progress) => options.onEvent?.({ type: 'load', model: ref, progress }),
    });
    let context: Context | undefined;
    try {
      if (purpose === 'generate') context = await this.#createContext(model, cappedContextSize(model, wantedContext));
      // Jinja chat templates render in a worker process: start one now rather than on the first
      // chat (a model without a template renders chatml in this process).
      if (purpose === 'generate' && (model.info.chatTemplate || model.info.toolUseTemplate)) templateSandbox().prewarm();
    } catch (err) {
      model.dispose();
      throw err;
    }
    const resident: Resident = { key: path, path, model, context, lastUsed: Date.now(), inUse: 0 };
    this.#resident.set(path, resident);
    return resident;
  }

  #whenIdle(resident: Resident): Promise<void> {
    if (resident.inUse === 0) return Promise.resolve();
    return new Promise((done) => { resident.idle = done; });
  }

  #scheduleIdleUnload(resident: Resident): void {
    if (this.#options.keepAliveMs <= 0) return;
    clearTimeout(resident.timer);
    resident.timer = setTimeout(() => {
      if (resident.inUse === 0 && this.#resident.get(resident.key) === resident) void this.#unload(resident);
    }, this.#options.keepAliveMs);
    resident.timer.unref();
  }

  async #unload(resident: Resident, onEvent?: (e: ModelEvent) => void): Promise<void> {
    this.#resident.delete(resident.key);
    clearTimeout(resident.timer);
    await this.#whenIdle(resident);
    // A prompt state still being written finishes first.
    for (const [key, cache] of this.#promptCaches) {
      if (key.startsWith(`${resident.path}\0`)) await cache.idle();
    }
    resident.model.dispose();
    onEvent?.({ type: 'unload', model: resident.path });
  }

  /** Unloads one model (by path) or all. */
  async unload(path?: string): Promise<void> {
    const targets = path ? [this.#resident.get(resolve(path))].filter((r): r is Resident => !!r) : [...this.#resident.values()];
    for (const r of targets) await this.#unload(r);
  }

  /** Unloads everything; later calls fail. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    await this.unload();
  }
}

/** Never more than the model was trained for: a larger KV cache would only hold what it cannot attend to. */
function cappedContextSize(model: Model, wanted: number): number {
  return Math.min(wanted, model.info.trainContextSize || wanted);
}

function expectParallel(value: unknown): number {
  if (typeof value !== 'number') throw invalid("'auto' or a number of slots (1-256)", 'parallel', value);
  return expectInteger(value, 'parallel', 1, 256);
}
