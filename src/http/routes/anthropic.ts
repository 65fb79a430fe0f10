/**
 * Anthropic Messages API routes, as llama-server offers them, for clients that speak only
 * Anthropic's dialect (the Anthropic SDKs, Claude-oriented agents): `POST /v1/messages`, streamed
 * as Anthropic's named SSE events, and `POST /v1/messages/count_tokens`. Errors use Anthropic's
 * shape `{"type":"error","error":{"type","message"}}`; `x-api-key` is accepted as the API key.
 */
import type { Context } from 'hono';
import { InvalidArgumentError } from '../../errors.js';
import { anthropicStop, ContentBlockEvents, contentBlocks, namedEvent, type AnthropicEvent } from '../anthropic-events.js';
import { normalizeAnthropicMessages } from '../anthropic-normalize.js';
import { errorBody, statusOf } from '../errors.js';
import type { JsonSchema } from '../openapi.js';
import { formatChat, type ChatReplyParser } from '../../engine/chat-format.js';
import { replyParsing, streamedToolCalls } from '../reasoning.js';
import { randomId, readJson, streamResponse, withLocalModel, type RouteContext, type RouteSpec } from '../route.js';
import { firstChunkReady } from '../run-stream.js';
import type { GenerationRun, RunResult } from '../../run/runner.js';
import { SSE_HEADERS } from '../sse.js';

const TAGS = ['Anthropic-compatible'];

const TEXT_BLOCK: JsonSchema = { type: 'object', required: ['type', 'text'], properties: { type: { const: 'text' }, text: { type: 'string' } } };

const MESSAGES_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['messages', 'max_tokens'],
  properties: {
    model: { type: 'string', description: 'A name /v1/models lists (a saved prompt\'s name runs it); anything else means the default model' },
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role', 'content'],
        properties: {
          role: { enum: ['user', 'assistant'] },
          content: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'object', description: 'text, tool_use (assistant) and tool_result (user) blocks; thinking blocks of earlier turns are left out' } }] },
        },
      },
    },
    system: { anyOf: [{ type: 'string' }, { type: 'array', items: TEXT_BLOCK }] },
    max_tokens: { type: 'integer', minimum: 1, description: 'Most tokens to generate (required). Generation also ends when the context is full (stop_reason "model_context_window_exceeded")' },
    temperature: { type: 'number', minimum: 0, maximum: 1 },
    top_p: { type: 'number', minimum: 0, maximum: 1 },
    top_k: { type: 'integer', minimum: 0 },
    stop_sequences: { type: 'array', items: { type: 'string' }, maxItems: 32 },
    stream: { type: 'boolean', default: false },
    seed: { type: 'integer', description: 'llama.cpp extra' },
    min_p: { type: 'number', minimum: 0, maximum: 1, description: 'llama.cpp extra' },
    thinking: { type: 'object', description: '{"type":"enabled"|"adaptive"|"disabled"}: the template\'s enable_thinking. A model\'s reasoning comes back as a thinking block' },
    tools: { type: 'array', maxItems: 128, items: { type: 'object', required: ['name', 'input_schema'], properties: { name: { type: 'string' }, description: { type: 'string' }, input_schema: { type: 'object' } } }, description: 'Tools the model may call, rendered by its chat template (local models); calls come back as tool_use blocks with stop_reason "tool_use"' },
    tool_choice: { type: 'object', properties: { type: { enum: ['auto', 'any', 'tool', 'none'] }, name: { type: 'string' }, disable_parallel_tool_use: { type: 'boolean' } } },
    output_config: { type: 'object', properties: { format: { type: 'object', properties: { type: { const: 'json_schema' }, schema: { type: 'object' } } } }, description: 'format: the reply is held to the JSON schema by a grammar' },
    chat_template_kwargs: { type: 'object', description: 'llama.cpp extra: template variables, e.g. {"enable_thinking": false}' },
  },
};

const COUNT_SCHEMA: JsonSchema = {
  ...MESSAGES_SCHEMA,
  required: ['messages'],
  properties: { model: MESSAGES_SCHEMA.properties!.model, messages: MESSAGES_SCHEMA.properties!.messages, system: MESSAGES_SCHEMA.properties!.system, tools: MESSAGES_SCHEMA.properties!.tools },
};

const EXAMPLE = { model: 'default', max_tokens: 64, system: 'You are a cheerful avatar.', messages: [{ role: 'user', content: 'Hello!' }] };

/** Input tokens as Anthropic counts them: those read from the (KV) cache apart. */
function usage(result: RunResult) {
  return { input_tokens: result.promptTokens - result.reusedTokens, cache_read_input_tokens: result.reusedTokens, output_tokens: result.completionTokens };
}

/** An error after the stream started (the status line is already sent). */
function errorEvent(error: unknown): string {
  return namedEvent(errorBody('anthropic', error, statusOf(error)) as AnthropicEvent);
}

interface MessageMeta {
  id: string;
  model: string;
}

/**
 * The stream's events: message_start, the content blocks (see ContentBlockEvents), then
 * message_delta (stop reason, usage) and message_stop. The prompt's token count is known only
 * when the run ends: message_start carries 0 and message_delta the real counts (the SDKs take both).
 */
async function* messageEvents(chunks: AsyncIterable<string>, run: GenerationRun, parser: ChatReplyParser, meta: MessageMeta): AsyncGenerator<string> {
  yield namedEvent({
    type: 'message_start',
    message: { id: meta.id, type: 'message', role: 'assistant', content: [], model: meta.model, stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } },
  });
  const blocks = new ContentBlockEvents();
  for await (const text of chunks) yield* parser.push(text).flatMap((delta) => blocks.push(delta)).map(namedEvent);
  yield* parser.finish().flatMap((delta) => blocks.push(delta)).map(namedEvent);
  const result = await run.result;
  // Calls the text did not carry (a remote service sends them apart) go out as whole tool_use blocks.
  const calls = streamedToolCalls(parser, result);
  for (let index = parser.reply.toolCalls.length; index < calls.length; index++) {
    const { id, function: fn } = calls[index];
    yield* blocks.push({ toolCall: { index, id, name: fn.name, arguments: fn.arguments } }).map(namedEvent);
  }
  yield* blocks.finish().map(namedEvent);
  yield namedEvent({ type: 'message_delta', delta: anthropicStop({ ...parser.reply, toolCalls: calls }, result), usage: usage(result) });
  yield namedEvent({ type: 'message_stop' });
}

export function anthropicRoutes(ctx: RouteContext): RouteSpec[] {
  const messages: RouteSpec['handler'] = async (c: Context, signal) => {
    const request = normalizeAnthropicMessages(await readJson(c));
    const parsing = replyParsing(request.chat);
    const run = await ctx.generations.chat({ route: 'POST /v1/messages', model: request.model, messages: request.messages, sampling: request.sampling, chat: parsing.chat, signal });
    const meta: MessageMeta = { id: randomId('msg').replace('-', '_'), model: request.model ?? run.model };
    if (request.stream) {
      const chunks = await firstChunkReady(run);
      return streamResponse(messageEvents(chunks, run, parsing.parser(), meta), SSE_HEADERS, { onError: errorEvent });
    }
    const result = await run.result;
    const reply = parsing.reply(result);
    return c.json({
      id: meta.id,
      type: 'message',
      role: 'assistant',
      content: contentBlocks(reply),
      model: meta.model,
      ...anthropicStop(reply, result),
      usage: usage(result),
    });
  };

  // The conversation (tools included) through the model's chat template, tokenized as a generation tokenizes it.
  const countTokens: RouteSpec['handler'] = async (c: Context, signal) => {
    const request = normalizeAnthropicMessages(await readJson(c), { requireMaxTokens: false });
    const target = await ctx.catalog.resolve(request.model);
    if (target.kind === 'prompt') {
      throw new InvalidArgumentError(`Expected a model's name for model but received ${JSON.stringify(target.name)}, a saved prompt: its own instruction builds the conversation, so it cannot be counted from these messages`);
    }
    return withLocalModel(ctx, request.model, signal, async (model, template) => {
      const { prompt } = await formatChat(model, request.messages, { ...request.chat, template, signal });
      return c.json({ input_tokens: model.tokenizePrompt(prompt).length });
    });
  };

  return [
    {
      method: 'POST',
      path: '/v1/messages',
      summary: 'Messages (Anthropic): a chat through the model\'s chat template',
      description: 'Anthropic Messages API as llama-server offers it. Streams named SSE events (message_start, content_block_start, ping, content_block_delta, content_block_stop, message_delta, message_stop) when `stream` is true. The API key may come as `x-api-key` or `Authorization: Bearer`.',
      tags: TAGS,
      requestBody: { schema: MESSAGES_SCHEMA, example: EXAMPLE },
      responses: {
        200: { description: '{id, type:"message", role:"assistant", content:[{type:"text", text}], model, stop_reason, stop_sequence, usage}, or its SSE events', contentType: 'application/json' },
        400: { description: 'Invalid body (missing max_tokens, a role other than user/assistant, a bad tool): {type:"error", error:{type:"invalid_request_error", message}}' },
        403: { description: 'An option only the server\'s owner sets (chat_template, endpoint, ...)' },
        503: { description: 'No model configured, or the queue is full (Retry-After)' },
      },
      errors: 'anthropic',
      handler: messages,
    },
    {
      method: 'POST',
      path: '/v1/messages/count_tokens',
      summary: 'Tokens of a Messages request\'s prompt (Anthropic), without generating',
      description: 'The same body as /v1/messages, max_tokens not needed. Counts the conversation rendered through the model\'s chat template, as a generation would tokenize it.',
      tags: TAGS,
      requestBody: { schema: COUNT_SCHEMA, example: { model: 'default', messages: [{ role: 'user', content: 'Hello!' }] } },
      responses: { 200: { description: '{input_tokens}' } },
      errors: 'anthropic',
      handler: countTokens,
    },
  ];
}
