/**
 * Sentence streaming for TTS (an akachat extension): the reply arrives as one SSE event per
 * sentence with its display text, its text cleaned for the speech engine and its leading emotion /
 * motion tags, so an avatar can start speaking after the first sentence. Reasoning of thinking
 * models is never sent.
 */
import { errorBody, statusOf } from '../errors.js';
import { firstChunkReady } from '../run-stream.js';
import { type GenerationRun } from '../../run/runner.js';
import type { JsonSchema } from '../openapi.js';
import { normalizeOpenAiChat } from '../openai-normalize.js';
import type { ChatReplyParser } from '../../engine/chat-format.js';
import { joinDeltas, replyParsing } from '../reasoning.js';
import { optionalIntegerField, readJson, streamResponse, type RouteContext, type RouteSpec } from '../route.js';
import { SentenceSplitter, type Sentence } from '../speech.js';
import { SSE_HEADERS, sseEvent } from '../sse.js';
import { parsePromptCall } from './akachat.js';

const SPEECH_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'Either a prompt call ({name|dir, input, messages?, ...overrides}) or an OpenAI chat body ({model?, messages, ...}).',
  properties: {
    name: { type: 'string' },
    dir: { type: 'string' },
    input: { type: 'string' },
    model: { type: 'string' },
    messages: { type: 'array' },
    min_comma_length: { type: 'integer', minimum: 1, default: 40, description: 'A 、 or , ends a sentence only once it is this long' },
  },
};

async function* sentenceEvents(chunks: AsyncIterable<string>, run: GenerationRun, reply: ChatReplyParser, splitter: SentenceSplitter): AsyncGenerator<string> {
  // Only the answer is spoken: reasoning (and tool-call markup) stays out, as the chat parser splits it.
  const said = (text: string) => joinDeltas(reply.push(text)).content;
  let content = '';
  const started = performance.now();
  let firstSentenceMs: number | undefined;
  const events = (sentences: Sentence[]) => sentences.map((sentence) => {
    firstSentenceMs ??= performance.now() - started;
    return sseEvent(sentence);
  });
  for await (const text of chunks) {
    const part = said(text);
    content += part;
    if (part) yield* events(splitter.push(part));
  }
  const rest = joinDeltas(reply.finish()).content;
  content += rest;
  yield* events([...(rest ? splitter.push(rest) : []), ...splitter.flush()]);
  const result = await run.result;
  yield sseEvent({
    done: true,
    text: content,
    model: run.model,
    stop_reason: result.stopReason,
    usage: { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, reused_tokens: result.reusedTokens },
    duration_ms: result.durationMs,
    first_token_ms: result.firstTokenMs ?? null,
    first_sentence_ms: firstSentenceMs ?? null,
  });
}

export function speechRoutes(ctx: RouteContext): RouteSpec[] {
  const stream: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    const minCommaLength = optionalIntegerField(body, 'min_comma_length', 1);
    delete body.min_comma_length;
    const isChat = Array.isArray(body.messages) && body.name === undefined && body.dir === undefined;
    let run: GenerationRun;
    let parsing = replyParsing({});
    if (isChat) {
      const request = normalizeOpenAiChat(body);
      parsing = replyParsing(request.chat);
      run = await ctx.generations.chat({ route: 'POST /api/speech/stream', model: request.model, messages: request.generation.messages, sampling: request.generation, chat: parsing.chat, signal });
    } else {
      const call = parsePromptCall(body);
      const prompt = await ctx.akachat.prompt(call.name);
      run = await ctx.generations.prompt({ route: 'POST /api/speech/stream', prompt, input: call.input, history: call.history, overrides: call.overrides, model: call.model, signal });
    }
    const chunks = await firstChunkReady(run);
    const splitter = new SentenceSplitter(minCommaLength === undefined ? {} : { minCommaLength });
    return streamResponse(sentenceEvents(chunks, run, parsing.parser(), splitter), SSE_HEADERS, {
      onError: (error) => sseEvent(errorBody('openai', error, statusOf(error))),
    });
  };

  return [
    {
      method: 'POST',
      path: '/api/speech/stream',
      summary: 'Sentence stream for TTS: one SSE event per sentence {index, text, speech, emotion?, motion?, code?}, then {done:true, text, usage, ...}',
      tags: ['speech'],
      requestBody: { schema: SPEECH_SCHEMA, example: { name: 'default', input: 'こんにちは！自己紹介して。' } },
      responses: { 200: { description: 'SSE events', contentType: 'text/event-stream' } },
      errors: 'akachat',
      handler: stream,
    },
  ];
}
