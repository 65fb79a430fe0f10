/**
 * Flags shared by the commands that run models (run, chat, batch, rag): the data folder, the
 * default model and threads, and generation overrides. The CLI user owns the machine, so any
 * option may be overridden, a model path or hf: reference included.
 */
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { Akachat } from '../akachat.js';
import type { RawOptions } from '../prompt/options.js';
import { statOf, UsageError, type CliIo } from './io.js';
import { modelEventPrinter } from './progress.js';
import { checkedModel, checkedThreads } from './serve.js';

export interface AkachatFlags {
  data?: string;
  threads?: string;
}

export interface GenerationFlags {
  model?: string;
  temperature?: number;
  maxTokens?: number;
  seed?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repeatPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  ctxSize?: number;
  stop?: string[];
  options?: RawOptions;
}

export function addAkachatOptions(command: Command): Command {
  return command
    .option('-d, --data <folder>', 'data folder with prompt/, vars/, log/, rag/ (default: the current folder) [AKACHAT_DATA]')
    .option('-t, --threads <n>', 'CPU threads per model (default: physical cores - 1) [AKACHAT_THREADS]');
}

export function addGenerationOptions(command: Command): Command {
  return command
    .option('-m, --model <model>', 'model for this run: a GGUF path, hf:owner/repo:QUANT or a preset (default: the prompt\'s, else AKACHAT_MODEL)')
    .option('--temperature <t>', 'sampling temperature', numberArg(0, 100))
    .option('-n, --max-tokens <n>', 'most tokens to generate', integerArg(1))
    .option('--seed <n>', 'sampling seed (-1 = random)', integerArg(-1))
    .option('--top-p <p>', 'nucleus sampling', numberArg(0, 1))
    .option('--top-k <k>', 'top-k sampling (0 = off)', integerArg(0))
    .option('--min-p <p>', 'min-p sampling', numberArg(0, 1))
    .option('--repeat-penalty <r>', 'repetition penalty (1 = off)', numberArg(0, 10))
    .option('--presence-penalty <p>', 'presence penalty (0 = off)', numberArg(-2, 2))
    .option('--frequency-penalty <p>', 'frequency penalty (0 = off)', numberArg(-2, 2))
    .option('--ctx-size <n>', 'context size to allocate', integerArg(1))
    .option('--stop <text>', 'stop string (repeatable)', repeatable)
    .option('--options <json>', 'further options as JSON, e.g. \'{"dtype": "Q8_0"}\'', jsonObjectArg);
}

/** The generation flags as prompt option overrides (stored key names). */
export function generationOverrides(flags: GenerationFlags): RawOptions {
  const set: RawOptions = {
    // A path must exist; other names are presets (models.json) or a remote provider's model names.
    model: flags.model !== undefined && isPathLike(flags.model) ? checkedModel(flags.model, '--model') : flags.model,
    temperature: flags.temperature,
    max_new_tokens: flags.maxTokens,
    seed: flags.seed,
    top_p: flags.topP,
    top_k: flags.topK,
    min_p: flags.minP,
    repetition_penalty: flags.repeatPenalty,
    presence_penalty: flags.presencePenalty,
    frequency_penalty: flags.frequencyPenalty,
    input_tokens: flags.ctxSize,
    stop: flags.stop,
  };
  return { ...flags.options, ...Object.fromEntries(Object.entries(set).filter(([, value]) => value !== undefined)) };
}

/** Looks like a file path (has a slash or ends in .gguf) rather than a preset or model name. */
export function isPathLike(model: string): boolean {
  return /[\\/]|\.gguf$/i.test(model);
}

/**
 * The data folder's Akachat, with AKACHAT_MODEL as the default model and progress on stderr.
 * The library is imported here, when a command runs, so `--help` and `--version` start fast.
 */
export async function openAkachat(flags: AkachatFlags, io: CliIo): Promise<Akachat> {
  const dataText = flags.data ?? (io.env.AKACHAT_DATA || undefined);
  const dataDir = resolve(dataText ?? '.');
  if (dataText !== undefined && !statOf(dataDir)?.isDirectory()) throw new UsageError(`Expected a folder for --data but received ${JSON.stringify(dataText)}`);
  const { Akachat } = await import('../akachat.js');
  return new Akachat({
    dataDir,
    defaultModel: checkedModel(io.env.AKACHAT_MODEL || undefined, 'AKACHAT_MODEL'),
    defaultEmbeddingModel: io.env.AKACHAT_EMBEDDING_MODEL || undefined,
    models: { threads: checkedThreads(flags.threads ?? (io.env.AKACHAT_THREADS || undefined)) },
    onModelEvent: modelEventPrinter(io),
  });
}

/** A flag given several times: every value, in order. */
export function repeatable(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function numberArg(min: number, max: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (value.trim() === '' || !Number.isFinite(number) || number < min || number > max) throw new InvalidArgumentError(`Expected a number from ${min} to ${max}.`);
    return number;
  };
}

export function integerArg(min: number): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`Expected a whole number >= ${min}.`);
    return Number(value);
  };
}

export function jsonObjectArg(value: string): RawOptions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new InvalidArgumentError(`Expected a JSON object: ${(error as Error).message}.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError('Expected a JSON object.');
  return parsed as RawOptions;
}
