/**
 * The whole surface of the native addon (`native/`), typed in one place. Only `src/engine/`
 * loads the addon; everything else goes through the classes built on these types.
 */

export interface NativeAbortToken {
  abort(): void;
  /** A generation hands text over as it comes only after this (else all at the end). */
  stream(): void;
  readonly aborted: boolean;
}

export interface NativeModelLoadOptions {
  /** -2 = auto (fit to free device memory), -1 = all layers, n = that many. */
  gpuLayers: number;
  useMmap?: boolean;
  checkTensors?: boolean;
  vocabOnly?: boolean;
}

export interface NativeModelInfo {
  description: string;
  sizeBytes: number;
  parameters: number;
  trainContextSize: number;
  embeddingSize: number;
  layers: number;
  vocabSize: number;
  hasEncoder: boolean;
  hasDecoder: boolean;
  isRecurrent: boolean;
  chatTemplate: string | null;
  /** The file's `tokenizer.chat_template.tool_use`, used when it has no default template. */
  toolUseTemplate: string | null;
  bosToken: number;
  eosToken: number;
  bosText: string;
  eosText: string;
  addBos: boolean;
}

export interface NativeModel {
  load(path: string, options: NativeModelLoadOptions, onProgress?: (progress: number) => void, abort?: NativeAbortToken): Promise<void>;
  info(): NativeModelInfo;
  metadata(): Record<string, string>;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array;
  detokenize(tokens: Int32Array, removeSpecial: boolean, unparseSpecial: boolean): string;
  /** Each token's raw bytes (may be part of a UTF-8 character for byte-level vocabularies). */
  tokenPieces(tokens: Int32Array, special: boolean): Uint8Array[];
  dispose(): void;
}

export interface NativeContextOptions {
  contextSize: number;
  batchSize: number;
  microBatchSize?: number;
  threads?: number;
  batchThreads?: number;
  embeddings?: boolean;
  sequences?: number;
  /** llama_pooling_type number, or -2 for the model's own (mean when it has none). */
  pooling?: number;
  flashAttention?: 'auto' | 'on' | 'off';
  /** One throw-away decode at creation (generation contexts). */
  warmup?: boolean;
}

export interface NativeSamplingOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  repeatLastN?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** < 0: random */
  seed?: number;
  /** < 0: until end of generation or a full context */
  maxTokens?: number;
  ignoreEos?: boolean;
  /** Wait for admitDeferred() before taking a slot. */
  defer?: boolean;
  stop?: string[];
  /** GBNF grammar (start symbol `root`) the generated text must match; parsed when generate() is called. */
  grammar?: string;
  /** With `grammar`: it applies only from the first match of one of these regular expressions over the generated text, or of these token ids, on (llama.cpp's lazy tool-call grammars). */
  grammarTriggerPatterns?: string[];
  grammarTriggerTokens?: number[];
  /** With `grammar`: tokens the grammar accepts before the generated ones (the generation prompt llama.cpp's tool-call grammars start with). */
  grammarPrefill?: number[];
  /** Logit bias: token ids (checked against the vocabulary) and what is added to their logits (-Infinity bans). */
  logitBiasTokens?: Int32Array;
  logitBiasValues?: Float32Array;
  /** Most likely tokens reported with each generated token (0: none). */
  probabilities?: number;
  /** Probabilities after the sampling chain instead of the softmax of the raw logits. */
  postSamplingProbabilities?: boolean;
  /** Hand the generated token ids to onText (implied by probabilities > 0). */
  tokens?: boolean;
}

/**
 * Text handed over by a generation. With `tokens` or `probabilities`, also the tokens that text
 * completes (`ids`); with `probabilities` n, per token: `probs` holds the chosen token's
 * probability then the n best ones', `topIds` the n best ids (-1 where fewer are left).
 */
export type NativeTextCallback = (text: string, ids?: Int32Array, probs?: Float32Array, topIds?: Int32Array) => void;

export type NativeStopReason = 'eos' | 'maxTokens' | 'stop' | 'abort' | 'contextFull';

export interface NativeGenerationResult {
  stopReason: NativeStopReason;
  promptTokens: number;
  reusedTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
}

export interface NativeSlotInfo {
  id: number;
  /** `prompt`: decoding the prompt; `generating`: producing tokens. */
  state: 'idle' | 'prompt' | 'generating';
  /** Tokens in this slot's KV cache (reusable by a request with the same prefix). */
  cachedTokens: number;
  /** Of the request it serves now (0 when idle). */
  promptTokens: number;
  generatedTokens: number;
}

export interface NativeContextInfo {
  /** Tokens one sequence (slot) holds; the whole context for embedding contexts. */
  contextSize: number;
  /** Tokens the KV cache holds over all sequences. */
  totalContextSize: number;
  batchSize: number;
  sequences: number;
  embeddings: boolean;
  pooling: number;
  /** All slots together; -1 while a job runs */
  cachedTokens: number;
  /** Generation contexts: one entry per slot. */
  slots: NativeSlotInfo[];
  /** Generation requests waiting for a free slot. */
  waiting: number;
  /** llama_decode calls of the generation loop so far, and the slots they served summed: their ratio is the mean batch width. */
  decodes: number;
  slotDecodes: number;
}

export interface NativeContext {
  create(options: NativeContextOptions): Promise<void>;
  generate(prompt: Int32Array, options: NativeSamplingOptions, onText: NativeTextCallback, abort?: NativeAbortToken): Promise<NativeGenerationResult>;
  /** Lets the requests made with `defer` take slots, together in the next decode step. */
  admitDeferred(): void;
  embed(tokens: Int32Array[], abort?: NativeAbortToken): Promise<Float32Array[]>;
  info(): NativeContextInfo;
  clearCache(): void;
  /** Resolve with the tokens written / restored. */
  saveSlot(slot: number, path: string): Promise<Int32Array>;
  loadSlot(slot: number, path: string): Promise<Int32Array>;
  dispose(): void;
}

export type GgufValue = string | number | boolean | null | GgufValue[] | { type: 'array'; elementType: string; length: number };

export interface NativeGgufFile {
  version: number;
  tensorCount: number;
  metadata: Record<string, GgufValue>;
}

export interface NativeDevice {
  name: string;
  description: string;
  type: 'cpu' | 'gpu' | 'igpu' | 'accel';
  memoryFree: number;
  memoryTotal: number;
}

export interface NativeSystemInfo {
  llama: string;
  supportsGpuOffload: boolean;
  supportsMmap: boolean;
  mathCores: number;
  devices: NativeDevice[];
}

/** What chatTemplateApply answers (JSON). */
export interface NativeChatApplied {
  prompt: string;
  format: number;
  formatName: string;
  grammar: string;
  grammarLazy: boolean;
  grammarTriggers: { type: 'word' | 'pattern' | 'pattern_full' | 'token'; value: string }[];
  preservedTokens: string[];
  additionalStops: string[];
  generationPrompt: string;
  parser: string;
  supportsThinking: boolean;
  thinkingStartTag: string;
  thinkingEndTags: string[];
  supportsTools: boolean;
  /** Whether several calls may come (the caller's choice, else what the template supports). */
  parallelToolCalls: boolean;
}

/** A reply parsed by llama.cpp's chat parser. */
export interface NativeChatMessage {
  content: string;
  reasoningContent: string;
  toolCalls: { name: string; arguments: string; id: string }[];
}

export interface NativeAddon {
  AbortToken: new () => NativeAbortToken;
  Model: new () => NativeModel;
  Context: new (model: NativeModel) => NativeContext;
  readGguf(path: string): Promise<NativeGgufFile>;
  /** Template names llama.cpp formats with C++ code (no Jinja). */
  chatTemplateBuiltins(): string[];
  /**
   * Renders on the calling thread: a built-in name, `'chatml'` or a Jinja source. Jinja has no
   * time, memory or depth limit here: call it for Jinja only in the template worker process.
   */
  renderChatTemplate(template: string, bos: string, eos: string, messages: { role: string; content: string }[], addGenerationPrompt: boolean): string;
  /**
   * llama.cpp's chat layer on the calling thread: `inputs` (JSON: OpenAI messages with tool calls,
   * tools, tool_choice, parallel_tool_calls, reasoning_format, chat_template_kwargs,
   * add_generation_prompt) through a Jinja template. Returns JSON (see NativeChatApplied). Jinja
   * has no limit here: call it only in the template worker process. This and ChatParser are
   * absent in addons built before them (chat-format.ts falls back to plain rendering).
   */
  chatTemplateApply?(template: string, bos: string, eos: string, inputs: string): string;
  /** llama.cpp's parser of a model's reply (PEG, no template code): throws code PARSE_ERROR when a final reply does not match. */
  ChatParser?: new (options: { format: number; reasoningFormat: string; generationPrompt: string; parser: string; parseToolCalls: boolean }) => {
    parse(text: string, isPartial: boolean): NativeChatMessage;
  };
  /** Caps this process's data segment (RLIMIT_DATA); for the template worker process. */
  limitMemory(bytes: number): void;
  quantize(input: string, output: string, ftype: number, threads: number): Promise<void>;
  systemInfo(): NativeSystemInfo;
  /** What this JavaScript expects of the addon (ADDON_INTERFACE); absent in addons built before it was kept. */
  interfaceVersion?: number;
  /** Frees every context and model now (their threads stopped); for process exit. */
  shutdown(): void;
  /** llama.cpp's JSON schema (JSON text) to GBNF conversion; throws INVALID_ARGUMENT for a schema it cannot convert. */
  jsonSchemaToGrammar(schema: string): string;
  setLogger(fn: ((level: number, line: string) => void) | null, minLevel?: number): void;
  cuda: boolean;
}
