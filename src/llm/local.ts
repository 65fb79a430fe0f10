import { formatChat, grammarOptions, parseChatReply } from '../engine/chat-format.js';
import { InvalidArgumentError } from '../errors.js';
import type { ModelEvent, ModelManager } from './model-manager.js';
import type { LlmRequest } from './request.js';
import { LlmStream } from './stream.js';
import type { ResponseFormat } from './types.js';

/** The schema a response format holds local output to: `json_object` is any JSON object. */
function jsonSchemaOf(format: ResponseFormat | undefined): { jsonSchema?: object } {
  if (!format) return {};
  return { jsonSchema: format.type === 'json_object' ? { type: 'object' } : format.schema };
}

/** Runs requests on in-process llama.cpp models through a ModelManager. */
export class LocalLlm {
  readonly manager: ModelManager;
  readonly #onEvent?: (event: ModelEvent) => void;

  constructor(manager: ModelManager, onEvent?: (event: ModelEvent) => void) {
    this.manager = manager;
    this.#onEvent = onEvent;
  }

  stream(request: LlmRequest): LlmStream {
    return new LlmStream(async (emit, signal) => {
      if (!request.model) {
        throw new InvalidArgumentError('No local model is configured: set "model" in the prompt options (a GGUF path or hf:owner/repo:QUANT), or start akachat with --model');
      }
      const lease = await this.manager.acquire(request.model, {
        contextSize: request.settings.contextSize,
        ggufType: request.ggufType,
        signal,
        onEvent: this.#onEvent,
      });
      try {
        const { model, context } = lease;
        // Chats render through llama.cpp's chat layer: tools, tool turns, reasoning settings, and
        // the parser of the reply (chat-format.ts).
        const chat = request.messages
          ? await formatChat(model, request.messages, { ...request.chat, template: request.chatTemplate ?? '', signal })
          : undefined;
        request.chat?.onReplyFormat?.(chat?.reply);
        const prompt = chat ? chat.prompt : request.text ?? '';
        const tokens = model.tokenizePrompt(prompt);
        // The settings carry the engine's names: everything but the context size and the response
        // format (a JSON schema for the grammar sampler) goes to generate() as it is.
        const { contextSize: _contextSize, responseFormat, ...sampling } = request.settings;
        const tools = chat ? grammarOptions(model, chat, tokens) : {};
        if (tools.grammar && (responseFormat || sampling.grammar)) {
          throw new InvalidArgumentError('Expected tools or a response format (grammar), not both');
        }
        const stop = chat?.stops.length ? [...sampling.stop, ...chat.stops] : sampling.stop;
        // A persona saved before a restart goes back into a slot first.
        await lease.promptCache?.restore(context, tokens);
        const generation = context.generate(tokens, { ...sampling, stop, ...jsonSchemaOf(responseFormat), ...tools, ...request.tokens, signal });
        for await (const text of generation) emit(text);
        const result = await generation.result;
        void lease.promptCache?.remember(context, tokens);
        return {
          text: result.text,
          reply: chat ? parseChatReply(chat.reply, result.text) : undefined,
          stopReason: result.stopReason,
          usage: { promptTokens: result.promptTokens, completionTokens: result.generatedTokens, reusedTokens: result.reusedTokens },
          timings: { promptMs: result.prefillMs, generationMs: result.decodeMs, loadMs: lease.loadMs },
          renderedPrompt: prompt,
          model: lease.path,
        };
      } finally {
        lease.release();
      }
    }, request.signal);
  }
}
