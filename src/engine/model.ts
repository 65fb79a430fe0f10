import { existsSync, statSync } from 'node:fs';
import { AbortError, DisposedError, ModelLoadError, abortReason } from '../errors.js';
import { expectInteger, expectString, invalid } from '../validate.js';
import { loadAddon } from './addon.js';
import type { NativeModel, NativeModelInfo } from './addon-types.js';
import { Context, EmbeddingContext, type EmbeddingContextOptions, type GenerationContextOptions } from './context.js';
import { callSite, fromNative, nativeCall } from './native-errors.js';
import { templateSandbox } from './template-sandbox.js';

export interface ModelLoadOptions {
  /** Layers to offload to the GPU: `'auto'` (what fits in free device memory), `'max'` (all) or a count. Default `'auto'`; 0 on machines without a GPU backend. */
  gpuLayers?: 'auto' | 'max' | number;
  /** Memory-map the file (default: llama.cpp decides, normally true). */
  useMmap?: boolean;
  /** Validate tensor data while loading (slower). Default false. */
  checkTensors?: boolean;
  /** Load only the vocabulary (tokenize/detokenize/templates, no generation). Default false. */
  vocabOnly?: boolean;
  /** Called with 0..1 while the weights load. */
  onProgress?: (progress: number) => void;
  /** Cancels loading. */
  signal?: AbortSignal;
}

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  /** The model's own (default `''`), a Jinja source, or a llama.cpp built-in name. */
  template?: string;
  /** End with the assistant's turn opened. Default true. */
  addGenerationPrompt?: boolean;
  /** A Jinja render still running after this long fails with a TemplateError. Default 10000 ms. */
  timeoutMs?: number;
  /** Stops the render with an AbortError. */
  signal?: AbortSignal;
}

// Built-in template names other than chatml (llama.cpp renders it through Jinja; chatml.ts here).
let builtinTemplates: Set<string> | undefined;

/** Whether `name` is one of llama.cpp's built-in (C++, no Jinja) template names other than chatml. */
export function isBuiltinTemplate(name: string): boolean {
  builtinTemplates ??= new Set(loadAddon().chatTemplateBuiltins().filter((builtin) => builtin !== 'chatml'));
  return builtinTemplates.has(name);
}

export interface ModelInfo extends NativeModelInfo {
  /** `general.architecture` (llama, qwen2, bert, ...). */
  architecture: string;
  /** `general.name`, when the file has one. */
  name: string | undefined;
  path: string;
}

/** A loaded GGUF model. Create contexts from it to generate or embed. */
export class Model implements AsyncDisposable {
  readonly #native: NativeModel;
  readonly #contexts = new Set<Context | EmbeddingContext>();
  #info: ModelInfo | undefined;
  #disposed = false;
  readonly path: string;

  private constructor(native: NativeModel, path: string) {
    this.#native = native;
    this.path = path;
  }

  /** Loads a GGUF file off the JS thread. */
  static async load(path: string, options: ModelLoadOptions = {}): Promise<Model> {
    const site = callSite();
    expectString(path, 'path', { allowEmpty: false });
    const gpuLayers = options.gpuLayers ?? 'auto';
    if (gpuLayers !== 'auto' && gpuLayers !== 'max') expectInteger(gpuLayers, 'gpuLayers', 0);
    if (!existsSync(path)) throw new ModelLoadError(`Model file not found: ${path}`);
    if (statSync(path).isDirectory()) throw new ModelLoadError(`Expected a GGUF file but ${path} is a folder`);
    if (options.signal?.aborted) throw new AbortError(abortReason(options.signal));
    const addon = loadAddon();
    const native = new addon.Model();
    const token = new addon.AbortToken();
    const onAbort = () => token.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // Progress arrives from the loading thread and may trail the promise: forward only
    // increasing values, stop at completion, and always end with 1.
    let lastProgress = -1;
    const forward = (value: number) => {
      if (value <= lastProgress || !options.onProgress) return;
      lastProgress = value;
      options.onProgress(value);
    };
    try {
      await native.load(path, {
        gpuLayers: gpuLayers === 'auto' ? -2 : gpuLayers === 'max' ? -1 : gpuLayers,
        useMmap: options.useMmap,
        checkTensors: options.checkTensors ?? false,
        vocabOnly: options.vocabOnly ?? false,
      }, options.onProgress && forward, token);
      forward(1);
      lastProgress = Infinity;
    } catch (err) {
      if (options.signal?.aborted) throw new AbortError(abortReason(options.signal), { cause: err });
      throw fromNative(err, site);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    return new Model(native, path);
  }

  #check(): NativeModel {
    if (this.#disposed) throw new DisposedError('Model');
    return this.#native;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Architecture, sizes, trained context length, chat template, BOS/EOS. */
  get info(): ModelInfo {
    const native = this.#check();
    if (!this.#info) {
      const meta = native.metadata();
      this.#info = { ...nativeCall(() => native.info()), architecture: meta['general.architecture'] ?? 'unknown', name: meta['general.name'], path: this.path };
    }
    return this.#info;
  }

  /** Every GGUF metadata key, values rendered as strings by llama.cpp. */
  metadata(): Record<string, string> {
    return nativeCall(() => this.#check().metadata());
  }

  /**
   * Text to tokens. `addSpecial` adds BOS/EOS as the model wants (default true);
   * `parseSpecial` turns special-token text such as `<|im_start|>` into those tokens (default false).
   */
  tokenize(text: string, { addSpecial = true, parseSpecial = false } = {}): Int32Array {
    expectString(text, 'text');
    return nativeCall(() => this.#check().tokenize(text, addSpecial, parseSpecial));
  }

  /**
   * A rendered prompt (a chat template's or a `{bos_token}` template's output) to the tokens a
   * generation decodes: special-token text parsed, BOS added unless the prompt writes it already.
   */
  tokenizePrompt(prompt: string): Int32Array {
    const bos = this.info.bosText;
    return this.tokenize(prompt, { addSpecial: !(bos && prompt.startsWith(bos)), parseSpecial: true });
  }

  /** Tokens to text. `special` renders special tokens as text (default false). */
  detokenize(tokens: Int32Array | readonly number[], { special = false } = {}): string {
    const array = tokens instanceof Int32Array ? tokens : Int32Array.from(tokens);
    return nativeCall(() => this.#check().detokenize(array, !special, special));
  }

  /**
   * Each token's raw bytes as the vocabulary holds them: for byte-level BPE and byte-fallback
   * tokens possibly part of a UTF-8 character, which text would turn into U+FFFD. `special`
   * renders special tokens as their text (default false: empty).
   */
  tokenBytes(tokens: Int32Array | readonly number[], { special = false } = {}): Uint8Array[] {
    const array = tokens instanceof Int32Array ? tokens : Int32Array.from(tokens);
    return nativeCall(() => this.#check().tokenPieces(array, special));
  }

  /**
   * Renders messages through a chat template with the generation prompt added. `template`: the
   * model's own (default), a Jinja source, or a built-in name (`chatml`, `llama2`, `llama3`,
   * `gemma`, `mistral-v7`, ... as llama.cpp names them). Jinja templates render in a worker
   * process (see template-sandbox.ts), so one that loops, recurses without end or crashes fails
   * with a TemplateError after `timeoutMs` at most and cannot stop or kill this process. The
   * fallback of models without a template, `chatml`, renders in this process (the sandbox's shortcut, chatml.ts).
   */
  async applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): Promise<string> {
    const { template = '', addGenerationPrompt = true, timeoutMs, signal } = options;
    if (!Array.isArray(messages)) throw invalid('an array of messages', 'messages', messages);
    messages.forEach((m, i) => {
      if (typeof m?.role !== 'string' || typeof m?.content !== 'string') {
        throw invalid('{ role: string, content: string }', `messages[${i}]`, m);
      }
    });
    expectString(template, 'template');
    this.#check();
    const list = messages.map((m) => ({ role: m.role, content: m.content }));
    // Built-in names are llama.cpp's C++ formatter: no user code, so they render here.
    if (isBuiltinTemplate(template)) return nativeCall(() => loadAddon().renderChatTemplate(template, '', '', list, addGenerationPrompt));
    const info = this.info;
    const source = template || info.chatTemplate || info.toolUseTemplate || 'chatml';
    const site = callSite();
    try {
      return await templateSandbox().render({ template: source, bos: info.bosText, eos: info.eosText, messages: list, addGenerationPrompt }, { timeoutMs, signal });
    } catch (err) {
      throw fromNative(err, site);
    }
  }

  /** A context for generation (KV cache with prompt-prefix reuse). */
  async createContext(options: GenerationContextOptions = {}): Promise<Context> {
    const ctx = await Context.create(this, this.#check(), options);
    this.#track(ctx);
    return ctx;
  }

  /** A context that returns pooled, normalised embeddings. */
  async createEmbeddingContext(options: EmbeddingContextOptions = {}): Promise<EmbeddingContext> {
    const ctx = await EmbeddingContext.create(this, this.#check(), options);
    this.#track(ctx);
    return ctx;
  }

  #track(ctx: Context | EmbeddingContext): void {
    this.#contexts.add(ctx);
    ctx.onDispose(() => this.#contexts.delete(ctx));
  }

  /** Frees the weights and every context made from this model. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    for (const ctx of [...this.#contexts]) ctx.dispose();
    this.#disposed = true;
    this.#native.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

