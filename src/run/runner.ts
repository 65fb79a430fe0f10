/**
 * Starts generations for the routes, whatever their dialect: a saved prompt (the akachat routes,
 * or a chat whose `model` names a prompt) or a plain model run (chat messages through the model's
 * chat template, or raw text). Every run that needs the local model waits for its turn in the
 * {@link GenerationQueue}; every run stops when its AbortSignal fires (client gone, timeout).
 */
import type { Akachat } from '../akachat.js';
import { mapResult, type TextStream } from '../async/text-stream.js';
import type { TokenOptions } from '../engine/index.js';
import { AbortError, InvalidArgumentError, abortReason, isAbort, throwIfAborted } from '../errors.js';
import { flattenToolTurns, offersTools } from '../engine/chat-format.js';
import type { LlmChatOptions } from '../llm/request.js';
import type { LlmResult, LlmTimings } from '../llm/stream.js';
import type { ChatReply, GenerationSettings } from '../llm/types.js';
import type { ChatMessage as PromptChatMessage } from '../prompt/messages.js';
import { callerOverrides, generationSettings, llmRequest, type PromptOptions, type RawOptions } from '../prompt/options.js';
import { describeValue } from '../validate.js';
import type { Prompt, PromptRunOptions, PromptRunResult } from '../prompt/prompt.js';
import { noModelError, type ModelCatalog, type ModelTarget } from './catalog.js';
import type { GenerationQueue } from './admission.js';
import type { ChatMessage, SamplingParams } from './request.js';

/** How a generation ended, the same for every kind of run. */
export interface RunResult {
  text: string;
  /** `eos`, `maxTokens`, `stop`, `contextFull` (local); remote services map theirs to these. */
  stopReason: string;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens taken from the KV cache (local models). */
  reusedTokens: number;
  /** From the start of generation (after the queue) to its end. */
  durationMs: number;
  /** Time to the first text chunk. */
  firstTokenMs?: number;
  /** Engine timings of prompt decoding and generation (local models). */
  timings?: LlmTimings;
  /** Model file (local) or remote model name that answered. */
  model: string;
  /** The prompt run's details (messages sent, evaluated instruction, ...) for saved-prompt runs. */
  prompt?: PromptRunResult;
  /** The sampling settings the run used, after every default was applied. */
  settings?: GenerationSettings;
  /** The reply split into content, reasoning and tool calls (local chats, by llama.cpp's chat parser). */
  reply?: ChatReply;
}

/** A token limit that no context reaches: "until end-of-generation or a full context" (int32 for the engine). */
export const UNLIMITED_TOKENS = 2 ** 31 - 1;

/**
 * Server-wide sampling defaults (`akachat serve --seed --temp ...`). Each applies only where
 * neither the request nor the prompt's or preset's options set the field: request > prompt or
 * preset options > server defaults > built-in defaults.
 */
export interface ServerDefaults {
  seed?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  /** Most tokens to generate; -1 = until end-of-generation or a full context (local models only). */
  maxTokens?: number;
}

/** `options` with the server defaults filled into the fields nothing else set. */
export function withServerDefaults(options: PromptOptions, defaults: ServerDefaults): PromptOptions {
  const out: PromptOptions = { ...options };
  if (out.seed === undefined && defaults.seed !== undefined) out.seed = defaults.seed;
  if (out.temperature === undefined && defaults.temperature !== undefined) out.temperature = defaults.temperature;
  if (out.topK === undefined && defaults.topK !== undefined) out.topK = defaults.topK;
  if (out.topP === undefined && defaults.topP !== undefined) out.topP = defaults.topP;
  if (out.minP === undefined && defaults.minP !== undefined) out.minP = defaults.minP;
  if (out.repetitionPenalty === undefined && defaults.repeatPenalty !== undefined) out.repetitionPenalty = defaults.repeatPenalty;
  // max_new_tokens 0 means "the default"; a remote service is never asked for unlimited tokens.
  const local = (out.provider ?? 'local') === 'local';
  if (!out.maxNewTokens && defaults.maxTokens !== undefined && (defaults.maxTokens > 0 || local)) {
    out.maxNewTokens = defaults.maxTokens < 0 ? UNLIMITED_TOKENS : defaults.maxTokens;
  }
  return out;
}

/**
 * Prompt and generation time of a run for the llama.cpp and Ollama stats: the engine's own
 * figures for local models; for remote ones, the time to the first chunk and the rest.
 */
export function phaseTimes(result: RunResult): { promptMs: number; generationMs: number } {
  if (result.timings) return result.timings;
  const promptMs = result.firstTokenMs ?? 0;
  return { promptMs, generationMs: Math.max(0, result.durationMs - promptMs) };
}

/** A started generation: text chunks (consumable once; `break` aborts it) and its result. */
export interface GenerationRun extends TextStream<RunResult> {
  /** The name to echo to the client as `model`. */
  readonly model: string;
}

/** What `onGeneration` hears about every generation when it ends. */
export interface GenerationReport {
  /** Route that started it, e.g. `POST /v1/chat/completions`. */
  route: string;
  /** The name the client used (or the prompt's name). */
  model: string;
  outcome: 'completed' | 'aborted' | 'failed';
  stopReason?: string;
  promptTokens?: number;
  completionTokens?: number;
  /** Engine (or remote) time of the prompt and of the generation, for throughput metrics. */
  promptMs?: number;
  generationMs?: number;
  /** From the request's arrival (queue wait included) to the end. */
  durationMs: number;
  error?: unknown;
}

interface CommonRequest {
  /** For reports, e.g. `POST /v1/chat/completions`. */
  route: string;
  /** Client gone or request timed out. */
  signal: AbortSignal;
  /**
   * Token-level options of a local model run (logit bias, probabilities, token ids and their
   * listener); refused for saved prompts and remote services, which take none, unless only a
   * listener is given.
   */
  tokens?: TokenOptions;
}

export interface ChatRunRequest extends CommonRequest {
  /** The client's `model` (see ModelCatalog.resolve). */
  model?: string;
  messages: ChatMessage[];
  sampling: SamplingParams;
  /** Tools, tool choice and reasoning settings (local models; see src/engine/chat-format.ts). */
  chat?: LlmChatOptions;
}

export interface TextRunRequest extends CommonRequest {
  model?: string;
  /** Completed as is: no chat template. */
  text: string;
  sampling: SamplingParams;
  /**
   * llama.cpp's `n_predict` taken literally for a model run: 0 = only evaluate the prompt, -1 =
   * until end-of-generation or a full context. Wins over every default (max_new_tokens 0 means "default").
   */
  exactMaxTokens?: number;
}

export interface PromptRunRequest extends CommonRequest {
  /** A saved or unsaved prompt. */
  prompt: Prompt;
  input: string;
  /** Earlier turns, placed after the instruction's messages (messages mode). */
  history?: PromptChatMessage[];
  /** The caller's generation parameters (see callerOverrides). */
  overrides?: RawOptions;
  /** A model name the caller picked for this run among the listed ones (presets, models folder, the default). */
  model?: string;
  /**
   * The data folder's owner runs it (the playground, through a management route): `test()` follows
   * the `is_test` setting as in a library call. Default false: a WebAPI call, `test()` prints nothing.
   */
  owner?: boolean;
  /** Hears the evaluated instruction and what will be sent, before generation starts. */
  onEvaluated?: PromptRunOptions['onEvaluated'];
}

export interface GenerationsOptions {
  onGeneration?: (report: GenerationReport) => void;
  /** Sampling defaults for every run (see {@link ServerDefaults}). Default none. */
  defaults?: ServerDefaults;
}


export class Generations {
  readonly #akachat: Akachat;
  readonly #catalog: ModelCatalog;
  readonly #queue: GenerationQueue;
  readonly #onGeneration?: (report: GenerationReport) => void;
  readonly #defaults: ServerDefaults;

  constructor(akachat: Akachat, catalog: ModelCatalog, queue: GenerationQueue, options: GenerationsOptions = {}) {
    this.#akachat = akachat;
    this.#catalog = catalog;
    this.#queue = queue;
    this.#onGeneration = options.onGeneration;
    this.#defaults = options.defaults ?? {};
  }

  /**
   * A chat from a client. A `model` naming a saved prompt runs it: the client's earlier turns
   * become its history and the last user message its input (the client's system messages are
   * left out: the prompt's instruction is the persona). Otherwise the messages go through the
   * resolved model's chat template.
   */
  async chat(request: ChatRunRequest): Promise<GenerationRun> {
    const target = await this.#catalog.resolve(request.model);
    if (target.kind === 'prompt') {
      refuseTokenOptions(request, `${describeValue(target.name)} names a saved prompt`);
      if (request.chat && offersTools(request.chat)) throw new InvalidArgumentError(`Expected a model for a chat with tools, but ${describeValue(target.name)} names a saved prompt`);
      const { history, input } = splitConversation(flattenToolTurns(request.messages) as ChatMessage[]);
      return this.prompt({ route: request.route, signal: request.signal, prompt: target.prompt, input, history, overrides: samplingToOptions(request.sampling) }, target.name);
    }
    return this.#model(request, target, { messages: request.messages }, request.chat);
  }

  /** A text completion: a prompt's name runs the prompt with the text as input; a model completes the text as is. */
  async text(request: TextRunRequest): Promise<GenerationRun> {
    const target = await this.#catalog.resolve(request.model);
    if (target.kind === 'prompt') {
      refuseTokenOptions(request, `${describeValue(target.name)} names a saved prompt`);
      return this.prompt({ route: request.route, signal: request.signal, prompt: target.prompt, input: request.text, overrides: samplingToOptions(request.sampling) }, target.name);
    }
    return this.#model(request, target, { text: request.text });
  }

  /** Runs a prompt with `fromWebApi: true` unless `owner` (its `test()` text is left out); the call is written to the speech logs. */
  async prompt(request: PromptRunRequest, displayName = request.prompt.name): Promise<GenerationRun> {
    const { prompt, input, history, signal } = request;
    // The prompt's own model may be a listed name too (the playground saves those): resolveOptions
    // runs the owner's file behind it, as for library and CLI runs.
    const overrides = { ...callerOverrides(request.overrides), ...(request.model ? { model: await this.#modelOverride(request.model) } : {}) };
    const merged = withServerDefaults(await this.#akachat.resolveOptions(prompt.options, overrides), this.#defaults); // bad overrides fail here, before queueing
    const local = (merged.provider ?? 'local') === 'local';
    if (local && !merged.model) throw noModelError(); // the prompt names no model and there is no default
    return this.#start(request.route, displayName, local, signal, (runSignal) => {
      const stream = prompt.stream(input, { resolvedOptions: merged, history, signal: runSignal, fromWebApi: !request.owner, onEvaluated: request.onEvaluated });
      return mapResult(stream, (r): RunResult => ({
        text: r.text,
        stopReason: r.stopReason,
        promptTokens: r.usage.promptTokens,
        completionTokens: r.usage.completionTokens,
        reusedTokens: r.usage.reusedTokens ?? 0,
        durationMs: r.durationMs,
        firstTokenMs: r.firstTokenMs,
        timings: r.timings,
        model: r.model,
        prompt: r,
        settings: generationSettings(merged),
      }));
    });
  }

  /** The owner's model reference behind a listed name; 400 for any other name (never a path). */
  async #modelOverride(name: string): Promise<string> {
    const model = await this.#catalog.modelOverride(name);
    if (model === undefined) {
      throw new InvalidArgumentError(`Expected a model name listed by /v1/models (a preset, a file of the models folder or the default model) for model but received ${describeValue(name)}`);
    }
    return model;
  }

  async #model(request: ChatRunRequest | TextRunRequest, target: Extract<ModelTarget, { kind: 'model' }>, input: { messages?: ChatMessage[]; text?: string }, chat?: LlmChatOptions): Promise<GenerationRun> {
    const resolved = await this.#akachat.resolveOptions(target.options, callerOverrides(samplingToOptions(request.sampling)));
    const merged: PromptOptions = withServerDefaults(resolved, this.#defaults);
    const provider = merged.provider ?? 'local';
    if (provider === 'local' && !merged.model) throw noModelError(request.model);
    if (provider !== 'local') refuseTokenOptions(request, `${describeValue(target.name)} runs on a remote service`);
    const exact = 'exactMaxTokens' in request ? request.exactMaxTokens : undefined;
    return this.#start(request.route, target.name, provider === 'local', request.signal, (runSignal) => {
      const started = performance.now();
      const llm = llmRequest(merged, input, runSignal);
      // A listener alone (a stream that shows token ids where it can) is enough to hand them out.
      if (provider === 'local' && request.tokens) llm.tokens = { ...request.tokens, tokens: true };
      // Tool turns and tools: through llama.cpp's chat layer (local), or the chat API's own fields (remote).
      llm.chat = chat;
      if (exact !== undefined && provider === 'local') llm.settings.maxTokens = exact < 0 ? UNLIMITED_TOKENS : exact;
      const stream = this.#akachat.location(provider).stream(llm);
      return mapResult(stream, (r: LlmResult): RunResult => ({
        text: r.text,
        stopReason: r.stopReason,
        promptTokens: r.usage.promptTokens,
        completionTokens: r.usage.completionTokens,
        reusedTokens: r.usage.reusedTokens ?? 0,
        durationMs: performance.now() - started,
        firstTokenMs: r.firstTokenMs,
        timings: r.timings,
        model: r.model,
        settings: llm.settings,
        reply: r.reply,
      }));
    });
  }

  /** Waits for a turn (local runs), starts the run, and reports and frees the turn when it ends. */
  async #start(
    route: string,
    displayName: string,
    local: boolean,
    signal: AbortSignal,
    begin: (signal: AbortSignal) => TextStream<RunResult>,
  ): Promise<GenerationRun> {
    const arrived = performance.now();
    throwIfAborted(signal);
    const turn = local ? await this.#queue.acquire(signal) : undefined;
    let run: TextStream<RunResult>;
    try {
      // A run started on an aborted signal would never settle its result: refuse it here.
      if (signal.aborted) throw new AbortError(abortReason(signal));
      run = begin(signal);
    } catch (error) {
      turn?.release();
      throw error;
    }
    // The turn ends when the generation does, or at once on abort (the engine's context finishes
    // its current token before the next run's decode starts, so letting the next one in is safe).
    const release = () => turn?.release();
    signal.addEventListener('abort', release, { once: true });
    run.result.catch(() => {});
    void run.result.then(
      (result) => {
        signal.removeEventListener('abort', release);
        release();
        const { promptMs, generationMs } = phaseTimes(result);
        this.#report({ route, model: displayName, outcome: 'completed', stopReason: result.stopReason, promptTokens: result.promptTokens, completionTokens: result.completionTokens, promptMs, generationMs, durationMs: performance.now() - arrived });
      },
      (error: unknown) => {
        signal.removeEventListener('abort', release);
        release();
        const aborted = isAbort(error) || signal.aborted;
        this.#report({ route, model: displayName, outcome: aborted ? 'aborted' : 'failed', durationMs: performance.now() - arrived, error });
      },
    );
    return Object.assign(run, { model: displayName });
  }

  #report(report: GenerationReport): void {
    try {
      this.#onGeneration?.(report);
    } catch {
      // A listener's failure must not break the request it reports on.
    }
  }
}

/**
 * Maps dialect-neutral sampling fields to option overrides (later schema). Fields the client did
 * not send are left out, so the prompt's or preset's own values stay.
 * A context size (Ollama `num_ctx`) is the owner's choice: not mapped.
 */
export function samplingToOptions(sampling: SamplingParams): RawOptions {
  const options: RawOptions = {};
  for (const [field, key] of OPTION_KEYS) if (sampling[field] !== undefined) options[key] = sampling[field];
  return options;
}

/** A request's sampling field and the option key (later schema) it overrides. */
const OPTION_KEYS: ReadonlyArray<[keyof SamplingParams, string]> = [
  ['maxTokens', 'max_new_tokens'], ['temperature', 'temperature'], ['topP', 'top_p'], ['topK', 'top_k'], ['minP', 'min_p'],
  ['repeatPenalty', 'repetition_penalty'], ['presencePenalty', 'presence_penalty'], ['frequencyPenalty', 'frequency_penalty'],
  ['seed', 'seed'], ['stop', 'stop'], ['responseFormat', 'response_format'], ['grammar', 'grammar'],
];

/**
 * Logit bias, probabilities and asked-for token ids need a local model run: a 400 for anything
 * else. A listener alone (`onTokens` without `tokens`) is not a request: it hears nothing there.
 */
function refuseTokenOptions(request: CommonRequest, why: string): void {
  const options = request.tokens;
  if (options && (options.logitBias || options.probabilities || options.tokens)) throw new InvalidArgumentError(`Expected a local model for logit_bias, logprobs or token ids, but ${why}`);
}

/** A client's conversation as a prompt's history + input: the last user turn is the input. */
export function splitConversation(messages: readonly ChatMessage[]): { history: PromptChatMessage[]; input: string } {
  const turns = messages.filter((message) => message.role !== 'system').map((m) => ({ role: m.role, content: m.content }));
  const last = turns.at(-1);
  if (last?.role === 'user') return { history: turns.slice(0, -1), input: last.content };
  return { history: turns, input: '' };
}
