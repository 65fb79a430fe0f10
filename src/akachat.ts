import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { engineEmbedderFactory } from './llm/embedder.js';
import { LocalLlm } from './llm/local.js';
import { ModelManager, type ModelEvent, type ModelManagerOptions } from './llm/model-manager.js';
import { OpenAiLlm } from './llm/openai.js';
import { SpeechLog } from './logs/speech-log.js';
import { MessageLog } from './messages/log.js';
import { evaluateInstruction, type EvaluatedPart, type InstructionTree, type RagFunction } from './prompt/instruction/index.js';
import type { Segment } from './prompt/messages.js';
import { callerOverrides, mergeOptions, normalizeOptions, type PromptOptions, type RawOptions } from './prompt/options.js';
import { Prompt, type PromptRunOptions, type PromptRunResult } from './prompt/prompt.js';
import type { PromptRuntime } from './prompt/runtime.js';
import { PromptStore } from './prompt/store.js';
import { Rag } from './rag/index.js';
import { ModelCatalog } from './run/catalog.js';
import { isHubReference } from './llm/hub.js';
import { Presets } from './settings/presets.js';
import { Settings } from './settings/settings.js';
import { VarStore } from './vars/store.js';


export interface AkachatOptions {
  /** The data folder (`prompt/`, `vars/`, `log/`, `rag/`, `config.json`, `models.json`). Default: the working directory. */
  dataDir?: string;
  /** Local model used when a prompt names none (GGUF path or hf: reference). */
  defaultModel?: string;
  /** A folder of GGUF files offered by name (file name without `.gguf`, sub-folders with `/`) to WebAPI clients. */
  modelsDir?: string;
  /** A ModelManager to share, or options for a new one. */
  models?: ModelManager | ModelManagerOptions;
  /** RAG collections (`rag()` in instructions, the RAG routes). Default: a Rag over `rag/` in the data folder whose embedding models run on the engine; `null` turns RAG off. */
  rag?: Rag | null;
  /** Embedding model for new RAG collections that name none (GGUF path or hf:); without one they are lexical-only. */
  defaultEmbeddingModel?: string;
  /** Timeout for OpenAI-compatible calls, ms. Default 120000. */
  openaiTimeoutMs?: number;
  /** Model downloads, quantization and loads, for progress display. */
  onModelEvent?: (event: ModelEvent) => void;
}

/**
 * One data folder, laid out as the original akachat's, with its stores, the model manager
 * and the two locations (local llama.cpp, OpenAI-compatible). Every feature of the WebAPI
 * and the playground is a call here first.
 */
export class Akachat implements PromptRuntime, AsyncDisposable {
  readonly dataDir: string;
  readonly prompts: PromptStore;
  readonly vars: VarStore;
  readonly messages: MessageLog;
  readonly settings: Settings;
  readonly presets: Presets;
  readonly models: ModelManager;
  readonly speechLog: SpeechLog;
  rag: Rag | undefined;
  defaultModel: string | undefined;
  modelsDir: string | undefined;
  readonly #local: LocalLlm;
  readonly #onModelEvent?: (event: ModelEvent) => void;
  readonly #openai: OpenAiLlm;
  /** Listed model names to files, for options that name one (see resolveOptions). */
  #catalog?: ModelCatalog;

  constructor(options: AkachatOptions = {}) {
    this.dataDir = resolve(options.dataDir ?? process.cwd());
    this.prompts = new PromptStore(this.dataDir);
    this.vars = new VarStore(this.dataDir);
    this.messages = new MessageLog(join(this.dataDir, 'log', 'messages.jsonl'));
    this.settings = new Settings(this.dataDir);
    this.presets = new Presets(this.dataDir);
    this.speechLog = new SpeechLog(this.dataDir);
    // With an embedding model for RAG, the budget holds it beside the chat model: a rag() call
    // inside a prompt run would otherwise unload the chat model and load it again every time.
    this.models = options.models instanceof ModelManager
      ? options.models
      : new ModelManager({ maxResident: options.defaultEmbeddingModel ? 2 : 1, ...options.models });
    this.rag = options.rag === null ? undefined : options.rag ?? new Rag({
      dataFolder: this.dataDir,
      embedderFactory: engineEmbedderFactory(this.models),
      defaultEmbeddingModel: options.defaultEmbeddingModel,
    });
    this.defaultModel = options.defaultModel;
    this.modelsDir = options.modelsDir === undefined ? undefined : resolve(options.modelsDir);
    this.#onModelEvent = options.onModelEvent;
    this.#local = new LocalLlm(this.models, options.onModelEvent);
    this.#openai = new OpenAiLlm({ apiKey: () => this.settings.openaiKey(), timeoutMs: options.openaiTimeoutMs });
  }

  /** Loads a saved prompt (NotFoundError when missing). */
  async prompt(name: string): Promise<Prompt> {
    const stored = await this.prompts.load(name);
    return new Prompt(this, stored.name, stored.instruction, stored.options);
  }

  /** A prompt that is not saved (the playground's "run" before "save"). */
  createPrompt(instruction: string, options: RawOptions = {}, name = '(unsaved)'): Prompt {
    return new Prompt(this, name, instruction, options);
  }

  /** Loads and runs a saved prompt. */
  async run(name: string, input = '', options: PromptRunOptions = {}): Promise<PromptRunResult> {
    return (await this.prompt(name)).run(input, options);
  }

  // ---- PromptRuntime -------------------------------------------------------------------

  async resolveOptions(options: PromptOptions, overrides?: RawOptions): Promise<PromptOptions> {
    const over = overrides ? normalizeOptions(overrides, 'overrides') : undefined;
    const modelName = over?.model || options.model;
    const preset = modelName && (await this.presets.has(modelName)) ? await this.presets.getOptions(modelName) : undefined;
    const merged = mergeOptions(options, preset, over);
    // A preset's name is no model file: the preset's own model runs (the default when it names none), also when an override named it.
    if (preset && merged.model === modelName) merged.model = preset.model;
    const local = (merged.provider ?? 'local') === 'local';
    if (!merged.model && local && this.defaultModel) merged.model = this.defaultModel;
    // A listed name (the playground saves those: a models-folder file or the default model's name)
    // is no file of its own: the file it names runs, in nested llm() calls and the CLI too.
    if (local && merged.model && !isHubReference(merged.model) && !existsSync(resolve(merged.model))) {
      const file = await (this.#catalog ??= new ModelCatalog(this)).fileOf(merged.model);
      if (file) merged.model = file;
    }
    return merged;
  }

  async evaluate(tree: InstructionTree, call: { input: string; fromWebApi: boolean; depth: number; signal?: AbortSignal; onPart?: (part: EvaluatedPart) => void }): Promise<Segment[]> {
    const rag: RagFunction | undefined = this.rag ? (dir, query, k, info) => this.rag!.query(dir, query, k, { signal: info.signal }) : undefined;
    return evaluateInstruction(tree, {
      input: call.input,
      isTest: await this.settings.isTest(),
      fromWebApi: call.fromWebApi,
      vars: this.vars,
      messages: this.messages,
      rag,
      llm: async (name, input, overrides, info) => {
        // The nested prompt's own options say where it runs; the call may tune generation only.
        const allowed = callerOverrides(overrides, `llm(${JSON.stringify(name)}) options`);
        const nested = await this.prompt(name);
        const result = await nested.run(input, { overrides: allowed, fromWebApi: call.fromWebApi, depth: info.depth, signal: info.signal });
        return result.text;
      },
      depth: call.depth,
      signal: call.signal,
      onPart: call.onPart,
    });
  }

  async bosText(options: PromptOptions, signal?: AbortSignal): Promise<string> {
    if ((options.provider ?? 'local') !== 'local' || !options.model) return '';
    // The model is got ready here first in template mode: its download and load report progress too.
    const lease = await this.models.acquire(options.model, { ggufType: options.dtype, contextSize: options.inputTokens || undefined, signal, onEvent: this.#onModelEvent });
    try {
      return lease.model.info.bosText;
    } finally {
      lease.release();
    }
  }

  location(provider: 'local' | 'openai'): LocalLlm | OpenAiLlm {
    return provider === 'openai' ? this.#openai : this.#local;
  }

  /** Unloads every model. */
  async dispose(): Promise<void> {
    await this.rag?.dispose();
    await this.models.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
