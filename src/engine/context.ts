import { AbortError, DisposedError, abortReason } from '../errors.js';
import { expectBoolean, expectInteger, expectNestedAtMost, expectNumber, expectString, invalid } from '../validate.js';
import { loadAddon } from './addon.js';
import type { NativeContext, NativeModel, NativeSamplingOptions, NativeSlotInfo } from './addon-types.js';
import { Generation, type TokenChunk } from './generation.js';
import { defaultThreads } from './llama.js';
import type { Model } from './model.js';
import { callSite, fromNative, nativeCall } from './native-errors.js';

export interface ContextOptions {
  /**
   * Tokens the KV cache holds for one generation (one slot; the context holds `parallel`
   * times as many, each slot rounded up to a multiple of 256 when `parallel` > 1). Default:
   * the smaller of 4096 and the model's trained context.
   */
  contextSize?: number;
  /** Tokens decoded per llama_decode call while processing a prompt. Default 512. */
  batchSize?: number;
  /** CPU threads. Default: physical cores, as llama.cpp's own tools (`defaultThreads()`). */
  threads?: number;
  /** Flash attention: `'auto'` (default), `'on'`, `'off'`. */
  flashAttention?: 'auto' | 'on' | 'off';
  /**
   * Generation contexts: decode two throw-away tokens at creation, as llama.cpp's own tools
   * do, so the first generation does not pay for reading mmapped weights and first-time
   * allocations. Default true.
   */
  warmup?: boolean;
}

export interface GenerationContextOptions extends ContextOptions {
  /**
   * Generations that run at once (slots): each step decodes one batch with the next token of
   * every running generation and prompt chunks of starting ones. A generation beyond the free
   * slots waits for one. Default 1. At most `batchSize`.
   */
  parallel?: number;
}

/** What one slot of a generation context holds now. */
export type SlotInfo = NativeSlotInfo;

export interface EmbeddingContextOptions extends ContextOptions {
  /** Pooling: `'model'` (the model's own; mean when it has none, default), `'mean'`, `'cls'`, `'last'`. */
  pooling?: 'model' | 'mean' | 'cls' | 'last';
  /** Texts decoded together in one batch. Default 8. */
  sequences?: number;
}

export interface GenerateOptions {
  /** Maximum tokens to generate; default: until end of generation or a full context. */
  maxTokens?: number;
  /** 0 = greedy. Default 0.8. */
  temperature?: number;
  /** Default 40; 0 = off. */
  topK?: number;
  /** Default 0.95; 1 = off. */
  topP?: number;
  /** Default 0.05; 0 = off. */
  minP?: number;
  /** Repetition penalty; default 1 (off). */
  repeatPenalty?: number;
  /** Tokens the penalties look back over. Default 64. */
  repeatLastN?: number;
  /** Default 0 (off). */
  presencePenalty?: number;
  /** Default 0 (off). */
  frequencyPenalty?: number;
  /** Sampling seed; default random. The same seed gives the same text. */
  seed?: number;
  /** Keep generating past end-of-generation tokens (benchmarks). Default false. */
  ignoreEos?: boolean;
  /** Stop strings: generation ends before the first of them (matched across tokens). */
  stop?: string | readonly string[];
  /** Stops generation within one token; the generation rejects with an AbortError. */
  signal?: AbortSignal;
  /**
   * GBNF grammar (llama.cpp's format, start symbol `root`) the generated text must match. A
   * grammar that does not parse is an InvalidArgumentError. Output cut short by maxTokens or a
   * full context (stopReason) may be an unfinished match.
   */
  grammar?: string;
  /**
   * JSON schema the generated text must match as JSON (converted to a grammar by llama.cpp;
   * `{}` allows any JSON value). Not together with `grammar`.
   */
  jsonSchema?: object;
  /**
   * With `grammar`: it applies only from the first match on of one of these regular expressions
   * over the generated text, or of these token ids (llama.cpp's lazy grammars: a tool call may
   * come after free text). See chat-format.ts.
   */
  grammarTriggers?: { patterns?: readonly string[]; tokens?: readonly number[] };
  /** With `grammar`: tokens it reads before the generated ones (the generation prompt, which llama.cpp's tool-call grammars start with). */
  grammarPrefill?: readonly number[];
  /**
   * Added to tokens' logits before any other sampler, as `[token, bias]` pairs: a token id, or a
   * string whose every token gets the bias; `false` (or -Infinity) bans the token. At most 1024
   * tokens; an id outside the vocabulary is an InvalidArgumentError.
   */
  logitBias?: LogitBias;
  /**
   * Report the probability of each generated token and of the `probabilities` most likely tokens
   * at its step (at most 20; default 0: none), in `result.tokens` and through `onTokens`.
   */
  probabilities?: number;
  /**
   * Take those probabilities after the sampling chain (bias, penalties, top-k/p, min-p,
   * temperature: only tokens it kept) instead of from the softmax of the raw logits. Default false.
   */
  postSamplingProbabilities?: boolean;
  /** Hand out the generated token ids (`result.tokens`, `onTokens`); implied by `probabilities`. Default false. */
  tokens?: boolean;
  /**
   * Called with each text chunk's tokens just before the chunk is yielded (also for tokens without
   * text, e.g. at the end). Needs `tokens` or `probabilities`. A listener that throws ends the
   * generation with its error.
   */
  onTokens?: (chunk: TokenChunk) => void;
}

/** The token-level generate() options, as a request carries them down to the engine. */
export type TokenOptions = Pick<GenerateOptions, 'logitBias' | 'probabilities' | 'postSamplingProbabilities' | 'tokens' | 'onTokens'>;

/** Token ids or strings (each of their tokens) and the bias added to their logits; `false` bans. */
export type LogitBias = ReadonlyArray<readonly [token: number | string, bias: number | false]>;

/** Most tokens a logit bias may name (after strings are tokenized). */
export const MAX_LOGIT_BIAS_TOKENS = 1024;
/** Most likely tokens reported per generated token at most (OpenAI's top_logprobs limit). */
export const MAX_PROBABILITIES = 20;

const poolingNumbers = { model: -2, mean: 1, cls: 2, last: 3 } as const;

function contextParams(model: Model, options: ContextOptions) {
  const contextSize = options.contextSize ?? Math.min(4096, model.info.trainContextSize || 4096);
  expectInteger(contextSize, 'contextSize', 1);
  const batchSize = expectInteger(options.batchSize ?? Math.min(512, contextSize), 'batchSize', 1);
  const threads = expectInteger(options.threads ?? defaultThreads(), 'threads', 1, 1024);
  const flashAttention = options.flashAttention ?? 'auto';
  if (!['auto', 'on', 'off'].includes(flashAttention)) throw invalid("'auto', 'on' or 'off'", 'flashAttention', flashAttention);
  const warmup = options.warmup ?? true;
  if (typeof warmup !== 'boolean') throw invalid('a boolean', 'warmup', warmup);
  return { contextSize, batchSize, threads, flashAttention, warmup };
}

/** Base of both context kinds: lifetime, one job at a time. */
abstract class ContextBase implements AsyncDisposable {
  protected readonly native: NativeContext;
  readonly model: Model;
  #disposed = false;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #disposeListeners: (() => void)[] = [];

  protected constructor(model: Model, native: NativeContext) {
    this.model = model;
    this.native = native;
  }

  protected check(): NativeContext {
    if (this.#disposed) throw new DisposedError(this.constructor.name);
    return this.native;
  }

  /** Runs jobs one after another (an embedding context takes one at a time). */
  protected exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(job, job);
    this.#queue = run.catch(() => {});
    return run;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** The context size (per slot), batch size, tokens now in the KV cache and the slots. */
  get info() {
    return nativeCall(() => this.check().info());
  }

  /** @internal */
  onDispose(listener: () => void): void {
    this.#disposeListeners.push(listener);
  }

  /** Aborts any running job and frees the KV cache. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.native.dispose();
    for (const listener of this.#disposeListeners) listener();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

/**
 * A generation context with one or more slots (`parallel`), each a sequence of the KV cache
 * that remembers its tokens: a generation goes to the free slot sharing the longest prefix
 * with its prompt and decodes only the rest, so a long fixed persona is processed once, and
 * two personas alternating each keep their own slot. Generations on different slots run
 * together, batched into one decode per step.
 */
export class Context extends ContextBase {
  #admitScheduled = false;

  /** @internal */
  static async create(model: Model, nativeModel: NativeModel, options: GenerationContextOptions): Promise<Context> {
    const site = callSite();
    const params = contextParams(model, options);
    const parallel = expectInteger(options.parallel ?? 1, 'parallel', 1, 256);
    if (parallel > params.batchSize) throw invalid(`at most batchSize (${params.batchSize})`, 'parallel', parallel);
    const addon = loadAddon();
    const native = new addon.Context(nativeModel);
    try {
      await native.create({ ...params, contextSize: params.contextSize * parallel, sequences: parallel, embeddings: false });
    } catch (err) {
      throw fromNative(err, site);
    }
    return new Context(model, native);
  }

  /**
   * Generates from a prompt (text, tokenized with special tokens parsed, or tokens). Iterate
   * the returned Generation for text chunks, or await `generation.result`. Runs at once on a
   * free slot, or waits (in call order) for one.
   */
  generate(prompt: string | Int32Array, options: GenerateOptions = {}): Generation {
    const native = this.check();
    const tokens = typeof prompt === 'string'
      ? this.model.tokenize(prompt, { addSpecial: true, parseSpecial: true })
      : prompt instanceof Int32Array ? prompt : (() => { throw invalid('a string or an Int32Array', 'prompt', prompt); })();
    const sampling = { ...samplingOptions(options), ...this.#tokenOptions(options) };
    const signal = options.signal;
    if (signal?.aborted) throw new AbortError(abortReason(signal));
    const token = new (loadAddon().AbortToken)();
    const site = callSite();
    const pieces = (ids: Int32Array) => this.model.tokenBytes(ids);
    const delivery = sampling.tokens ? { probabilities: sampling.probabilities ?? 0, pieces, onTokens: options.onTokens } : undefined;
    return new Generation(token, async (onText) => {
      try {
        const result = native.generate(tokens, { ...sampling, defer: true }, onText, token);
        this.#admitSoon(native);
        return await result;
      } catch (err) {
        throw fromNative(err, site);
      }
    }, signal, delivery);
  }

  /**
   * Generations started in one turn of the event loop (clients answered by the same decode
   * step, a compare run, Promise.all) take their slots together after it, so they share every
   * decode step: one started alone a step early would cost each of them a step.
   */
  #admitSoon(native: NativeContext): void {
    if (this.#admitScheduled) return;
    this.#admitScheduled = true;
    setImmediate(() => {
      this.#admitScheduled = false;
      native.admitDeferred(); // a no-op once disposed: disposing ends the deferred ones
    });
  }

  /** The native form of the token-level options, checked against the model's vocabulary. */
  #tokenOptions(o: GenerateOptions) {
    const probabilities = o.probabilities === undefined ? 0 : expectInteger(o.probabilities, 'probabilities', 0, MAX_PROBABILITIES);
    if (o.postSamplingProbabilities !== undefined) expectBoolean(o.postSamplingProbabilities, 'postSamplingProbabilities');
    if (o.tokens !== undefined) expectBoolean(o.tokens, 'tokens');
    if (o.onTokens !== undefined && typeof o.onTokens !== 'function') throw invalid('a function', 'onTokens', o.onTokens);
    const wantTokens = o.tokens === true || probabilities > 0;
    if (o.onTokens && !wantTokens) throw invalid('tokens: true or probabilities > 0 with onTokens', 'tokens', o.tokens);
    return {
      probabilities,
      postSamplingProbabilities: o.postSamplingProbabilities === true,
      tokens: wantTokens,
      ...(o.logitBias === undefined ? {} : this.#logitBias(o.logitBias)),
    };
  }

  #logitBias(bias: LogitBias): { logitBiasTokens: Int32Array; logitBiasValues: Float32Array } {
    if (!Array.isArray(bias)) throw invalid('an array of [token, bias] pairs', 'logitBias', bias);
    if (bias.length > MAX_LOGIT_BIAS_TOKENS) throw invalid(`at most ${MAX_LOGIT_BIAS_TOKENS} tokens`, 'logitBias', bias);
    const vocabSize = this.model.info.vocabSize;
    const tokens: number[] = [];
    const values: number[] = [];
    bias.forEach((entry: unknown, i) => {
      const name = `logitBias[${i}]`;
      if (!Array.isArray(entry) || entry.length !== 2) throw invalid('a [token, bias] pair', name, entry);
      const [key, value] = entry as [unknown, unknown];
      if (value !== false && (typeof value !== 'number' || Number.isNaN(value) || value === Infinity)) {
        throw invalid('a number or false', `${name}[1]`, value);
      }
      const ids = typeof key === 'string'
        ? Array.from(this.model.tokenize(key, { addSpecial: false, parseSpecial: false }))
        : [expectInteger(key, `${name}[0]`, 0, vocabSize - 1)]; // a token id of this vocabulary
      for (const id of ids) {
        tokens.push(id);
        values.push(value === false ? -Infinity : value);
      }
      if (tokens.length > MAX_LOGIT_BIAS_TOKENS) throw invalid(`at most ${MAX_LOGIT_BIAS_TOKENS} tokens`, 'logitBias', bias);
    });
    return { logitBiasTokens: Int32Array.from(tokens), logitBiasValues: Float32Array.from(values) };
  }

  /** Tokens in the KV cache now, all slots together (reusable by later generations); -1 while generating. */
  get cachedTokens(): number {
    return this.info.cachedTokens;
  }

  /** Generations that can run at once. */
  get parallel(): number {
    return this.info.sequences;
  }

  /** What each slot holds now: state, cached tokens, and the progress of the generation it serves. */
  get slots(): SlotInfo[] {
    return this.info.slots;
  }

  /** Forgets the KV cache (the next generation decodes its whole prompt). */
  clearCache(): void {
    nativeCall(() => this.check().clearCache());
  }

  /**
   * Writes what slot `slot` holds (its tokens and KV cells) to the file `path` (llama.cpp's
   * sequence state format), once the slot is free. Resolves with the tokens saved.
   */
  async saveSlot(slot: number, path: string): Promise<Int32Array> {
    return this.#slotState('saveSlot', slot, path);
  }

  /**
   * Restores into slot `slot` (once it is free) a file written by `saveSlot` with the same model
   * file and slot size: the next generation whose prompt starts with the saved tokens is placed
   * there and reuses them. Resolves with the tokens restored; rejects when the file is
   * missing, corrupt or was saved for another model or slot size, leaving the slot empty. The
   * file says nothing of the model it came from: keep it with the model's identity.
   */
  async loadSlot(slot: number, path: string): Promise<Int32Array> {
    return this.#slotState('loadSlot', slot, path);
  }

  async #slotState(op: 'saveSlot' | 'loadSlot', slot: number, path: string): Promise<Int32Array> {
    const native = this.check();
    expectInteger(slot, 'slot', 0, native.info().sequences - 1);
    expectString(path, 'path');
    const site = callSite();
    try {
      return await native[op](slot, path);
    } catch (err) {
      throw fromNative(err, site);
    }
  }
}

/** An embedding context: pooled, L2-normalised vectors for a batch of texts. */
export class EmbeddingContext extends ContextBase {
  /** @internal */
  static async create(model: Model, nativeModel: NativeModel, options: EmbeddingContextOptions): Promise<EmbeddingContext> {
    const site = callSite();
    const base = contextParams(model, { contextSize: options.contextSize ?? Math.min(2048, model.info.trainContextSize || 2048), ...options });
    const pooling = options.pooling ?? 'model';
    if (!(pooling in poolingNumbers)) throw invalid("'model', 'mean', 'cls' or 'last'", 'pooling', pooling);
    const sequences = expectInteger(options.sequences ?? 8, 'sequences', 1, 256);
    const addon = loadAddon();
    const native = new addon.Context(nativeModel);
    try {
      await native.create({ ...base, batchSize: options.batchSize ?? base.contextSize, embeddings: true, pooling: poolingNumbers[pooling], sequences });
    } catch (err) {
      throw fromNative(err, site);
    }
    return new EmbeddingContext(model, native);
  }

  /** Vector length. */
  get dimensions(): number {
    return this.model.info.embeddingSize;
  }

  /**
   * Embeds each text (tokenized with the model's special tokens, e.g. CLS/SEP for BERT) or token
   * list (an Int32Array, embedded as it is).
   */
  async embed(texts: readonly (string | Int32Array)[], { signal }: { signal?: AbortSignal } = {}): Promise<Float32Array[]> {
    if (!Array.isArray(texts)) throw invalid('an array of strings or Int32Arrays', 'texts', texts);
    const vocabSize = this.model.info.vocabSize;
    texts.forEach((t, i) => {
      if (!(t instanceof Int32Array)) return expectString(t, `texts[${i}]`);
      if (t.length === 0) throw invalid('at least one token', `texts[${i}]`, t);
      const bad = t.findIndex((id) => id < 0 || id >= vocabSize);
      if (bad !== -1) throw invalid(`a token id below the vocabulary size ${vocabSize}`, `texts[${i}][${bad}]`, t[bad]);
    });
    if (texts.length === 0) return [];
    const native = this.check();
    const tokens = texts.map((t) => typeof t === 'string' ? this.model.tokenize(t, { addSpecial: true, parseSpecial: false }) : t);
    if (signal?.aborted) throw new AbortError(abortReason(signal));
    const site = callSite();
    const token = new (loadAddon().AbortToken)();
    const onAbort = () => token.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.exclusive(async () => {
        if (this.disposed) throw new DisposedError('EmbeddingContext');
        return native.embed(tokens, token);
      });
    } catch (err) {
      throw fromNative(err, site);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

function samplingOptions(o: GenerateOptions): NativeSamplingOptions {
  const stop = o.stop === undefined ? [] : typeof o.stop === 'string' ? [o.stop] : o.stop;
  if (!Array.isArray(stop)) throw invalid('a string or an array of strings', 'stop', o.stop);
  stop.forEach((s, i) => expectString(s, `stop[${i}]`));
  const opt = <T>(v: T | undefined, check: (v: T) => unknown) => (v === undefined ? undefined : (check(v), v));
  return {
    maxTokens: opt(o.maxTokens, (v) => expectInteger(v, 'maxTokens', 0)) ?? -1,
    temperature: opt(o.temperature, (v) => expectNumber(v, 'temperature', 0, 100)),
    topK: opt(o.topK, (v) => expectInteger(v, 'topK', 0)),
    topP: opt(o.topP, (v) => expectNumber(v, 'topP', 0, 1)),
    minP: opt(o.minP, (v) => expectNumber(v, 'minP', 0, 1)),
    repeatPenalty: opt(o.repeatPenalty, (v) => expectNumber(v, 'repeatPenalty', 0.0001, 100)),
    repeatLastN: opt(o.repeatLastN, (v) => expectInteger(v, 'repeatLastN', -1)),
    presencePenalty: opt(o.presencePenalty, (v) => expectNumber(v, 'presencePenalty', -100, 100)),
    frequencyPenalty: opt(o.frequencyPenalty, (v) => expectNumber(v, 'frequencyPenalty', -100, 100)),
    seed: opt(o.seed, (v) => expectInteger(v, 'seed', 0, 0xfffffffe)) ?? -1,
    ignoreEos: o.ignoreEos === true,
    stop: stop.filter((s) => s.length > 0),
    grammar: constraintGrammar(o),
    grammarTriggerPatterns: o.grammarTriggers?.patterns && [...o.grammarTriggers.patterns],
    grammarTriggerTokens: o.grammarTriggers?.tokens && [...o.grammarTriggers.tokens],
    grammarPrefill: o.grammarPrefill && [...o.grammarPrefill],
  };
}

function constraintGrammar(o: GenerateOptions): string | undefined {
  if (o.grammar !== undefined && o.jsonSchema !== undefined) throw invalid('grammar or jsonSchema, not both', 'grammar', o.grammar);
  if (o.grammar !== undefined) return checkedGrammar(expectString(o.grammar, 'grammar'));
  if (o.jsonSchema === undefined) return undefined;
  if (typeof o.jsonSchema !== 'object' || o.jsonSchema === null || Array.isArray(o.jsonSchema)) {
    throw invalid('a JSON schema object', 'jsonSchema', o.jsonSchema);
  }
  expectNestedAtMost(o.jsonSchema, 'jsonSchema', MAX_SCHEMA_DEPTH);
  return jsonSchemaToGrammar(o.jsonSchema);
}

/** GBNF for a JSON schema, by llama.cpp's converter (InvalidArgumentError for a schema it cannot convert). */
/**
 * llama.cpp parses a grammar, and converts a JSON schema, by recursion on the native stack: a
 * grammar nested thousands of groups deep (a few KB of text) overflows it (SIGSEGV: the whole
 * process). Both come from callers, so their size and nesting are bounded here first.
 */
const MAX_GRAMMAR_LENGTH = 256 * 1024;
const MAX_GRAMMAR_NESTING = 128;
export const MAX_SCHEMA_DEPTH = 64;

function checkedGrammar(grammar: string): string {
  if (grammar.length > MAX_GRAMMAR_LENGTH) throw invalid(`a grammar of at most ${MAX_GRAMMAR_LENGTH} characters`, 'grammar', grammar);
  let depth = 0;
  let max = 0;
  let quote: '"' | ']' | undefined; // inside a "literal" or a [character class]
  for (let i = 0; i < grammar.length; i++) {
    const c = grammar[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"') quote = '"';
    else if (c === '[') quote = ']';
    else if (c === '#') while (i < grammar.length && grammar[i] !== '\n') i++;
    else if (c === '(') max = Math.max(max, ++depth);
    else if (c === ')') depth--;
  }
  if (max > MAX_GRAMMAR_NESTING) throw invalid(`a grammar with groups nested at most ${MAX_GRAMMAR_NESTING} deep`, 'grammar', grammar);
  return grammar;
}

function jsonSchemaToGrammar(schema: object): string {
  return nativeCall(() => loadAddon().jsonSchemaToGrammar(JSON.stringify(schema)));
}
