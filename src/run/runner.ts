/**
 * Starts generations for the routes, whatever their dialect: a saved prompt (the akachat routes,
 * or a chat whose `model` names a prompt) or a plain model run (chat messages through the model's
 * chat template, or raw text). Every run that needs the local model waits for its turn in the
 * {@link GenerationQueue}; every run stops when its AbortSignal fires (client gone, timeout).
 */
import type { Akachat } from '../akachat.js';
import { mapResult, type TextStream } from '../async/text-stream.js';
import { AbortError, InvalidArgumentError, abortReason, isAbort, throwIfAborted } from '../errors.js';
import type { LlmResult, LlmTimings } from '../llm/stream.js';
import type { ChatMessage as PromptChatMessage } from '../prompt/messages.js';
import { callerOverrides, llmRequest, type PromptOptions, type RawOptions } from '../prompt/options.js';
import { describeValue } from '../validate.js';
import type { Prompt, PromptRunResult } from '../prompt/prompt.js';
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
  completionTokens?: number;
  /** From the request's arrival (queue wait included) to the end. */
  durationMs: number;
  error?: unknown;
}

interface CommonRequest {
  /** For reports, e.g. `POST /v1/chat/completions`. */
  route: string;
  /** Client gone or request timed out. */
  signal: AbortSignal;
}

export interface ChatRunRequest extends CommonRequest {
  /** The client's `model` (see ModelCatalog.resolve). */
  model?: string;
  messages: ChatMessage[];
  sampling: SamplingParams;
}

export interface TextRunRequest extends CommonRequest {
  model?: string;
  /** Completed as is: no chat template. */
  text: string;
  sampling: SamplingParams;
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
}

export interface GenerationsOptions {
  onGeneration?: (report: GenerationReport) => void;
}


export class Generations {
  readonly #akachat: Akachat;
  readonly #catalog: ModelCatalog;
  readonly #queue: GenerationQueue;
  readonly #onGeneration?: (report: GenerationReport) => void;

  constructor(akachat: Akachat, catalog: ModelCatalog, queue: GenerationQueue, options: GenerationsOptions = {}) {
    this.#akachat = akachat;
    this.#catalog = catalog;
    this.#queue = queue;
    this.#onGeneration = options.onGeneration;
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
      const { history, input } = splitConversation(request.messages);
      return this.prompt({ route: request.route, signal: request.signal, prompt: target.prompt, input, history, overrides: samplingToOptions(request.sampling) }, target.name);
    }
    return this.#model(request, target, { messages: request.messages });
  }

  /** A text completion: a prompt's name runs the prompt with the text as input; a model completes the text as is. */
  async text(request: TextRunRequest): Promise<GenerationRun> {
    const target = await this.#catalog.resolve(request.model);
    if (target.kind === 'prompt') {
      return this.prompt({ route: request.route, signal: request.signal, prompt: target.prompt, input: request.text, overrides: samplingToOptions(request.sampling) }, target.name);
    }
    return this.#model(request, target, { text: request.text });
  }

  /** Runs a prompt with `fromWebApi: true` (its `test()` text is left out); the call is written to the speech logs. */
  async prompt(request: PromptRunRequest, displayName = request.prompt.name): Promise<GenerationRun> {
    const { prompt, input, history, signal } = request;
    const overrides = { ...callerOverrides(request.overrides), ...(request.model ? { model: await this.#modelOverride(request.model) } : {}) };
    const merged = await this.#akachat.resolveOptions(prompt.options, overrides); // bad overrides fail here, before queueing
    const local = (merged.provider ?? 'local') === 'local';
    if (local && !merged.model) throw noModelError(); // the prompt names no model and there is no default
    return this.#start(request.route, displayName, local, signal, (runSignal) => {
      const stream = prompt.stream(input, { resolvedOptions: merged, history, signal: runSignal, fromWebApi: true });
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

  async #model(request: ChatRunRequest | TextRunRequest, target: Extract<ModelTarget, { kind: 'model' }>, input: { messages?: ChatMessage[]; text?: string }): Promise<GenerationRun> {
    const merged: PromptOptions = await this.#akachat.resolveOptions(target.options, callerOverrides(samplingToOptions(request.sampling)));
    const provider = merged.provider ?? 'local';
    if (provider === 'local' && !merged.model) throw noModelError(request.model);
    return this.#start(request.route, target.name, provider === 'local', request.signal, (runSignal) => {
      const started = performance.now();
      const stream = this.#akachat.location(provider).stream(llmRequest(merged, input, runSignal));
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
        this.#report({ route, model: displayName, outcome: 'completed', stopReason: result.stopReason, completionTokens: result.completionTokens, durationMs: performance.now() - arrived });
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
  if (sampling.maxTokens !== undefined) options.max_new_tokens = sampling.maxTokens;
  if (sampling.temperature !== undefined) options.temperature = sampling.temperature;
  if (sampling.topP !== undefined) options.top_p = sampling.topP;
  if (sampling.topK !== undefined) options.top_k = sampling.topK;
  if (sampling.minP !== undefined) options.min_p = sampling.minP;
  if (sampling.repeatPenalty !== undefined) options.repetition_penalty = sampling.repeatPenalty;
  if (sampling.presencePenalty !== undefined) options.presence_penalty = sampling.presencePenalty;
  if (sampling.frequencyPenalty !== undefined) options.frequency_penalty = sampling.frequencyPenalty;
  if (sampling.seed !== undefined) options.seed = sampling.seed;
  if (sampling.stop !== undefined) options.stop = sampling.stop;
  if (sampling.responseFormat !== undefined) options.response_format = sampling.responseFormat;
  return options;
}

/** A client's conversation as a prompt's history + input: the last user turn is the input. */
export function splitConversation(messages: readonly ChatMessage[]): { history: PromptChatMessage[]; input: string } {
  const turns = messages.filter((message) => message.role !== 'system').map((m) => ({ role: m.role, content: m.content }));
  const last = turns.at(-1);
  if (last?.role === 'user') return { history: turns.slice(0, -1), input: last.content };
  return { history: turns, input: '' };
}
