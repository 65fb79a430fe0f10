import OpenAI from 'openai';
import { AbortError, InvalidArgumentError, RemoteError, UnsupportedError, abortReason } from '../errors.js';
import { parseChatReply, toolResultText } from '../engine/chat-format.js';
import type { LlmChatOptions, LlmRequest } from './request.js';
import type { ChatMessage, ResponseFormat, ToolCall } from './types.js';
import { LlmStream } from './stream.js';

export interface OpenAiLlmOptions {
  /**
   * Key for OpenAI's own endpoint (`https://api.openai.com`, the default when a request names no
   * endpoint); default OPENAI_API_KEY. Never sent to any other endpoint: those get the `apiKey`
   * their request carries (the `api_key` option written beside the endpoint), or no key.
   */
  apiKey?: string | (() => Promise<string | undefined>);
  /** Per-request timeout, ms. Default 120000. */
  timeoutMs?: number;
  /** Retries on connection errors and 429/5xx. Default 1. */
  maxRetries?: number;
}

/** Any OpenAI-compatible service (OpenAI, vLLM, llama-server, Ollama's /v1, akachat itself) through the openai SDK. */
export class OpenAiLlm {
  readonly #options: OpenAiLlmOptions;

  constructor(options: OpenAiLlmOptions = {}) {
    this.#options = options;
  }

  async #openAiKey(): Promise<string | undefined> {
    const key = typeof this.#options.apiKey === 'function' ? await this.#options.apiKey() : this.#options.apiKey;
    return key || process.env.OPENAI_API_KEY || undefined;
  }

  stream(request: LlmRequest): LlmStream {
    return new LlmStream(async (emit, signal) => {
      if (!request.model) throw new InvalidArgumentError('Expected a model name for the openai provider but received ""');
      // OpenAI-compatible services differ in how (or whether) they take GBNF; never drop it silently.
      if (request.settings.grammar) throw new UnsupportedError('A GBNF grammar constrains local models only: for an OpenAI-compatible service use response_format (json_object or json_schema)');
      const key = request.apiKey || (isOpenAiEndpoint(request.endpoint) ? await this.#openAiKey() : undefined);
      const client = new OpenAI({
        apiKey: key || 'no-key',
        baseURL: request.endpoint || undefined,
        timeout: this.#options.timeoutMs ?? 120_000,
        maxRetries: this.#options.maxRetries ?? 1,
      });
      const s = request.settings;
      const common = {
        model: request.model,
        temperature: s.temperature,
        top_p: s.topP,
        max_tokens: s.maxTokens,
        ...(s.presencePenalty ? { presence_penalty: s.presencePenalty } : {}),
        ...(s.frequencyPenalty ? { frequency_penalty: s.frequencyPenalty } : {}),
        ...(s.stop.length ? { stop: s.stop.slice(0, 4) } : {}),
        ...(s.seed !== undefined ? { seed: s.seed } : {}),
        stream: true as const,
        stream_options: { include_usage: true },
      };
      let text = '';
      let reasoning = '';
      const calls: ToolCall[] = [];
      let stopReason = 'eos';
      let usage = { promptTokens: 0, completionTokens: 0 };
      try {
        if (request.messages) {
          const format = s.responseFormat && toOpenAiFormat(s.responseFormat);
          const stream = await client.chat.completions.create({
            ...common,
            ...(format ? { response_format: format } : {}),
            ...toolParams(request.chat),
            messages: request.messages.map(toOpenAiMessage),
          }, { signal });
          for await (const chunk of stream) {
            const choice = chunk.choices?.[0];
            const delta = choice?.delta?.content ?? '';
            if (delta) { text += delta; emit(delta); }
            // llama-server, vLLM and DeepSeek send reasoning apart; calls come in pieces by index.
            reasoning += (choice?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '';
            for (const piece of choice?.delta?.tool_calls ?? []) {
              const call = calls[piece.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } };
              if (piece.id) call.id = piece.id;
              if (piece.function?.name) call.function.name += piece.function.name;
              call.function.arguments += piece.function?.arguments ?? '';
            }
            if (choice?.finish_reason) stopReason = mapFinish(choice.finish_reason);
            if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
          }
        } else {
          const stream = await client.completions.create({ ...common, prompt: request.text ?? '' }, { signal });
          for await (const chunk of stream) {
            const choice = chunk.choices?.[0];
            const delta = choice?.text ?? '';
            if (delta) { text += delta; emit(delta); }
            if (choice?.finish_reason) stopReason = mapFinish(choice.finish_reason);
            if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
          }
        }
      } catch (err) {
        if (signal.aborted) throw new AbortError(abortReason(signal), { cause: err });
        if (err instanceof OpenAI.APIError) {
          const where = request.endpoint || 'https://api.openai.com/v1';
          throw new RemoteError(`${where} answered ${err.status ?? 'with an error'}: ${err.message}`, err.status, { cause: err });
        }
        throw new RemoteError(`OpenAI-compatible request failed: ${(err as Error).message}`, undefined, { cause: err });
      }
      if (!request.messages) return { text, stopReason, usage, model: request.model };
      // The reply split up as local chats are: `<think>` in the text too, for services that leave it there.
      const split = parseChatReply(undefined, text, { splitThinking: request.chat?.reasoningFormat !== 'none' });
      const reply = { content: split.content, reasoning: reasoning + split.reasoning, toolCalls: calls.filter(Boolean) };
      return { text, reply, stopReason, usage, model: request.model };
    }, request.signal);
  }
}

/** Tools, tool choice and parallel calls in the chat API's shape; nothing without tools. */
function toolParams(chat: LlmChatOptions | undefined): Partial<OpenAI.ChatCompletionCreateParamsStreaming> {
  if (!chat?.tools?.length) return {};
  return {
    tools: chat.tools.map((tool) => ({ type: 'function', function: tool.function })) as OpenAI.ChatCompletionTool[],
    ...(chat.toolChoice !== undefined ? { tool_choice: chat.toolChoice as OpenAI.ChatCompletionToolChoiceOption } : {}),
    ...(chat.parallelToolCalls !== undefined ? { parallel_tool_calls: chat.parallelToolCalls } : {}),
  };
}

/** A chat turn in the chat API's shape: calls and tool results as such; a result without its call's id as a user turn. */
function toOpenAiMessage(m: ChatMessage): OpenAI.ChatCompletionMessageParam {
  if (m.role === 'tool') {
    return m.toolCallId
      ? { role: 'tool', tool_call_id: m.toolCallId, content: m.content }
      : { role: 'user', content: toolResultText(m) };
  }
  if (m.role === 'assistant' && m.toolCalls?.length) return { role: 'assistant', content: m.content || null, tool_calls: m.toolCalls };
  return { role: m.role, content: m.content } as OpenAI.ChatCompletionMessageParam;
}

/** OpenAI's own API: no endpoint (the SDK's default) or an https URL on api.openai.com. */
export function isOpenAiEndpoint(endpoint: string | undefined): boolean {
  if (!endpoint) return true;
  try {
    const url = new URL(endpoint);
    return url.protocol === 'https:' && url.hostname === 'api.openai.com' && (url.port === '' || url.port === '443');
  } catch {
    return false;
  }
}

/** A response format in the chat API's shape. */
function toOpenAiFormat(format: ResponseFormat): OpenAI.ChatCompletionCreateParams['response_format'] {
  if (format.type === 'json_object') return { type: 'json_object' };
  return { type: 'json_schema', json_schema: { name: format.name ?? 'response', schema: format.schema, ...(format.strict !== undefined ? { strict: format.strict } : {}) } };
}

/** A finish reason as a stop reason; a reply that called tools ended as one that stopped (its calls say the rest). */
function mapFinish(reason: string): string {
  return reason === 'length' ? 'maxTokens' : reason === 'stop' || reason === 'tool_calls' ? 'eos' : reason;
}
