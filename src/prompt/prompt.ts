import { renderSegmentsAsText, buildMessages, buildTemplateText, type ChatMessage, type Segment } from './messages.js';
import { llmRequest, mergeOptions, normalizeOptions, toRawOptions, usesChatMessages, type PromptOptions, type RawOptions } from './options.js';
import { parseInstruction, type EvaluatedPart, type InstructionTree } from './instruction/index.js';
import type { LlmResult, LlmTimings, LlmUsage } from '../llm/stream.js';
import { LlmStream } from '../llm/stream.js';
import type { PromptRuntime } from './runtime.js';
import type { TextStream } from '../async/text-stream.js';
import { redactOptions } from '../settings/redact.js';

export interface PromptRunOptions {
  /** Option overrides for this call (any schema); merged last, on copies. */
  overrides?: RawOptions;
  /** The options of this call already resolved (prompt + preset + overrides + default model), by a caller that needed them first. */
  resolvedOptions?: PromptOptions;
  /** Earlier turns placed after the instruction's messages and before the input (messages mode). */
  history?: readonly ChatMessage[];
  signal?: AbortSignal;
  /** The call comes through the WebAPI: `test()` is off. Default false. */
  fromWebApi?: boolean;
  /** Do not append to the speech logs. Default false. */
  noLog?: boolean;
  /** @internal nesting depth of llm() calls */
  depth?: number;
  /** Hears what will be sent as soon as the instruction is evaluated, before generation starts. Default: none. */
  onEvaluated?: (evaluated: EvaluatedInstruction) => void;
}

/** The instruction evaluated for one run, and what goes to the model (see {@link PromptRunOptions.onEvaluated}). */
export interface EvaluatedInstruction {
  /** Each part of the instruction with its output and the function that produced it. */
  parts: EvaluatedPart[];
  segments: Segment[];
  /** The evaluated instruction as text (messages rendered as `role: content` lines). */
  instruction: string;
  /** Messages to send (messages mode). */
  messages?: ChatMessage[];
  /** Template text to send (template mode). */
  templateText?: string;
  provider: 'local' | 'openai';
  /** The merged options (raw, later schema), secrets masked by `redactOptions`. */
  options: RawOptions;
}

export interface PromptRunResult {
  /** The generated text. */
  text: string;
  /** The evaluated instruction as text (messages rendered as `role: content` lines). */
  instruction: string;
  /** The evaluated instruction's segments. */
  segments: Segment[];
  /** Messages sent (messages mode). */
  messages?: ChatMessage[];
  /** Template text sent (template mode). */
  templateText?: string;
  /** What the model saw after its chat template (local models). */
  renderedPrompt?: string;
  provider: 'local' | 'openai';
  model: string;
  usage: LlmUsage;
  stopReason: string;
  durationMs: number;
  firstTokenMs?: number;
  /** Engine timings (local models). */
  timings?: LlmTimings;
  /** The merged options actually used (raw, later schema), safe to show: secrets masked by `redactOptions`. */
  options: RawOptions;
}

/** A prompt run's text chunks plus its full result. `break` aborts the generation. */
export type PromptStream = TextStream<PromptRunResult>;

/**
 * A named instruction + options. The instruction is parsed once; `run()` evaluates it
 * (functions reach vars, messages, RAG and other prompts through the runtime), builds what
 * the model sees, generates, and records the call in the speech logs.
 */
export class Prompt {
  readonly name: string;
  readonly instruction: string;
  readonly options: PromptOptions;
  readonly #tree: InstructionTree;
  readonly #runtime: PromptRuntime;

  /** @internal use Akachat.prompt() / Akachat.createPrompt() */
  constructor(runtime: PromptRuntime, name: string, instruction: string, options: PromptOptions | RawOptions) {
    this.#runtime = runtime;
    this.name = name;
    this.instruction = instruction;
    this.options = 'extra' in options && typeof options.extra === 'object' ? (options as PromptOptions) : normalizeOptions(options, `${name}.json`);
    this.#tree = parseInstruction(instruction);
  }

  /** Runs the prompt to completion. */
  async run(input = '', options: PromptRunOptions = {}): Promise<PromptRunResult> {
    const stream = this.stream(input, options);
    for await (const _ of stream) { /* drain */ }
    return stream.result;
  }

  /** Runs the prompt, streaming text. */
  stream(input = '', options: PromptRunOptions = {}): PromptStream {
    const started = performance.now();
    let resolveResult!: (r: PromptRunResult) => void;
    let rejectResult!: (e: unknown) => void;
    const result = new Promise<PromptRunResult>((res, rej) => { resolveResult = res; rejectResult = rej; });
    result.catch(() => {});
    const runtime = this.#runtime;
    const llmStream = new LlmStream(async (emit, signal) => {
      try {
        const merged = options.resolvedOptions ?? await runtime.resolveOptions(this.options, options.overrides);
        const onEvaluated = options.onEvaluated;
        const parts: EvaluatedPart[] = [];
        const segments = await runtime.evaluate(this.#tree, {
          input,
          fromWebApi: options.fromWebApi ?? false,
          depth: options.depth ?? 0,
          signal,
          ...(onEvaluated ? { onPart: (part: EvaluatedPart) => void parts.push(part) } : {}),
        });
        const chat = usesChatMessages(merged);
        const messages = chat ? buildMessages(segments, input, options.history ?? []) : undefined;
        const templateText = chat ? undefined : buildTemplateText(merged.template ?? '', segments, input, await runtime.bosText(merged, signal));
        const provider = merged.provider ?? 'local';
        const instruction = renderSegmentsAsText(segments);
        const shownOptions = redactOptions(toRawOptions(merged));
        onEvaluated?.({ parts, segments, instruction, messages, templateText, provider, options: shownOptions });
        const llm = runtime.location(provider).stream(llmRequest(merged, { messages, text: templateText }, signal));
        for await (const text of llm) emit(text);
        const r = await llm.result;
        const run: PromptRunResult = {
          text: r.text,
          instruction,
          segments,
          messages,
          templateText,
          renderedPrompt: r.renderedPrompt,
          provider,
          model: r.model,
          usage: r.usage,
          stopReason: r.stopReason,
          durationMs: performance.now() - started,
          firstTokenMs: r.firstTokenMs,
          timings: r.timings,
          options: shownOptions,
        };
        if (!options.noLog) {
          await runtime.speechLog.append({
            instruction: run.instruction,
            output: run.text,
            sent: messages ?? templateText,
            options: run.options,
            durationMs: run.durationMs,
            detail: { prompt: this.name, model: run.model, usage: run.usage, stopReason: run.stopReason },
          });
        }
        resolveResult(run);
        return r as LlmResult;
      } catch (err) {
        rejectResult(err);
        throw err;
      }
    }, options.signal);
    // Also settles `result` when the stream fails before producing (e.g. an already aborted signal).
    llmStream.result.catch(rejectResult);
    return {
      result,
      abort: () => llmStream.abort(),
      [Symbol.asyncIterator]: () => llmStream[Symbol.asyncIterator](),
    };
  }

  /** Options merged over this prompt's without saving (prompt -> overrides). */
  withOptions(overrides: RawOptions): Prompt {
    return new Prompt(this.#runtime, this.name, this.instruction, mergeOptions(this.options, normalizeOptions(overrides, 'overrides')));
  }
}
