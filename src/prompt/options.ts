import { InvalidArgumentError, OwnerOnlyError, UnsupportedError } from '../errors.js';
import type { LlmRequest } from '../llm/request.js';
import { MAX_SCHEMA_DEPTH } from '../engine/context.js';
import { DEFAULT_GENERATION_SETTINGS, type ChatMessage, type GenerationSettings, type ResponseFormat } from '../llm/types.js';
import { describeValue, expectBoolean, expectNestedAtMost, expectInteger, expectNumber, expectString, invalid } from '../validate.js';

/** Options as stored in `prompt/{name}.json`, `models.json` or an HTTP body: any schema, any keys. */
export type RawOptions = Record<string, unknown>;

/** Where generation runs: llama.cpp in-process, or any OpenAI-compatible service. */
export type Provider = 'local' | 'openai';

/**
 * Prompt options in one in-memory shape, whichever historical schema they were read from.
 * Every field is optional: unset means "not given here", so layers can be merged with
 * {@link mergeOptions}; the defaults below apply only when the options are used.
 */
export interface PromptOptions {
  /** `provider` (later) / `location` (v1). Default `'local'`. */
  provider?: Provider;
  /** Base URL of the OpenAI-compatible service. Default `''` (the service's own default). */
  endpoint?: string;
  /** Local: a GGUF path, an `hf:` reference or a preset; openai: the model name. Default `''`. */
  model?: string;
  /** Local precision as a GGUF type name (`Q4_K_M`, `F16`, ...); `''` = as stored. Default `''`. */
  dtype?: string;
  /** `inst_template` (later) / `template` (v1): text with `{instruction}`, `{input}`, `{bos_token}`; `''` = chat messages. Default `''`. */
  template?: string;
  /** `is_messages`: build chat messages and apply the model's chat template. Default `false`. */
  isMessages?: boolean;
  /** `chat_template`: overrides the model's own (Jinja) chat template. Default `''` (the model's). */
  chatTemplate?: string;
  /** `max_new_tokens` / `output_tokens`: most tokens to generate; 0 = default. Default 512. */
  maxNewTokens?: number;
  /** `input_tokens`: context size to allocate; 0 = the backend's default. */
  inputTokens?: number;
  /** Sampling temperature. Default 0.8. */
  temperature?: number;
  /** `top_p` nucleus sampling. Default 0.95. */
  topP?: number;
  /** `top_k`; 0 = off. Default 40. */
  topK?: number;
  /** `min_p`. Default 0.05. */
  minP?: number;
  /** `repetition_penalty`; 1 = off. Default 1. */
  repetitionPenalty?: number;
  /** `presence_penalty`; 0 = off. Default 0. */
  presencePenalty?: number;
  /** `frequency_penalty`; 0 = off. Default 0. */
  frequencyPenalty?: number;
  /**
   * `response_format`: `{type: "json_object"}` or `{type: "json_schema", schema}` (OpenAI's shape);
   * `json_schema` (llama.cpp's name) takes the bare schema. Local models are held to it by a
   * grammar. Default none (text).
   */
  responseFormat?: ResponseFormat;
  /** `grammar`: a GBNF grammar (llama.cpp's format, start symbol `root`) local output must match. Default none. */
  grammar?: string;
  /** Sampling seed; -1 = random. Default random. */
  seed?: number;
  /** Stop strings (`stop` may be one string or a list). Default none. */
  stop?: string[];
  /** `api_key`: key for this options' `endpoint` (openai). The settings' `openai_key` only ever goes to OpenAI's own endpoint. */
  apiKey?: string;
  /** Keys this library does not know, kept so a save round-trips them; never sent to a backend. */
  extra: RawOptions;
}

export { DEFAULT_GENERATION_SETTINGS, type GenerationSettings };

export const DEFAULT_PROVIDER: Provider = 'local';


/** Ollama's default address, used when `provider: "ollama"` comes without an endpoint. */
export const DEFAULT_OLLAMA_ENDPOINT = 'http://localhost:11434/v1';

type KnownField = Exclude<keyof PromptOptions, 'extra'>;

/**
 * Every stored key this library understands, in the order {@link toRawOptions} writes them.
 * When a file holds both an old and a new name for one field, the new name wins.
 */
const FIELD_KEYS: ReadonlyArray<{ field: KnownField; key: string; oldKey?: string }> = [
  { field: 'provider', key: 'provider', oldKey: 'location' },
  { field: 'endpoint', key: 'endpoint' },
  { field: 'model', key: 'model' },
  { field: 'dtype', key: 'dtype' },
  { field: 'template', key: 'inst_template', oldKey: 'template' },
  { field: 'isMessages', key: 'is_messages' },
  { field: 'chatTemplate', key: 'chat_template' },
  { field: 'maxNewTokens', key: 'max_new_tokens', oldKey: 'output_tokens' },
  { field: 'inputTokens', key: 'input_tokens' },
  { field: 'temperature', key: 'temperature' },
  { field: 'topP', key: 'top_p' },
  { field: 'topK', key: 'top_k' },
  { field: 'minP', key: 'min_p' },
  { field: 'repetitionPenalty', key: 'repetition_penalty' },
  { field: 'presencePenalty', key: 'presence_penalty' },
  { field: 'frequencyPenalty', key: 'frequency_penalty' },
  // `json_schema`: llama.cpp's name, a bare schema.
  { field: 'responseFormat', key: 'response_format', oldKey: 'json_schema' },
  { field: 'grammar', key: 'grammar' },
  { field: 'seed', key: 'seed' },
  { field: 'stop', key: 'stop' },
  { field: 'apiKey', key: 'api_key' },
];

const KNOWN_KEYS = new Set(FIELD_KEYS.flatMap(({ key, oldKey }) => (oldKey ? [key, oldKey] : [key])));

const LOCAL_PROVIDERS = new Set(['local', 'llama.cpp', 'llamacpp', 'trllm']);
const UNSUPPORTED_PROVIDERS = new Set(['anthropic', 'google', 'googleai']);

/**
 * Turns options of either historical schema (v1: `location`, `output_tokens`, `template`,
 * `is_messages`; later: `provider`, `max_new_tokens`, `inst_template`, `chat_template`) into
 * {@link PromptOptions}. Provider names of the original are mapped (`Local`, `Llama.cpp`,
 * `trllm` -> local; `OpenAI` -> openai; `ollama` -> openai at the endpoint's `/v1`);
 * Anthropic and Google get an UnsupportedError. `null` means "not set". Unknown keys go to
 * `extra` (deep copies). Wrong types throw InvalidArgumentError
 * (`Expected ... for <key> but received ...`).
 */
export function normalizeOptions(raw: unknown, name = 'options'): PromptOptions {
  if (raw === undefined || raw === null) return { extra: {} };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid('an options object', name, raw);
  const source = raw as RawOptions;
  const options: PromptOptions = { extra: {} };
  const given = (key: string | undefined) => key !== undefined && Object.hasOwn(source, key) && source[key] !== null;

  let viaOllama = false;
  for (const { field, key, oldKey } of FIELD_KEYS) {
    const usedKey = given(key) ? key : given(oldKey) ? oldKey! : undefined;
    if (usedKey === undefined) continue;
    const value = source[usedKey];
    if (field === 'provider') {
      const provider = parseProvider(value, usedKey);
      if (provider === undefined) continue;
      options.provider = provider.provider;
      viaOllama = provider.ollama;
    } else {
      setField(options, field, parseField(field, value, usedKey));
    }
  }
  if (viaOllama) options.endpoint = ollamaEndpoint(options.endpoint ?? '');

  for (const key of Object.keys(source)) {
    if (!KNOWN_KEYS.has(key)) setOwn(options.extra, key, cloneData(source[key], key));
  }
  return options;
}

function parseProvider(value: unknown, key: string): { provider: Provider; ollama: boolean } | undefined {
  const text = expectString(value, key).trim().toLowerCase();
  if (text === '') return undefined;
  if (LOCAL_PROVIDERS.has(text)) return { provider: 'local', ollama: false };
  if (text === 'openai') return { provider: 'openai', ollama: false };
  if (text === 'ollama') return { provider: 'openai', ollama: true };
  if (UNSUPPORTED_PROVIDERS.has(text)) {
    throw new UnsupportedError(
      `${key} ${JSON.stringify(value)} is not supported, use an OpenAI-compatible endpoint (provider "openai" with its endpoint)`,
    );
  }
  throw invalid('local, openai, ollama (or Local, Llama.cpp, trllm, OpenAI)', key, value);
}

function parseField(field: Exclude<KnownField, 'provider'>, value: unknown, key: string): unknown {
  switch (field) {
    case 'endpoint':
    case 'apiKey':
    case 'model':
    case 'template':
    case 'chatTemplate':
    case 'grammar':
      return expectString(value, key);
    case 'dtype':
      return dtypeToGgufType(expectString(value, key), key);
    case 'isMessages':
      return expectBoolean(value, key);
    case 'maxNewTokens':
    case 'inputTokens':
    case 'topK':
      return expectInteger(value, key, 0);
    case 'seed':
      return expectInteger(value, key, -1, Number.MAX_SAFE_INTEGER);
    case 'temperature':
    case 'repetitionPenalty':
      return expectNumber(value, key, 0);
    case 'topP':
    case 'minP':
      return expectNumber(value, key, 0, 1);
    case 'presencePenalty':
    case 'frequencyPenalty':
      return expectNumber(value, key, -2, 2);
    case 'responseFormat':
      return key === 'json_schema' ? { type: 'json_schema', schema: expectSchema(value, key) } : parseResponseFormat(value, key);
    case 'stop':
      if (typeof value === 'string') return value === '' ? [] : [value];
      if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value.filter((s) => s !== '');
      throw invalid('a string or an array of strings', key, value);
  }
}

/** OpenAI's `response_format`: `{type: "text"}` (= none), `json_object`, or `json_schema` with its schema. */
function parseResponseFormat(value: unknown, key: string): ResponseFormat | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('an object such as {"type": "json_object"}', key, value);
  const format = value as Record<string, unknown>;
  if (format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema') {
    const spec = (format.json_schema ?? format) as Record<string, unknown>;
    const schema = expectSchema(spec.schema, `${key}.json_schema.schema`);
    return { type: 'json_schema', schema, ...(typeof spec.name === 'string' ? { name: spec.name } : {}), ...(typeof spec.strict === 'boolean' ? { strict: spec.strict } : {}) };
  }
  throw invalid('"text", "json_object" or "json_schema"', `${key}.type`, format.type);
}

/** A copy of a JSON schema object. */
function expectSchema(value: unknown, key: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('a JSON schema object', key, value);
  // Bounded before anything walks it recursively (this copy, the native schema converter).
  expectNestedAtMost(value, key, MAX_SCHEMA_DEPTH);
  return structuredClone(value) as Record<string, unknown>;
}

/** `ollama` means its OpenAI-compatible API, which lives under `/v1`. */
function ollamaEndpoint(endpoint: string): string {
  const base = endpoint.trim().replace(/\/+$/, '');
  if (base === '') return DEFAULT_OLLAMA_ENDPOINT;
  return /\/v1$/.test(base) ? base : `${base}/v1`;
}

const DTYPE_ALIASES: Record<string, string> = {
  int4: 'Q4_K_M', int8: 'Q8_0', fp16: 'F16', float16: 'F16', bf16: 'BF16', bfloat16: 'BF16', fp32: 'F32', float32: 'F32',
};

/** Quantization types llama.cpp can produce (llama-quantize's names). */
const GGUF_TYPES = new Set([
  'F32', 'F16', 'BF16', 'Q8_0', 'Q6_K', 'Q5_K', 'Q5_K_S', 'Q5_K_M', 'Q5_0', 'Q5_1', 'Q4_K', 'Q4_K_S', 'Q4_K_M',
  'Q4_0', 'Q4_1', 'Q3_K', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L', 'Q2_K', 'Q2_K_S', 'IQ4_NL', 'IQ4_XS', 'IQ3_XXS', 'IQ3_XS',
  'IQ3_S', 'IQ3_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ2_M', 'IQ1_S', 'IQ1_M', 'TQ1_0', 'TQ2_0', 'MXFP4_MOE',
]);

/**
 * Maps a `dtype` option to a GGUF type name: `''` stays `''` (as stored); the original's
 * `int4`/`int8`/`fp16`/`bf16` become `Q4_K_M`/`Q8_0`/`F16`/`BF16`; GGUF names are accepted in
 * any case (`q4_k_m` -> `Q4_K_M`). Anything else throws InvalidArgumentError.
 */
export function dtypeToGgufType(dtype: string, name = 'dtype'): string {
  const text = expectString(dtype, name).trim();
  if (text === '') return '';
  const alias = DTYPE_ALIASES[text.toLowerCase()];
  if (alias) return alias;
  const upper = text.toUpperCase();
  if (GGUF_TYPES.has(upper)) return upper;
  throw new InvalidArgumentError(
    `Expected '', int4, int8, fp16, bf16 or a GGUF type such as Q4_K_M for ${name} but received ${describeValue(dtype)}`,
  );
}

/**
 * Merges option layers in order (prompt file -> preset -> per-call overrides): a later
 * layer's set fields win, `extra` keys merge the same way. Works on copies; the inputs are
 * never mutated and the result shares no objects with them.
 */
export function mergeOptions(...layers: ReadonlyArray<PromptOptions | undefined>): PromptOptions {
  const merged: PromptOptions = { extra: {} };
  for (const layer of layers) {
    if (!layer) continue;
    for (const { field } of FIELD_KEYS) {
      const value = layer[field];
      if (value !== undefined) setField(merged, field, Array.isArray(value) ? [...value] : value);
    }
    for (const key of Object.keys(layer.extra ?? {})) setOwn(merged.extra, key, cloneData(layer.extra[key], key));
  }
  return merged;
}

/**
 * Writes options back in the later schema (`provider`, `max_new_tokens`, `inst_template`,
 * ...), unset fields left out, `extra` keys kept. Use it to save normalized options.
 */
export function toRawOptions(options: PromptOptions): RawOptions {
  const raw: RawOptions = {};
  for (const { field, key } of FIELD_KEYS) {
    const value = options[field];
    if (value !== undefined) setOwn(raw, key, Array.isArray(value) ? [...value] : value);
  }
  for (const key of Object.keys(options.extra ?? {})) {
    if (!Object.hasOwn(raw, key)) setOwn(raw, key, cloneData(options.extra[key], key));
  }
  return raw;
}

/** The generation settings with defaults applied; unknown keys are never included. */
export function generationSettings(options: PromptOptions): GenerationSettings {
  const d = DEFAULT_GENERATION_SETTINGS;
  const settings: GenerationSettings = {
    maxTokens: options.maxNewTokens || d.maxTokens,
    temperature: options.temperature ?? d.temperature,
    topP: options.topP ?? d.topP,
    topK: options.topK ?? d.topK,
    minP: options.minP ?? d.minP,
    repeatPenalty: options.repetitionPenalty ?? d.repeatPenalty,
    presencePenalty: options.presencePenalty ?? d.presencePenalty,
    frequencyPenalty: options.frequencyPenalty ?? d.frequencyPenalty,
    stop: [...(options.stop ?? d.stop)],
  };
  if (options.seed !== undefined && options.seed >= 0) settings.seed = options.seed;
  if (options.responseFormat) settings.responseFormat = structuredClone(options.responseFormat);
  if (options.grammar) settings.grammar = options.grammar;
  if (options.inputTokens) settings.contextSize = options.inputTokens;
  return settings;
}

/** Fields a caller who is not the owner may set per call: generation parameters. */
const CALLER_FIELDS: ReadonlySet<KnownField> = new Set(['maxNewTokens', 'temperature', 'topP', 'topK', 'minP', 'repetitionPenalty', 'presencePenalty', 'frequencyPenalty', 'seed', 'stop', 'responseFormat', 'grammar']);

/** Stop strings a caller may send, and their length: each is checked after every token. */
const MAX_CALLER_STOPS = 32;
const MAX_STOP_LENGTH = 1000;

const CALLER_KEYS = FIELD_KEYS.filter(({ field }) => CALLER_FIELDS.has(field)).map(({ key }) => key);

/**
 * The option overrides a caller who is not the owner may make (an HTTP request, an instruction's
 * `llm()`): generation parameters only, in either schema, validated and bounded. Keys that choose
 * where and what runs (provider, endpoint, model, dtype, templates, context size, keys) throw
 * OwnerOnlyError: they come from saved prompts, presets, config, the command line or library
 * calls. Unknown keys are dropped (they never reached a backend). Returns the later schema.
 */
export function callerOverrides(raw: unknown, name = 'options'): RawOptions {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid('an options object', name, raw);
  for (const { field, key, oldKey } of FIELD_KEYS) {
    if (CALLER_FIELDS.has(field)) continue;
    const used = [key, oldKey].find((k) => k !== undefined && Object.hasOwn(raw, k) && (raw as RawOptions)[k] !== null);
    if (used) {
      throw new OwnerOnlyError(
        `${used} is chosen by the server's owner (a saved prompt's options, a preset in models.json, the settings or the command line), not per call; a call may set ${CALLER_KEYS.join(', ')}`,
      );
    }
  }
  const options = normalizeOptions(raw, name);
  if (options.stop && (options.stop.length > MAX_CALLER_STOPS || options.stop.some((stop) => stop.length > MAX_STOP_LENGTH))) {
    throw invalid(`at most ${MAX_CALLER_STOPS} stop strings of at most ${MAX_STOP_LENGTH} characters`, `${name}.stop`, options.stop);
  }
  const allowed: PromptOptions = { extra: {} };
  for (const field of CALLER_FIELDS) if (options[field] !== undefined) setField(allowed, field, options[field]);
  return toRawOptions(allowed);
}

/**
 * The call to a location for resolved options: what to send (messages or the whole text) with
 * the options' model, precision, chat template, endpoint and key, and their generation settings.
 */
export function llmRequest(options: PromptOptions, input: { messages?: ChatMessage[]; text?: string }, signal?: AbortSignal): LlmRequest {
  return {
    ...input,
    chatTemplate: options.chatTemplate,
    settings: generationSettings(options),
    model: options.model ?? '',
    ggufType: options.dtype,
    endpoint: options.endpoint,
    apiKey: options.apiKey,
    signal,
  };
}

/** Messages mode when `is_messages` is on or no text template is given; template mode otherwise. */
export function usesChatMessages(options: PromptOptions): boolean {
  return options.isMessages === true || !options.template;
}

/** Deep copy of option data; values that cannot be copied (functions, ...) are refused. */
function cloneData(value: unknown, key: string): unknown {
  try {
    return structuredClone(value);
  } catch {
    throw invalid('JSON data', key, value);
  }
}

function setField(options: PromptOptions, field: KnownField, value: unknown): void {
  (options as unknown as Record<string, unknown>)[field] = value;
}

/** Sets an own data property even for names like `__proto__` (JSON keys are user data). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
