/**
 * OpenAI-compatible routes (AITuberKit, ChatVRM and forks, AIRI, SillyTavern, the openai SDKs):
 * chat and text completions, streaming as SSE, the model list and embeddings.
 */
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { InvalidArgumentError } from '../../errors.js';
import { invalid } from '../../validate.js';
import { errorBody, statusOf } from '../errors.js';
import { finishReason, firstChunkReady } from '../run-stream.js';
import { embeddingInputsWithTokens, MAX_EMBEDDING_INPUTS } from '../../run/embeddings.js';
import { type GenerationRun, type RunResult } from '../../run/runner.js';
import type { GeneratedToken } from '../../engine/index.js';
import type { JsonSchema } from '../openapi.js';
import { chatLogprobs, completionLogprobs, openAiChatTokenRequest, openAiCompletionTokenRequest, type TokenCollector } from '../logprobs.js';
import { normalizeOpenAiChat, normalizeOpenAiCompletion } from '../openai-normalize.js';
import type { ChatReply, ChatReplyParser, ReplyDelta } from '../../engine/chat-format.js';
import { replyParsing, streamedToolCalls } from '../reasoning.js';
import { randomId, readJson, streamResponse, unixSeconds, type RouteContext, type RouteSpec } from '../route.js';
import { SentenceChunker } from '../sentence-chunks.js';
import { SSE_DONE, SSE_HEADERS, sseEvent } from '../sse.js';

const TAGS = ['OpenAI-compatible'];

const SAMPLING_PROPERTIES: Record<string, JsonSchema> = {
  model: { type: 'string', description: 'A saved prompt\'s name (runs it), a preset name, a GGUF path or hf: reference; anything else means the default model' },
  stream: { type: 'boolean', default: false },
  stream_options: { type: 'object', properties: { include_usage: { type: 'boolean', default: false } } },
  max_tokens: { type: 'integer', minimum: -1, description: 'Most tokens to generate; -1 = no limit. Generation also ends when the context is full (finish_reason "length")' },
  max_completion_tokens: { type: 'integer', minimum: -1 },
  temperature: { type: 'number', minimum: 0, maximum: 2 },
  top_p: { type: 'number', minimum: 0, maximum: 1 },
  top_k: { type: 'integer', minimum: 0, description: 'llama.cpp extra' },
  min_p: { type: 'number', minimum: 0, maximum: 1, description: 'llama.cpp extra' },
  repeat_penalty: { type: 'number', minimum: 0, description: 'llama.cpp extra' },
  seed: { type: 'integer' },
  stop: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
  presence_penalty: { type: 'number', description: 'accepted, not applied yet' },
  frequency_penalty: { type: 'number', description: 'accepted, not applied yet' },
  logit_bias: { type: 'object', description: '{"token id": bias}: added to the token\'s logit (-100 bans it); llama.cpp also takes token strings and [[token, bias]] pairs; at most 1024 tokens' },
};

const CHAT_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['messages'],
  properties: {
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
          tool_calls: { type: 'array', description: 'assistant turns: the calls it made ({id, type: "function", function: {name, arguments}})' },
          tool_call_id: { type: 'string', description: 'tool turns: the call this is the result of' },
          content: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'object', properties: { type: { const: 'text' }, text: { type: 'string' } } } }, { type: 'null' }] },
        },
      },
    },
    ...SAMPLING_PROPERTIES,
    tools: { type: 'array', maxItems: 128, description: 'Functions the model may call ({type: "function", function: {name, description, parameters}}), rendered by the model\'s chat template (local models); calls come back in message.tool_calls with finish_reason "tool_calls"' },
    tool_choice: { anyOf: [{ enum: ['auto', 'none', 'required'] }, { type: 'object', properties: { type: { const: 'function' }, function: { type: 'object', properties: { name: { type: 'string' } } } } }], default: 'auto' },
    parallel_tool_calls: { type: 'boolean', description: 'Several calls in one reply; unset: as the chat template supports' },
    reasoning_format: { enum: ['none', 'auto', 'deepseek', 'deepseek-legacy'], default: 'auto', description: 'llama.cpp extra: "none" leaves the reasoning in content; otherwise it comes in reasoning_content' },
    chat_template_kwargs: { type: 'object', description: 'llama.cpp extra: template variables, e.g. {"enable_thinking": false}' },
    reasoning_effort: { type: 'string', description: '"none" turns thinking off (enable_thinking false); another level goes to the template (gpt-oss)' },
    logprobs: { type: 'boolean', default: false, description: 'choices[].logprobs.content: each token\'s logprob (streamed with each chunk)' },
    top_logprobs: { type: 'integer', minimum: 0, maximum: 20, description: 'most likely tokens per position (needs logprobs)' },
    sentences: { type: 'boolean', default: false, description: 'akachat extension: each content delta ends at a sentence end (for TTS); the deltas still join up to the exact reply' },
  },
};

const COMPLETION_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['prompt'],
  properties: { prompt: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 1 }] }, ...SAMPLING_PROPERTIES, logprobs: { type: 'integer', minimum: 0, maximum: 20, description: 'legacy logprobs {tokens, token_logprobs, top_logprobs, text_offset} with this many most likely tokens' } },
};

const EMBEDDINGS_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['input'],
  properties: {
    model: { type: 'string', description: 'A preset name, GGUF path or hf: reference; anything else means the default model' },
    input: { anyOf: [{ type: 'string' }, { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'integer', minimum: 0 } }] }, maxItems: MAX_EMBEDDING_INPUTS }, { type: 'array', items: { type: 'integer', minimum: 0 } }], description: 'texts, or token ids (one array, or an array of arrays) embedded as they are' },
    encoding_format: { enum: ['float', 'base64'], default: 'float' },
  },
};

const CHAT_EXAMPLE = { model: 'default', messages: [{ role: 'system', content: 'You are a cheerful avatar.' }, { role: 'user', content: 'Hello!' }], stream: true, max_tokens: 64 };

/** `{prompt_tokens, completion_tokens, total_tokens}` plus the tokens taken from the KV cache. */
export function openAiUsage(result: RunResult) {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.completionTokens,
    total_tokens: result.promptTokens + result.completionTokens,
    prompt_tokens_details: { cached_tokens: result.reusedTokens },
  };
}

/**
 * OpenAI's `system_fingerprint`: the backend configuration that answered, stable for one akachat
 * version and model (`akachat-<version>-<first 8 hex of the model name's SHA-256>`).
 */
export function systemFingerprint(version: string, model: string): string {
  return `akachat-${version}-${createHash('sha256').update(model).digest('hex').slice(0, 8)}`;
}

/** SSE error event for a failure after the stream started (the status line is already sent). */
function errorEvent(error: unknown): string {
  return sseEvent(errorBody('openai', error, statusOf(error)));
}

/**
 * `POST /v1/chat/completions` (also `/chat/completions` and any path ending in it). Exported for
 * the app's path-suffix fallback.
 */
export function chatCompletionsHandler(ctx: RouteContext): RouteSpec['handler'] {
  return async (c: Context, signal: AbortSignal) => {
    const body = await readJson(c);
    const request = normalizeOpenAiChat(body);
    const tokens = openAiChatTokenRequest(body);
    const sentences = body.sentences === true;
    const parsing = replyParsing(request.chat);
    const run = await ctx.generations.chat({
      route: `POST ${c.req.path}`,
      model: request.model,
      messages: request.generation.messages,
      sampling: request.generation,
      tokens: tokens?.options,
      chat: parsing.chat,
      signal,
    });
    const meta = { id: randomId('chatcmpl'), created: unixSeconds(), model: request.model ?? run.model, system_fingerprint: systemFingerprint(ctx.version, run.model) };
    if (!request.stream) {
      const result = await run.result;
      const reply = parsing.reply(result);
      return c.json({
        id: meta.id,
        object: 'chat.completion',
        created: meta.created,
        model: meta.model,
        system_fingerprint: meta.system_fingerprint,
        choices: [{
          index: 0,
          message: openAiMessage(reply),
          logprobs: chatLogprobs(tokens?.all ?? [], tokens),
          finish_reason: replyFinishReason(reply, result.stopReason),
        }],
        usage: openAiUsage(result),
      });
    }
    const chunks = await firstChunkReady(run);
    return streamResponse(chatEvents(chunks, run, parsing.parser(), meta, request.includeUsage, sentences, tokens), SSE_HEADERS, { onError: errorEvent });
  };
}

/** The assistant message of a reply: `content` null when it only calls tools, as OpenAI sends it. */
export function openAiMessage(reply: ChatReply) {
  const calls = reply.toolCalls.length > 0;
  return {
    role: 'assistant' as const,
    content: calls && reply.content === '' ? null : reply.content,
    ...(reply.reasoning ? { reasoning_content: reply.reasoning } : {}),
    ...(calls ? { tool_calls: reply.toolCalls } : {}),
  };
}

/** `tool_calls` when the reply called tools (and was not cut short), else as finishReason. */
export function replyFinishReason(reply: ChatReply, stopReason: string): 'stop' | 'length' | 'tool_calls' {
  const reason = finishReason(stopReason);
  return reason === 'stop' && reply.toolCalls.length > 0 ? 'tool_calls' : reason;
}

/** One streamed delta in OpenAI's shape (a tool call's first one names it). */
function openAiDelta(delta: ReplyDelta): Record<string, unknown> {
  if (delta.reasoning !== undefined) return { reasoning_content: delta.reasoning };
  if (delta.content !== undefined) return { content: delta.content };
  const call = delta.toolCall!;
  return {
    tool_calls: [call.name !== undefined
      ? { index: call.index, id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }
      : { index: call.index, function: { arguments: call.arguments } }],
  };
}

interface StreamMeta {
  id: string;
  created: number;
  model: string;
  system_fingerprint: string;
}

async function* chatEvents(
  chunks: AsyncIterable<string>,
  run: GenerationRun,
  parser: ChatReplyParser,
  meta: StreamMeta,
  includeUsage: boolean,
  sentences: boolean,
  tokens?: TokenCollector,
): AsyncGenerator<string> {
  const base = { id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model, system_fingerprint: meta.system_fingerprint };
  const usageField = includeUsage ? { usage: null } : {};
  // A chunk's tokens go with the next delta sent (a chunk held back by the parser or chunker passes them on).
  const pending: GeneratedToken[] = [];
  const logprobs = () => (pending.length > 0 ? chatLogprobs(pending.splice(0), tokens) : null);
  const delta = (fields: Record<string, unknown>) => sseEvent({ ...base, choices: [{ index: 0, delta: fields, logprobs: logprobs(), finish_reason: null }], ...usageField });
  // As OpenAI and llama-server do: the first chunk carries the role alone, content follows.
  yield delta({ role: 'assistant', content: '' });
  const chunker = sentences ? new SentenceChunker() : undefined;
  const events = (deltas: ReplyDelta[], last: boolean): string[] => {
    const out: string[] = [];
    for (const d of deltas) {
      if (d.content !== undefined && chunker) {
        const content = chunker.push(d.content);
        if (content) out.push(delta({ content }));
      } else {
        // Text held for its sentence end goes out before a tool call that follows it.
        const held = d.toolCall && chunker ? chunker.flush() : '';
        if (held) out.push(delta({ content: held }));
        out.push(delta(openAiDelta(d)));
      }
    }
    const rest = last && chunker ? chunker.flush() : '';
    if (rest) out.push(delta({ content: rest }));
    return out;
  };
  for await (const text of chunks) {
    pending.push(...tokens?.take(text) ?? []);
    yield* events(parser.push(text), false);
  }
  yield* events(parser.finish(), true);
  const result = await run.result;
  pending.push(...tokens?.rest() ?? []);
  // Calls the text did not carry (a remote service sends them apart) go out whole at the end.
  const calls = streamedToolCalls(parser, result);
  for (let index = parser.reply.toolCalls.length; index < calls.length; index++) {
    const { id, function: fn } = calls[index];
    yield delta(openAiDelta({ toolCall: { index, id, name: fn.name, arguments: fn.arguments } }));
  }
  yield sseEvent({ ...base, choices: [{ index: 0, delta: {}, logprobs: logprobs(), finish_reason: replyFinishReason({ ...parser.reply, toolCalls: calls }, result.stopReason) }], ...usageField });
  if (includeUsage) yield sseEvent({ ...base, choices: [], usage: openAiUsage(result) });
  yield sseEvent(SSE_DONE);
}

async function* completionEvents(
  chunks: AsyncIterable<string>,
  run: GenerationRun,
  meta: StreamMeta,
  includeUsage: boolean,
  tokens?: TokenCollector,
): AsyncGenerator<string> {
  const base = { id: meta.id, object: 'text_completion', created: meta.created, model: meta.model, system_fingerprint: meta.system_fingerprint };
  const usageField = includeUsage ? { usage: null } : {};
  let offset = 0; // of each chunk's text in the completion (logprobs' text_offset)
  for await (const text of chunks) {
    yield sseEvent({ ...base, choices: [{ text, index: 0, logprobs: completionLogprobs(tokens?.take(text) ?? [], tokens, offset), finish_reason: null }], ...usageField });
    offset += text.length;
  }
  const result = await run.result;
  const rest = tokens?.rest() ?? [];
  yield sseEvent({ ...base, choices: [{ text: '', index: 0, logprobs: rest.length > 0 ? completionLogprobs(rest, tokens, offset) : null, finish_reason: finishReason(result.stopReason) }], ...usageField });
  if (includeUsage) yield sseEvent({ ...base, choices: [], usage: openAiUsage(result) });
  yield sseEvent(SSE_DONE);
}

/** The `input` of an embeddings request as a list of strings. */
export function embeddingInputs(value: unknown, name = 'input'): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) throw invalid('a string or a non-empty array of strings', name, value);
  if (list.length > MAX_EMBEDDING_INPUTS) throw invalid(`at most ${MAX_EMBEDDING_INPUTS} inputs`, name, value);
  return list.map((item: unknown, index) => {
    if (typeof item !== 'string') {
      throw new InvalidArgumentError(`Expected a string for ${name}[${index}] but received ${Array.isArray(item) || typeof item === 'number' ? 'token ids (send text instead)' : typeof item}`);
    }
    return item;
  });
}

export function openAiRoutes(ctx: RouteContext): RouteSpec[] {
  const chat = chatCompletionsHandler(ctx);
  const chatRoute = (path: string, summary: string): RouteSpec => ({
    method: 'POST',
    path,
    summary,
    description: 'OpenAI chat completions. Streams SSE (`data: <json>\\n\\n` per event, then `data: [DONE]`) when `stream` is true. Any path ending in `/chat/completions` answers too.',
    tags: TAGS,
    requestBody: { schema: CHAT_SCHEMA, example: CHAT_EXAMPLE },
    responses: {
      200: { description: 'chat.completion, or chat.completion.chunk events', contentType: 'application/json' },
      400: { description: 'Invalid body (a field named), a tool_choice naming no tool, tools with a model that cannot take them' },
      503: { description: 'No model configured, or the queue is full (Retry-After)' },
    },
    errors: 'openai',
    handler: chat,
  });

  const completions: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    const request = normalizeOpenAiCompletion(body);
    const tokens = openAiCompletionTokenRequest(body);
    const run = await ctx.generations.text({ route: `POST ${c.req.path}`, model: request.model, text: request.prompt, sampling: request.sampling, tokens: tokens?.options, signal });
    const meta = { id: randomId('cmpl'), created: unixSeconds(), model: request.model ?? run.model, system_fingerprint: systemFingerprint(ctx.version, run.model) };
    if (!request.stream) {
      const result = await run.result;
      return c.json({
        id: meta.id,
        object: 'text_completion',
        created: meta.created,
        model: meta.model,
        system_fingerprint: meta.system_fingerprint,
        choices: [{ text: result.text, index: 0, logprobs: completionLogprobs(tokens?.all ?? [], tokens), finish_reason: finishReason(result.stopReason) }],
        usage: openAiUsage(result),
      });
    }
    const chunks = await firstChunkReady(run);
    return streamResponse(completionEvents(chunks, run, meta, request.includeUsage, tokens), SSE_HEADERS, { onError: errorEvent });
  };

  const models: RouteSpec['handler'] = async (c) => {
    const entries = await ctx.catalog.list();
    // OpenAI's fields, plus Anthropic's (`type`, `display_name`, `created_at`, the page fields), so
    // both SDKs' models.list() read the same list, as llama-server's does.
    return c.json({
      object: 'list',
      data: entries.map((entry) => ({
        id: entry.id,
        object: 'model',
        created: entry.created,
        owned_by: entry.kind === 'model' ? 'akachat' : `akachat-${entry.kind}`,
        type: 'model',
        display_name: entry.id,
        created_at: new Date(entry.created * 1000).toISOString(),
      })),
      has_more: false,
      first_id: entries[0]?.id ?? null,
      last_id: entries.at(-1)?.id ?? null,
    });
  };

  const embeddings: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') throw invalid('"float" or "base64"', 'encoding_format', format);
    const model = body.model === undefined || body.model === null ? undefined : body.model;
    if (model !== undefined && typeof model !== 'string') throw invalid('a string', 'model', model);
    const inputs = embeddingInputsWithTokens(body.input);
    const result = await ctx.embedder.embed(model, inputs, signal);
    return c.json({
      object: 'list',
      data: result.vectors.map((vector, index) => ({ object: 'embedding', index, embedding: format === 'base64' ? vectorToBase64(vector) : Array.from(vector) })),
      model: model ?? result.model,
      usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
    });
  };

  const modelsRoute = (path: string): RouteSpec => ({
    method: 'GET',
    path,
    summary: 'Models a client can name: the default model, saved prompts and presets',
    tags: TAGS,
    responses: { 200: { description: '{object:"list", data:[{id, object:"model", created, owned_by, type, display_name, created_at}], has_more, first_id, last_id} (OpenAI\'s and Anthropic\'s list shapes)' } },
    errors: 'openai',
    handler: models,
  });

  const completionsRoute = (path: string, summary: string): RouteSpec => ({
    method: 'POST',
    path,
    summary,
    tags: TAGS,
    requestBody: { schema: COMPLETION_SCHEMA, example: { prompt: 'Once upon a time', max_tokens: 32 } },
    responses: { 200: { description: 'text_completion, or its SSE chunks' } },
    errors: 'openai',
    handler: completions,
  });

  const embeddingsRoute = (path: string, summary: string): RouteSpec => ({
    method: 'POST',
    path,
    summary,
    tags: TAGS,
    requestBody: { schema: EMBEDDINGS_SCHEMA, example: { input: ['こんにちは', 'hello'] } },
    responses: { 200: { description: '{object:"list", data:[{object:"embedding", index, embedding}], model, usage}' } },
    errors: 'openai',
    handler: embeddings,
  });

  return [
    chatRoute('/v1/chat/completions', 'Chat completion (OpenAI)'),
    chatRoute('/chat/completions', 'Chat completion (OpenAI, base URL without /v1)'),
    completionsRoute('/v1/completions', 'Text completion (OpenAI legacy): the prompt is completed as is, without a chat template'),
    completionsRoute('/completions', 'Text completion (OpenAI legacy, base URL without /v1)'),
    modelsRoute('/v1/models'),
    modelsRoute('/models'),
    embeddingsRoute('/v1/embeddings', 'Embeddings from a local GGUF model'),
    embeddingsRoute('/embeddings', 'Embeddings from a local GGUF model (base URL without /v1)'),
  ];
}

/** A vector as OpenAI's `encoding_format: "base64"` sends it: little-endian float32 bytes. */
export function vectorToBase64(vector: Float32Array): string {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64');
}
