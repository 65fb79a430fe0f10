/**
 * The original akachat routes, kept for its clients: run a saved prompt and answer in the
 * envelope `{status: 0, servertime, result, detail}` (or as a plain-text stream), and save a
 * prompt. `dir` is the original name of the prompt-name field.
 */
import type { Context } from 'hono';
import type { ChatMessage } from '../../prompt/messages.js';
import { toChatMessage } from '../../prompt/messages.js';
import { callerOverrides, type RawOptions } from '../../prompt/options.js';
import { expectBoolean, invalid } from '../../validate.js';
import { TemplateError } from '../../errors.js';
import type { EvaluatedInstruction } from '../../prompt/prompt.js';
import { errorCode, errorMessage, serverTime, statusOf } from '../errors.js';
import { firstChunkReady } from '../run-stream.js';
import { phaseTimes, type GenerationRun, type RunResult } from '../../run/runner.js';
import { SSE_HEADERS, sseEvent } from '../sse.js';
import type { JsonSchema } from '../openapi.js';
import { isRecord, optional, readJson, streamResponse, type RouteContext, type RouteSpec } from '../route.js';
import { callerPromptOptions, saveCallerPrompt } from './manage.js';
import type { OwnerOptIns } from './models-manage.js';

const TAGS = ['akachat'];

/** Body keys that are not option overrides. */
const CALL_KEYS = new Set(['dir', 'name', 'input', 'messages', 'options', 'stream', 'instruction']);

const TEXT_STREAM_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/plain; charset=utf-8',
  'Cache-Control': 'no-cache',
  'X-Accel-Buffering': 'no',
};

const CALL_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'Saved prompt name (sub-folders with /)' },
    dir: { type: 'string', description: 'The original name of `name`' },
    input: { type: 'string', default: '' },
    messages: { type: 'array', description: 'Earlier turns, placed after the instruction\'s messages', items: { type: 'object', properties: { role: { enum: ['system', 'user', 'assistant', 'tool'] }, content: { type: 'string' } } } },
    options: { type: 'object', description: 'Generation parameters for this call (also accepted at the top level): temperature, top_p, top_k, min_p, repetition_penalty, seed, stop, max_new_tokens; `model` picks a name listed by /v1/models. Where and what runs (provider, endpoint, dtype, templates, input_tokens, api_key) is the owner\'s: 403' },
  },
  additionalProperties: true,
};

const ENVELOPE_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    status: { type: 'integer', description: '0 = success; otherwise the HTTP status' },
    servertime: { type: 'number', description: 'Unix seconds' },
    result: { type: 'string' },
    detail: { type: 'object' },
  },
};

/** A prompt call's fields, from the body of the run routes. */
export interface PromptCall {
  name: string;
  input: string;
  history: ChatMessage[];
  /** Generation parameters the caller set (later schema). */
  overrides: RawOptions;
  /** A model name the caller picked among the listed ones (resolved by the catalog). */
  model?: string;
}

/**
 * Reads `{dir|name, input, messages?, options?, ...overrides}`. Overrides (in `options` or at the
 * top level) are the caller's: generation parameters only (see callerOverrides); `model` picks a
 * listed name. Other keys that choose where and what runs answer 403.
 */
export function parsePromptCall(body: Record<string, unknown>, { needsName = true } = {}): PromptCall {
  const name = body.name ?? body.dir;
  if (needsName && (typeof name !== 'string' || name === '')) throw invalid('a saved prompt name', 'name (or dir)', name);
  const input = body.input ?? '';
  if (typeof input !== 'string') throw invalid('a string', 'input', input);
  const history = parseHistory(body.messages);
  const raw: RawOptions = {};
  if (body.options !== undefined && body.options !== null) {
    if (!isRecord(body.options)) throw invalid('an options object', 'options', body.options);
    Object.assign(raw, body.options);
  }
  for (const [key, value] of Object.entries(body)) if (!CALL_KEYS.has(key)) raw[key] = value;
  const model = raw.model ?? undefined;
  delete raw.model;
  if (model !== undefined && (typeof model !== 'string' || model === '')) throw invalid('a model name listed by /v1/models', 'model', model);
  return { name: typeof name === 'string' ? name : '', input, history, overrides: callerOverrides(raw), ...(model ? { model } : {}) };
}

/**
 * Reads the management route's `{instruction, options, input, messages?, model?}`: the owner's own
 * options, unfiltered; `model` picks a listed name for this run over the options' model.
 */
function parseOwnerCall(body: Record<string, unknown>): { name: string; input: string; history: ChatMessage[]; options: RawOptions; model?: string } {
  const name = body.name ?? '';
  if (typeof name !== 'string') throw invalid('a string', 'name', name);
  const input = body.input ?? '';
  if (typeof input !== 'string') throw invalid('a string', 'input', input);
  const options = body.options ?? {};
  if (!isRecord(options)) throw invalid('an options object', 'options', options);
  const model = body.model ?? undefined;
  if (model !== undefined && (typeof model !== 'string' || model === '')) throw invalid('a model name listed by /v1/models', 'model', model);
  return { name, input, history: parseHistory(body.messages), options, ...(model ? { model } : {}) };
}

function parseHistory(value: unknown): ChatMessage[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid('an array of {role, content} messages', 'messages', value);
  return value.map((message, index) => toChatMessage(message, `messages[${index}]`));
}

/** The envelope's `detail` for a prompt run: what was sent, how long it took. */
export function runDetail(result: RunResult, name: string) {
  const prompt = result.prompt;
  return {
    prompt: name,
    model: result.model,
    provider: prompt?.provider ?? 'local',
    messages: prompt?.messages ?? null,
    template_text: prompt?.templateText ?? null,
    instruction: prompt?.instruction ?? '',
    rendered_prompt: prompt?.renderedPrompt ?? null,
    usage: { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, reused_tokens: result.reusedTokens },
    duration: result.durationMs / 1000,
    duration_ms: result.durationMs,
    first_token_ms: result.firstTokenMs ?? null,
    stop_reason: result.stopReason,
    options: prompt?.options ?? {},
  };
}

/**
 * The SSE events of a streamed run (one `data:` JSON line each, told apart by `type`):
 * `detail` as soon as the instruction is evaluated, `text` per generated chunk, then `done`.
 * Stopping the iteration (the client disconnected) aborts the generation.
 */
async function* runEvents(run: GenerationRun, evaluated: Promise<EvaluatedInstruction>, name: string): AsyncGenerator<string> {
  const chunks = run[Symbol.asyncIterator]();
  let finished = false;
  try {
    let next = chunks.next();
    // The detail comes before generation starts; race it with the first chunk so it is sent at once.
    const first = await Promise.race([evaluated.then((detail) => ({ detail })), next.then(() => undefined)]);
    if (first) yield sseEvent(detailEvent(first.detail, name));
    for (let chunk = await next; !chunk.done; chunk = await next) {
      yield sseEvent({ type: 'text', text: chunk.value });
      next = chunks.next();
    }
    finished = true;
    yield sseEvent(doneEvent(await run.result));
  } finally {
    if (!finished) await chunks.return?.();
  }
}

function detailEvent(evaluated: EvaluatedInstruction, name: string) {
  return {
    type: 'detail',
    prompt: name,
    provider: evaluated.provider,
    instruction: evaluated.instruction,
    parts: evaluated.parts.map((part) => ({ source: part.source, line: part.pos.line, column: part.pos.column, output: part.output })),
    messages: evaluated.messages ?? null,
    template_text: evaluated.templateText ?? null,
    options: evaluated.options,
  };
}

function doneEvent(result: RunResult) {
  const { promptMs, generationMs } = phaseTimes(result);
  return {
    type: 'done',
    text: result.text,
    model: result.model.split(/[\\/]/).at(-1) ?? result.model,
    stop_reason: result.stopReason,
    rendered_prompt: result.prompt?.renderedPrompt ?? null,
    usage: { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, reused_tokens: result.reusedTokens },
    duration_ms: result.durationMs,
    first_token_ms: result.firstTokenMs ?? null,
    prompt_ms: promptMs,
    generation_ms: generationMs,
    tokens_per_second: generationMs > 0 ? result.completionTokens / (generationMs / 1000) : null,
  };
}

/** A failure after the stream started, as its last event (the status line is already sent). */
function errorEvent(error: unknown): string {
  const status = statusOf(error);
  return sseEvent({
    type: 'error',
    status,
    code: errorCode(error, status),
    message: errorMessage(error),
    ...(error instanceof TemplateError ? { line: error.line, column: error.column } : {}),
  });
}

export function envelope(result: string, detail: Record<string, unknown>) {
  return { status: 0, servertime: serverTime(), result, detail };
}

export function akachatRoutes(ctx: RouteContext, optIns: OwnerOptIns = {}): RouteSpec[] {
  const infer = (route: string): RouteSpec['handler'] => async (c: Context, signal) => {
    const call = parsePromptCall(await readJson(c));
    const prompt = await ctx.akachat.prompt(call.name);
    const run = await ctx.generations.prompt({ route, prompt, input: call.input, history: call.history, overrides: call.overrides, model: call.model, signal });
    const result = await run.result;
    return c.json(envelope(result.text, runDetail(result, call.name)));
  };

  const stream = (route: string): RouteSpec['handler'] => async (c: Context, signal) => {
    const call = parsePromptCall(await readJson(c));
    const prompt = await ctx.akachat.prompt(call.name);
    const run = await ctx.generations.prompt({ route, prompt, input: call.input, history: call.history, overrides: call.overrides, model: call.model, signal });
    // A failure after the first chunk cuts the connection: plain text has no way to say "error".
    return streamResponse(await firstChunkReady(run), TEXT_STREAM_HEADERS);
  };

  const save: RouteSpec['handler'] = async (c: Context) => {
    const body = await readJson(c);
    const name = body.name ?? body.dir;
    if (typeof name !== 'string' || name === '') throw invalid('a prompt name', 'name', name);
    await saveCallerPrompt(ctx, optIns, name, body.instruction ?? '', body.options ?? {});
    return c.json(envelope(name, { name }));
  };

  const runUnsaved: RouteSpec['handler'] = async (c: Context, signal) => {
    const body = await readJson(c);
    const instruction = body.instruction ?? '';
    if (typeof instruction !== 'string') throw invalid('a string', 'instruction', instruction);
    const stream = optional(body.stream, 'stream', expectBoolean) ?? false;
    const call = parseOwnerCall(body);
    // The caller is not the owner: owner-only options only as the prompt of that name stores them.
    const options = await callerPromptOptions(ctx, optIns, call.name, call.options);
    const prompt = ctx.akachat.createPrompt(instruction, options, call.name || '(unsaved)');
    let evaluated: (value: EvaluatedInstruction) => void = () => {};
    const detail = new Promise<EvaluatedInstruction>((resolve) => { evaluated = resolve; });
    const run = await ctx.generations.prompt({
      route: 'POST /api/prompt/run', prompt, input: call.input, history: call.history, model: call.model, signal, owner: true,
      ...(stream ? { onEvaluated: evaluated } : {}),
    });
    if (stream) {
      // The first event (or the failure before it: a template error, an unknown model) decides the status.
      return streamResponse(await firstChunkReady(runEvents(run, detail, prompt.name)), SSE_HEADERS, { onError: errorEvent });
    }
    const result = await run.result;
    return c.json(envelope(result.text, runDetail(result, prompt.name)));
  };

  const runRoute = (path: string, summary: string, original: boolean): RouteSpec => ({
    method: 'POST',
    path,
    summary,
    description: 'Runs a saved prompt through the WebAPI (`test()` text is left out) and answers in the envelope; `detail` holds the messages or template text sent, the evaluated instruction, usage and duration.',
    tags: TAGS,
    requestBody: { schema: CALL_SCHEMA, example: original ? { dir: 'default', input: 'こんにちは' } : { name: 'default', input: 'こんにちは', temperature: 0.7 } },
    responses: { 200: { description: 'Envelope', schema: ENVELOPE_SCHEMA }, 404: { description: 'No such prompt' } },
    errors: 'akachat',
    handler: infer(`POST ${path}`),
  });

  const streamRoute = (path: string, summary: string): RouteSpec => ({
    method: 'POST',
    path,
    summary,
    description: 'Same body as /api/prompt/infer; the generated text is streamed as text/plain, chunk by chunk.',
    tags: TAGS,
    requestBody: { schema: CALL_SCHEMA, example: { name: 'default', input: 'こんにちは' } },
    responses: { 200: { description: 'The generated text, streamed', contentType: 'text/plain', schema: { type: 'string' } } },
    errors: 'akachat',
    handler: stream(`POST ${path}`),
  });

  const saveRoute = (path: string, summary: string): RouteSpec => ({
    method: 'POST',
    path,
    summary,
    tags: TAGS,
    management: true,
    requestBody: {
      schema: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, instruction: { type: 'string', default: '' }, options: { type: 'object', default: {} } } },
      example: { name: 'greeter', instruction: 'You greet the user warmly.', options: { max_new_tokens: 64 } },
    },
    responses: { 200: { description: 'Envelope with the name', schema: ENVELOPE_SCHEMA }, 400: { description: 'Unsafe name or invalid options' } },
    errors: 'akachat',
    handler: save,
  });

  return [
    runRoute('/api/llm/main', 'Run a saved prompt (original route; `dir` = prompt name)', true),
    runRoute('/api/prompt/infer', 'Run a saved prompt', false),
    streamRoute('/api/llm/raw', 'Run a saved prompt, streaming plain text (original route)'),
    streamRoute('/api/prompt/stream', 'Run a saved prompt, streaming plain text'),
    saveRoute('/api/llm/save', 'Save a prompt (original route)'),
    saveRoute('/api/prompt/save', 'Save a prompt'),
    {
      method: 'POST',
      path: '/api/prompt/run',
      summary: 'Run an unsaved prompt (the playground\'s run before save), as an envelope or streamed as SSE',
      description: [
        'The playground\'s run of an instruction and options that need not be saved (a management route; `test()` follows the `is_test` setting). `name` is shown in the detail and the speech logs; options that choose what runs and where (model path or hf:, provider, endpoint, api_key, chat_template, dtype, input_tokens) must equal those of the saved prompt of that name (403 otherwise) unless the server was started with --allow-settings; a model name listed by /v1/models is always accepted.',
        '',
        'Without `stream` the answer is the envelope. With `"stream": true` it is `text/event-stream`: one `data: {json}` line per event, told apart by `type`:',
        '- `detail` (once, as soon as the instruction is evaluated, before generation): `prompt`, `provider`, `instruction` (evaluated, as text), `parts` (the instruction in order: `{source, line, column, output}`, `source` null for literal text, else the function that produced `output`: a function name, `var`, `input` or `expression`; `output` is text or a list of messages), `messages` (messages mode) or `template_text` (template mode), `options` (merged, secrets masked);',
        '- `text` (per generated chunk): `text`;',
        '- `done` (last): `text` (all of it), `model`, `stop_reason`, `rendered_prompt` (what the model saw after its chat template, local models), `usage` `{prompt_tokens, completion_tokens, reused_tokens}`, `duration_ms`, `first_token_ms`, `prompt_ms`, `generation_ms`, `tokens_per_second`;',
        '- `error` (last, instead of `done`, when the run fails after the stream began): `status`, `code`, `message`, and `line`/`column` for template errors.',
        '',
        'A failure before the first event (bad body, template error, unknown prompt in `llm()`) answers with its real status instead. Closing the connection aborts the generation and frees its slot.',
      ].join('\n'),
      tags: TAGS,
      management: true,
      requestBody: {
        schema: {
          type: 'object',
          properties: {
            instruction: { type: 'string' },
            input: { type: 'string', default: '' },
            messages: { type: 'array', description: 'Earlier turns (chat), placed after the instruction\'s messages (messages mode)', items: { type: 'object', properties: { role: { enum: ['system', 'user', 'assistant', 'tool'] }, content: { type: 'string' } } } },
            options: { type: 'object', description: 'The prompt\'s options (as saved in prompt/{name}.json)' },
            name: { type: 'string', description: 'A name for the detail and the logs' },
            model: { type: 'string', description: 'A model name listed by /v1/models for this run, over the options\' model (never a path: 400)' },
            stream: { type: 'boolean', default: false, description: 'Answer as SSE events (detail, text, done | error)' },
          },
        },
        example: { instruction: 'You are a cat. Answer in one sentence.', input: 'Who are you?', options: { max_new_tokens: 32 }, stream: true },
      },
      responses: { 200: { description: 'Envelope, or with `stream: true` SSE events', schema: ENVELOPE_SCHEMA } },
      errors: 'akachat',
      handler: runUnsaved,
    },
  ];
}
