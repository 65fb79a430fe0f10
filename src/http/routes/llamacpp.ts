/**
 * llama.cpp-server-compatible routes: `/completion` (SSE events `{"content","stop":false}` and a
 * final `{"content":"","stop":true,...}`, no `[DONE]`), `/tokenize`, `/detokenize`, `/health`.
 */
import type { Context } from 'hono';
import type { Model } from '../../engine/index.js';
import { invalid } from '../../validate.js';
import { errorBody, HttpError, statusOf } from '../errors.js';
import { completionProbabilities, llamaCppTokenRequest, type TokenCollector } from '../logprobs.js';
import { firstChunkReady } from '../run-stream.js';
import type { GenerationSettings } from '../../llm/types.js';
import { embeddingInputsWithTokens } from '../../run/embeddings.js';
import { phaseTimes, UNLIMITED_TOKENS, type GenerationRun, type RunResult } from '../../run/runner.js';
import { normalizeLlamaCppCompletion } from '../openai-normalize.js';
import { readJson, streamResponse, withLocalModel, type RouteContext, type RouteSpec } from '../route.js';
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

/** A streamed chunk's event: its token ids (llama-server always streams them) and, with n_probs, their probabilities. */
function chunkEvent(content: string, tokens: TokenCollector | undefined, taken = tokens?.take(content) ?? []) {
  return {
    content,
    tokens: taken.map((t) => t.id),
    stop: false,
    ...(tokens?.probabilities && taken.length > 0 ? { completion_probabilities: completionProbabilities(taken, tokens) } : {}),
  };
}

async function* completionEvents(chunks: AsyncIterable<string>, run: GenerationRun, model: string, tokens: TokenCollector | undefined): AsyncGenerator<string> {
  for await (const content of chunks) yield sseEvent(chunkEvent(content, tokens));
  const result = await run.result;
  // Tokens without text (cut by the end of the run) come with the last event.
  const rest = tokens?.rest() ?? [];
  if (rest.length > 0) yield sseEvent(chunkEvent('', tokens, rest));
  yield sseEvent({ content: '', tokens: [], stop: true, ...finalFields(result, model) });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Each token's piece for `/tokenize` `with_pieces`, as llama-server gives it: its text, or its
 * bytes (`[229]`) where they are not valid UTF-8 on their own (byte-fallback and byte-level BPE
 * tokens of part of a character).
 */
function tokenPieces(model: Model, ids: number[]): { id: number; piece: string | number[] }[] {
  const pieces = model.tokenBytes(ids, { special: true });
  return ids.map((id, i) => {
    try {
      return { id, piece: utf8.decode(pieces[i]) };
    } catch {
      return { id, piece: Array.from(pieces[i]) };
    }
  });
}

function booleanField(body: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = body[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw invalid('a boolean', name, value);
  return value;
}

export function llamaCppRoutes(ctx: RouteContext): RouteSpec[] {
  /** withLocalModel for a body's `model`, checked to be a string. */
  const withModel = async <T>(requested: unknown, signal: AbortSignal, use: (model: Model) => T): Promise<T> => {
    if (requested !== undefined && requested !== null && typeof requested !== 'string') throw invalid('a string', 'model', requested);
    return withLocalModel(ctx, requested ?? undefined, signal, use);
  };

  const completion: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    const request = normalizeLlamaCppCompletion(body);
    const model = typeof body.model === 'string' ? body.model : undefined;
    const { collector, returnTokens } = llamaCppTokenRequest(body, request.stream);
    // n_predict as llama-server reads it: 0 = only evaluate the prompt, -1 = until EOS or a full context.
    const exactMaxTokens = typeof body.n_predict === 'number' && body.n_predict <= 0 ? body.n_predict : undefined;
    // Token ids are turned back into text: the local runner takes text and tokenizes it itself.
    const text = typeof request.prompt === 'string'
      ? request.prompt
      : await withModel(model, signal, (m) => m.detokenize(request.prompt as number[], { special: true }));
    const run = await ctx.generations.text({ route: 'POST /completion', model, text, sampling: request.sampling, exactMaxTokens, tokens: collector?.options, signal });
    const name = model ?? run.model;
    if (!request.stream) {
      const result = await run.result;
      const all = collector?.all ?? [];
      return c.json({
        content: result.text,
        tokens: returnTokens ? all.map((t) => t.id) : [],
        stop: true,
        ...finalFields(result, name),
        ...(collector?.probabilities ? { completion_probabilities: completionProbabilities(all, collector) } : {}),
      });
    }
    const chunks = await firstChunkReady(run);
    return streamResponse(completionEvents(chunks, run, name, collector), SSE_HEADERS, {
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

  // llama-server's own embedding form: `content` as text or token ids, `[{index, embedding: [vector]}]`.
  const embedding: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    const normalize = body.embd_normalize ?? 2;
    // The engine's vectors are L2-normalised: other norms would need the raw pooled vectors.
    if (normalize !== 2) throw invalid('2 (Euclidean; the only normalisation offered)', 'embd_normalize', normalize);
    if (body.model !== undefined && typeof body.model !== 'string') throw invalid('a string', 'model', body.model);
    const result = await ctx.embedder.embed(body.model, embeddingInputsWithTokens(body.content, 'content'), signal);
    return c.json(result.vectors.map((vector, index) => ({ index, embedding: [Array.from(vector)] })));
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
            logit_bias: { anyOf: [{ type: 'array', items: { type: 'array', minItems: 2, maxItems: 2 } }, { type: 'object' }], description: '[[token id or string, bias or false], ...] or {"token id or string": bias}; false bans the token; at most 1024 tokens' },
            n_probs: { type: 'integer', minimum: 0, maximum: 20, default: 0, description: 'completion_probabilities: each token\'s and the n most likely tokens\' logprobs' },
            post_sampling_probs: { type: 'boolean', default: false, description: 'probabilities (prob, top_probs) after the sampling chain instead of the raw logits\' logprobs' },
            return_tokens: { type: 'boolean', default: false, description: 'the generated token ids in `tokens` (a stream always carries them)' },
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
      method: 'POST',
      path: '/embedding',
      summary: 'Embeddings (llama.cpp server form): content as text or token ids',
      tags: TAGS,
      requestBody: {
        schema: { type: 'object', required: ['content'], properties: { content: { anyOf: [{ type: 'string' }, { type: 'array' }], description: 'a text, token ids, or an array of texts and token-id arrays' }, embd_normalize: { const: 2, default: 2 } } },
        example: { content: 'Hello world' },
      },
      responses: { 200: { description: '[{index, embedding: [vector]}] (L2-normalised)' } },
      errors: 'llamacpp',
      handler: embedding,
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

