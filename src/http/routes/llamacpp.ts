/**
 * llama.cpp-server-compatible routes: `/completion` (SSE events `{"content","stop":false}` and a
 * final `{"content":"","stop":true,...}`, no `[DONE]`), `/tokenize`, `/detokenize`, `/health`.
 */
import type { Context } from 'hono';
import type { Model } from '../../engine/index.js';
import { invalid } from '../../validate.js';
import { errorBody, HttpError, statusOf } from '../errors.js';
import { firstChunkReady } from '../run-stream.js';
import type { GenerationSettings } from '../../llm/types.js';
import { phaseTimes, UNLIMITED_TOKENS, type GenerationRun, type RunResult } from '../../run/runner.js';
import { normalizeLlamaCppCompletion } from '../openai-normalize.js';
import { readJson, streamResponse, type RouteContext, type RouteSpec } from '../route.js';
import { SSE_HEADERS, sseEvent } from '../sse.js';

const TAGS = ['llama.cpp-compatible'];

function stopType(stopReason: string): 'eos' | 'limit' | 'word' {
  if (stopReason === 'stop') return 'word';
  if (stopReason === 'maxTokens' || stopReason === 'contextFull') return 'limit';
  return 'eos';
}

/** Fields of llama-server's final object: counts, why it stopped, timings and the settings used. */
function finalFields(result: RunResult, model: string) {
  const { promptMs, generationMs: predictedMs } = phaseTimes(result);
  const promptN = result.promptTokens - result.reusedTokens;
  // The first token comes from the prompt's logits: only the later ones cost a decode step.
  const decodeSteps = Math.max(0, result.completionTokens - 1);
  return {
    model,
    tokens_predicted: result.completionTokens,
    tokens_evaluated: result.promptTokens,
    tokens_cached: result.reusedTokens,
    has_new_line: result.text.includes('\n'),
    stop_type: stopType(result.stopReason),
    stopped_eos: result.stopReason === 'eos',
    stopped_limit: stopType(result.stopReason) === 'limit',
    stopped_word: result.stopReason === 'stop',
    stopping_word: '',
    truncated: result.stopReason === 'contextFull',
    ...(result.settings ? { generation_settings: generationSettingsFields(result.settings, model) } : {}),
    timings: {
      cache_n: result.reusedTokens,
      prompt_n: promptN,
      prompt_ms: promptMs,
      prompt_per_token_ms: promptN > 0 ? promptMs / promptN : 0,
      prompt_per_second: promptMs > 0 ? (promptN * 1000) / promptMs : 0,
      predicted_n: result.completionTokens,
      predicted_ms: predictedMs,
      predicted_per_token_ms: decodeSteps > 0 ? predictedMs / decodeSteps : 0,
      predicted_per_second: predictedMs > 0 ? (decodeSteps * 1000) / predictedMs : 0,
    },
  };
}

/** llama-server's `generation_settings`: the sampling the run used, in its field names. */
function generationSettingsFields(settings: GenerationSettings, model: string) {
  return {
    model,
    n_predict: settings.maxTokens >= UNLIMITED_TOKENS ? -1 : settings.maxTokens,
    seed: settings.seed ?? -1,
    temperature: settings.temperature,
    top_k: settings.topK,
    top_p: settings.topP,
    min_p: settings.minP,
    repeat_penalty: settings.repeatPenalty,
    presence_penalty: settings.presencePenalty,
    frequency_penalty: settings.frequencyPenalty,
    stop: settings.stop,
  };
}

async function* completionEvents(chunks: AsyncIterable<string>, run: GenerationRun, model: string): AsyncGenerator<string> {
  for await (const content of chunks) yield sseEvent({ content, stop: false });
  const result = await run.result;
  yield sseEvent({ content: '', stop: true, ...finalFields(result, model) });
}

/**
 * Each token's piece for `/tokenize` `with_pieces`: its text, or, where that is not valid UTF-8
 * (byte-fallback tokens), its bytes as llama-server gives them (`[229]`).
 */
function tokenPieces(model: Model, ids: number[]): { id: number; piece: string | number[] }[] {
  // Detokenizing one token alone drops its leading space (SentencePiece): take each piece as what
  // it adds after its predecessor instead, so the pieces join up to the text.
  const textAfter = (from: number, to: number): string => {
    if (from === 0) return model.detokenize(ids.slice(0, to), { special: true });
    const previous = model.detokenize([ids[from - 1]], { special: true });
    const joined = model.detokenize(ids.slice(from - 1, to), { special: true });
    return joined.startsWith(previous) ? joined.slice(previous.length) : model.detokenize(ids.slice(from, to), { special: true });
  };
  const pieces: { id: number; piece: string | number[] }[] = ids.map((id, i) => ({ id, piece: textAfter(i, i + 1) }));
  // The engine gives text, not a token's raw bytes: an invalid piece decodes to U+FFFD. A run of
  // such tokens that joins up to valid text with one byte per token (byte fallback) gives each
  // token its byte; other splits keep the text (see the README).
  const invalid = ids.map((id) => model.detokenize([id], { special: true }).includes('\ufffd'));
  for (let start = 0; start < ids.length; start++) {
    if (!invalid[start]) continue;
    let end = start;
    while (end < ids.length && invalid[end]) end++;
    const text = textAfter(start, end);
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length === end - start && !text.includes('\ufffd')) {
      for (let i = start; i < end; i++) pieces[i].piece = [bytes[i - start]];
    }
    start = end - 1;
  }
  return pieces;
}

function booleanField(body: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = body[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw invalid('a boolean', name, value);
  return value;
}

export function llamaCppRoutes(ctx: RouteContext): RouteSpec[] {
  /** Runs `use` with the resolved local model held (loading it when needed). */
  const withModel = async <T>(requested: unknown, signal: AbortSignal, use: (model: Model) => T): Promise<T> => {
    if (requested !== undefined && requested !== null && typeof requested !== 'string') throw invalid('a string', 'model', requested);
    const { ref } = await ctx.catalog.localModel(requested ?? undefined);
    const lease = await ctx.akachat.models.acquire(ref, { signal });
    try {
      return use(lease.model);
    } finally {
      lease.release();
    }
  };

  const completion: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    const request = normalizeLlamaCppCompletion(body);
    const model = typeof body.model === 'string' ? body.model : undefined;
    // The engine hands over text, not the ids it generated: refuse rather than send an empty list.
    if (booleanField(body, 'return_tokens', false)) throw new HttpError(400, 'return_tokens is not supported: the generated token ids are not available', 'not_supported');
    // n_predict as llama-server reads it: 0 = only evaluate the prompt, -1 = until EOS or a full context.
    const exactMaxTokens = typeof body.n_predict === 'number' && body.n_predict <= 0 ? body.n_predict : undefined;
    // Token ids are turned back into text: the local runner takes text and tokenizes it itself.
    const text = typeof request.prompt === 'string'
      ? request.prompt
      : await withModel(model, signal, (m) => m.detokenize(request.prompt as number[], { special: true }));
    const run = await ctx.generations.text({ route: 'POST /completion', model, text, sampling: request.sampling, exactMaxTokens, signal });
    const name = model ?? run.model;
    if (!request.stream) {
      const result = await run.result;
      return c.json({ content: result.text, stop: true, ...finalFields(result, name) });
    }
    const chunks = await firstChunkReady(run);
    return streamResponse(completionEvents(chunks, run, name), SSE_HEADERS, {
      onError: (error) => sseEvent(errorBody('llamacpp', error, statusOf(error))),
    });
  };

  const tokenize: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    if (typeof body.content !== 'string') throw invalid('a string', 'content', body.content);
    const content = body.content;
    const addSpecial = booleanField(body, 'add_special', false);
    const parseSpecial = booleanField(body, 'parse_special', true);
    const withPieces = booleanField(body, 'with_pieces', false);
    const tokens = await withModel(body.model, signal, (model) => {
      const ids = Array.from(model.tokenize(content, { addSpecial, parseSpecial }));
      if (!withPieces) return ids;
      return tokenPieces(model, ids);
    });
    return c.json({ tokens });
  };

  const detokenize: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    const tokens = body.tokens;
    if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t) && (t as number) >= 0)) {
      throw invalid('an array of token ids', 'tokens', tokens);
    }
    const content = await withModel(body.model, signal, (model) => {
      const vocab = model.info.vocabSize;
      const bad = (tokens as number[]).findIndex((t) => t >= vocab);
      if (bad !== -1) throw invalid(`a token id below the vocabulary size ${vocab}`, `tokens[${bad}]`, tokens[bad]);
      return model.detokenize(tokens as number[], { special: true });
    });
    return c.json({ content });
  };

  const health: RouteSpec['handler'] = (c: Context) => {
    if (ctx.state.model === 'loading') throw new HttpError(503, 'Loading model', 'loading_model');
    if (ctx.state.model === 'failed') throw new HttpError(500, `The default model failed to load: ${ctx.state.modelError ?? 'unknown error'}`, 'model_load_failed');
    return c.json({ status: 'ok' });
  };

  return [
    {
      method: 'POST',
      path: '/completion',
      summary: 'Text completion (llama.cpp server): the prompt is completed as is',
      tags: TAGS,
      requestBody: {
        schema: {
          type: 'object',
          required: ['prompt'],
          properties: {
            prompt: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'integer' } }] },
            stream: { type: 'boolean', default: false },
            n_predict: { type: 'integer', minimum: -1 },
            temperature: { type: 'number' },
            stop: { type: 'array', items: { type: 'string' } },
            cache_prompt: { type: 'boolean', description: 'accepted; the prompt prefix is always reused' },
            top_k: { type: 'integer' },
            top_p: { type: 'number' },
            min_p: { type: 'number' },
            repeat_penalty: { type: 'number' },
            seed: { type: 'integer' },
          },
        },
        example: { prompt: 'Once upon a time', n_predict: 32, stream: true },
      },
      responses: { 200: { description: '{content, stop:true, ...} or SSE {content, stop:false} events and a final {content:"", stop:true, ...}' } },
      errors: 'llamacpp',
      handler: completion,
    },
    {
      method: 'POST',
      path: '/tokenize',
      summary: 'Tokenize text with the model (llama.cpp server)',
      tags: TAGS,
      requestBody: {
        schema: { type: 'object', required: ['content'], properties: { content: { type: 'string' }, add_special: { type: 'boolean', default: false }, parse_special: { type: 'boolean', default: true }, with_pieces: { type: 'boolean', default: false } } },
        example: { content: 'Hello world' },
      },
      responses: { 200: { description: '{tokens: [id...]} or, with with_pieces, {tokens: [{id, piece}...]}' } },
      errors: 'llamacpp',
      handler: tokenize,
    },
    {
      method: 'POST',
      path: '/detokenize',
      summary: 'Turn token ids into text (llama.cpp server)',
      tags: TAGS,
      requestBody: { schema: { type: 'object', required: ['tokens'], properties: { tokens: { type: 'array', items: { type: 'integer' } } } }, example: { tokens: [1, 15043] } },
      responses: { 200: { description: '{content}' } },
      errors: 'llamacpp',
      handler: detokenize,
    },
    {
      method: 'GET',
      path: '/health',
      summary: 'Health (llama.cpp server): {"status":"ok"}, 503 while the default model loads',
      tags: TAGS,
      public: true,
      responses: { 200: { description: '{status:"ok"}' }, 503: { description: 'Loading model' } },
      errors: 'llamacpp',
      handler: health,
    },
  ];
}

