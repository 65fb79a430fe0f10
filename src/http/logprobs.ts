/**
 * Token-level extras of the HTTP dialects: `logit_bias`, llama.cpp's `n_probs` /
 * `post_sampling_probs` / `return_tokens`, OpenAI's `logprobs` + `top_logprobs`. Each request
 * body becomes engine options (TokenOptions) plus a TokenCollector that hears the tokens of every
 * text chunk; the routes format them as llama-server does (`completion_probabilities`, OpenAI
 * `logprobs.content`) or as OpenAI's legacy completions do.
 */
import { MAX_LOGIT_BIAS_TOKENS, MAX_PROBABILITIES, type GeneratedToken, type LogitBias, type TokenChunk, type TokenOptions, type TokenProbability } from '../engine/index.js';
import { InvalidArgumentError } from '../errors.js';
import { describeValue, expectBoolean, expectInteger, invalid } from '../validate.js';
import { optional } from './route.js';

/**
 * The tokens of a run's text chunks, in order. The engine tells it a chunk's tokens before the
 * chunk's text reaches the stream, and the layers above pass chunks on whole, so `take(text)`
 * finds the tokens of the chunk just read.
 */
export class TokenCollector {
  /** For the engine: what to compute, and this collector as the listener. */
  readonly options: TokenOptions;
  /** Most likely tokens to show per token (the engine may compute more, e.g. 1 for OpenAI's own logprob). */
  readonly top: number;
  /** Whether probabilities were asked for at all. */
  readonly probabilities: boolean;
  readonly postSampling: boolean;
  readonly #chunks: TokenChunk[] = [];
  readonly #all: GeneratedToken[] = [];

  /** `options.tokens`: the caller asked for the ids (else a listener alone: ids where the run can give them). */
  constructor(options: Omit<TokenOptions, 'onTokens'>, top: number) {
    this.top = top;
    this.probabilities = (options.probabilities ?? 0) > 0;
    this.postSampling = options.postSamplingProbabilities === true;
    this.options = { ...options, onTokens: (chunk) => {
      this.#chunks.push(chunk);
      this.#all.push(...chunk.tokens);
    } };
  }

  /** The tokens of `text`, the next chunk read from the run. */
  take(text: string): GeneratedToken[] {
    const tokens: GeneratedToken[] = [];
    let left = text.length;
    while (left > 0 && this.#chunks.length > 0) {
      const chunk = this.#chunks.shift()!;
      left -= chunk.text.length;
      tokens.push(...chunk.tokens);
    }
    return tokens;
  }

  /** Tokens not taken yet (those without text at the end of a run). */
  rest(): GeneratedToken[] {
    return this.#chunks.splice(0).flatMap((chunk) => chunk.tokens);
  }

  /** Every generated token of the run. */
  get all(): GeneratedToken[] {
    return this.#all;
  }
}

/** llama.cpp `/completion`: `logit_bias`, `n_probs` (alias `logprobs`), `post_sampling_probs`, `return_tokens`; a stream always carries token ids. */
export function llamaCppTokenRequest(body: Record<string, unknown>, stream: boolean): { collector?: TokenCollector; returnTokens: boolean } {
  const returnTokens = optional(body.return_tokens, 'return_tokens', expectBoolean) ?? false;
  const nProbsField = body.n_probs !== undefined ? 'n_probs' : 'logprobs';
  const nProbs = optionalInteger(body[nProbsField], nProbsField, 0, MAX_PROBABILITIES) ?? 0;
  const postSampling = optional(body.post_sampling_probs, 'post_sampling_probs', expectBoolean) ?? false;
  const logitBias = parseLogitBias(body.logit_bias);
  if (!returnTokens && !stream && nProbs === 0 && !logitBias) return { returnTokens };
  // A stream shows token ids where the run can give them (not a saved prompt's); return_tokens asks for them.
  const collector = new TokenCollector({ logitBias, probabilities: nProbs, postSamplingProbabilities: postSampling, tokens: returnTokens }, nProbs);
  return { collector, returnTokens };
}

/** OpenAI chat: `logit_bias`, `logprobs` (boolean) and `top_logprobs` (0..20, needs `logprobs`). */
export function openAiChatTokenRequest(body: Record<string, unknown>): TokenCollector | undefined {
  const logprobs = optional(body.logprobs, 'logprobs', expectBoolean) ?? false;
  const top = optionalInteger(body.top_logprobs, 'top_logprobs', 0, MAX_PROBABILITIES);
  if (top !== undefined && !logprobs) throw new InvalidArgumentError('Expected logprobs: true with top_logprobs but received logprobs ' + describeValue(body.logprobs));
  return openAiCollector(body, logprobs, top ?? 0);
}

/** OpenAI legacy completions: `logit_bias` and `logprobs` (how many most likely tokens, 0..20). */
export function openAiCompletionTokenRequest(body: Record<string, unknown>): TokenCollector | undefined {
  const top = optionalInteger(body.logprobs, 'logprobs', 0, MAX_PROBABILITIES);
  return openAiCollector(body, top !== undefined, top ?? 0);
}

function openAiCollector(body: Record<string, unknown>, logprobs: boolean, top: number): TokenCollector | undefined {
  const logitBias = parseLogitBias(body.logit_bias);
  if (!logprobs && !logitBias) return undefined;
  // The chosen token's own logprob needs one probability even where no alternatives are shown.
  return new TokenCollector({ logitBias, probabilities: logprobs ? Math.max(1, top) : 0 }, top);
}

function optionalInteger(value: unknown, name: string, min: number, max: number): number | undefined {
  return optional(value, name, (v, n) => expectInteger(v, n, min, max));
}

/**
 * `logit_bias` as llama-server takes it: `[[token, bias], ...]` or `{"token": bias, ...}`, a token
 * being an id (a string of digits in the object form) or a string whose every token is biased,
 * a bias a number or `false` (banned). Ids are checked against the vocabulary by the engine.
 */
export function parseLogitBias(value: unknown): LogitBias | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object') throw invalid('an array of [token, bias] pairs or an object of token: bias', 'logit_bias', value);
  const entries: [unknown, unknown][] = Array.isArray(value)
    ? value.map((entry: unknown, i) => {
      if (!Array.isArray(entry) || entry.length !== 2) throw invalid('a [token, bias] pair', `logit_bias[${i}]`, entry);
      return [entry[0], entry[1]];
    })
    : Object.entries(value).map(([key, bias]) => [/^\d+$/.test(key) ? Number(key) : key, bias]);
  if (entries.length > MAX_LOGIT_BIAS_TOKENS) throw invalid(`at most ${MAX_LOGIT_BIAS_TOKENS} entries`, 'logit_bias', value);
  return entries.map(([token, bias], i) => {
    if (typeof token !== 'string' && !(Number.isInteger(token) && (token as number) >= 0)) {
      throw invalid('a token id or a string', `logit_bias[${i}] token`, token);
    }
    if (bias !== false && (typeof bias !== 'number' || !Number.isFinite(bias))) throw invalid('a number or false', `logit_bias[${i}] bias`, bias);
    return [token as number | string, bias as number | false] as const;
  });
}

/** A token's text as llama-server shows it: its bytes up to an incomplete UTF-8 character at the end. */
function tokenText(bytes: Uint8Array): string {
  let end = bytes.length;
  for (let back = 1; back <= Math.min(4, bytes.length); back++) {
    const byte = bytes[bytes.length - back];
    if ((byte & 0xc0) === 0x80) continue;
    const need = byte < 0x80 ? 1 : (byte & 0xe0) === 0xc0 ? 2 : (byte & 0xf0) === 0xe0 ? 3 : (byte & 0xf8) === 0xf0 ? 4 : 1;
    if (need > back) end = bytes.length - back;
    break;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('utf8');
}

/** llama-server's logprob of a probability: a zero one is float's lowest, since JSON has no -Infinity. */
function logprob(probability: number): number {
  return probability === 0 ? -3.4028234663852886e38 : Math.log(probability);
}

/**
 * Tokens as llama-server's `completion_probabilities` (and OpenAI's `logprobs.content`):
 * `{id, token, bytes, logprob, top_logprobs}`, or with post-sampling probabilities
 * `{id, token, bytes, prob, top_probs}`.
 */
export function completionProbabilities(tokens: readonly GeneratedToken[], collector: TokenCollector) {
  const post = collector.postSampling;
  const entry = (t: GeneratedToken | TokenProbability) => ({
    id: t.id,
    token: tokenText(t.bytes),
    bytes: Array.from(t.bytes),
    ...(post ? { prob: t.probability ?? 0 } : { logprob: logprob(t.probability ?? 0) }),
  });
  return tokens.map((t) => ({ ...entry(t), [post ? 'top_probs' : 'top_logprobs']: (t.top ?? []).slice(0, collector.top).map(entry) }));
}

/** OpenAI chat's `logprobs` of some tokens, or null without `logprobs: true`. */
export function chatLogprobs(tokens: readonly GeneratedToken[], collector: TokenCollector | undefined) {
  return collector?.probabilities ? { content: completionProbabilities(tokens, collector) } : null;
}

/**
 * OpenAI legacy completions' `logprobs`: `{tokens, token_logprobs, top_logprobs, text_offset}`
 * (offsets count from `offset`, the text before these tokens), or null without `logprobs`.
 */
export function completionLogprobs(tokens: readonly GeneratedToken[], collector: TokenCollector | undefined, offset = 0) {
  if (!collector?.probabilities) return null;
  const texts = tokens.map((t) => tokenText(t.bytes));
  const offsets: number[] = [];
  for (const text of texts) {
    offsets.push(offset);
    offset += text.length;
  }
  return {
    tokens: texts,
    token_logprobs: tokens.map((t) => logprob(t.probability ?? 0)),
    top_logprobs: tokens.map((t) => Object.fromEntries((t.top ?? []).slice(0, collector.top).map((p) => [tokenText(p.bytes), logprob(p.probability)]))),
    text_offset: offsets,
  };
}
