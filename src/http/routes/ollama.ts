/**
 * Ollama-compatible routes (Amica, SillyTavern, scripts using the ollama library): chat and
 * generate streaming NDJSON (one object per write), the model list, embeddings and the version.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Context } from 'hono';
import { isHubReference } from '../../llm/hub.js';
import { invalid } from '../../validate.js';
import { errorBody, statusOf } from '../errors.js';
import { finishReason, firstChunkReady } from '../run-stream.js';
import { phaseTimes, type GenerationRun, type RunResult } from '../../run/runner.js';
import type { JsonSchema } from '../openapi.js';
import { normalizeOllamaChat, normalizeOllamaGenerate, type ChatMessage } from '../openai-normalize.js';
import type { ChatReplyParser, ToolCall } from '../../engine/chat-format.js';
import { argumentsObject, joinDeltas, replyParsing, streamedToolCalls } from '../reasoning.js';
import { modelFileName, readJson, streamResponse, type RouteContext, type RouteSpec } from '../route.js';
import { NDJSON_HEADERS, ndjsonLine } from '../sse.js';
import { embeddingInputs } from './openai.js';

const TAGS = ['Ollama-compatible'];

/**
 * The Ollama server version `/api/version` reports. Clients compare it to enable features; this
 * is a version whose chat/generate/embed/tags API the routes here follow.
 */
export const OLLAMA_COMPATIBLE_VERSION = '0.6.0';

const OPTIONS_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    temperature: { type: 'number' },
    num_predict: { type: 'integer', description: '-1 = no limit' },
    top_p: { type: 'number' },
    top_k: { type: 'integer' },
    min_p: { type: 'number' },
    stop: { type: 'array', items: { type: 'string' } },
    num_ctx: { type: 'integer' },
    seed: { type: 'integer' },
    repeat_penalty: { type: 'number' },
  },
};

const MODEL_PROPERTY: JsonSchema = { type: 'string', description: 'A saved prompt\'s name (runs it), a preset name, a GGUF path or hf: reference; anything else means the default model' };

const ns = (ms: number | undefined) => Math.round((ms ?? 0) * 1e6);

/** The timing and count fields of Ollama's final object. */
function finalStats(result: RunResult) {
  const { promptMs, generationMs } = phaseTimes(result);
  return {
    done_reason: finishReason(result.stopReason),
    total_duration: ns(result.durationMs),
    load_duration: ns(result.timings?.loadMs),
    prompt_eval_count: result.promptTokens,
    prompt_eval_duration: ns(promptMs),
    eval_count: result.completionTokens,
    eval_duration: ns(generationMs),
  };
}

function errorLine(error: unknown): string {
  return ndjsonLine(errorBody('ollama', error, statusOf(error)));
}

export function ollamaRoutes(ctx: RouteContext): RouteSpec[] {
  /** Empty `messages` / `prompt`: load the model, or unload it with `keep_alive: 0`. */
  const loadOrUnload = async (requested: string | undefined, keepAliveMs: number | undefined, signal: AbortSignal): Promise<'load' | 'unload'> => {
    const { ref } = await ctx.catalog.localModel(requested);
    if (keepAliveMs === 0) {
      const path = isHubReference(ref) ? await ctx.akachat.models.resolvePath(ref, { signal }) : resolve(ref);
      await ctx.akachat.models.unload(path);
      return 'unload';
    }
    const lease = await ctx.akachat.models.acquire(ref, { signal });
    lease.release();
    return 'load';
  };

  const chat: RouteSpec['handler'] = async (c, signal) => {
    const request = normalizeOllamaChat(await readJson(c));
    const name = request.model ?? ctx.catalog.defaultModelId() ?? '';
    if (request.generation.messages.length === 0) {
      const reason = await loadOrUnload(request.model, request.keepAliveMs, signal);
      return c.json({ model: name, created_at: new Date().toISOString(), message: { role: 'assistant', content: '' }, done_reason: reason, done: true });
    }
    const parsing = replyParsing(request.chat);
    const run = await ctx.generations.chat({ route: 'POST /api/chat', model: request.model, messages: request.generation.messages, sampling: request.generation, chat: parsing.chat, signal });
    if (!request.stream) {
      const result = await run.result;
      const reply = parsing.reply(result);
      return c.json({
        model: name,
        created_at: new Date().toISOString(),
        message: ollamaMessage(reply.content, reply.reasoning, reply.toolCalls),
        done: true,
        ...finalStats(result),
      });
    }
    const chunks = await firstChunkReady(run);
    return streamResponse(chatLines(chunks, run, parsing.parser(), name), NDJSON_HEADERS, { onError: errorLine });
  };

  const generate: RouteSpec['handler'] = async (c, signal) => {
    const request = normalizeOllamaGenerate(await readJson(c));
    const name = request.model ?? ctx.catalog.defaultModelId() ?? '';
    if (request.prompt === '' && !request.system) {
      const reason = await loadOrUnload(request.model, request.keepAliveMs, signal);
      return c.json({ model: name, created_at: new Date().toISOString(), response: '', done: true, done_reason: reason });
    }
    let run: GenerationRun;
    const parsing = replyParsing({});
    if (request.raw) {
      run = await ctx.generations.text({ route: 'POST /api/generate', model: request.model, text: request.prompt, sampling: request.sampling, signal });
    } else {
      const messages: ChatMessage[] = [];
      if (request.system) messages.push({ role: 'system', content: request.system });
      messages.push({ role: 'user', content: request.prompt });
      run = await ctx.generations.chat({ route: 'POST /api/generate', model: request.model, messages, sampling: request.sampling, chat: parsing.chat, signal });
    }
    if (!request.stream) {
      const result = await run.result;
      const { content, reasoning } = request.raw ? { content: result.text, reasoning: '' } : parsing.reply(result);
      return c.json({
        model: name,
        created_at: new Date().toISOString(),
        response: content,
        ...(reasoning ? { thinking: reasoning } : {}),
        done: true,
        context: [],
        ...finalStats(result),
      });
    }
    const chunks = await firstChunkReady(run);
    return streamResponse(generateLines(chunks, run, name, request.raw ? undefined : parsing.parser()), NDJSON_HEADERS, { onError: errorLine });
  };

  const tags: RouteSpec['handler'] = async (c) => {
    const entries = await ctx.catalog.list();
    return c.json({
      models: entries.map((entry) => ({
        name: entry.id,
        model: entry.id,
        modified_at: new Date(entry.created * 1000).toISOString(),
        size: entry.size ?? 0,
        // Not a content hash (hashing a multi-GB file per listing is too slow): a stable id of the entry.
        digest: createHash('sha256').update(`${entry.kind}\0${entry.id}\0${entry.created}\0${entry.size ?? ''}`).digest('hex'),
        details: { parent_model: '', format: entry.kind === 'model' ? 'gguf' : entry.kind, family: '', families: null, parameter_size: '', quantization_level: '' },
      })),
    });
  };

  const running: RouteSpec['handler'] = (c) => c.json({
    models: ctx.akachat.models.loaded.map((path) => {
      const name = modelFileName(path);
      return { name, model: name, size: 0, digest: createHash('sha256').update(path).digest('hex'), details: { parent_model: '', format: 'gguf', family: '', families: null, parameter_size: '', quantization_level: '' }, expires_at: null, size_vram: 0 };
    }),
  });

  const embed: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    const model = optionalModel(body.model);
    const result = await ctx.embedder.embed(model, embeddingInputs(body.input), signal);
    return c.json({
      model: model ?? result.model,
      embeddings: result.vectors.map((vector) => Array.from(vector)),
      total_duration: ns(result.durationMs),
      load_duration: 0,
      prompt_eval_count: result.promptTokens,
    });
  };

  const legacyEmbeddings: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    if (typeof body.prompt !== 'string') throw invalid('a string', 'prompt', body.prompt);
    const result = await ctx.embedder.embed(optionalModel(body.model), [body.prompt], signal);
    return c.json({ embedding: Array.from(result.vectors[0]) });
  };

  return [
    {
      method: 'POST',
      path: '/api/chat',
      summary: 'Chat (Ollama): NDJSON stream by default; empty messages load the model (keep_alive 0 unloads it)',
      tags: TAGS,
      requestBody: {
        schema: {
          type: 'object',
          properties: {
            model: MODEL_PROPERTY,
            messages: { type: 'array', items: { type: 'object', properties: { role: { type: 'string' }, content: { type: 'string' }, tool_calls: { type: 'array' }, tool_name: { type: 'string' } } } },
            stream: { type: 'boolean', default: true },
            options: OPTIONS_SCHEMA,
            keep_alive: { anyOf: [{ type: 'string' }, { type: 'number' }] },
            tools: { type: 'array', maxItems: 128, description: 'Functions the model may call (OpenAI\'s shape), rendered by the chat template; calls come back in message.tool_calls' },
            think: { type: 'boolean', description: 'false turns thinking off in templates that read enable_thinking; the reasoning comes in message.thinking' },
            tool_choice: { description: 'akachat extension, as OpenAI\'s: "auto", "none", "required" or {type: "function", function: {name}}' },
          },
        },
        example: { model: 'default', messages: [{ role: 'user', content: 'Hello!' }], stream: true, options: { num_predict: 64 } },
      },
      responses: { 200: { description: '{model, created_at, message, done:false} lines, then the final {done:true, done_reason, ...}', contentType: 'application/x-ndjson' } },
      errors: 'ollama',
      handler: chat,
    },
    {
      method: 'POST',
      path: '/api/generate',
      summary: 'Generate (Ollama): `raw` completes the prompt as is; otherwise it is one user turn after `system`',
      tags: TAGS,
      requestBody: {
        schema: {
          type: 'object',
          properties: {
            model: MODEL_PROPERTY,
            prompt: { type: 'string' },
            system: { type: 'string' },
            raw: { type: 'boolean', default: false },
            stream: { type: 'boolean', default: true },
            options: OPTIONS_SCHEMA,
            keep_alive: { anyOf: [{ type: 'string' }, { type: 'number' }] },
          },
        },
        example: { prompt: 'Why is the sky blue?', stream: false, options: { num_predict: 32 } },
      },
      responses: { 200: { description: '{model, created_at, response, done} lines', contentType: 'application/x-ndjson' } },
      errors: 'ollama',
      handler: generate,
    },
    {
      method: 'GET',
      path: '/api/tags',
      summary: 'Models (Ollama): the default model, saved prompts and presets',
      tags: TAGS,
      responses: { 200: { description: '{models:[{name, model, modified_at, size, digest, details}]}' } },
      errors: 'ollama',
      handler: tags,
    },
    {
      method: 'GET',
      path: '/api/ps',
      summary: 'Models loaded now (Ollama)',
      tags: TAGS,
      responses: { 200: { description: '{models:[{name, model, size, digest, details, expires_at, size_vram}]}' } },
      errors: 'ollama',
      handler: running,
    },
    {
      method: 'POST',
      path: '/api/embed',
      summary: 'Embeddings (Ollama)',
      tags: TAGS,
      requestBody: { schema: { type: 'object', required: ['input'], properties: { model: { type: 'string' }, input: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] } } }, example: { input: 'hello' } },
      responses: { 200: { description: '{model, embeddings, total_duration, load_duration, prompt_eval_count}' } },
      errors: 'ollama',
      handler: embed,
    },
    {
      method: 'POST',
      path: '/api/embeddings',
      summary: 'Embedding of one text (Ollama, legacy)',
      tags: TAGS,
      requestBody: { schema: { type: 'object', required: ['prompt'], properties: { model: { type: 'string' }, prompt: { type: 'string' } } }, example: { prompt: 'hello' } },
      responses: { 200: { description: '{embedding}' } },
      errors: 'ollama',
      handler: legacyEmbeddings,
    },
    {
      method: 'GET',
      path: '/api/version',
      summary: 'Ollama version this server is compatible with',
      tags: TAGS,
      public: true,
      responses: { 200: { description: '{version}' } },
      errors: 'ollama',
      handler: (c: Context) => c.json({ version: OLLAMA_COMPATIBLE_VERSION }),
    },
  ];
}

function optionalModel(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid('a string', 'model', value);
  return value;
}

/** Ollama's assistant message: `thinking` apart, `tool_calls` with their arguments as objects (as JSON text when they are no object). */
function ollamaMessage(content: string, thinking: string, calls: readonly ToolCall[] = []) {
  return {
    role: 'assistant',
    content,
    ...(thinking ? { thinking } : {}),
    ...(calls.length > 0 ? { tool_calls: calls.map((call) => ({ function: { name: call.function.name, arguments: argumentsObject(call.function.arguments) ?? call.function.arguments } })) } : {}),
  };
}

async function* chatLines(chunks: AsyncIterable<string>, run: GenerationRun, parser: ChatReplyParser, model: string): AsyncGenerator<string> {
  const line = (content: string, thinking: string, calls?: readonly ToolCall[]) => ndjsonLine({
    model,
    created_at: new Date().toISOString(),
    message: ollamaMessage(content, thinking, calls),
    done: false,
  });
  for await (const text of chunks) {
    const part = joinDeltas(parser.push(text));
    if (part.content || part.reasoning) yield line(part.content, part.reasoning);
  }
  // Tool calls go out whole, at the end, as Ollama sends them.
  const rest = joinDeltas(parser.finish());
  if (rest.content || rest.reasoning) yield line(rest.content, rest.reasoning);
  const result = await run.result;
  const calls = streamedToolCalls(parser, result);
  if (calls.length > 0) yield line('', '', calls);
  yield ndjsonLine({ model, created_at: new Date().toISOString(), message: { role: 'assistant', content: '' }, done: true, ...finalStats(result) });
}

async function* generateLines(chunks: AsyncIterable<string>, run: GenerationRun, model: string, parser: ChatReplyParser | undefined): AsyncGenerator<string> {
  const line = (response: string, thinking: string) => ndjsonLine({
    model,
    created_at: new Date().toISOString(),
    response,
    ...(thinking ? { thinking } : {}),
    done: false,
  });
  for await (const text of chunks) {
    const part = parser ? joinDeltas(parser.push(text)) : { content: text, reasoning: '' };
    if (part.content || part.reasoning) yield line(part.content, part.reasoning);
  }
  const rest = parser ? joinDeltas(parser.finish()) : undefined;
  if (rest && (rest.content || rest.reasoning)) yield line(rest.content, rest.reasoning);
  const result = await run.result;
  yield ndjsonLine({ model, created_at: new Date().toISOString(), response: '', done: true, context: [], ...finalStats(result) });
}
